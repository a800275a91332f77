/**
 * The logging interface the library layers (guacd, tunnel, registry) report
 * through. They never write anywhere themselves: a host application passes a
 * `logger` option (pino's logger fits as it is, as do its children), else the
 * layers stay silent. Only the server (src/server/logger.ts) decides where
 * lines go, at what level, and which fields are redacted.
 *
 * The argument order is pino's: the fields first, then the message
 * (`logger.warn({ code }, 'guacd refused')`). Errors go in an `error` field.
 */

/** One level's method: structured fields, then a human message. */
export type LogFn = (fields: Record<string, unknown>, message: string) => void;

/** The subset of pino's logger the library uses. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** A logger whose every line also carries `bindings` (a session's id). */
  child(bindings: Record<string, unknown>): Logger;
}

const nothing: LogFn = () => undefined;

/** Writes nothing: the default of every library option. */
export const silentLogger: Logger = Object.freeze({
  debug: nothing,
  info: nothing,
  warn: nothing,
  error: nothing,
  child: () => silentLogger,
});

type Level = 'debug' | 'info' | 'warn' | 'error';

/**
 * A child of `parent` (`parent.child(bindings)`) made only when a line is
 * first written through it at a level the parent writes. Each session has
 * one and hands it around, yet most sessions never log: a pino child with
 * redaction costs about a fifth of a session's setup.
 */
export class LazyChildLogger implements Logger {
  private real: Logger | undefined;

  constructor(private readonly parent: Logger, private readonly bindings: Record<string, unknown>) {}

  debug(fields: Record<string, unknown>, message: string): void { this.write('debug', fields, message); }
  info(fields: Record<string, unknown>, message: string): void { this.write('info', fields, message); }
  warn(fields: Record<string, unknown>, message: string): void { this.write('warn', fields, message); }
  error(fields: Record<string, unknown>, message: string): void { this.write('error', fields, message); }

  child(bindings: Record<string, unknown>): Logger {
    return this.made().child(bindings);
  }

  private write(level: Level, fields: Record<string, unknown>, message: string): void {
    // pino says which levels it writes; a logger that cannot say gets every line.
    const enabled = (this.parent as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled;
    if (enabled !== undefined && !enabled.call(this.parent, level)) return;
    this.made()[level](fields, message);
  }

  private made(): Logger {
    return this.real ??= this.parent.child(this.bindings);
  }
}
