/**
 * The relay-path framer: finds where instructions end and hands back their
 * original bytes, decoding nothing but (on request) opcodes.
 *
 * A `;` may sit inside a value, so boundaries can only be found by walking
 * the element headers; content is skipped by length (all-ASCII chunks,
 * guacd's usual output, by arithmetic after one native `isAscii` call). It
 * enforces the same limits and returns the same errors, at the same byte, as
 * {@link Parser}.
 */
import type { GuacError } from './errors.js';
import type { ParseErrorCode, ParserLimits } from './constants.js';
import { ByteCarry, viewOf } from './bytes.js';
import { handlerError, parseError, resolveLimits } from './parser.js';
import {
  SLICED_MIN, decodeSlice, internAscii, isAsciiChunk, newContentState, scanContent,
} from './utf8.js';

/** Receives each complete instruction's opcode and a view of its bytes (within the Buffer `push` returns). */
export type RawInstructionHandler = (opcode: string, raw: Buffer) => void;

/** Receives the bytes of complete instructions, in order (see {@link InstructionSplitter.pushViews}). */
export type BytesHandler = (bytes: Buffer) => void;

/**
 * Receives each complete instruction's opcode and where its bytes lie:
 * `bytes[start..end)`, within the piece {@link BytesHandler} gets next
 * (`bytes` is that piece, or the chunk it is a view of).
 */
export type InstructionSpanHandler = (opcode: string, bytes: Buffer, start: number, end: number) => void;

// The parser's constants, local so they fold into the compiled loop.
const S_LENGTH = 0;
const S_CONTENT = 1;
const S_DELIMITER = 2;
const DOT = 0x2e;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;

const EMPTY = Buffer.alloc(0);

