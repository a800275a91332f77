/**
 * Every setting of the gateway, once: its command-line flag, its environment
 * variable, its default, how its value is checked, and one line of doc.
 * `serve --help` prints this table and docs/configuration.md is written from
 * it (scripts/config-doc.mjs), so the three cannot drift apart.
 *
 * This module is the only reader of the process environment in src/: the
 * library layers take explicit values, and the CLI hands every command the
 * settings it asked for, already checked. A flag wins over its variable; an
 * empty variable counts as unset. A bad value is a GuacError
 * `GUAC_CONFIG_INVALID` naming where it came from (the CLI exits 2).
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { CLIENT_LIMIT_DEFAULTS } from '../tunnel/options.js';
import { DEFAULT_MAX_STALL_MS as DEFAULT_RECORDING_MAX_WAIT_MS } from '../tunnel/recording/writer.js';
import {
  GUACD_LOG_LEVELS, MIN_ADMIN_KEY_LENGTH, MIN_SECRET_LENGTH, parseAddresses, parseCount, parseDatabase, parseFolder,
  parseGuacdList, parseHandshakeRate, parseHost, parseKey, parseMetricsListen, parseOneOf, parsePath, parsePort,
  parseSeconds, parseWorkers,
  type ClientLimitSettings, type GuacdSpec,
} from './config.js';
import { LOG_LEVELS, parseLogLevel, type LogLevel } from './logger.js';

/** The checked value of every setting. */
export interface Settings {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** External guacd (a pool of one or more); absent: a local one is started and supervised. */
  guacd: GuacdSpec[] | undefined;
  /** CA certificate(s) (PEM file) trusted for `tls://` guacd; absent: the system's. */
  guacdCa: string | undefined;
  /** Client certificate (PEM file) shown to `tls://` guacd. */
  guacdCert: string | undefined;
  /** Its private key (PEM file). */
  guacdKey: string | undefined;
  /** On SIGTERM, how long live sessions may go on while no new one starts; 0 = end them at once. */
  drainMs: number;
  /** The guacd executable to supervise; absent: the provisioned one, else `guacd` on PATH. */
  guacdBin: string | undefined;
  /** `-L` of the supervised guacd. */
  guacdLogLevel: (typeof GUACD_LOG_LEVELS)[number];
  /** Idle timeout in ms; 0 = none. */
  idleTimeoutMs: number;
  /** Longest session in ms; 0 = none. */
  maxSessionMs: number;
  /** Absolute path of the data folder. */
  dataDir: string;
  /** Registry database URL; absent: SQLite in the data folder. */
  db: string | undefined;
  /** The signing secret; absent: `<dataDir>/secret`, made once. */
  secret: string | undefined;
  /** The admin API's bearer key; absent: `<dataDir>/admin-key`, made once. */
  adminKey: string | undefined;
  /** guacamole-lite's `crypt.key`: accept its tokens too. */
  guacamoleLiteKey: string | undefined;
  maxSessionsPerToken: number | undefined;
  maxSessionsPerUser: number | undefined;
  maxSessionsPerAddress: number | undefined;
  handshakeRate: Pick<ClientLimitSettings, 'handshakesPerAddress' | 'handshakeWindowMs'> | undefined;
  /** Reverse proxies whose `X-Forwarded-For` is believed. */
  trustedProxies: string[];
  /** The gateway's log level; absent: the logger's default (info). */
  logLevel: LogLevel | undefined;
  /** Worker processes sharing the port (node:cluster); absent: one process. */
  workers: number | undefined;
  /** Where `/metrics` is served: its own listener, the main port behind the admin key, or nowhere. */
  metricsListen: { host: string; port: number } | 'main' | undefined;
  /** Absolute path of the recordings folder; absent: `<dataDir>/recordings`. */
  recordingsDir: string | undefined;
  /** Recordings older than this (ms) are deleted; 0 = kept. */
  recordingMaxAgeMs: number;
  /** Oldest recordings are deleted while all take more than this many MiB; 0 = no cap. */
  recordingMaxMiB: number;
  /** How long (ms) a session may wait for a recordings disk that fell behind; 0 = never (the recording stops instead). */
  recordingMaxWaitMs: number;
}

/** Name of a setting. */
export type SettingName = keyof Settings;

