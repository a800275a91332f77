import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GUACD_LIMITS, GuacError, InstructionSplitter, Parser, encode, type ParserLimits } from '../../src/protocol/index.js';
import { assertStream, feed, mulberry32, parserRun, randInt, randomChunks, randomInstruction, splitterRun, type Instr } from '../helpers/feed.js';

const enc = (list: Instr[]) => Buffer.from(list.map(([op, ...args]) => encode(op, ...args)).join(''));

test('round trip: random instructions with multibyte and astral characters, random splits', () => {
  const rng = mulberry32(20240601);
  for (let round = 0; round < 150; round++) {
    const list = Array.from({ length: randInt(rng, 1, 12) }, () => randomInstruction(rng));
    const bytes = enc(list);
    assertStream(bytes, { random: round, count: 8 }, { instructions: list });
    if (bytes.length < 200) assertStream(bytes, 'all', { instructions: list });
  }
});

/** Feeds `bytes` in random chunks; every push must return normally with instructions or a GuacError. */
function survive(bytes: Buffer, rng: () => number): void {
  const chunks = randomChunks(bytes, rng);
  const p = new Parser({ maxElementLength: randInt(rng, 0, 3) === 0 ? 50 : 8192 });
  const s = new InstructionSplitter(p.limits);
  let perr: GuacError | undefined;
  let serr: GuacError | undefined;
  const got: string[] = [];
  const raws: string[] = [];
  for (const c of chunks) {
    const r = p.push(c, (op, args) => {
      assert.equal(typeof op, 'string');
      assert.ok(Array.isArray(args));
      got.push(op);
    });
    assert.ok(r === undefined || r instanceof GuacError);
    if (r) perr = r;
    const o = s.push(c, (op) => raws.push(op));
    assert.ok(Buffer.isBuffer(o) || o instanceof GuacError);
    if (o instanceof GuacError) serr = o;
    assert.ok(p.buffered <= 4 * 8192 && s.buffered <= p.limits.maxInstructionBytes, 'bounded buffering');
  }
  // Both reach the same verdict at the same byte, after the same instructions.
  assert.equal(perr?.message, serr?.message);
  assert.deepEqual(raws, got);
}

test('random bytes never throw out of push', () => {
  const rng = mulberry32(7);
  const alphabet = Buffer.from('0123456789.,;.,;abc\xff\x80', 'latin1');
  for (let i = 0; i < 2000; i++) {
    const n = randInt(rng, 0, 400);
    const bytes = Buffer.alloc(n);
    const mode = i % 3;
    for (let k = 0; k < n; k++) bytes[k] = mode === 0 ? randInt(rng, 0, 255) : alphabet[randInt(rng, 0, alphabet.length - 1)];
    survive(bytes, rng);
  }
});

test('mutations of valid streams never throw out of push, and memory stays flat', () => {
  const rng = mulberry32(99);
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 1500; i++) {
    const list = Array.from({ length: randInt(rng, 1, 8) }, () => randomInstruction(rng));
    const bytes = enc(list);
    const muts = randInt(rng, 1, 4);
    for (let m = 0; m < muts && bytes.length; m++) {
      const at = randInt(rng, 0, bytes.length - 1);
      const kind = randInt(rng, 0, 3);
      if (kind === 0) bytes[at] = randInt(rng, 0, 255);
      else if (kind === 1) bytes[at] = '0123456789.,;'.charCodeAt(randInt(rng, 0, 12));
      else if (kind === 2) bytes[at] ^= 1 << randInt(rng, 0, 7);
      else bytes[at] = 0x80 | randInt(rng, 0, 63);
    }
    survive(bytes, rng);
  }
  // Huge declared lengths and endless digits cannot make either side hoard memory.
  for (let i = 0; i < 200; i++) {
    survive(Buffer.from('8192.' + 'x'.repeat(randInt(rng, 0, 9000))), rng);
    survive(Buffer.from('9'.repeat(randInt(rng, 1, 50000))), rng);
  }
  const grown = process.memoryUsage().heapUsed - before;
  assert.ok(grown < 256 * 1024 * 1024, `heap grew ${grown} bytes`);
});

/**
 * An independent, deliberately plain model of the protocol rules: whole
 * input, one character at a time, UTF-8 per the Unicode well-formed byte
 * table. Returns the instructions and where and why it fails.
 */
