/**
 * The Guacamole instruction parser: a resumable state machine over Buffers.
 *
 * Lengths on the wire count code points, so content is measured by counting
 * UTF-8 lead bytes instead of decoding, and a character split across chunks
 * needs no special case. Each byte is looked at once (no rescanning); in an
 * all-ASCII chunk (one native `isAscii` call) content is skipped by
 * arithmetic and values are substrings of one string of the chunk; only an
 * element that spans chunks is gathered, and only its own bytes.
 *
 * The helpers marked internal (limits, errors) are shared with `splitter.ts`,
 * as `bytes.ts` and `utf8.ts` are; none is part of the package API.
 */
import { PARSE, type GuacError } from './errors.js';
import { GUACD_LIMITS, PARSE_ERRORS, type ParseErrorCode, type ParserLimits } from './constants.js';
import { ByteCarry } from './bytes.js';
import { decodeSlice, isAsciiChunk, newContentState, scanContent } from './utf8.js';

export { GUACD_LIMITS, type ParserLimits } from './constants.js';

/** Receives each complete instruction, in order. */
export type InstructionHandler = (opcode: string, args: string[]) => void;

// Parse states and bytes. splitter.ts keeps its own copies: module-local
// consts fold into the compiled loops, imported bindings are loaded each time.
const S_LENGTH = 0;
const S_CONTENT = 1;
/** Content complete, the next byte must be `,` or `;`. */
const S_DELIMITER = 2;
const DOT = 0x2e;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;

/** `values[1..n)` as a fresh array: literals for the usual counts (one allocation, no builtin call). */
function argsOf(v: string[], n: number): string[] {
  switch (n) {
    case 1: return [];
    case 2: return [v[1]];
    case 3: return [v[1], v[2]];
    case 4: return [v[1], v[2], v[3]];
    case 5: return [v[1], v[2], v[3], v[4]];
    case 6: return [v[1], v[2], v[3], v[4], v[5]];
    case 7: return [v[1], v[2], v[3], v[4], v[5], v[6]];
    default: return v.slice(1, n);
  }
}

/** @internal Fills in defaults and rejects nonsense (a programming error, so it throws). */
export function resolveLimits(limits?: Partial<ParserLimits>): Readonly<Required<ParserLimits>> {
  // Every session builds parsers with its tunnel's limits: resolve them once.
  if (limits === undefined) return DEFAULT_LIMITS;
  if (RESOLVED.has(limits)) return limits as Readonly<Required<ParserLimits>>;
  const out = { ...GUACD_LIMITS };
  for (const key of Object.keys(GUACD_LIMITS) as (keyof ParserLimits)[]) {
    const v = limits?.[key];
    if (v === undefined) continue;
    const ok = key === 'maxInstructionBytes'
      ? v === Infinity || (Number.isSafeInteger(v) && v > 0)
      : Number.isSafeInteger(v) && v >= (key === 'maxElementLength' ? 0 : 1) && (key !== 'maxLengthDigits' || v <= 15);
    if (!ok) throw PARSE.GUAC_PARSE_BAD_LIMITS({ message: `Invalid parser limit ${key}: ${String(v)}.` });
    out[key] = v;
  }
  const frozen = Object.freeze(out);
  RESOLVED.add(frozen);
  return frozen;
}

/** Limits {@link resolveLimits} returned (frozen): taken as they are. */
const RESOLVED = new WeakSet<object>();
const DEFAULT_LIMITS: Readonly<Required<ParserLimits>> = Object.freeze({ ...GUACD_LIMITS });
RESOLVED.add(DEFAULT_LIMITS);

/** @internal Builds the error for `code` found at stream byte `at`. */
export function parseError(code: ParseErrorCode, at: number, limits: Readonly<Required<ParserLimits>>): GuacError {
  let detail: string;
  switch (code) {
    case 'GUAC_PARSE_LENGTH_DIGITS': detail = `an element length has more than ${limits.maxLengthDigits} digits`; break;
    case 'GUAC_PARSE_BAD_LENGTH': detail = 'an element length is empty or holds a non-digit'; break;
    case 'GUAC_PARSE_BAD_DELIMITER': detail = "an element is not followed by ',' or ';'"; break;
    case 'GUAC_PARSE_ELEMENT_TOO_LONG': detail = `an element is longer than ${limits.maxElementLength} characters`; break;
    case 'GUAC_PARSE_TOO_MANY_ELEMENTS': detail = `an instruction has more than ${limits.maxElements} elements`; break;
    case 'GUAC_PARSE_INSTRUCTION_TOO_LONG': detail = `an instruction is longer than ${limits.maxInstructionBytes} bytes`; break;
    case 'GUAC_PARSE_BAD_UTF8': detail = 'an element is not valid UTF-8'; break;
    default: detail = PARSE_ERRORS[code];
  }
  // Position only, never content: the stream may carry credentials.
  return PARSE[code]({ message: `Protocol error: ${detail} (at byte ${at}).` });
}