/** One row of the table. */
export interface SettingDef<K extends SettingName = SettingName> {
  name: K;
  /** Command-line flag without the dashes; absent for values that must not appear in `ps` (keys). */
  flag?: string;
  /** Environment variable. */
  env: string;
  /** Placeholder of the value in usage text. */
  arg: string;
  /** The default as a reader sees it. */
  default: string;
  /** One line of doc. */
  doc: string;
  /** Never printed (keys). */
  secret?: boolean;
  /** The flag may be given more than once; the values reach `parse` joined by commas. */
  repeatable?: boolean;
  /** Checks a given value; `what` names where it came from. */
  parse(value: string, what: string): Settings[K];
  /** The value when nothing is given. */
  fallback(): Settings[K];
}

const D = CLIENT_LIMIT_DEFAULTS;
const none = (): undefined => undefined;
const def = <K extends SettingName>(d: SettingDef<K>): SettingDef => d as unknown as SettingDef;

/** The table, in the order `serve --help` and docs/configuration.md list it. */
export const SETTINGS: readonly SettingDef[] = Object.freeze([
  def({ name: 'host', flag: 'host', env: 'GATEWAY_HOST', arg: 'HOST', default: '127.0.0.1',
    doc: 'Address to listen on (0.0.0.0 or :: for every interface).', parse: parseHost, fallback: () => '127.0.0.1' }),
  def({ name: 'port', flag: 'port', env: 'GATEWAY_PORT', arg: 'PORT', default: '8080',
    doc: 'Port to listen on; 0 picks a free one (the URL printed at start shows it).', parse: (v, w) => parsePort(v, w, true), fallback: () => 8080 }),
  def({ name: 'guacd', flag: 'guacd', env: 'GATEWAY_GUACD', arg: 'HOST:PORT', default: 'a supervised local guacd', repeatable: true,
    doc: 'External guacd: repeat the flag (or list them in the variable, comma-separated) for a pool; HOST:PORT, [v6]:PORT, '
      + 'tls://HOST:PORT or unix:/PATH. New sessions go to the healthy one with the fewest. Without it serve runs and restarts its own.',
    parse: parseGuacdList, fallback: none }),
  def({ name: 'guacdCa', flag: 'guacd-ca', env: 'GATEWAY_GUACD_CA', arg: 'FILE', default: 'the system\'s CAs',
    doc: 'PEM CA certificate(s) that sign the certificates of tls:// guacd (guacd -C).', parse: parsePath, fallback: none }),
  def({ name: 'guacdCert', flag: 'guacd-cert', env: 'GATEWAY_GUACD_CERT', arg: 'FILE', default: 'none',
    doc: 'PEM client certificate shown to tls:// guacd (behind a TLS proxy that asks for one).', parse: parsePath, fallback: none }),
  def({ name: 'guacdKey', flag: 'guacd-key', env: 'GATEWAY_GUACD_KEY', arg: 'FILE', default: 'none',
    doc: 'PEM private key of --guacd-cert.', parse: parsePath, fallback: none }),
  def({ name: 'drainMs', flag: 'drain', env: 'GATEWAY_DRAIN', arg: 'SECONDS', default: '0 (end sessions at once)',
    doc: 'On SIGTERM: /healthz turns 503, new sessions are refused, live ones get this long, then end.', parse: parseSeconds, fallback: () => 0 }),
  def({ name: 'guacdBin', flag: 'guacd-bin', env: 'GATEWAY_GUACD_BIN', arg: 'PATH', default: '.cache/guacd, else guacd on PATH',
    doc: 'The guacd executable serve supervises when --guacd is not given.', parse: parsePath, fallback: none }),
  def({ name: 'guacdLogLevel', flag: 'guacd-log-level', env: 'GATEWAY_GUACD_LOG_LEVEL', arg: 'LEVEL', default: 'info',
    doc: `Log level of the supervised guacd: ${GUACD_LOG_LEVELS.join(', ')}.`, parse: parseOneOf(GUACD_LOG_LEVELS), fallback: () => 'info' }),
  def({ name: 'idleTimeoutMs', flag: 'idle-timeout', env: 'GATEWAY_IDLE_TIMEOUT', arg: 'SECONDS', default: '0 (none)',
    doc: 'Ends a session after this long without input from the browser.', parse: parseSeconds, fallback: () => 0 }),
  def({ name: 'maxSessionMs', flag: 'max-session', env: 'GATEWAY_MAX_SESSION', arg: 'SECONDS', default: '0 (none)',
    doc: 'Ends a session this long after it started.', parse: parseSeconds, fallback: () => 0 }),
  def({ name: 'dataDir', flag: 'data-dir', env: 'GATEWAY_DATA_DIR', arg: 'DIR', default: './data',
    doc: 'Holds secret, admin-key and the SQLite registry (mode 0700).', parse: parseFolder, fallback: () => resolve('data') }),
  def({ name: 'db', flag: 'db', env: 'DATABASE_URL', arg: 'URL', default: 'SQLite <data dir>/gateway.db',
    doc: 'The registry: postgres://… (shared by many gateways), sqlite:PATH, file:PATH or a path.', parse: parseDatabase, fallback: none }),
  def({ name: 'secret', env: 'GATEWAY_SECRET', arg: 'SECRET', default: '<data dir>/secret, made once', secret: true,
    doc: `Seals tokens and stored passwords; ${MIN_SECRET_LENGTH}+ bytes, the same on every gateway of one registry.`,
    parse: parseKey(MIN_SECRET_LENGTH), fallback: none }),
  def({ name: 'adminKey', env: 'GATEWAY_ADMIN_KEY', arg: 'KEY', default: '<data dir>/admin-key, made once', secret: true,
    doc: `Bearer key of the admin API under /api/; ${MIN_ADMIN_KEY_LENGTH}+ bytes.`, parse: parseKey(MIN_ADMIN_KEY_LENGTH), fallback: none }),
  def({ name: 'guacamoleLiteKey', flag: 'guacamole-lite-key', env: 'GATEWAY_GUACAMOLE_LITE_KEY', arg: 'KEY', default: 'none', secret: true,
    doc: 'guacamole-lite\'s 32-byte crypt.key: its tokens are accepted too.', parse: parseKey(32, true), fallback: none }),
  def({ name: 'maxSessionsPerToken', flag: 'max-sessions-per-token', env: 'GATEWAY_MAX_SESSIONS_PER_TOKEN', arg: 'N', default: String(D.maxSessionsPerToken),
    doc: 'Live sessions one token may open (0 = no limit); more are refused with CLIENT_TOO_MANY.', parse: parseCount, fallback: none }),
  def({ name: 'maxSessionsPerUser', flag: 'max-sessions-per-user', env: 'GATEWAY_MAX_SESSIONS_PER_USER', arg: 'N', default: String(D.maxSessionsPerUser),
    doc: 'Live sessions of one user (0 = no limit).', parse: parseCount, fallback: none }),
  def({ name: 'maxSessionsPerAddress', flag: 'max-sessions-per-address', env: 'GATEWAY_MAX_SESSIONS_PER_ADDRESS', arg: 'N', default: String(D.maxSessionsPerAddress),
    doc: 'Live sessions from one client address (0 = no limit).', parse: parseCount, fallback: none }),
  def({ name: 'handshakeRate', flag: 'handshake-rate', env: 'GATEWAY_HANDSHAKE_RATE', arg: 'N/SECONDS',
    default: `${D.handshakesPerAddress}/${D.handshakeWindowMs / 1000}`,
    doc: 'Handshakes one client address may start per window (0 = no limit).', parse: parseHandshakeRate, fallback: none }),
  def({ name: 'trustedProxies', flag: 'trust-proxy', env: 'GATEWAY_TRUST_PROXY', arg: 'ADDR[,ADDR]', default: 'none',
    doc: 'Proxies whose X-Forwarded-For names the client; set it behind nginx.', parse: parseAddresses, fallback: () => [] }),
  def({ name: 'logLevel', flag: 'log-level', env: 'GATEWAY_LOG_LEVEL', arg: 'LEVEL', default: 'info',
    doc: `The gateway's log (JSON lines on stderr): ${LOG_LEVELS.join(', ')}.`, parse: parseLogLevel, fallback: none }),
  def({ name: 'workers', flag: 'workers', env: 'GATEWAY_WORKERS', arg: 'N|auto', default: 'none (one process)',
    doc: 'Worker processes sharing the port (auto: one per core); a dead one is replaced, SIGHUP replaces them one by one.',
    parse: parseWorkers(availableParallelism), fallback: none }),
  def({ name: 'metricsListen', flag: 'metrics-listen', env: 'GATEWAY_METRICS_LISTEN', arg: 'HOST:PORT|main', default: 'none (no /metrics)',
    doc: 'Serves Prometheus /metrics on its own HOST:PORT (no key), or main: on the main port behind the admin key.',
    parse: parseMetricsListen, fallback: none }),
  def({ name: 'recordingsDir', flag: 'recordings-dir', env: 'GATEWAY_RECORDINGS_DIR', arg: 'DIR', default: '<data dir>/recordings',
    doc: 'Where session recordings are written; in a fleet, a folder every gateway reaches (docs/recordings.md).', parse: parseFolder, fallback: none }),
  def({ name: 'recordingMaxAgeMs', flag: 'recording-max-age', env: 'GATEWAY_RECORDING_MAX_AGE', arg: 'SECONDS', default: '0 (kept)',
    doc: 'Recordings that started longer ago are deleted (checked every minute).', parse: parseSeconds, fallback: () => 0 }),
  def({ name: 'recordingMaxMiB', flag: 'recording-max-mib', env: 'GATEWAY_RECORDING_MAX_MIB', arg: 'MIB', default: '0 (no cap)',
    doc: 'The oldest recordings are deleted while all together take more than this.', parse: parseCount, fallback: () => 0 }),
  def({ name: 'recordingMaxWaitMs', flag: 'recording-max-wait', env: 'GATEWAY_RECORDING_MAX_WAIT', arg: 'SECONDS', default: '2',
    doc: 'A session whose recordings disk fell behind waits this long for it, then its recording is given up; 0: never wait (the recording stops once 8 MiB wait).',
    parse: parseSeconds, fallback: () => DEFAULT_RECORDING_MAX_WAIT_MS }),
]);

