/**
 * The Guacamole instruction parser: a resumable state machine over Buffers.
 *
 * Lengths on the wire count code points, so content is measured by counting
 * UTF-8 lead bytes instead of decoding, and a character split across chunks
 * needs no special case. Each byte is looked at once (no rescanning), long
 * ASCII runs are skipped with one native `isAscii` call, and values are
 * decoded straight from the chunk; only an element that spans chunks is
 * gathered, and only its own bytes.
 *
 * The helpers marked internal (carry, limits, errors) are shared with
 * `splitter.ts`, as `utf8.ts` is; neither is part of the package API.
 */
import { GuacError } from './errors.js';
import { GUACD_LIMITS, PARSE_ERRORS, type ParseErrorCode, type ParserLimits } from './constants.js';
import {
  SLICED_MIN, TEXT_BYTES_PER_VALUE, decodeSlice, isAsciiChunk, newContentState, scanContent,
} from './utf8.js';

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

/** Pieces up to this size are copied (so a trickle of tiny chunks is not kept as thousands of views). */
const COPY_MAX = 512;

/**
 * @internal Bytes that span chunks: an element (parser) or an instruction tail
 * (splitter). Large pieces are kept as views and copied once, when taken;
 * small ones are packed into owned blocks that grow geometrically, so memory
 * stays within about twice the bytes held whatever the chunk sizes.
 */
export class ByteCarry {
  /** Bytes held. */
  length = 0;
  private parts: Buffer[] = [];
  private block: Buffer | undefined;
  private blockStart = 0;
  private blockUsed = 0;

  /** Adds a piece; may keep a view of it. */
  append(piece: Buffer): void {
    const n = piece.length;
    if (n === 0) return;
    this.length += n;
    if (n > COPY_MAX) {
      this.parts.push(piece);
      this.block = undefined;
      return;
    }
    let block = this.block;
    if (block === undefined || block.length - this.blockUsed < n) {
      block = this.block = Buffer.allocUnsafe(Math.max(1024, Math.min(this.length, 65536)));
      this.blockStart = this.blockUsed = 0;
      this.parts.push(block);
    }
    piece.copy(block, this.blockUsed);
    this.blockUsed += n;
    this.parts[this.parts.length - 1] = block.subarray(this.blockStart, this.blockUsed);
  }

  /** Returns everything held followed by `last`, as one Buffer, and empties the carry. */
  take(last: Buffer): Buffer {
    const parts = this.parts;
    const total = this.length + last.length;
    if (last.length !== 0) parts.push(last);
    const out = parts.length === 1 ? parts[0] : Buffer.concat(parts, total);
    this.clear();
    return out;
  }

  /** Drops everything held. */
  clear(): void {
    this.parts = [];
    this.block = undefined;
    this.length = this.blockStart = this.blockUsed = 0;
  }
}

/** @internal Fills in defaults and rejects nonsense (a programming error, so it throws). */
export function resolveLimits(limits?: Partial<ParserLimits>): Readonly<Required<ParserLimits>> {
  const out = { ...GUACD_LIMITS };
  for (const key of Object.keys(GUACD_LIMITS) as (keyof ParserLimits)[]) {
    const v = limits?.[key];
    if (v === undefined) continue;
    const ok = key === 'maxInstructionBytes'
      ? v === Infinity || (Number.isSafeInteger(v) && v > 0)
      : Number.isSafeInteger(v) && v >= (key === 'maxElementLength' ? 0 : 1) && (key !== 'maxLengthDigits' || v <= 15);
    if (!ok) throw new GuacError('GUAC_PARSE_BAD_LIMITS', 'SERVER_ERROR', `Invalid parser limit ${key}: ${String(v)}.`);
    out[key] = v;
  }
  return Object.freeze(out);
}

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
  return new GuacError(code, 'CLIENT_BAD_REQUEST', `Protocol error: ${detail} (at byte ${at}).`);
}

