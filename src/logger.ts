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
