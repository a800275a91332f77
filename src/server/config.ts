/**
 * Configuration of `serve`: command-line values checked once, with clear
 * messages. A bad value is a GuacError `GUAC_CONFIG_INVALID`; the CLI turns
 * it into exit code 2.
 */
import net from 'node:net';
import { GuacError } from '../protocol/errors.js';
import { dataDirFrom } from '../registry/key-file.js';
import { resolveDatabaseUrl } from '../registry/open.js';
import type { TunnelLimits } from '../tunnel/types.js';

export { dataDirFrom };

/** Everything `serve` needs. */
export interface ServeConfig {
  host: string;
  /** 0 picks a free port (the URL printed at start shows which). */
  port: number;
  /** An external guacd; when absent, a local one is started and supervised. */
  guacd?: { host: string; port: number };
  /** Where the secret lives (unless GATEWAY_SECRET is set). */
  dataDir: string;
  /** Idle timeout in ms; 0 = none. */
  idleTimeoutMs: number;
  /** Longest session in ms; 0 = none. */
  maxSessionMs: number;
  /** Registry database URL from `--db`, else `DATABASE_URL`; absent: SQLite in the data folder. */
  db?: string;
  /** guacamole-lite's `crypt.key` (`--guacamole-lite-key`, else `GATEWAY_GUACAMOLE_LITE_KEY`): accept its tokens too. */
  guacamoleLiteKey?: string;
  /** Per-client limits given (flags, else environment); the tunnel's defaults for the rest. */
  clientLimits: Pick<TunnelLimits, 'maxSessionsPerToken' | 'maxSessionsPerUser' | 'maxSessionsPerAddress' | 'handshakesPerAddress' | 'handshakeWindowMs'>;
  /** Reverse proxies whose `X-Forwarded-For` is believed (`--trust-proxy`, else `GATEWAY_TRUST_PROXY`). */
  trustedProxies: string[];
}

/** Raw values as parsed from the command line (strings) and the environment. */
export interface ServeInput {
  host?: string | undefined;
  port?: string | undefined;
  guacd?: string | undefined;
  idleTimeout?: string | undefined;
  maxSession?: string | undefined;
  db?: string | undefined;
  guacamoleLiteKey?: string | undefined;
  maxSessionsPerToken?: string | undefined;
  maxSessionsPerUser?: string | undefined;
  maxSessionsPerAddress?: string | undefined;
  handshakeRate?: string | undefined;
  trustProxy?: string | undefined;
}

/** Per-client limit flags and the variables that stand in for them. */
const LIMIT_FLAGS = [
  ['maxSessionsPerToken', '--max-sessions-per-token', 'GATEWAY_MAX_SESSIONS_PER_TOKEN'],
  ['maxSessionsPerUser', '--max-sessions-per-user', 'GATEWAY_MAX_SESSIONS_PER_USER'],
  ['maxSessionsPerAddress', '--max-sessions-per-address', 'GATEWAY_MAX_SESSIONS_PER_ADDRESS'],
] as const;

const invalid = (message: string): GuacError => new GuacError('GUAC_CONFIG_INVALID', 'SERVER_ERROR', message);

/**
 * Parses a TCP port.
 * @param allowZero accept 0 (pick a free port)
 * @throws GuacError `GUAC_CONFIG_INVALID`
 */
export function parsePort(value: string, what: string, allowZero: boolean): number {
  const n = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(n >= (allowZero ? 0 : 1) && n <= 65535)) {
    throw invalid(`${what} must be a port number from ${allowZero ? 0 : 1} to 65535, not ${JSON.stringify(value.slice(0, 40))}.`);
  }
  return n;
}

/**
 * Parses `HOST:PORT` (`[v6]:PORT` for IPv6).
 * @throws GuacError `GUAC_CONFIG_INVALID`
 */