/** @internal The error recorded when a caller's handler throws. */
export function handlerError(cause: unknown): GuacError {
  return new GuacError('GUAC_PARSE_HANDLER_THREW', 'SERVER_ERROR', 'The instruction handler threw; parsing stopped.', { cause });
}

/**
 * Full decoder of a Guacamole instruction stream. Feed it chunks as they
 * arrive, split anywhere; it calls back once per complete instruction.
 *
 * Input errors are returned, never thrown, and are final: once failed, the
 * parser returns the same error from every later {@link Parser.push}.
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
  private elements = 0;
  private opcode = '';
  private args: string[] = [];
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
    const end = chunk.length;
    const ascii = isAsciiChunk(chunk);
    // Stream offset of chunk[0] minus the instruction's start: instruction bytes so far = before + p.
    let before = this.offset - this.instrStart;
    let state = this.state;
    let length = this.length;
    let digits = this.digits;
    let p = 0;
    // Start of the current element's content within this chunk (0 when it began earlier).
    let elemStart = 0;
    // The chunk as one one-byte string, made once short values prove dense:
    // cutting them from it with substring is far cheaper than a native slice
    // call each (about 10 ns against 50).
    let text: string | undefined;
    let shortValues = 0;
    let err: ParseErrorCode | undefined;
    try {
      scan: while (p < end) {
        if (state === S_LENGTH) {
          if (ascii && digits === 0) {
            // Whole elements inside an all-ASCII chunk (see the splitter's
            // twin loop): taken only when complete and valid, otherwise left
            // at their first byte for the general path below.
            while (p < end) {
              let q = p;
              let n = 0;
              const stop = p + maxLengthDigits < end ? p + maxLengthDigits : end;
              while (q < stop) {
                const d = chunk[q];
                if (d < 0x30 || d > 0x39) break;
                n = n * 10 + (d - 0x30);
                q++;
              }
              if (q === p || q === end || chunk[q] !== DOT || n > maxElementLength) break;
              const c = q + 1 + n;
              if (c >= end || before + c + 1 > maxInstructionBytes) break;
              const d = chunk[c];
              if (d !== SEMICOLON && (d !== COMMA || this.elements + 1 >= maxElements)) break;
              let value: string;
              if (text !== undefined && n < SLICED_MIN) {
                value = text.substring(q + 1, c);
              } else if (n < SLICED_MIN && ++shortValues * TEXT_BYTES_PER_VALUE >= end) {
                text = decodeSlice(chunk, 0, end, true);
                value = text.substring(q + 1, c);
              } else {
                value = decodeSlice(chunk, q + 1, c, true);
              }
              p = c + 1;
              if (this.elements === 0) this.opcode = value;
              else this.args.push(value);
              if (d === SEMICOLON) {
                const args = this.args;
                this.args = [];
                this.elements = 0;
                before = -p;
                onInstruction(this.opcode, args);
              } else {
                this.elements++;
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
        let value: string;
        if (carry.length !== 0) {
          const whole = carry.take(chunk.subarray(elemStart, p));
          value = decodeSlice(whole, 0, whole.length, cs.ascii);
        } else {
          value = decodeSlice(chunk, elemStart, p, cs.ascii);
        }
        p++;
        if (this.elements === 0) this.opcode = value;
        else this.args.push(value);
        this.elements++;
        length = digits = 0;
        state = S_LENGTH;
        if (b === SEMICOLON) {
          const args = this.args;
          this.args = [];
          this.elements = 0;
          before = -p;
          onInstruction(this.opcode, args);
        } else if (this.elements >= maxElements) {
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
    this.state = state;
    this.length = length;
    this.digits = digits;
    this.instrStart = this.offset - before;
    this.offset += end;
    return undefined;
  }

  private fail(code: ParseErrorCode, p: number): GuacError {
    this.failure = parseError(code, this.offset + p, this.limits);
    this.carry.clear();
    return this.failure;
  }
}
