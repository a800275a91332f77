/**
 * A small, slow, independent Guacamole instruction reader and writer for the
 * bench's own plumbing (stand-in guacd, clients, recorder). It never sits on a
 * timed path, and it deliberately shares no code with src/protocol, the code
 * under test.
 */

/** Encodes one instruction; lengths count code points. */
export function instr(opcode: string, ...args: (string | number)[]): string {
  return [opcode, ...args].map((v) => {
    const s = String(v);
    return `${[...s].length}.${s}`;
  }).join(',') + ';';
}

/** Incremental reader: push bytes, get whole instructions (decoded) and their raw bytes. */
export class InstrReader {
  private carry: Buffer = Buffer.alloc(0);

  /**
   * @param onInstruction called per complete instruction, in order
   */
  constructor(private readonly onInstruction: (opcode: string, args: string[], raw: Buffer) => void) {}

  push(chunk: Buffer): void {
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    let start = 0;
    for (;;) {
      const end = this.scan(buf, start);
      if (end < 0) break;
      const raw = buf.subarray(start, end + 1);
      const elements = decodeElements(raw);
      this.onInstruction(elements[0] ?? '', elements.slice(1), raw);
      start = end + 1;
    }
    this.carry = start < buf.length ? Buffer.from(buf.subarray(start)) : Buffer.alloc(0);
  }

  /** Index of the terminating `;` of the instruction starting at `start`, or -1 if incomplete. */
  private scan(buf: Buffer, start: number): number {
    let i = start;
    for (;;) {
      let len = 0;
      let digits = 0;
      while (i < buf.length && buf[i] !== 0x2e) {
        const d = buf[i]! - 0x30;
        if (d < 0 || d > 9 || ++digits > 5) throw new Error(`bad length at byte ${i}`);
        len = len * 10 + d;
        i++;
      }
      if (i >= buf.length) return -1;
      i++; // '.'
      // Skip `len` code points: count UTF-8 lead bytes, then trailing continuation bytes.
      let seen = 0;
      while (seen < len && i < buf.length) {
        i++;
        while (i < buf.length && (buf[i]! & 0xc0) === 0x80) i++;
        seen++;
      }
      if (seen < len || i >= buf.length) return -1;
      const t = buf[i];
      if (t === 0x3b) return i;
      if (t !== 0x2c) throw new Error(`bad terminator 0x${t?.toString(16)} at byte ${i}`);
      i++;
    }
  }
}

function decodeElements(raw: Buffer): string[] {
  const s = raw.toString('utf8');
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const dot = s.indexOf('.', i);
    const len = Number(s.slice(i, dot));
    let j = dot + 1;
    for (let n = 0; n < len; n++) j += s.codePointAt(j)! > 0xffff ? 2 : 1;
    out.push(s.slice(dot + 1, j));
    i = j + 1;
  }
  return out;
}

/** Byte offset just after the last complete instruction in `buf` (0 if none). */
export function lastInstructionEnd(buf: Buffer): number {
  let end = 0;
  new InstrReader((_o, _a, raw) => {
    end = raw.byteOffset + raw.length - buf.byteOffset;
  }).push(buf);
  return end;
}
