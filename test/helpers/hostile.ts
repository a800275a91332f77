/**
 * Hostile Guacamole streams for the fuzz tests and the soak run: named
 * fixed cases (each breaking one rule of the wire format) and seeded
 * mutations of plausible traffic in either direction.
 */
import { encode } from '../../src/protocol/encoder.js';
import { mulberry32, randInt, randomChunks } from './feed.js';

export { mulberry32, randInt, randomChunks };

/** 10 MiB: the "10 MB element" of the brief. */
export const TEN_MB = 10 * 1024 * 1024;

/** One hostile input, split into the messages (or TCP writes) that carry it. */
export interface HostileCase {
  name: string;
  parts: Buffer[];
}

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

/** A declared element of `n` code points followed by its content, sent as `pieces` writes of at most `chunk` bytes. */
function bigElement(opcode: string, n: number, chunk: number): Buffer[] {
  const parts = [b(`${opcode.length}.${opcode},${n}.`)];
  const block = Buffer.alloc(chunk, 0x41);
  for (let left = n; left > 0; left -= chunk) parts.push(left >= chunk ? block : block.subarray(0, left));
  parts.push(b(';'));
  return parts;
}

/**
 * Cases that break the wire format, each of which must end the session with
 * a protocol error. `chunk` bounds the size of each part (a WebSocket
 * message or a TCP write).
 */
export function malformedCases(opcode: string, chunk = 64 * 1024): HostileCase[] {
  return [
    { name: 'truncated element, then a new instruction', parts: [b(`${opcode.length}.${opcode},2.6`), b('4.sync,1.1;')] },
    { name: 'length too short', parts: [b(`${opcode.length - 1}.${opcode},1.1;`)] },
    { name: 'length too long', parts: [b(`${opcode.length + 2}.${opcode},1.1;`)] },
    { name: 'non-digit length', parts: [b(`x.${opcode};`)] },
    { name: 'negative length', parts: [b(`-1.${opcode};`)] },
    { name: 'six-digit length', parts: [b('100000.')] },
    { name: 'declared length over 8192', parts: [b(`${opcode.length}.${opcode},8193.`), Buffer.alloc(9000, 0x41)] },
    { name: '10 MB element', parts: bigElement(opcode, TEN_MB, chunk) },
    { name: 'invalid UTF-8 (lone continuation and 0xFF)', parts: [Buffer.concat([b(`${opcode.length}.${opcode},2.`), Buffer.from([0x80, 0xff]), b(';')])] },
    { name: 'overlong UTF-8 encoding of "/"', parts: [Buffer.concat([b(`${opcode.length}.${opcode},1.`), Buffer.from([0xc0, 0xaf]), b(';')])] },
    { name: 'UTF-16 surrogate encoded in UTF-8', parts: [Buffer.concat([b(`${opcode.length}.${opcode},1.`), Buffer.from([0xed, 0xa0, 0x80]), b(';')])] },
    { name: 'NUL in a length', parts: [Buffer.concat([b('1'), Buffer.from([0]), b(`.${opcode};`)])] },
    { name: 'missing delimiter', parts: [b(`${opcode.length}.${opcode}1.1;`)] },
    { name: '129 elements', parts: [b(`${opcode.length}.${opcode}` + ',1.1'.repeat(128) + ';')] },
    { name: 'instruction over 32 KiB', parts: [b(`${opcode.length}.${opcode}` + `,8000.${'A'.repeat(8000)}`.repeat(5) + ';')] },
    { name: 'binary garbage', parts: [Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff))] },
  ];
}

/** Instructions a browser sends, valid. */
export function browserInstruction(rng: () => number): string {
  switch (randInt(rng, 0, 7)) {
    case 0: return encode('key', randInt(rng, 32, 0xffff), randInt(rng, 0, 1));
    case 1: return encode('mouse', randInt(rng, 0, 2000), randInt(rng, 0, 2000), randInt(rng, 0, 31));
    case 2: return encode('sync', randInt(rng, 0, 1e9));
    case 3: return encode('nop');
    case 4: return encode('', 'ping', randInt(rng, 0, 1e12));
    case 5: return encode('size', randInt(rng, 100, 4000), randInt(rng, 100, 4000));
    case 6: return encode('ack', randInt(rng, 0, 10), 'OK', 0);
    default: return encode('blob', randInt(rng, 0, 10), 'aGVsbG8gd8O2cmxkIPCfmIA=');
  }
}

/** Instructions guacd sends, valid (text with multibyte and astral characters included). */
export function guacdInstruction(rng: () => number): string {
  switch (randInt(rng, 0, 6)) {
    case 0: return encode('sync', randInt(rng, 0, 1e9));
    case 1: return encode('rect', 0, randInt(rng, 0, 1000), randInt(rng, 0, 1000), 8, 8);
    case 2: return encode('cfill', 14, 0, 255, 0, 0, 255);
    case 3: return encode('blob', randInt(rng, 0, 5), 'A'.repeat(randInt(rng, 0, 6000)));
    case 4: return encode('name', 'tëst ☃ 😀');
    case 5: return encode('nop');
    default: return encode('img', randInt(rng, 0, 5), 14, 0, 'image/png', 0, 0);
  }
}

/** Some valid instructions joined. */
export function validStream(rng: () => number, make: (rng: () => number) => string, count: number): Buffer {
  let s = '';
  for (let i = 0; i < count; i++) s += make(rng);
  return b(s);
}

/** Byte strings that mutations splice in. */
const SPLICES = [
  Buffer.from([0xff]), Buffer.from([0x80]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf4, 0x90, 0x80, 0x80]),
  Buffer.from([0]), b('999999.'), b('8193.'), b(';'), b(','), b('.'), b('0.;'), b('-5.'), b('4.sync'), Buffer.from([0xf0, 0x9f]),
];

/**
 * One seeded mutation of `bytes`: a truncation, a flipped byte, a spliced
 * invalid sequence or bad length, a duplicated or dropped span. The result
 * may still be valid (the gateway then has to relay it unharmed).
 */
export function mutate(bytes: Buffer, rng: () => number): Buffer {
  const at = randInt(rng, 0, bytes.length);
  switch (randInt(rng, 0, 5)) {
    case 0: return bytes.subarray(0, at);
    case 1: {
      const copy = Buffer.from(bytes);
      if (copy.length > 0) copy[Math.min(at, copy.length - 1)] = randInt(rng, 0, 255);
      return copy;
    }
    case 2: return Buffer.concat([bytes.subarray(0, at), SPLICES[randInt(rng, 0, SPLICES.length - 1)], bytes.subarray(at)]);
    case 3: {
      const end = Math.min(bytes.length, at + randInt(rng, 1, 64));
      return Buffer.concat([bytes.subarray(0, end), bytes.subarray(at, end), bytes.subarray(end)]);
    }
    case 4: return Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + randInt(rng, 1, 16)))]);
    default: {
      // A length prefix rewritten to a wrong number.
      const text = bytes.toString('latin1');
      const m = [...text.matchAll(/(\d+)\./g)];
      if (m.length === 0) return bytes;
      const pick = m[randInt(rng, 0, m.length - 1)];
      const wrong = String(Math.max(0, Number(pick[1]) + randInt(rng, -3, 3)));
      const i = pick.index as number;
      return Buffer.concat([bytes.subarray(0, i), b(wrong), bytes.subarray(i + pick[1].length)]);
    }
  }
}
