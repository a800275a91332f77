/**
 * The relay-path framer: finds where instructions end and hands back their
 * original bytes, decoding nothing but (on request) opcodes.
 *
 * A `;` may sit inside a value, so boundaries can only be found by walking
 * the element headers; content is skipped by length, long ASCII runs (guacd's
 * base64 blobs) with one native `isAscii` call. It enforces the same limits
 * and returns the same errors, at the same byte, as {@link Parser}.
 */
import type { GuacError } from './errors.js';
import type { ParseErrorCode, ParserLimits } from './constants.js';
import { ByteCarry, handlerError, parseError, resolveLimits } from './parser.js';
import {
  SLICED_MIN, TEXT_BYTES_PER_VALUE, decodeSlice, isAsciiChunk, newContentState, scanContent,
} from './utf8.js';

/** Receives each complete instruction's opcode and a view of its bytes (within the Buffer `push` returns). */
export type RawInstructionHandler = (opcode: string, raw: Buffer) => void;

// The parser's constants, local so they fold into the compiled loop.
const S_LENGTH = 0;
const S_CONTENT = 1;
const S_DELIMITER = 2;
const DOT = 0x2e;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;

const EMPTY = Buffer.alloc(0);

/**
 * Splits a byte stream into whole instructions without decoding them, for
 * relaying (guacd → browser: websocket messages must carry whole
 * instructions). The concatenation of everything `push` returns is exactly the
 * input up to the end of the last complete instruction.
 *
 * @example
 * const splitter = new InstructionSplitter();
 * const out = splitter.push(chunk);
 * if (out instanceof GuacError) fail(out); else if (out.length) ws.send(out);
 */
export class InstructionSplitter {
  /** The limits in force, defaults filled in. */
  readonly limits: Readonly<Required<ParserLimits>>;
  private failure: GuacError | undefined;
  private state = S_LENGTH;
  private length = 0;
  private digits = 0;
  private readonly cs = newContentState();
  private elements = 0;
  /** Opcode content bounds, relative to the first byte of its instruction. */
  private opStart = 0;
  private opEnd = 0;
  private opAscii = true;
  /** The unfinished instruction's bytes from earlier chunks; it always starts there. */
  private readonly carry = new ByteCarry();
  /** Stream bytes before the current chunk (for error positions). */
  private offset = 0;
  /** Per push: [opcode start, opcode end, ascii, instruction end] per instruction, as offsets in the output. */
  private readonly marks: number[] = [];

  /**
   * @param limits overrides of {@link GUACD_LIMITS}
   * @throws GuacError `GUAC_PARSE_BAD_LIMITS` if a limit is not a sensible integer
   */
  constructor(limits?: Partial<ParserLimits>) {
    this.limits = resolveLimits(limits);
  }

  /** The error that stopped the splitter, if any. */
  get error(): GuacError | undefined {
    return this.failure;
  }

  /** Bytes held for the unfinished instruction, for memory accounting. */
  get buffered(): number {
    return this.carry.length;
  }

