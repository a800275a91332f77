/**
 * SQLite driver on better-sqlite3: one synchronous connection in WAL mode.
 * Calls are synchronous underneath; a promise chain serializes transactions
 * so an `await` inside one never lets another caller's statement slip in.
 * The chain is shared by every handle on the same file in this process: a
 * second connection waiting synchronously on SQLite's busy lock would
 * otherwise block the very thread that has to finish the first one's
 * transaction. Other processes are waited for by `busy_timeout`.
 */
import { closeSync, mkdirSync, openSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { REGISTRY } from './errors.js';
import type { Db, Executor, Row, SqlValue } from './db.js';

type Statement = Database.Statement<unknown[], unknown>;

/**
 * Opens (creating if needed, mode 0600) the SQLite file at `path`.
 * @throws GuacError `GUAC_REGISTRY_UNAVAILABLE` when the file cannot be opened
 */
export function openSqlite(path: string): Db {
  let db: Database.Database;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Create the file ourselves so it starts private; SQLite gives -wal/-shm the same mode.
    closeSync(openSync(path, 'a', 0o600));
    db = new Database(path, { timeout: 5000 });
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL');
  } catch (err) {
    throw REGISTRY.GUAC_REGISTRY_UNAVAILABLE({ message: `Cannot open the SQLite registry at ${path}.`, cause: err });
  }
  return new SqliteDb(db, realpathSync(path));
}

/** Per-file queue shared by the handles of this process. */
const queues = new Map<string, { tail: Promise<unknown>; users: number }>();

class SqliteDb implements Db {
  readonly dialect = 'sqlite' as const;
  private readonly cache = new Map<string, Statement>();
  private readonly queue: { tail: Promise<unknown>; users: number };
  private closed = false;
  private readonly direct: Executor;

  constructor(
    private readonly db: Database.Database,
    private readonly file: string,
  ) {
    let q = queues.get(file);
    if (!q) {
      q = { tail: Promise.resolve(), users: 0 };
      queues.set(file, q);
    }
    q.users++;
    this.queue = q;
    this.direct = {
      all: async (sql, params) => this.stmt(sql).all(...bind(params)) as Row[],
      get: async (sql, params) => this.stmt(sql).get(...bind(params)) as Row | undefined,
      run: async (sql, params) => this.stmt(sql).run(...bind(params)).changes,
      exec: async (sql) => {
        this.db.exec(sql);
      },
    };
  }

  private stmt(sql: string): Statement {
    if (this.closed) throw REGISTRY.GUAC_REGISTRY_CLOSED();
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }

  /** Runs `fn` after everything queued before it. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.tail.then(fn, fn);
    this.queue.tail = next.catch(() => undefined);
    return next;
  }

  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.serial(() => this.direct.all(sql, params));
  }
  get(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined> {
    return this.serial(() => this.direct.get(sql, params));
  }
  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.serial(() => this.direct.run(sql, params));
  }
  exec(sql: string): Promise<void> {
    return this.serial(() => this.direct.exec(sql));
  }

  transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      // IMMEDIATE takes the write lock now, so two processes on one file cannot both read-then-write.
      this.stmt('BEGIN IMMEDIATE').run();
      try {
        const out = await fn(this.direct);
        this.stmt('COMMIT').run();
        return out;
      } catch (err) {
        if (this.db.inTransaction) this.stmt('ROLLBACK').run();
        throw err;
      }
    });
  }

  close(): Promise<void> {
    return this.serial(async () => {
      if (this.closed) return;
      this.closed = true;
      this.cache.clear();
      this.db.close();
      if (--this.queue.users === 0 && queues.get(this.file) === this.queue) queues.delete(this.file);
    });
  }
}

function bind(params: readonly SqlValue[] | undefined): SqlValue[] {
  return params ? [...params] : [];
}
