/**
 * PostgreSQL driver on a `pg` Pool, for fleets of gateways sharing one
 * registry. Statements arrive with `?` placeholders (the registry writes no
 * `?` anywhere else) and are renumbered to `$1…`. Also carries LISTEN/NOTIFY,
 * which lets one gateway ask another to close a session it hosts.
 */
import pg from 'pg';
import { REGISTRY } from './errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Db, Executor, Row, SqlValue } from './db.js';

/** Advisory lock key taken while migrating ("guacgw" in ASCII). */
const MIGRATION_LOCK = 0x677561636777;

/**
 * A server that vanished without a reset (host down, firewall dropping) would
 * otherwise hold each pooled connection's query forever, and the pool would
 * run dry: a query that gets no answer in 30 s fails (`pg` then drops that
 * connection instead of reusing it), and TCP keepalive probes idle ones.
 */
const LIVENESS = { keepAlive: true, keepAliveInitialDelayMillis: 10_000 } as const;

/** A PostgreSQL {@link Db} that can also publish and subscribe. */
export interface PgDb extends Db {
  notify(channel: string, payload: string): Promise<void>;
  /** Subscribes on a dedicated connection, re-listening after it drops. Returns an unsubscribe function. */
  listen(channel: string, handler: (payload: string) => void): Promise<() => void>;
}

/** Opens a pool for `url` (`postgres://` or `postgresql://`) and checks it answers. */
export async function openPostgres(url: string, opts: { max?: number; queryTimeoutMs?: number; logger?: Logger } = {}): Promise<PgDb> {
  const logger = opts.logger ?? silentLogger;
  const pool = new pg.Pool({
    connectionString: url, max: opts.max ?? 10, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000,
    ...LIVENESS, query_timeout: opts.queryTimeoutMs ?? 30_000,
  });
  // An idle client losing its server emits here; without a listener it would crash the process.
  pool.on('error', (err) => logger.warn({ error: err }, 'registry: idle PostgreSQL connection failed'));
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw REGISTRY.GUAC_REGISTRY_UNAVAILABLE({ message: `Cannot connect to the PostgreSQL registry at ${redactUrl(url)}.`, cause: err });
  }
  return new PostgresDb(pool, url, logger);
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'an unparsable URL';
  }
}

/** `?` → `$1, $2, …`. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

function executor(q: { query: (text: string, values?: unknown[]) => Promise<pg.QueryResult> }): Executor {
  return {
    all: async (sql, params) => (await q.query(numbered(sql), params ? [...params] : [])).rows as Row[],
    get: async (sql, params) => (await q.query(numbered(sql), params ? [...params] : [])).rows[0] as Row | undefined,
    run: async (sql, params) => (await q.query(numbered(sql), params ? [...params] : [])).rowCount ?? 0,
    exec: async (sql) => {
      await q.query(sql);
    },
  };
}

class PostgresDb implements PgDb {
  readonly dialect = 'postgres' as const;
  private readonly ex: Executor;
  private listener: pg.Client | undefined;
  private readonly handlers = new Map<string, Set<(payload: string) => void>>();
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
    private readonly log: Logger,
  ) {
    this.ex = executor(pool);
  }

  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.ex.all(sql, params);
  }
  get(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined> {
    return this.ex.get(sql, params);
  }
  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.ex.run(sql, params);
  }
  exec(sql: string): Promise<void> {
    return this.ex.exec(sql);
  }

  async transaction<T>(fn: (tx: Executor) => Promise<T>, opts: { migrationLock?: boolean } = {}): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      if (opts.migrationLock) await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const out = await fn(executor(client));
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async notify(channel: string, payload: string): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  async listen(channel: string, handler: (payload: string) => void): Promise<() => void> {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      if (this.listener) await this.listener.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    }
    set.add(handler);
    if (!this.listener) await this.connectListener();
    return () => {
      this.handlers.get(channel)?.delete(handler);
    };
  }

  private async connectListener(): Promise<void> {
    // No query_timeout here: LISTEN's connection waits by design; keepalive finds it dead.
    const client = new pg.Client({ connectionString: this.url, ...LIVENESS });
    this.listener = client;
    client.on('notification', (msg) => {
      for (const h of this.handlers.get(msg.channel) ?? []) {
        try {
          h(msg.payload ?? '');
        } catch (err) {
          this.log.warn({ channel: msg.channel, error: err }, 'registry: notification handler failed');
        }
      }
    });
    client.on('error', (err) => {
      this.log.warn({ error: err }, 'registry: PostgreSQL listener failed; reconnecting');
      if (this.listener === client) this.listener = undefined;
      client.end().catch(() => undefined);
      this.scheduleReconnect();
    });
    await client.connect();
    for (const channel of this.handlers.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      if (this.closed || this.listener) return;
      this.connectListener().catch((err: unknown) => {
        this.log.warn({ error: err }, 'registry: PostgreSQL listener reconnect failed');
        this.listener = undefined;
        this.scheduleReconnect();
      });
    }, 1000);
    t.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const l = this.listener;
    this.listener = undefined;
    if (l) await l.end().catch(() => undefined);
    await this.pool.end();
  }
}
