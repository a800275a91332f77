/**
 * The gateway's guacd pool from its settings: the `--guacd` list, with the
 * TLS files (`--guacd-ca`, `--guacd-cert`, `--guacd-key`) read once at start
 * for its `tls://` members; or, without `--guacd`, the one guacd `serve`
 * supervises (named `local`: its address moves when it restarts).
 */
import { readFileSync } from 'node:fs';
import type tls from 'node:tls';
import { GuacdPool } from '../guacd/pool.js';
import type { GuacdAddress } from '../guacd/socket.js';
import { REGISTRY } from '../registry/errors.js';
import type { Settings } from './settings.js';

/** How often each guacd is probed (`GuacdPool` explains the probe). */
const CHECK_INTERVAL_MS = 5000;

function pem(path: string | undefined, flag: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw REGISTRY.GUAC_CONFIG_INVALID({ message: `--${flag} ${JSON.stringify(path)} cannot be read${code ? ` (${code})` : ''}.` });
  }
}

/** The TLS options of `tls://` members (every one gets the same). */
export function guacdTls(s: Pick<Settings, 'guacdCa' | 'guacdCert' | 'guacdKey'>): tls.ConnectionOptions {
  const ca = pem(s.guacdCa, 'guacd-ca');
  const cert = pem(s.guacdCert, 'guacd-cert');
  const key = pem(s.guacdKey, 'guacd-key');
  if ((cert === undefined) !== (key === undefined)) {
    throw REGISTRY.GUAC_CONFIG_INVALID({ message: '--guacd-cert and --guacd-key go together.' });
  }
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

/**
 * Builds (does not start) the pool.
 * @param local the supervised guacd's address, used when `s.guacd` is absent
 * @throws GuacError `GUAC_CONFIG_INVALID` for a TLS file that cannot be read
 */
export function guacdPool(s: Pick<Settings, 'guacd' | 'guacdCa' | 'guacdCert' | 'guacdKey'>, local: () => GuacdAddress): GuacdPool {
  if (s.guacd === undefined) return new GuacdPool([{ name: 'local', address: local }], { checkIntervalMs: CHECK_INTERVAL_MS });
  const tlsOptions = s.guacd.some((g) => g.tls) ? guacdTls(s) : undefined;
  return new GuacdPool(s.guacd.map((g) => ({
    name: g.name,
    address: g.tls ? { ...g.address, tls: tlsOptions ?? true } : g.address,
  })), { checkIntervalMs: CHECK_INTERVAL_MS, cacheMs: CHECK_INTERVAL_MS });
}
