/**
 * Bytes the parser and the splitter hold or hand out: the carry of what spans
 * chunks, the joins made from it, and cheap views.
 *
 * Internal to `src/protocol`; not part of the package API.
 */
import { decodeSlice } from './utf8.js';

/** Pieces up to this size are copied (so a trickle of tiny chunks is not kept as thousands of views). */
const COPY_MAX = 512;

/** Joins up to this size are cut from a shared slab, as Node's Buffer pool does below 4 KiB. */
const SLAB_PIECE_MAX = 16 << 10;
const SLAB_SIZE = 128 << 10;
let slab = Buffer.allocUnsafeSlow(0);
let slabUsed = 0;

/**
 * A new Buffer of `n` bytes for joined pieces: the instruction that crossed
 * two reads is joined once per read on the relay path, and a fresh
 * ArrayBuffer each time costs more than the copy. A slab is only kept alive
 * by the pieces cut from it, which the relay sends on at once.
 */
function joined(n: number): Buffer {
  if (n > SLAB_PIECE_MAX) return Buffer.allocUnsafe(n);
  if (slab.length - slabUsed < n) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + n);
  // Keep pieces 8-byte aligned, as Node's pool does.
  slabUsed = (slabUsed + n + 7) & ~7;
  return out;
}

/** Largest element joined in the shared scratch buffer; longer ones get their own. */
const SCRATCH_MAX = 64 << 10;
let scratch = Buffer.allocUnsafeSlow(4096);

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
    if (last.length !== 0) parts.push(last);
    let out: Buffer;
    if (parts.length === 1) {
      out = parts[0];
    } else {
      out = joined(this.length + last.length);
      let at = 0;
      for (const part of parts) at += part.copy(out, at);
    }
    this.clear();
    return out;
  }

  /**
   * Decodes everything held followed by `last` and empties the carry; the
   * bytes are joined in a scratch buffer reused by every carry (the string
   * is all that is kept), not in a new one.
   */
  decode(last: Buffer, ascii: boolean): string {
    const parts = this.parts;
    if (parts.length === 0) return decodeSlice(last, 0, last.length, ascii);
    const total = this.length + last.length;
    if (total > SCRATCH_MAX) {
      const whole = this.take(last);
      return decodeSlice(whole, 0, whole.length, ascii);
    }
    if (scratch.length < total) scratch = Buffer.allocUnsafeSlow(Math.min(SCRATCH_MAX, Math.max(total, 2 * scratch.length)));
    let at = 0;
    for (const part of parts) at += part.copy(scratch, at);
    last.copy(scratch, at);
    this.clear();
    return decodeSlice(scratch, 0, total, ascii);
  }

  /** Drops everything held. */
  clear(): void {
    this.parts = [];
    this.block = undefined;
    this.length = this.blockStart = this.blockUsed = 0;
  }
}

/**
 * A Buffer view for half the cost of `subarray` (whose argument coercion and
 * class lookup show when it runs once per instruction): the construction
 * Node's own `FastBuffer` uses, a Uint8Array subclass with Buffer's
 * prototype, so the result is a Buffer in every respect (`Buffer.isBuffer`,
 * every method).
 */
class BufferView extends Uint8Array {
  constructor(buffer: ArrayBuffer, byteOffset: number, length: number) {
    super(buffer, byteOffset, length);
  }
}
Object.setPrototypeOf(BufferView.prototype, Buffer.prototype);

/** @internal A view of `buf[start..end)`. */
export function viewOf(buf: Buffer, start: number, end: number): Buffer {
  return new BufferView(buf.buffer as ArrayBuffer, buf.byteOffset + start, end - start) as unknown as Buffer;
}

