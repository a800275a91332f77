/**
 * Keys kept in the data folder: read if present, else generated once,
 * written with mode 0600 and linked into place so two processes starting together end
 * up with the same key. Used for `admin-key` and `secret`; the values that
 * override them come from the caller (the server's settings), never from the
 * environment.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REGISTRY } from './errors.js';
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
    throw REGISTRY.GUAC_KEY_FILE({ message: `Cannot read or create the key file ${path}.`, cause: err });
  }
}

/**
 * The admin API key: `key` when given (the server reads it from its
 * settings), else `<dataDir>/admin-key` generated once.
 * @param logger where a newly generated key file is reported
 */
export function loadAdminKey(dataDir: string, key?: string, logger?: Logger): string {
  return key !== undefined && key !== '' ? key : loadOrCreateKeyFile(join(dataDir, 'admin-key'), logger);
}

/**
 * The gateway secret: `secret` when given, else `<dataDir>/secret` generated once.
 * @param logger where a newly generated key file is reported
 */
export function loadGatewaySecret(dataDir: string, secret?: string, logger?: Logger): string {
  return secret !== undefined && secret !== '' ? secret : loadOrCreateKeyFile(join(dataDir, 'secret'), logger);
}