/** @internal The error recorded when a caller's handler throws. */
export function handlerError(cause: unknown): GuacError {
  return PARSE.GUAC_PARSE_HANDLER_THREW({ cause });
}

/**
 * Full decoder of a Guacamole instruction stream. Feed it chunks as they
 * arrive, split anywhere; it calls back once per complete instruction.
 *
 * Input errors are returned, never thrown, and are final: once failed, the
 * parser returns the same error from every later {@link Parser.push}.
 *
 * Values of 13 or more characters taken from an all-ASCII chunk share memory
 * with that chunk's one-byte string (V8 slices): a value kept long keeps at
 * most one chunk's worth of text alive with it.
 *
 * @example
 * const parser = new Parser();
 * const err = parser.push(chunk, (opcode, args) => handle(opcode, args));
 * if (err) close(err.status);
 */
export class Parser {
  /** The limits in force, defaults filled in. */
  readonly limits: Readonly<Required<ParserLimits>>;
  private failure: GuacError | undefined;
  private state = S_LENGTH;
  private length = 0;
  private digits = 0;
  private readonly cs = newContentState();
  /** Elements of the unfinished instruction so far, in `values`. */
  private elements = 0;
  /**
   * The unfinished instruction's values, opcode first; reused, so an
   * instruction costs one exact-size `args` array (`slice`) instead of a
   * growing one.
   */
  private readonly values: string[] = new Array<string>(8).fill('');
  private readonly carry = new ByteCarry();
  /** Stream bytes before the current chunk. */
  private offset = 0;
  /** Stream offset of the current instruction's first byte. */
  private instrStart = 0;

  /**
   * @param limits overrides of {@link GUACD_LIMITS}
   * @throws GuacError `GUAC_PARSE_BAD_LIMITS` if a limit is not a sensible integer
   */
  constructor(limits?: Partial<ParserLimits>) {
    this.limits = resolveLimits(limits);
  }

  /** The error that stopped the parser, if any. */
  get error(): GuacError | undefined {
    return this.failure;
  }

  /** Bytes held from earlier chunks (the unfinished element), for memory accounting. */
  get buffered(): number {
    return this.carry.length;
  }

