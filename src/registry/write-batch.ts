/**
 * Writes of one statement, batched: every call made while the event loop
 * runs one turn goes into one transaction at the next. Under a burst of
 * sessions this turns hundreds of commits (each a write to the database file
 * on the thread that also sets sessions up) into a few. A caller's promise
 * settles once its row is committed, with the rows it changed, so the
 * statement's answer (a conflict, for a single-use token) is its own; should
 * the transaction fail, each row is tried alone, so one bad row does not
 * take the others with it.
 */
import type { Db, SqlValue } from './db.js';

interface Queued {
  params: SqlValue[];
  resolve: (changes: number) => void;
  reject: (err: unknown) => void;
}

export class WriteBatch {
  private queue: Queued[] = [];
  /** The batch being written; flush() waits for it. */
  private writing: Promise<void> = Promise.resolve();

  /**
   * @param delayMs how long the first queued row waits for others: 0 = the
   *   next turn (for writes a caller waits on before going on); more gathers
   *   rows that arrive over several turns (writes off the session's path)
   */
  constructor(
    private readonly db: Db,
    private readonly sql: string,
    private readonly delayMs = 0,
  ) {}

  /** Queues one execution of the statement; resolves with the rows it changed once committed. */
  run(params: SqlValue[]): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ params, resolve, reject });
      if (this.queue.length !== 1) return;
      if (this.delayMs > 0) setTimeout(() => void this.flush(), this.delayMs);
      else setImmediate(() => void this.flush());
    });
  }

  /** Writes what is queued now; resolves when that and every earlier batch are settled. */
  flush(): Promise<void> {
    const batch = this.queue;
    if (batch.length === 0) return this.writing;
    this.queue = [];
    const write = async (): Promise<void> => {
      let changes: number[];
      try {
        changes = await this.db.transaction(async (tx) => {
          const out: number[] = [];
          for (const row of batch) out.push(await tx.run(this.sql, row.params));
          return out;
        });
      } catch {
        await Promise.all(batch.map((row) => this.db.run(this.sql, row.params).then(row.resolve, row.reject)));
        return;
      }
      batch.forEach((row, i) => row.resolve(changes[i]!));
    };
    this.writing = this.writing.then(write);
    return this.writing;
  }
}
