/**
 * Protocol constants shared by the parser, the splitter and (through the
 * bundle) the browser code. Pure data: no Node built-ins here, so `src/web`
 * can import it.
 *
 * Where the numbers come from (apache/guacamole-server and
 * apache/guacamole-client):
 * - libguac `parser-constants.h`: `GUAC_INSTRUCTION_MAX_LENGTH 8192`,
 *   `GUAC_INSTRUCTION_MAX_DIGITS 5`, `GUAC_INSTRUCTION_MAX_ELEMENTS 128`
 *   (64 in older releases).
 * - libguac `parser.c` applies 8192 to each element's *declared length*, and
 *   counts that length in characters (`guac_utf8_charsize` per step), i.e. in
 *   code points, although the header calls it "characters per instruction".
 *   The whole instruction is bounded separately, by the 32768-byte
 *   `__instructionbuf` in `parser.h` ("Instruction too long").
 *   guacd never actually enforces the 5-digit rule; its check is the 8192 one.
 * - Java `GuacamoleParser` uses the same three numbers the same way (per
 *   element, in code points), and copies the raw instruction into a fixed
 *   8192-`char` array, so the Java gateway cannot relay anything longer
 *   either; `GUAC_PROTOCOL_BLOB_MAX_LENGTH` (6048 bytes = 8064 base64 chars)
 *   exists so a `blob` stays under that.
 */
import { PARSE } from './errors.js';

/**
 * Limits applied while parsing, each checked at the earliest byte that can
 * break it. All counts are of the wire form.
 */
export interface ParserLimits {
  /** Digits allowed in one length prefix, leading zeros included. guacd: 5. */
  maxLengthDigits: number;
  /** Largest declared element length, in Unicode code points. guacd: 8192. */
  maxElementLength: number;
  /** Elements per instruction, the opcode included. guacd: 128. */
  maxElements: number;
  /**
   * Bytes per instruction, from its first length digit to its `;` inclusive.
   * guacd: 32768 (its instruction buffer). `Infinity` disables the check.
   */
  maxInstructionBytes?: number;
}

/**
 * What guacd itself accepts; the default for every parser, in both
 * directions (the gateway must not forward what guacd would reject, and guacd
 * never emits more, or the Java gateway would break on it).
 */
export const GUACD_LIMITS: Readonly<Required<ParserLimits>> = Object.freeze({
  maxLengthDigits: 5,
  maxElementLength: 8192,
  maxElements: 128,
  maxInstructionBytes: 32768,
});

/**
 * Largest payload, in bytes before base64, guacd puts in one `blob`
 * (`GUAC_PROTOCOL_BLOB_MAX_LENGTH`); senders chunk to this so every `blob`
 * instruction stays within {@link GUACD_LIMITS}.
 */
export const BLOB_MAX_BYTES = 6048;

/** Opcode of internal instructions (`0.,4.ping,…;`): they belong to the tunnel, never to guacd. */
export const INTERNAL_OPCODE = '';

/**
 * Stable codes of the errors the parser and the splitter return, with their
 * meaning. Every input error has status `CLIENT_BAD_REQUEST`; the guacd side
 * re-maps it to `UPSTREAM_ERROR`.
 */
export const PARSE_ERRORS: Readonly<Record<ParseErrorCode, string>> = Object.freeze(
  Object.fromEntries(Object.entries(PARSE.entries).map(([code, e]) => [code, e.doc])) as Record<ParseErrorCode, string>,
);

/** One of the codes in {@link PARSE_ERRORS}. */
export type ParseErrorCode = keyof typeof PARSE.entries;

/**
 * The connect data's field names: the query string guacamole-common-js's
 * tunnels send on connect (`URL?DATA`). The page writes them
 * (`src/web/connect-data.ts`), the tunnel reads them
 * (`src/tunnel/connect-data.ts`) and the token resolvers take the token from
 * `token`; one list so the two sides cannot drift apart.
 */
export const CONNECT_DATA = Object.freeze({
  token: 'token',
  width: 'width',
  height: 'height',
  dpi: 'dpi',
  timezone: 'timezone',
  audio: 'audio',
  video: 'video',
  image: 'image',
} as const);