  /**
   * Parses a chunk, calling `onInstruction` for every instruction it completes.
   * `args` is a fresh array the handler may keep.
   * @param chunk the next bytes of the stream, any size; not retained past
   *   this call except for the unfinished element's bytes
   * @param onInstruction receives each complete instruction
   * @returns the error, if the stream is malformed (now or before); instructions
   *   completed before the bad byte have been delivered
   * @throws whatever `onInstruction` throws; the parser then fails with
   *   `GUAC_PARSE_HANDLER_THREW`
   */
  push(chunk: Buffer, onInstruction: InstructionHandler): GuacError | undefined {
    if (this.failure) return this.failure;
    const { maxLengthDigits, maxElementLength, maxElements, maxInstructionBytes } = this.limits;
    const cs = this.cs;
    const carry = this.carry;
    const values = this.values;
    const end = chunk.length;
    const ascii = isAsciiChunk(chunk);
    // Stream offset of chunk[0] minus the instruction's start: instruction bytes so far = before + p.
    let before = this.offset - this.instrStart;
    let state = this.state;
    let length = this.length;
    let digits = this.digits;
    let elements = this.elements;
    let p = 0;
    // Start of the current element's content within this chunk (0 when it began earlier).
    let elemStart = 0;
    // The chunk from `textAt` on as one one-byte string, made at the first
    // value the fast path takes: every value is then a substring of it (about
    // 10 ns, and no copy for long ones) instead of a native slice call each.
    let text: string | undefined;
    let textAt = 0;
    let err: ParseErrorCode | undefined;
    try {
      scan: while (p < end) {
        if (state === S_LENGTH) {
          if (ascii && digits === 0) {
            // Whole elements inside an all-ASCII chunk (see the splitter's
            // twin loop): taken only when complete and valid, otherwise left
            // at their first byte for the general path below.
            while (p < end) {
              let n = chunk[p] - 0x30;
              if (n < 0 || n > 9) break;
              let q = p + 1;
              const stop = p + maxLengthDigits < end ? p + maxLengthDigits : end;
              while (q < stop) {
                const d = chunk[q] - 0x30;
                if (d < 0 || d > 9) break;
                n = n * 10 + d;
                q++;
              }
              if (q === end || chunk[q] !== DOT || n > maxElementLength) break;
              const c = q + 1 + n;
              if (c >= end || before + c + 1 > maxInstructionBytes) break;
              const d = chunk[c];
              if (d !== SEMICOLON && (d !== COMMA || elements + 1 >= maxElements)) break;
              if (text === undefined) {
                text = decodeSlice(chunk, p, end, true);
                textAt = p;
              }
              values[elements++] = text.substring(q + 1 - textAt, c - textAt);
              p = c + 1;
              if (d === SEMICOLON) {
                const args = argsOf(values, elements);
                elements = 0;
                before = -p;
                onInstruction(values[0], args);
              }
            }
            if (p === end) break;
          }
          let b = chunk[p];
          while (b >= 0x30 && b <= 0x39) {
            // Both checks fire on the digit that breaks them, before any content is read.
            if (++digits > maxLengthDigits) { err = 'GUAC_PARSE_LENGTH_DIGITS'; break scan; }
            length = length * 10 + (b - 0x30);
            if (length > maxElementLength) { err = 'GUAC_PARSE_ELEMENT_TOO_LONG'; break scan; }
            if (++p === end) break scan;
            b = chunk[p];
          }
          if (b !== DOT || digits === 0) { err = 'GUAC_PARSE_BAD_LENGTH'; break; }
          // The content needs at least `length` bytes plus a delimiter.
          if (before + p + 1 + length + 1 > maxInstructionBytes) { err = 'GUAC_PARSE_INSTRUCTION_TOO_LONG'; break; }
          p++;
          cs.remaining = length;
          cs.ascii = true;
          elemStart = p;
          state = S_CONTENT;
        }
        if (state === S_CONTENT) {
          if (ascii && cs.need === 0) {
            // An all-ASCII chunk: a code point is a byte, skip by arithmetic.
            const r = cs.remaining;
            if (r > end - p) {
              cs.remaining = r - (end - p);
              p = end;
              break;
            }
            p += r;
            cs.remaining = 0;
          } else {
            const q = scanContent(cs, chunk, p, end);
            if (q < 0) { p = ~q; err = 'GUAC_PARSE_BAD_UTF8'; break; }
            p = q;
            if (cs.remaining !== 0 || cs.need !== 0) break;
          }
          state = S_DELIMITER;
          if (p === end) break;
        }
        const b = chunk[p];
        if (b !== COMMA && b !== SEMICOLON) { err = 'GUAC_PARSE_BAD_DELIMITER'; break; }
        if (before + p + 1 > maxInstructionBytes) { err = 'GUAC_PARSE_INSTRUCTION_TOO_LONG'; break; }
        values[elements++] = carry.length !== 0
          ? carry.decode(chunk.subarray(elemStart, p), cs.ascii)
          : decodeSlice(chunk, elemStart, p, cs.ascii);
        p++;
        length = digits = 0;
        state = S_LENGTH;
        if (b === SEMICOLON) {
          const args = argsOf(values, elements);
          elements = 0;
          before = -p;
          onInstruction(values[0], args);
        } else if (elements >= maxElements) {
          p--;
          err = 'GUAC_PARSE_TOO_MANY_ELEMENTS';
          break;
        }
      }
    } catch (thrown) {
      this.failure = handlerError(thrown);
      carry.clear();
      throw thrown;
    }
    if (err !== undefined) return this.fail(err, p);
    if (state !== S_LENGTH && elemStart < end) carry.append(chunk.subarray(elemStart, end));
    // Values past the unfinished instruction's would keep this chunk's text alive.
    if (text !== undefined) values.fill('', elements);
    this.state = state;
    this.length = length;
    this.digits = digits;
    this.elements = elements;
    this.instrStart = this.offset - before;
    this.offset += end;
    return undefined;
  }

  private fail(code: ParseErrorCode, p: number): GuacError {
    this.failure = parseError(code, this.offset + p, this.limits);
    this.carry.clear();
    this.values.fill('');
    return this.failure;
  }
}
