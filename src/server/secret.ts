/**
 * The signing secret, found the same way by every command without setup:
 * `GATEWAY_SECRET`, else `<data dir>/secret`, generated once (32 random
 * bytes, base64url, mode 0600). The lookup is the registry's
 * (`loadGatewaySecret`), so its commands and ours read the same file alike;
 * this adds the length check with a message naming the variable.
 */
import { GuacError } from '../protocol/errors.js';
import type { Logger } from '../logger.js';
import { loadGatewaySecret } from '../registry/key-file.js';

/** Shortest `GATEWAY_SECRET` accepted (tokens derive their key from it). */
export const MIN_SECRET_LENGTH = 16;

/**
 * Loads (or creates) the secret.
 * @param dataDir the data folder
 * @param logger where a newly generated key file is reported
 * @throws GuacError `GUAC_CONFIG_INVALID` for a short GATEWAY_SECRET, `GUAC_KEY_FILE` when the file cannot be used
 */
export function loadSecret(dataDir: string, env: NodeJS.ProcessEnv = process.env, logger?: Logger): string {
  const fromEnv = env.GATEWAY_SECRET;
  if (fromEnv !== undefined && fromEnv !== '' && Buffer.byteLength(fromEnv) < MIN_SECRET_LENGTH) {
    throw new GuacError('GUAC_CONFIG_INVALID', 'SERVER_ERROR', `GATEWAY_SECRET must be at least ${MIN_SECRET_LENGTH} bytes long.`);
  }
  return loadGatewaySecret(dataDir, env, logger);
}
