/**
 * UTF-8 content handling shared by the parser and the splitter: measuring
 * element content in code points without decoding it (lead bytes counted,
 * well-formedness checked per RFC 3629, long ASCII runs skipped natively),
 * and decoding values with the cheapest call that is correct.
 *
 * Internal to `src/protocol`; not part of the package API.
 */
import { isAscii } from 'node:buffer';

/**
 * Below this many bytes a plain loop beats creating a view for `isAscii`
 * (measured on Node 20: the call and view cost about as much as ~100 bytes of
 * loop).
 */
const FAST_SKIP_MIN = 128;

/**
 * @internal Where an element's content scan stands. `need` continuation bytes
 * are still due for the current character, and the next one must lie in
 * `lo..hi` (narrower than 0x80..0xBF only right after E0, ED, F0, F4, which is
 * what rules out overlongs, surrogates and code points past U+10FFFF).
 */
export interface ContentState {
  remaining: number;
  need: number;
  lo: number;
  hi: number;
  ascii: boolean;
}

/** @internal */
export function newContentState(): ContentState {
  return { remaining: 0, need: 0, lo: 0x80, hi: 0xbf, ascii: true };
}

/**
 * @internal Consumes element content from `buf[p..end)`: `cs.remaining` code
 * points, then the continuation bytes of the last one. Stops at the end of the
 * content (the delimiter is left for the caller) or of the buffer.
 * @returns the new position, or `~position` of a byte that is not
 *   well-formed UTF-8
 */
export function scanContent(cs: ContentState, buf: Buffer, p: number, end: number): number {
  let remaining = cs.remaining;
  let need = cs.need;
  let fast = true;
  while (p < end) {
    if (need !== 0) {
      const b = buf[p];
      if (b < cs.lo || b > cs.hi) {
        cs.remaining = remaining;
        cs.need = need;
        return ~p;
      }
      cs.lo = 0x80;
      cs.hi = 0xbf;
      need--;
      p++;
      continue;
    }
    if (remaining === 0) break;
    // `remaining` code points take at least `remaining` bytes, so this much
    // can be inspected without overrunning the element.
    let n = end - p;
    if (n > remaining) n = remaining;
    if (fast && n >= FAST_SKIP_MIN) {
      if (isAscii(buf.subarray(p, p + n))) {
        p += n;
        remaining -= n;
        continue;
      }
      // Once a run proved non-ASCII, stay on the byte loop for this call:
      // retrying the native check after every character would rescan.
      fast = false;
    }
    const start = p;
    const stop = p + n;
    while (p < stop && buf[p] < 0x80) p++;
    remaining -= p - start;
    if (p === stop) continue;
    const b = buf[p];
    if (b < 0xc2 || b > 0xf4) {
      cs.remaining = remaining;
      cs.need = need;
      return ~p;
    }
    cs.ascii = false;
    need = b < 0xe0 ? 1 : b < 0xf0 ? 2 : 3;
    cs.lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
    cs.hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
    remaining--;
    p++;
  }
  cs.remaining = remaining;
  cs.need = need;
  return p;
}

/** Below this, a plain loop checks a chunk faster than the native `isAscii` call. */
const ASCII_CHUNK_MIN = 64;

/**
 * @internal True when every byte of the chunk is ASCII: guacd's output nearly
 * always is, and then content is skipped by arithmetic instead of scanned.
 */
export function isAsciiChunk(chunk: Buffer): boolean {
  const n = chunk.length;
  if (n >= ASCII_CHUNK_MIN) return isAscii(chunk);
  for (let i = 0; i < n; i++) if (chunk[i] >= 0x80) return false;
  return true;
}

/**
 * @internal V8 makes `substring` results of 13+ characters views of their
 * parent (sliced strings); shorter ones are copies.
 */
export const SLICED_MIN = 13;

/** Slots of the short-string cache. */
const INTERN_SLOTS = 256;
// A cached string's key: its length and up to 12 seven-bit bytes, packed into three int32s.
const internK0 = new Int32Array(INTERN_SLOTS).fill(-1);
const internK1 = new Int32Array(INTERN_SLOTS);
const internK2 = new Int32Array(INTERN_SLOTS);
const interned: string[] = new Array<string>(INTERN_SLOTS).fill('');

/**
 * @internal `buf[start..end)`, ASCII and shorter than {@link SLICED_MIN}, as
 * a string from a small cache of recent ones, so that the same opcode, seen
 * thousands of times a second, is not allocated (nor sliced natively, ~50 ns)
 * each time. guacd uses a few dozen opcodes. The bytes themselves are the
 * key (ASCII needs 7 bits a byte), so a hit is three integer compares.
 */
export function internAscii(buf: Buffer, start: number, end: number): string {
  const n = end - start;
  let k0 = n;
  let k1 = 0;
  let k2 = 0;
  let i = start;
  for (const stop = n < 4 ? end : start + 4; i < stop; i++) k0 = (k0 << 7) | buf[i];
  for (const stop = n < 8 ? end : start + 8; i < stop; i++) k1 = (k1 << 7) | buf[i];
  for (; i < end; i++) k2 = (k2 << 7) | buf[i];
  const h = Math.imul(k0 ^ Math.imul(k1, 31) ^ Math.imul(k2, 961), 0x9e3779b1) >>> 24;
  if (internK0[h] === k0 && internK1[h] === k1 && internK2[h] === k2) return interned[h];
  internK0[h] = k0;
  internK1[h] = k1;
  internK2[h] = k2;
  return (interned[h] = decodeSlice(buf, start, end, true));
}

interface FastSlices {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}
// Buffer's own slice methods skip toString's argument and encoding dispatch,
// which shows on streams of many tiny elements. Fall back if a runtime lacks them.
const fastSlices = typeof (Buffer.prototype as Partial<FastSlices>).latin1Slice === 'function'
  && typeof (Buffer.prototype as Partial<FastSlices>).utf8Slice === 'function';

/** @internal Decodes `buf[start..end)`; `ascii` picks the one-byte fast path. */
export function decodeSlice(buf: Buffer, start: number, end: number, ascii: boolean): string {
  if (fastSlices) {
    const fb = buf as unknown as FastSlices;
    return ascii ? fb.latin1Slice(start, end) : fb.utf8Slice(start, end);
  }
  return buf.toString(ascii ? 'latin1' : 'utf8', start, end);
}