export function parseHostPort(value: string, what: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(.*)$/.exec(value) ?? /^([^:]+):([^:]*)$/.exec(value);
  if (!m || m[1] === '') throw invalid(`${what} must be HOST:PORT (e.g. 127.0.0.1:4822), not ${JSON.stringify(value.slice(0, 60))}.`);
  if (m[0].startsWith('[') && net.isIPv6(m[1]) === false) throw invalid(`${what}: ${JSON.stringify(m[1])} is not an IPv6 address.`);
  return { host: m[1], port: parsePort(m[2], `${what} port`, false) };
}

function seconds(value: string | undefined, what: string): number {
  if (value === undefined || value === '') return 0;
  const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw invalid(`${what} must be a whole number of seconds, not ${JSON.stringify(value.slice(0, 40))}.`);
  return n * 1000;
}

function count(value: string, what: string): number {
  if (!/^\d{1,7}$/.test(value)) throw invalid(`${what} must be a whole number (0 for no limit), not ${JSON.stringify(value.slice(0, 40))}.`);
  return Number(value);
}

/** `N/SECONDS` (N handshakes per address per SECONDS), or `0` for no limit. */
function handshakeRate(value: string, what: string): ServeConfig['clientLimits'] {
  if (value === '0') return { handshakesPerAddress: 0 };
  const m = /^(\d{1,7})\/(\d{1,7})$/.exec(value);
  if (!m || Number(m[2]) === 0) throw invalid(`${what} must be N/SECONDS (e.g. 30/60) or 0, not ${JSON.stringify(value.slice(0, 40))}.`);
  return { handshakesPerAddress: Number(m[1]), handshakeWindowMs: Number(m[2]) * 1000 };
}

function addresses(value: string, what: string): string[] {
  const list = value.split(',').map((a) => a.trim()).filter((a) => a !== '');
  for (const a of list) if (net.isIP(a) === 0) throw invalid(`${what} must list IP addresses, not ${JSON.stringify(a.slice(0, 60))}.`);
  return list;
}

/**
 * Builds the `serve` configuration.
 * @throws GuacError `GUAC_CONFIG_INVALID` naming the bad value
 */
export function serveConfig(input: ServeInput, env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const host = input.host ?? '127.0.0.1';
  if (host === '' || /[\s/]/.test(host)) throw invalid(`--host must be a host name or address, not ${JSON.stringify(host.slice(0, 60))}.`);
  const config: ServeConfig = {
    host,
    port: parsePort(input.port ?? '8080', '--port', true),
    dataDir: dataDirFrom(env),
    idleTimeoutMs: seconds(input.idleTimeout, '--idle-timeout'),
    maxSessionMs: seconds(input.maxSession, '--max-session'),
    clientLimits: {},
    trustedProxies: [],
  };
  const given = (flag: string | undefined, variable: string): [string, string] | undefined => {
    if (flag !== undefined) return [flag, ''];
    const v = env[variable];
    return v === undefined || v === '' ? undefined : [v, ` (${variable})`];
  };
  for (const [key, flag, variable] of LIMIT_FLAGS) {
    const v = given(input[key], variable);
    if (v) config.clientLimits[key] = count(v[0], flag + v[1]);
  }
  const rate = given(input.handshakeRate, 'GATEWAY_HANDSHAKE_RATE');
  if (rate) Object.assign(config.clientLimits, handshakeRate(rate[0], '--handshake-rate' + rate[1]));
  const proxies = given(input.trustProxy, 'GATEWAY_TRUST_PROXY');
  if (proxies) config.trustedProxies = addresses(proxies[0], '--trust-proxy' + proxies[1]);
  if (input.guacd !== undefined) config.guacd = parseHostPort(input.guacd, '--guacd');
  const db = resolveDatabaseUrl(input.db, env);
  if (db !== undefined) config.db = db;
  const liteKey = input.guacamoleLiteKey ?? env.GATEWAY_GUACAMOLE_LITE_KEY;
  if (liteKey !== undefined && liteKey !== '') {
    if (Buffer.byteLength(liteKey) !== 32) throw invalid('--guacamole-lite-key must be the 32-byte key guacamole-lite was configured with.');
    config.guacamoleLiteKey = liteKey;
  }
  return config;
}