const BY_NAME = new Map(SETTINGS.map((s) => [s.name, s]));

/** The table row of a setting. */
export function setting(name: SettingName): SettingDef {
  return BY_NAME.get(name)!;
}

/**
 * The process environment, or the one a caller (a test) gives instead. The
 * one place in src/ that reads `process.env`.
 */
export function environment(given?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return given ?? process.env;
}

/** `parseArgs` options for the flags of `names`. */
export function settingFlags(names: readonly SettingName[]): Record<string, { type: 'string'; multiple?: boolean }> {
  const options: Record<string, { type: 'string'; multiple?: boolean }> = {};
  for (const n of names) {
    const { flag, repeatable } = setting(n);
    if (flag !== undefined) options[flag] = repeatable ? { type: 'string', multiple: true } : { type: 'string' };
  }
  return options;
}

/**
 * Checks the settings `names` from parsed flags, else the environment, else
 * their defaults.
 * @param flags `parseArgs` values (flag name → string)
 * @param env the environment to read
 * @throws GuacError `GUAC_CONFIG_INVALID` naming the flag or variable
 */
export function readSettings<K extends SettingName>(names: readonly K[], flags: Readonly<Record<string, unknown>>, env: NodeJS.ProcessEnv): Pick<Settings, K> {
  const out = {} as Pick<Settings, K>;
  for (const name of names) {
    const s = setting(name);
    const given = s.flag === undefined ? undefined : flags[s.flag];
    const fromFlag = Array.isArray(given) ? given.join(',') : given;
    const fromEnv = env[s.env];
    let value: Settings[K];
    if (typeof fromFlag === 'string') value = s.parse(fromFlag, `--${s.flag}`) as Settings[K];
    else if (fromEnv !== undefined && fromEnv !== '') value = s.parse(fromEnv, s.flag === undefined ? s.env : `--${s.flag} (${s.env})`) as Settings[K];
    else value = s.fallback() as Settings[K];
    out[name] = value;
  }
  return out;
}

