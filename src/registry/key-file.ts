/**
 * Keys kept in the data folder: read if present, else generated once,
 * written with mode 0600 and linked into place so two processes starting together end
 * up with the same key. Used for `admin-key` (and `secret` until the server's
 * own loader exists).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { GuacError } from '../protocol/errors.js';
import { silentLogger, type Logger } from '../logger.js';

/**
 * The key in `path`, creating it (32 random bytes, base64url) if absent.
 * @throws GuacError `GUAC_KEY_FILE` when the file cannot be read or written, or is empty
 */
export function loadOrCreateKeyFile(path: string, logger: Logger = silentLogger): string {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    if (!existsSync(path)) {
      // Written whole under a temporary name, then linked: a concurrent reader never sees a half-written key.
      const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      writeFileSync(tmp, randomBytes(32).toString('base64url') + '\n', { flag: 'wx', mode: 0o600 });
      try {
        linkSync(tmp, path);
        logger.info({ path }, 'generated a new key file');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        unlinkSync(tmp);
      }
    }
    const mode = statSync(path).mode & 0o077;
    if (mode !== 0) logger.warn({ path }, 'key file is readable by other users; chmod 600 it');
    const key = readFileSync(path, 'utf8').trim();
    if (key === '') throw new Error('empty key file');
    return key;
  } catch (err) {
    throw new GuacError('GUAC_KEY_FILE', 'SERVER_ERROR', `Cannot read or create the key file ${path}.`, { cause: err });
  }
}

/** The data folder: `GATEWAY_DATA_DIR`, default `./data`. */
export function dataDirFrom(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.GATEWAY_DATA_DIR && env.GATEWAY_DATA_DIR !== '' ? env.GATEWAY_DATA_DIR : 'data');
}

/** The admin API key: `GATEWAY_ADMIN_KEY`, else `<dataDir>/admin-key` generated once. */
export function loadAdminKey(dataDir: string, env: NodeJS.ProcessEnv = process.env, logger?: Logger): string {
  const fromEnv = env.GATEWAY_ADMIN_KEY;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return loadOrCreateKeyFile(join(dataDir, 'admin-key'), logger);
}

/**
 * The gateway secret: `GATEWAY_SECRET`, else `<dataDir>/secret` generated
 * once. A stand-in with the contract of docs/ARCHITECTURE.md; the server's
 * loader replaces it when it lands.
 */
export function loadGatewaySecret(dataDir: string, env: NodeJS.ProcessEnv = process.env, logger?: Logger): string {
  const fromEnv = env.GATEWAY_SECRET;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return loadOrCreateKeyFile(join(dataDir, 'secret'), logger);
}