  /**
   * Adds a chunk and returns the bytes of every instruction it completes.
   * @param chunk the next bytes of the stream, any size; the tail after the
   *   last complete instruction is kept (as a view when large)
   * @param onInstruction called, after the walk and in order, with each
   *   complete instruction's opcode and a view of its bytes
   * @returns one Buffer holding the completed instructions: a view of `chunk`
   *   when nothing was carried over, else carried bytes and the needed part of
   *   `chunk` concatenated once; empty when none completed. On malformed
   *   input, the error instead (now and on every later push); instructions
   *   completed in that same push are then neither returned nor reported.
   * @throws whatever `onInstruction` throws; the splitter then fails with
   *   `GUAC_PARSE_HANDLER_THREW`
   */
  push(chunk: Buffer, onInstruction?: RawInstructionHandler): Buffer | GuacError {
    if (this.failure) return this.failure;
    const { maxLengthDigits, maxElementLength, maxElements, maxInstructionBytes } = this.limits;
    const cs = this.cs;
    const end = chunk.length;
    const ascii = isAsciiChunk(chunk);
    // Output coordinates: carried bytes first, then chunk[i] at base + i.
    const base = this.carry.length;
    const marks = onInstruction ? this.marks : undefined;
    if (marks) marks.length = 0;
    let state = this.state;
    let length = this.length;
    let digits = this.digits;
    let elements = this.elements;
    let p = 0;
    // Output offset of the current instruction's first byte (the carried one starts at 0).
    let instrStart = 0;
    let lastEnd = 0;
    let err: ParseErrorCode | undefined;
    scan: while (p < end) {
      if (state === S_LENGTH) {
        if (ascii && digits === 0) {
          // Whole elements inside an all-ASCII chunk, everything in locals.
          // An element is only taken here if it is complete and breaks no
          // rule; anything else is left at its first byte for the general
          // path below, which finds the same error at the same byte.
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
            if (c >= end || base + c + 1 - instrStart > maxInstructionBytes) break;
            const d = chunk[c];
            if (d !== SEMICOLON && (d !== COMMA || elements + 1 >= maxElements)) break;
            if (elements === 0) {
              this.opStart = q + 1 - p;
              this.opEnd = c - p;
              this.opAscii = true;
            }
            p = c + 1;
            if (d === SEMICOLON) {
              const endAt = base + p;
              if (marks) marks.push(instrStart + this.opStart, instrStart + this.opEnd, this.opAscii ? 1 : 0, endAt);
              instrStart = endAt;
              lastEnd = p;
              elements = 0;
            } else {
              elements++;
            }
          }
          if (p === end) break;
        }
        let b = chunk[p];
        while (b >= 0x30 && b <= 0x39) {
          if (++digits > maxLengthDigits) { err = 'GUAC_PARSE_LENGTH_DIGITS'; break scan; }
          length = length * 10 + (b - 0x30);
          if (length > maxElementLength) { err = 'GUAC_PARSE_ELEMENT_TOO_LONG'; break scan; }
          if (++p === end) break scan;
          b = chunk[p];
        }
        if (b !== DOT || digits === 0) { err = 'GUAC_PARSE_BAD_LENGTH'; break; }
        if (base + p + 1 - instrStart + length + 1 > maxInstructionBytes) { err = 'GUAC_PARSE_INSTRUCTION_TOO_LONG'; break; }
        p++;
        if (elements === 0) this.opStart = base + p - instrStart;
        cs.remaining = length;
        cs.ascii = true;
        state = S_CONTENT;
      }
      if (state === S_CONTENT) {
        if (ascii && cs.need === 0) {
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
      if (base + p + 1 - instrStart > maxInstructionBytes) { err = 'GUAC_PARSE_INSTRUCTION_TOO_LONG'; break; }
      if (elements === 0) {
        this.opEnd = base + p - instrStart;
        this.opAscii = cs.ascii;
      }
      p++;
      elements++;
      length = digits = 0;
      state = S_LENGTH;
      if (b === SEMICOLON) {
        const endAt = base + p;
        if (marks) marks.push(instrStart + this.opStart, instrStart + this.opEnd, this.opAscii ? 1 : 0, endAt);
        instrStart = endAt;
        lastEnd = p;
        elements = 0;
      } else if (elements >= maxElements) {
        p--;
        err = 'GUAC_PARSE_TOO_MANY_ELEMENTS';
        break;
      }
    }
    if (err !== undefined) return this.fail(err, p);
    this.state = state;
    this.length = length;
    this.digits = digits;
    this.elements = elements;
    this.offset += end;
    if (lastEnd === 0) {
      this.carry.append(chunk);
      return EMPTY;
    }
    const out = base === 0 ? chunk.subarray(0, lastEnd) : this.carry.take(chunk.subarray(0, lastEnd));
    if (lastEnd < end) this.carry.append(chunk.subarray(lastEnd));
    if (marks && onInstruction) {
      let from = 0;
      // Short ASCII opcodes are cut from one string of the output when
      // instructions are dense enough to pay for it (see Parser).
      const dense = marks.length * (TEXT_BYTES_PER_VALUE / 4) >= out.length;
      let text: string | undefined;
      try {
        for (let i = 0; i < marks.length; i += 4) {
          const a = marks[i];
          const z = marks[i + 1];
          const to = marks[i + 3];
          let opcode: string;
          if (dense && marks[i + 2] === 1 && z - a < SLICED_MIN) {
            if (text === undefined) text = decodeSlice(out, 0, out.length, true);
            opcode = text.substring(a, z);
          } else {
            opcode = decodeSlice(out, a, z, marks[i + 2] === 1);
          }
          onInstruction(opcode, out.subarray(from, to));
          from = to;
        }
      } catch (thrown) {
        this.failure = handlerError(thrown);
        this.carry.clear();
        throw thrown;
      }
    }
    return out;
  }

  private fail(code: ParseErrorCode, p: number): GuacError {
    this.failure = parseError(code, this.offset + p, this.limits);
    this.carry.clear();
    return this.failure;
  }
}