function reference(bytes: Buffer, limits: Required<ParserLimits>): { instructions: Instr[]; error?: [string, number] } {
  const instructions: Instr[] = [];
  const n = bytes.length;
  let p = 0;
  const fail = (code: string, at: number) => ({ instructions, error: [code, at] as [string, number] });
  for (;;) {
    const start = p;
    const elements: string[] = [];
    for (;;) {
      let len = 0;
      let digits = 0;
      while (p < n && bytes[p] >= 0x30 && bytes[p] <= 0x39) {
        if (++digits > limits.maxLengthDigits) return fail('GUAC_PARSE_LENGTH_DIGITS', p);
        len = len * 10 + bytes[p] - 0x30;
        if (len > limits.maxElementLength) return fail('GUAC_PARSE_ELEMENT_TOO_LONG', p);
        p++;
      }
      if (p === n) return { instructions };
      if (bytes[p] !== 0x2e || digits === 0) return fail('GUAC_PARSE_BAD_LENGTH', p);
      if (p + 1 - start + len + 1 > limits.maxInstructionBytes) return fail('GUAC_PARSE_INSTRUCTION_TOO_LONG', p);
      p++;
      const from = p;
      for (let k = 0; k < len; k++) {
        if (p === n) return { instructions };
        const b = bytes[p];
        // [size, lo, hi] of the second byte, per the well-formed sequences table.
        const spec: [number, number, number] | undefined = b < 0x80 ? [1, 0, 0] : b < 0xc2 ? undefined : b < 0xe0 ? [2, 0x80, 0xbf]
          : b === 0xe0 ? [3, 0xa0, 0xbf] : b === 0xed ? [3, 0x80, 0x9f] : b < 0xf0 ? [3, 0x80, 0xbf]
          : b === 0xf0 ? [4, 0x90, 0xbf] : b < 0xf4 ? [4, 0x80, 0xbf] : b === 0xf4 ? [4, 0x80, 0x8f] : undefined;
        if (!spec) return fail('GUAC_PARSE_BAD_UTF8', p);
        for (let j = 1; j < spec[0]; j++) {
          if (p + j === n) return { instructions };
          const c = bytes[p + j];
          if (j === 1 ? c < spec[1] || c > spec[2] : c < 0x80 || c > 0xbf) return fail('GUAC_PARSE_BAD_UTF8', p + j);
        }
        p += spec[0];
      }
      if (p === n) return { instructions };
      const d = bytes[p];
      if (d !== 0x2c && d !== 0x3b) return fail('GUAC_PARSE_BAD_DELIMITER', p);
      if (p + 1 - start > limits.maxInstructionBytes) return fail('GUAC_PARSE_INSTRUCTION_TOO_LONG', p);
      elements.push(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(from, p)));
      p++;
      if (d === 0x3b) break;
      if (elements.length >= limits.maxElements) return fail('GUAC_PARSE_TOO_MANY_ELEMENTS', p - 1);
    }
    instructions.push(elements);
  }
}

test('parser and splitter agree with a plain reference model on random and mutated input', () => {
  const rng = mulberry32(4242);
  const limitSets: Required<ParserLimits>[] = [
    GUACD_LIMITS,
    { maxLengthDigits: 2, maxElementLength: 40, maxElements: 4, maxInstructionBytes: 60 },
    { maxLengthDigits: 3, maxElementLength: 300, maxElements: 8, maxInstructionBytes: Infinity },
  ];
  const alphabet = Buffer.from('0123456789.,;', 'latin1');
  for (let i = 0; i < 3000; i++) {
    const limits = limitSets[i % limitSets.length];
    let bytes = Buffer.from(Array.from({ length: randInt(rng, 1, 6) }, () => randomInstruction(rng)).map(([op, ...a]) => encode(op, ...a)).join(''));
    if (i % 2 === 0) bytes = bytes.subarray(0, randInt(rng, 0, bytes.length));
    for (let m = randInt(rng, 0, 3); m > 0 && bytes.length; m--) {
      const at = randInt(rng, 0, bytes.length - 1);
      bytes[at] = rng() < 0.5 ? alphabet[randInt(rng, 0, alphabet.length - 1)] : randInt(rng, 0, 255);
    }
    const want = reference(bytes, limits);
    for (const r of [...feed(() => parserRun(limits), bytes, { random: i, count: 3 }), ...feed(() => parserRun(limits), bytes, 'whole')]) {
      assert.deepEqual(r.instructions, want.instructions);
      assert.equal(r.error?.code, want.error?.[0]);
      if (want.error) assert.match(r.error!.message, new RegExp(`at byte ${want.error[1]}\\)`));
    }
    for (const r of feed(() => splitterRun(limits), bytes, { random: i + 1, count: 3 })) {
      assert.equal(r.error?.code, want.error?.[0]);
      if (want.error) assert.match(r.error!.message, new RegExp(`at byte ${want.error[1]}\\)`));
      assert.deepEqual(r.instructions, want.instructions);
    }
  }
});
