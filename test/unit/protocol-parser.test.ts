import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GUACD_LIMITS, Parser, encode } from '../../src/protocol/index.js';
import { assertStream, feed, parserRun, type Instr } from '../helpers/feed.js';

const enc = (list: Instr[]) => Buffer.from(list.map(([op, ...args]) => encode(op, ...args)).join(''));

const SAMPLE: Instr[] = [
  ['', 'ping', '1700000000000'],
  ['size', '1024', '768'],
  ['clipboard', '😀 and 👩‍👩‍👧 and 日本語テキスト'],
  ['key', ''],
  ['msg', 'a;b,c.d', ';', ',', '.', '3.abc;', ''],
  ['', ''],
  ['é', 'ü€𐍈'],
];

test('the internal ping instruction parses', () => {
  assertStream(Buffer.from('0.,4.ping,13.1700000000000;'), 'all', { instructions: [['', 'ping', '1700000000000']] });
});

test('emoji, CJK and delimiters inside values survive every split', () => {
  const bytes = enc(SAMPLE);
  for (const splits of ['whole', 'bytes', 'all', { random: 1, count: 200 }] as const) {
    assertStream(bytes, splits, { instructions: SAMPLE });
  }
});

test('declared lengths count code points: a ZWJ sequence is several', () => {
  assertStream(Buffer.from('4.text,5.👩‍👩‍👧;'), 'all', { instructions: [['text', '👩‍👩‍👧']] });
  assertStream(Buffer.from('4.text,1.😀;'), 'all', { instructions: [['text', '😀']] });
});

test('leading zeros in a length are accepted within the digit limit', () => {
  assertStream(Buffer.from('00004.sync,00.;'), 'all', { instructions: [['sync', '']] });
});

test('an incomplete instruction is held, not delivered', () => {
  const [r] = feed(() => parserRun(), Buffer.from('4.sync,3.123;4.sync,2.12'), 'bytes');
  assert.deepEqual(r, { instructions: [['sync', '123']] });
  const p = new Parser();
  p.push(Buffer.from('4.blob,1.1,10.abcd'), () => assert.fail('nothing is complete'));
  assert.equal(p.buffered, 4, 'only the unfinished element is held');
});

test('args is a fresh array per instruction', () => {
  const seen: string[][] = [];
  new Parser().push(Buffer.from('1.a,1.b;1.c,1.d;'), (_op, args) => seen.push(args));
  assert.deepEqual(seen, [['b'], ['d']]);
  assert.notEqual(seen[0], seen[1]);
});

test('exactly at the limits is accepted', () => {
  const big = 'x'.repeat(GUACD_LIMITS.maxElementLength);
  const bigAstral = '😀'.repeat(GUACD_LIMITS.maxElementLength);
  assertStream(Buffer.from(encode('blob', '1', big)), { random: 2, count: 20 }, { instructions: [['blob', '1', big]] });
  // 8192 four-byte characters: 32 KiB of content, over the instruction byte limit unless lifted.
  assertStream(Buffer.from(encode('t', bigAstral)), { random: 3, count: 20 }, { instructions: [['t', bigAstral]] },
    { maxInstructionBytes: Infinity });
  const many: Instr = ['a', ...Array.from({ length: GUACD_LIMITS.maxElements - 1 }, (_, i) => String(i))];
  assertStream(enc([many]), { random: 4, count: 20 }, { instructions: [many] });
  const args = [8192, 8192, 8192, 8164].map((n) => 'y'.repeat(n));
  const exact = Buffer.from(encode('b', ...args));
  assert.equal(exact.length, GUACD_LIMITS.maxInstructionBytes);
  assertStream(exact, { random: 5, count: 10 }, { instructions: [['b', ...args]] });
});

test('a long stream in one-byte chunks is parsed in linear time', () => {
  // 256 elements of 8 KiB, one byte per push: quadratic rescanning of an
  // element would take ~10^10 steps here; linear is ~2 * 10^6.
  const value = 'A'.repeat(8000) + '€';
  const one = Buffer.from(encode('blob', '1', value));
  const bytes = Buffer.concat(Array.from({ length: 256 }, () => one));
  const p = new Parser();
  let n = 0;
  const t0 = performance.now();
  for (let i = 0; i < bytes.length; i++) {
    assert.equal(p.push(bytes.subarray(i, i + 1), (_op, args) => { n++; assert.equal(args[1], value); }), undefined);
  }
  const ms = performance.now() - t0;
  assert.equal(n, 256);
  assert.ok(ms < 10000, `took ${ms} ms`);
});