/** The opcode at `buf[start..end)`. */
function opcodeOf(buf: Buffer, start: number, end: number, ascii: boolean): string {
  return ascii && end - start < SLICED_MIN ? internAscii(buf, start, end) : decodeSlice(buf, start, end, ascii);
}

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
 * // or, copying nothing but an instruction that crossed chunks:
 * const err = splitter.pushViews(chunk, (bytes) => ws.send(bytes));
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
  /** Opcode content bounds of the unfinished instruction, relative to its first byte. */
  private opStart = 0;
  private opEnd = 0;
  private opAscii = true;
  /** The unfinished instruction's bytes from earlier chunks; it always starts there. */
  private readonly carry = new ByteCarry();
  /** Stream bytes before the current chunk (for error positions). */
  private offset = 0;
  /**
   * Per push: [opcode start, opcode end, ascii, instruction end] per complete
   * instruction, as offsets in the output (the carried bytes, then the chunk).
   */
  private readonly marks: number[] = [];
  /**
   * Per push, in chunk offsets: end of the instruction that began in the held
   * bytes (0: none completed), and of the last complete instruction (0: none).
   */
  private firstEnd = 0;
  private lastEnd = 0;
  /** Per push: where in the chunk the error was found. */
  private errorAt = 0;
  /** The handlers of the current {@link pushViews}. */
  private onBytes: BytesHandler | undefined;
  private onSpan: InstructionSpanHandler | undefined;

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
   *   input, the error instead (now and on every later push); the
   *   instructions completed before the bad byte have then been reported to
   *   `onInstruction`, as views of those bytes.
   * @throws whatever `onInstruction` throws; the splitter then fails with
   *   `GUAC_PARSE_HANDLER_THREW`
   */
  push(chunk: Buffer, onInstruction?: RawInstructionHandler): Buffer | GuacError {
    if (this.failure) return this.failure;
    const base = this.carry.length;
    const marks = onInstruction ? this.marks : undefined;
    if (marks) marks.length = 0;
    const err = this.scan(chunk, marks);
    const lastEnd = this.lastEnd;
    let out: Buffer = EMPTY;
    if (lastEnd !== 0) out = base === 0 ? chunk.subarray(0, lastEnd) : this.carry.take(chunk.subarray(0, lastEnd));
    if (err === undefined) this.keep(chunk, lastEnd);
    if (marks && onInstruction) {
      let from = 0;
      try {
        for (let m = 0; m < marks.length; m += 4) {
          const end = marks[m + 3];
          onInstruction(opcodeOf(out, marks[m], marks[m + 1], marks[m + 2] === 1), viewOf(out, from, end));
          from = end;
        }
      } catch (thrown) {
        throw this.handlerThrew(thrown);
      }
    }
    return err === undefined ? out : this.fail(err);
  }

  /**
   * {@link push} without the copy, for the relay: the bytes of the
   * instructions this chunk completes go to `onBytes`, in order, in at most
   * two pieces that each end on an instruction boundary: the instruction that
   * spanned chunks (the held bytes and its end, joined into one Buffer), then
   * a view of `chunk` with every later complete instruction. Only the one
   * instruction that crossed a read is copied, where `push` copies the whole
   * read whenever the previous one ended mid-instruction; and no object is
   * made per instruction.
   * @param chunk the next bytes of the stream, any size
   * @param onBytes gets each piece, after `onInstruction` has seen the
   *   instructions in it
   * @param onInstruction gets each complete instruction's opcode and where it
   *   lies: `bytes[start..end)`, within the piece `onBytes` gets next (`bytes`
   *   is that piece or the Buffer it is a view of)
   * @returns the error, if the stream is malformed (now or before); the
   *   instructions completed before the bad byte have been delivered
   * @throws whatever a handler throws; the splitter then fails with
   *   `GUAC_PARSE_HANDLER_THREW`
   */
  pushViews(chunk: Buffer, onBytes: BytesHandler, onInstruction?: InstructionSpanHandler): GuacError | undefined {
    if (this.failure) return this.failure;
    this.onBytes = onBytes;
    this.onSpan = onInstruction;
    let err: ParseErrorCode | undefined;
    try {
      err = this.scan(chunk, undefined);
      const from = this.firstEnd;
      const lastEnd = this.lastEnd;
      if (err === undefined) this.keep(chunk, lastEnd);
      if (from < lastEnd) onBytes(chunk.subarray(from, lastEnd));
    } catch (thrown) {
      throw this.handlerThrew(thrown);
    } finally {
      this.onBytes = this.onSpan = undefined;
    }
    return err === undefined ? undefined : this.fail(err);
  }

  /**
   * For {@link pushViews}: reports an instruction the walk just completed,
   * given in output offsets (held bytes first, then the chunk from `base` on).
   * One that began in the held bytes is joined and delivered at once.
   */
  private emit(chunk: Buffer, base: number, start: number, opStart: number, opEnd: number, opAscii: boolean, end: number): void {
    const onSpan = this.onSpan;
    if (start < base) {
      const joined = this.carry.take(chunk.subarray(0, end - base));
      if (onSpan) onSpan(opcodeOf(joined, opStart, opEnd, opAscii), joined, 0, joined.length);
      this.onBytes!(joined);
    } else if (onSpan) {
      onSpan(opcodeOf(chunk, opStart - base, opEnd - base, opAscii), chunk, start - base, end - base);
    }
  }

  /** Holds what follows the last complete instruction for the next chunk. */
  private keep(chunk: Buffer, lastEnd: number): void {
    if (lastEnd === 0) this.carry.append(chunk);
    else if (lastEnd < chunk.length) this.carry.append(chunk.subarray(lastEnd));
  }

  private handlerThrew(thrown: unknown): unknown {
    this.failure = handlerError(thrown);
    this.carry.clear();
    return thrown;
  }

  /**
   * Walks `chunk`, resuming the state machine: records the complete
   * instructions (`firstEnd`, `lastEnd`; in `marks` when given, else to
   * `emit` during a {@link pushViews}) and returns the error found, if any
   * (at `errorAt`); state is saved only without one.
   */
  private scan(chunk: Buffer, marks: number[] | undefined): ParseErrorCode | undefined {
    const { maxLengthDigits, maxElementLength, maxElements, maxInstructionBytes } = this.limits;
    const cs = this.cs;
    const end = chunk.length;
    const ascii = isAsciiChunk(chunk);
    // Output coordinates: carried bytes first, then chunk[i] at base + i.
    const base = this.carry.length;
    const views = this.onBytes !== undefined;
    let state = this.state;
    let length = this.length;
    let digits = this.digits;
    let elements = this.elements;
    let opStart = this.opStart;
    let opEnd = this.opEnd;
    let opAscii = this.opAscii;
    let p = 0;
    // Output offset of the current instruction's first byte (the carried one starts at 0).
    let instrStart = 0;
    let firstEnd = 0;
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
            if (c >= end || base + c + 1 - instrStart > maxInstructionBytes) break;
            const d = chunk[c];
            if (d !== SEMICOLON && (d !== COMMA || elements + 1 >= maxElements)) break;
            if (elements === 0) {
              opStart = q + 1 - p;
              opEnd = c - p;
              opAscii = true;
            }
            p = c + 1;
            if (d === SEMICOLON) {
              const endAt = base + p;
              if (marks) marks.push(instrStart + opStart, instrStart + opEnd, opAscii ? 1 : 0, endAt);
              else if (views) this.emit(chunk, base, instrStart, instrStart + opStart, instrStart + opEnd, opAscii, endAt);
              if (instrStart < base) firstEnd = p;
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
        if (elements === 0) opStart = base + p - instrStart;
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
        opEnd = base + p - instrStart;
        opAscii = cs.ascii;
      }
      p++;
      elements++;
      length = digits = 0;
      state = S_LENGTH;
      if (b === SEMICOLON) {
        const endAt = base + p;
        if (marks) marks.push(instrStart + opStart, instrStart + opEnd, opAscii ? 1 : 0, endAt);
        else if (views) this.emit(chunk, base, instrStart, instrStart + opStart, instrStart + opEnd, opAscii, endAt);
        if (instrStart < base) firstEnd = p;
        instrStart = endAt;
        lastEnd = p;
        elements = 0;
      } else if (elements >= maxElements) {
        p--;
        err = 'GUAC_PARSE_TOO_MANY_ELEMENTS';
        break;
      }
    }
    this.firstEnd = firstEnd;
    this.lastEnd = lastEnd;
    if (err !== undefined) {
      this.errorAt = p;
      return err;
    }
    this.state = state;
    this.length = length;
    this.digits = digits;
    this.elements = elements;
    this.opStart = opStart;
    this.opEnd = opEnd;
    this.opAscii = opAscii;
    this.offset += end;
    return undefined;
  }

  private fail(code: ParseErrorCode): GuacError {
    this.failure = parseError(code, this.offset + this.errorAt, this.limits);
    this.carry.clear();
    return this.failure;
  }
}
