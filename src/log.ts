/**
 * The project's only logger. One JSON line per event on stderr, at info and
 * above until the application sets another level (the server's `--log-level`,
 * `GATEWAY_LOG_LEVEL`: src/server/settings.ts). Fields whose
 * names look like secrets are masked here, once, so no caller can leak them.
 */
type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

const SECRET_KEY = /pass(word|phrase)?|secret|private[-_]?key|token|key$|credential|authorization|cookie/i;

let threshold = order.info;
let sink: (line: string) => void = (line) => process.stderr.write(line + '\n');

/** Replaces the destination of log lines (tests capture them). */
export function setLogSink(fn: (line: string) => void): void {
  sink = fn;
}

/** Changes the level at run time. */
export function setLogLevel(level: Level | 'silent'): void {
  threshold = order[level];
}

function mask(value: unknown, depth = 0): unknown {
  if (value instanceof Error) {
    const e = value as Error & { code?: unknown; status?: { guac?: number } };
    return { error: e.name, code: e.code, status: e.status?.guac, message: e.message };
  }
  if (value === null || typeof value !== 'object' || depth > 4) return value;
  if (Array.isArray(value)) return value.map((v) => mask(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) && v !== undefined && v !== '' ? '[redacted]' : mask(v, depth + 1);
  return out;
}

function emit(level: Level, msg: string, fields?: Record<string, unknown>): void {
  if (order[level] < threshold) return;
  sink(JSON.stringify({ t: new Date().toISOString(), level, msg, ...(fields ? (mask(fields) as object) : {}) }));
}

/** Structured logger: `log.info('tunnel open', { id })`. */
export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => emit('debug', msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => emit('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => emit('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => emit('error', msg, fields),
};
