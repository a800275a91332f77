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

/**
 * One entry of an error catalogue. `message` is what the error says when the
 * raising site has nothing to add; an entry without one makes its constructor
 * require a message (the site builds it from what went wrong). `doc` is the
 * "when" line of docs/errors.md, defaulting to `message`.
 */
export interface ErrorEntry {
  readonly status: StatusName;
  readonly message?: string;
  readonly doc?: string;
}

/** What a catalogue constructor takes: a message for this occurrence, the underlying error. */
export interface ErrorOptions {
  message?: string;
  cause?: unknown;
}

/** The constructor of one code: the message is optional only when the entry has one. */
export type ErrorConstructor<E extends ErrorEntry> = E extends { message: string }
  ? (opts?: ErrorOptions) => GuacError
  : (opts: ErrorOptions & { message: string }) => GuacError;

/** A layer's catalogue: one constructor per code, and the entries for the docs. */
export type ErrorCatalogue<T extends Record<string, ErrorEntry>> = { readonly [K in keyof T]: ErrorConstructor<T[K]> } & {
  /** Code → entry, as declared (read by scripts/errors-doc.mjs). */
  readonly entries: Readonly<T>;
};

/**
 * Declares a layer's error codes once, each with its status and message, and
 * returns their constructors (fastify's createError habit): a site raises
 * `TUNNEL.GUAC_TUNNEL_FULL()` and cannot get the status wrong.
 */
export function defineErrors<const T extends Record<string, ErrorEntry>>(table: T): ErrorCatalogue<T> {
  const catalogue: Record<string, unknown> = { entries: Object.freeze({ ...table }) };
  for (const [code, entry] of Object.entries(table)) {
    catalogue[code] = (opts?: ErrorOptions) => {
      const message = opts?.message ?? entry.message;
      if (message === undefined) throw new TypeError(`${code} needs a message`);
      return new GuacError(code, entry.status, message, opts?.cause === undefined ? undefined : { cause: opts.cause });
    };
  }
  return Object.freeze(catalogue) as ErrorCatalogue<T>;
}

/**
 * The parser's codes. `doc` is the short detail the parser puts in its
 * message (see PARSE_ERRORS); from guacd they become UPSTREAM_ERROR.
 */
export const PARSE = defineErrors({
  /** A length prefix has more digits than `maxLengthDigits`. */
  GUAC_PARSE_LENGTH_DIGITS: { status: 'CLIENT_BAD_REQUEST', doc: 'length prefix too long' },
  /** A length prefix holds a non-digit, or is empty (no digit before `.`). */
  GUAC_PARSE_BAD_LENGTH: { status: 'CLIENT_BAD_REQUEST', doc: 'malformed length prefix' },
  /** The byte after an element's content is neither `,` nor `;`. */
  GUAC_PARSE_BAD_DELIMITER: { status: 'CLIENT_BAD_REQUEST', doc: 'bad element delimiter' },
  /** A declared element length exceeds `maxElementLength`. */
  GUAC_PARSE_ELEMENT_TOO_LONG: { status: 'CLIENT_BAD_REQUEST', doc: 'element too long' },
  /** An instruction has more than `maxElements` elements. */
  GUAC_PARSE_TOO_MANY_ELEMENTS: { status: 'CLIENT_BAD_REQUEST', doc: 'too many elements' },
  /** An instruction exceeds `maxInstructionBytes`. */
  GUAC_PARSE_INSTRUCTION_TOO_LONG: { status: 'CLIENT_BAD_REQUEST', doc: 'instruction too long' },
  /** Element content is not well-formed UTF-8 (RFC 3629). */
  GUAC_PARSE_BAD_UTF8: { status: 'CLIENT_BAD_REQUEST', doc: 'invalid UTF-8' },
  /** A limit passed to a constructor is not a sensible integer. */
  GUAC_PARSE_BAD_LIMITS: { status: 'SERVER_ERROR', doc: 'invalid parser limits' },
  /** The caller's `onInstruction` threw; the error is the `cause`. */
  GUAC_PARSE_HANDLER_THREW: { status: 'SERVER_ERROR', message: 'The instruction handler threw; parsing stopped.', doc: 'instruction handler threw' },
});

/** A catalogue as a table, code → [status, docs line] (the shape the layers exported before catalogues). */
export function errorTable<T extends Record<string, ErrorEntry>>(catalogue: ErrorCatalogue<T>): Readonly<Record<keyof T, readonly [StatusName, string]>> {
  const rows = Object.entries(catalogue.entries).map(([code, e]) => [code, Object.freeze([e.status, e.doc ?? e.message ?? ''] as const)]);
  return Object.freeze(Object.fromEntries(rows) as Record<keyof T, readonly [StatusName, string]>);
}
