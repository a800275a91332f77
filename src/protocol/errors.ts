import { STATUS, type StatusInfo, type StatusName } from './status.js';

/**
 * The one error class of the project. `code` is a stable machine-readable
 * string (documented in docs/errors.md), `status` the Guacamole status it maps
 * to, `message` a human sentence that never contains a secret.
 */
export class GuacError extends Error {
  /** Stable identifier, e.g. `GUAC_PARSE_TOO_LONG`. */
  readonly code: string;
  /** The Guacamole status this error maps to. */
  readonly status: StatusInfo;

  /**
   * @param code stable identifier (upper snake case, `GUAC_` prefix)
   * @param status status name from the table
   * @param message human message, free of secrets
   * @param options `cause` keeps the underlying error for logs
   */
  constructor(code: string, status: StatusName | StatusInfo, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GuacError';
    this.code = code;
    this.status = typeof status === 'string' ? STATUS[status] : status;
  }
}

/** True when `err` is a {@link GuacError}, optionally with the given code. */
export function isGuacError(err: unknown, code?: string): err is GuacError {
  return err instanceof GuacError && (code === undefined || err.code === code);
}

/**
 * Wraps anything thrown into a GuacError; a GuacError passes through.
 * Used at layer boundaries so callers only ever see one error type.
 */
export function toGuacError(err: unknown, code = 'GUAC_INTERNAL', status: StatusName = 'SERVER_ERROR'): GuacError {
  if (err instanceof GuacError) return err;
  return new GuacError(code, status, STATUS[status].message, { cause: err });
}
