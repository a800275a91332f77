/**
 * The server's logging, the one place that decides where lines go: pino, one
 * JSON line per event on stderr, the level from the server's configuration.
 * The library layers only ever see it as their `logger` option.
 *
 * Secrets: the layers log identifiers, not credentials, and this masks any
 * field named like one anyway (up to three levels deep), once, for every
 * caller: the generic names and every secret parameter of the guacd
 * catalogue, under its guacd and its camelCase name.
 */
import pino, { type DestinationStream, type Logger as PinoLogger } from 'pino';
import { CATALOGUE, camelCase, PROTOCOLS } from '../guacd/params.js';
import { parseOneOf } from './config.js';

/** The levels of the server's log: the `logLevel` setting (`--log-level`, `GATEWAY_LOG_LEVEL`; settings.ts). */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const SECRET_FIELDS = [
  'password', 'passphrase', 'secret', 'token', 'privateKey', 'private_key', 'private-key', 'authorization',
  'cookie', 'set-cookie', 'credential', 'credentials', 'adminKey', 'key', 'secretKey',
];

/** Every secret-looking field name: the generic ones and the catalogue's secret parameters. */
function secretFields(): string[] {
  const names = new Set(SECRET_FIELDS);
  for (const protocol of PROTOCOLS) {
    for (const param of CATALOGUE[protocol]) {
      if (!param.secret) continue;
      names.add(param.name);
      names.add(camelCase(param.name));
    }
  }
  return [...names];
}

/** pino `redact` paths for a field name at the top level and two levels down. */
export function redactPaths(): string[] {
  const paths: string[] = [];
  for (const name of secretFields()) {
    const key = /^[A-Za-z_$][\w$]*$/.test(name) ? name : `["${name}"]`;
    const dotted = key.startsWith('[') ? key : `.${key}`;
    paths.push(key, `*${dotted}`, `*.*${dotted}`);
  }
  return paths;
}

/** An error as a log field: what it is and why, never its stack or properties (a driver's may hold a query). */
function errorField(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const e = value as Error & { code?: unknown; status?: { guac?: number } };
  return { type: e.name, code: e.code, status: e.status?.guac, message: e.message };
}

/**
 * The server's logger.
 * @param level the lowest level written (`silent`: nothing)
 * @param destination where lines go (default stderr; tests pass a stream of their own)
 */
export function createServerLogger(level: LogLevel = 'info', destination?: DestinationStream): PinoLogger {
  return pino({
    level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { error: errorField, err: errorField },
    redact: { paths: redactPaths(), censor: '[redacted]' },
  }, destination ?? pino.destination({ fd: 2, sync: true }));
}

const oneOfLevels = parseOneOf(LOG_LEVELS);

/**
 * The level a value names; `info` when unset. The settings table's parser of
 * `logLevel`, so its message names where the value came from.
 * @param what the flag or variable it came from, for the message
 * @throws GuacError `GUAC_CONFIG_INVALID` for a name that is not a level
 */
export function parseLogLevel(value: string | undefined, what = 'GATEWAY_LOG_LEVEL'): LogLevel {
  return value === undefined || value === '' ? 'info' : oneOfLevels(value, what);
}
