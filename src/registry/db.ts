/**
 * The little SQL surface the registry needs, implemented once per driver
 * (`sqlite.ts`, `postgres.ts`). Statements are written with `?` placeholders
 * and parameters only; the PostgreSQL driver renumbers them to `$n`. No SQL
 * text is ever built from values.
 */

/** A row as returned by a driver: column name → value. */
export type Row = Record<string, unknown>;

/** A value bound to a placeholder. */
export type SqlValue = string | number | bigint | null;

/** Runs statements; inside a transaction, on the transaction's connection. */
export interface Executor {
  /** Rows of a query. */
  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  /** First row or undefined. */
  get(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined>;
  /** A statement without rows; answers how many rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Several statements without parameters (migrations only). */
  exec(sql: string): Promise<void>;
}

/** A database handle. */
export interface Db extends Executor {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Runs `fn` in one transaction, serialized against every other use of the
   * handle (SQLite) or on one pooled connection (PostgreSQL). With
   * `migrationLock`, PostgreSQL also takes the migrations advisory lock so
   * concurrent gateways apply migrations one at a time; SQLite's
   * `BEGIN IMMEDIATE` already excludes other writers.
   */
  transaction<T>(fn: (tx: Executor) => Promise<T>, opts?: { migrationLock?: boolean }): Promise<T>;
  close(): Promise<void>;
}

/** Converts a driver's integer (PostgreSQL BIGINT arrives as a string) to a number. */
export function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' || typeof v === 'string') return Number(v);
  return 0;
}

/** Like {@link num} but keeps NULL. */
export function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : num(v);
}

/** A nullable text column. */
export function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}
