/**
 * Picks and opens the registry backend: PostgreSQL for `postgres://` and
 * `postgresql://` URLs, SQLite otherwise (`<dataDir>/gateway.db` by default,
 * or the file named by a `sqlite:` / `file:` URL or a plain path).
 */
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REGISTRY } from './errors.js';
import type { Logger } from '../logger.js';
import { openPostgres } from './postgres.js';
import { SqlRegistry } from './sql-registry.js';
import { openSqlite } from './sqlite.js';
import type { Registry } from './types.js';

/** Options of {@link openRegistry}. */
export interface OpenRegistryOptions {
  /** Folder of the default SQLite file. */
  dataDir: string;
  /** The gateway secret: seals tokens, and (through HKDF) the stored passwords. */
  secretKey: string | Uint8Array;
  /** PostgreSQL pool size (default 10). */
  poolSize?: number;
  /** PostgreSQL: a query unanswered this long fails and its connection is dropped (default 30 000 ms). */
  queryTimeoutMs?: number;
  /** Where the registry reports (a pino logger fits). Default: nowhere. */
  logger?: Logger;
  /** The id stored with the sessions this process records (a worker names itself); default a random UUID. */
  gatewayId?: string;
}

/** File name of the default SQLite registry inside the data folder. */
export const SQLITE_FILE = 'gateway.db';

/**
 * Opens, migrates and checks the registry.
 * @param url `postgres://…`, `sqlite:PATH`, `file:PATH`, a path, or undefined for `<dataDir>/gateway.db`
 * @throws GuacError `GUAC_REGISTRY_UNAVAILABLE`, `GUAC_REGISTRY_TOO_NEW`, `GUAC_REGISTRY_KEY_MISMATCH`, `GUAC_REGISTRY_URL_INVALID`
 */
export async function openRegistry(url: string | undefined, opts: OpenRegistryOptions): Promise<Registry> {
  if (url !== undefined && /^postgres(ql)?:\/\//i.test(url)) {
    const db = await openPostgres(url, {
      ...(opts.poolSize === undefined ? {} : { max: opts.poolSize }),
      ...(opts.queryTimeoutMs === undefined ? {} : { queryTimeoutMs: opts.queryTimeoutMs }),
      ...(opts.logger === undefined ? {} : { logger: opts.logger }),
    });
    return SqlRegistry.open(db, opts.secretKey, opts.logger, opts.gatewayId);
  }
  return SqlRegistry.open(openSqlite(sqlitePath(url, opts.dataDir)), opts.secretKey, opts.logger, opts.gatewayId);
}

function sqlitePath(url: string | undefined, dataDir: string): string {
  if (url === undefined) return resolve(dataDir, SQLITE_FILE);
  if (/^file:/i.test(url)) {
    try {
      return fileURLToPath(url);
    } catch (err) {
      throw REGISTRY.GUAC_REGISTRY_URL_INVALID({ message: 'The file: database URL is not valid.', cause: err });
    }
  }
  const m = /^sqlite:(?:\/\/)?(.*)$/i.exec(url);
  const path = m ? m[1]! : url;
  if (path === '' || /^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    throw REGISTRY.GUAC_REGISTRY_URL_INVALID({ message: 'Unsupported database URL: use postgres://…, sqlite:PATH or a file path.' });
  }
  return isAbsolute(path) ? path : join(process.cwd(), path);
}
