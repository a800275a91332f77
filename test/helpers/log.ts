/**
 * The tests' logger: the server's own (`createServerLogger`, pino with its
 * redaction), at debug level, so a capture sees every line the server would
 * write. Outside a capture only lines at `GATEWAY_LOG_LEVEL` (default warn)
 * or above reach stderr: session lines would drown the tests' reports.
 */
import { createServerLogger, LOG_LEVELS, parseLogLevel } from '../../src/server/logger.js';

const quiet = LOG_LEVELS.indexOf(parseLogLevel(process.env.GATEWAY_LOG_LEVEL || 'warn'));
let captures: string[][] = [];

function write(line: string): void {
  const text = line.endsWith('\n') ? line.slice(0, -1) : line;
  if (captures.length > 0) {
    for (const c of captures) c.push(text);
    return;
  }
  const level = (JSON.parse(text) as { level?: string }).level ?? 'error';
  if (LOG_LEVELS.indexOf(level as (typeof LOG_LEVELS)[number]) >= quiet) process.stderr.write(text + '\n');
}

/** Pass as the `logger` option of whatever a test builds. */
export const testLogger = createServerLogger('debug', { write });

/** Starts collecting every line of {@link testLogger} (JSON, one per entry) into `lines` until `stop()`. */
export function startCapture(lines: string[] = []): { lines: string[]; stop(): void } {
  captures.push(lines);
  return { lines, stop: () => { captures = captures.filter((c) => c !== lines); } };
}

/** Collects the log lines written while `fn` runs. */
export async function captureLogs<T>(fn: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const capture = startCapture();
  try {
    return { result: await fn(), lines: capture.lines };
  } finally {
    capture.stop();
  }
}