/** The per-client limits among `s`, in the tunnel's shape (only those given). */
export function clientLimits(s: Pick<Settings, 'maxSessionsPerToken' | 'maxSessionsPerUser' | 'maxSessionsPerAddress' | 'handshakeRate'>): ClientLimitSettings {
  const limits: ClientLimitSettings = {};
  if (s.maxSessionsPerToken !== undefined) limits.maxSessionsPerToken = s.maxSessionsPerToken;
  if (s.maxSessionsPerUser !== undefined) limits.maxSessionsPerUser = s.maxSessionsPerUser;
  if (s.maxSessionsPerAddress !== undefined) limits.maxSessionsPerAddress = s.maxSessionsPerAddress;
  return { ...limits, ...s.handshakeRate };
}

/** The settings `names` as usage text: flag (or variable), variable, default, doc. */
export function settingsHelp(names: readonly SettingName[]): string {
  const rows = names.map(setting).map((s) => [s.flag === undefined ? `${s.env}=${s.arg}` : `--${s.flag} ${s.arg}`, s]);
  const width = Math.max(...rows.map(([left]) => (left as string).length));
  return rows.map(([left, s]) => {
    const d = s as SettingDef;
    const env = d.flag === undefined ? '' : `; env ${d.env}`;
    return `  ${(left as string).padEnd(width)}  ${d.doc}\n  ${''.padEnd(width)}  (default ${d.default}${env})`;
  }).join('\n');
}
