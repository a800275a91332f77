import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GUACD_LIMITS, GuacError, InstructionSplitter, PARSE_ERRORS, Parser, STATUS, encode, type ParserLimits,
} from '../../src/protocol/index.js';
import { assertStream, type Instr } from '../helpers/feed.js';

const b = (...parts: (string | number[])[]) => Buffer.concat(parts.map((x) => (typeof x === 'string' ? Buffer.from(x) : Buffer.from(x))));

/**
 * Asserts that both parsers reject `bytes` with `code` at stream byte `at`,
 * with the same message under every split, after delivering `before`.
 */
function rejects(bytes: Buffer, code: keyof typeof PARSE_ERRORS, at: number, message: RegExp,
  opts: { limits?: Partial<ParserLimits>; before?: Instr[] } = {}): void {
  assertStream(bytes, bytes.length <= 300 ? 'all' : { random: 7, count: 20 }, { instructions: opts.before ?? [], error: code }, opts.limits);
  for (const err of [
    new Parser(opts.limits).push(bytes, () => {}),
    new InstructionSplitter(opts.limits).push(bytes),
  ]) {
    assert.ok(err instanceof GuacError, 'a GuacError');
    assert.equal(err.code, code);
    assert.equal(err.status, STATUS.CLIENT_BAD_REQUEST);
    assert.equal(err.status.name, 'CLIENT_BAD_REQUEST');
    assert.match(err.message, message);
    assert.match(err.message, new RegExp(`\\(at byte ${at}\\)\\.$`));
  }
}

test('a sixth length digit fails on that digit', () => {
  rejects(b('000000'), 'GUAC_PARSE_LENGTH_DIGITS', 5, /more than 5 digits/);
  rejects(b('4.sync,000001.x;'), 'GUAC_PARSE_LENGTH_DIGITS', 12, /more than 5 digits/);
  const p = new Parser({ maxElementLength: 99999 });
  assert.equal(p.push(b('4.blob,1000'), () => {}), undefined);
  const err = p.push(b('00'), () => {});
  assert.equal(err?.code, 'GUAC_PARSE_LENGTH_DIGITS', 'fails at once, before any content');
  assert.match(err.message, /at byte 12\)/);
  rejects(b('123'), 'GUAC_PARSE_LENGTH_DIGITS', 2, /more than 2 digits/, { limits: { maxLengthDigits: 2 } });
  rejects(b('3.nop;'.repeat(12) + '000001.x;' + '3.nop;'.repeat(12)), 'GUAC_PARSE_LENGTH_DIGITS', 77, /more than 5 digits/,
    { before: Array.from({ length: 12 }, () => ['nop']) });
});

test('a non-digit or empty length, or a missing dot, is a bad length', () => {
  rejects(b('4x.sync;'), 'GUAC_PARSE_BAD_LENGTH', 1, /empty or holds a non-digit/);
  rejects(b('4sync;'), 'GUAC_PARSE_BAD_LENGTH', 1, /non-digit/);
  rejects(b('.;'), 'GUAC_PARSE_BAD_LENGTH', 0, /empty/);
  rejects(b('4.sync,.;'), 'GUAC_PARSE_BAD_LENGTH', 7, /empty/);
  rejects(b(';'), 'GUAC_PARSE_BAD_LENGTH', 0, /non-digit/);
  rejects(b('4.sync;\n4.sync;'), 'GUAC_PARSE_BAD_LENGTH', 7, /non-digit/, { before: [['sync']] });
  rejects(b('-1.x;'), 'GUAC_PARSE_BAD_LENGTH', 0, /non-digit/);
});

test('content not followed by , or ; is a bad delimiter', () => {
  rejects(b('4.sync:'), 'GUAC_PARSE_BAD_DELIMITER', 6, /not followed by ',' or ';'/);
  rejects(b('3.sync;'), 'GUAC_PARSE_BAD_DELIMITER', 5, /not followed/);
  rejects(b('5.sync;4.sync;'), 'GUAC_PARSE_BAD_DELIMITER', 7, /not followed/);
  rejects(b('1.😀😀;'), 'GUAC_PARSE_BAD_DELIMITER', 6, /not followed/);
  // A stray continuation byte right after complete content is seen where the delimiter belongs.
  rejects(b('1.é', [0x80], ';'), 'GUAC_PARSE_BAD_DELIMITER', 4, /not followed/);
});

test('an element over the limit fails on the length digit, before any content is buffered', () => {
  rejects(b('8193.'), 'GUAC_PARSE_ELEMENT_TOO_LONG', 3, /longer than 8192 characters/);
  rejects(b('4.blob,99999.'), 'GUAC_PARSE_ELEMENT_TOO_LONG', 10, /longer than 8192/);
  rejects(b('11.hello world;'), 'GUAC_PARSE_ELEMENT_TOO_LONG', 1, /longer than 10 characters/, { limits: { maxElementLength: 10 } });
  // Complete and inside one long ASCII chunk (the fast path), too.
  rejects(b('4.blob,8193.' + 'x'.repeat(8193) + ';'), 'GUAC_PARSE_ELEMENT_TOO_LONG', 10, /longer than 8192/);
  rejects(b('3.nop;'.repeat(12) + '4.sync,11.hello world;' + '3.nop;'.repeat(12)), 'GUAC_PARSE_ELEMENT_TOO_LONG', 80,
    /longer than 10 characters/, { limits: { maxElementLength: 10 }, before: Array.from({ length: 12 }, () => ['nop']) });
  const p = new Parser();
  assert.equal(p.push(b('4.blob,819'), () => {}), undefined);
  assert.equal(p.push(b('3'), () => {})?.code, 'GUAC_PARSE_ELEMENT_TOO_LONG');
  assert.equal(p.buffered, 0);
  const s = new InstructionSplitter();
  const err = s.push(b('4.blob,8193.' + 'x'.repeat(5000)));
  assert.ok(err instanceof GuacError && err.code === 'GUAC_PARSE_ELEMENT_TOO_LONG');
  assert.equal(s.buffered, 0);
});

test('more elements than the limit fail on the comma that would start the extra one', () => {
  const ok: Instr = ['a', ...Array.from({ length: 127 }, () => 'x')];
  const over = b(encode('a', ...Array.from({ length: 128 }, () => 'x')));
  rejects(over, 'GUAC_PARSE_TOO_MANY_ELEMENTS', 3 + 127 * 4, /more than 128 elements/);
  assertStream(b(encode(ok[0], ...ok.slice(1))), { random: 8, count: 10 }, { instructions: [ok] });
  rejects(b('1.a,1.b;1.a,1.b,1.c;'), 'GUAC_PARSE_TOO_MANY_ELEMENTS', 15, /more than 2 elements/,
    { limits: { maxElements: 2 }, before: [['a', 'b']] });
});

test('an instruction over the byte limit fails as soon as its declared lengths cannot fit', () => {
  // '4.sync,3.' is 9 bytes; 3 more of content and a delimiter make 13 > 10: fails on the dot.
  rejects(b('4.sync,3.123;'), 'GUAC_PARSE_INSTRUCTION_TOO_LONG', 8, /longer than 10 bytes/, { limits: { maxInstructionBytes: 10 } });
  // Multibyte content can only be measured when it ends: fails on the delimiter.
  rejects(b('1.é;'), 'GUAC_PARSE_INSTRUCTION_TOO_LONG', 4, /longer than 4 bytes/, { limits: { maxInstructionBytes: 4 } });
  const args = [8192, 8192, 8192, 8165].map((n) => 'y'.repeat(n));
  const over = b(encode('b', ...args));
  assert.equal(over.length, GUACD_LIMITS.maxInstructionBytes + 1);
  rejects(over, 'GUAC_PARSE_INSTRUCTION_TOO_LONG', 3 * 8198 + 3 + 5, /longer than 32768 bytes/);
  assertStream(over, 'whole', { instructions: [['b', ...args]] }, { maxInstructionBytes: Infinity });
});

test('malformed UTF-8 in content is rejected at the offending byte', () => {
  const cases: [string, Buffer, number][] = [
    ['stray continuation', b('2.', [0x80], 'a;'), 2],
    ['overlong lead C0', b('1.', [0xc0, 0x80], ';'), 2],
    ['overlong E0 80', b('1.', [0xe0, 0x80, 0x80], ';'), 3],
    ['overlong F0 80', b('1.', [0xf0, 0x80, 0x80, 0x80], ';'), 3],
    ['UTF-16 surrogate ED A0', b('1.', [0xed, 0xa0, 0x80], ';'), 3],
    ['beyond U+10FFFF', b('1.', [0xf4, 0x90, 0x80, 0x80], ';'), 3],
    ['lead F5', b('1.', [0xf5, 0x80, 0x80, 0x80], ';'), 2],
    ['byte FF', b('1.', [0xff], ';'), 2],
    ['truncated before the delimiter', b('1.', [0xe2, 0x82], ';'), 4],
    ['truncated by the next character', b('2.', [0xe2, 0x82], 'a;'), 4],
    ['invalid inside a long ASCII run', b('300.', 'A'.repeat(250), [0xc3, 0x28], 'B'.repeat(48), ';'), 255],
  ];
  for (const [, bytes, at] of cases) rejects(bytes, 'GUAC_PARSE_BAD_UTF8', at, /not valid UTF-8/);
  // The edges that are valid: U+10FFFF, U+FFFF, U+0080, U+E000.
  const edge = '\u{10FFFF}\uFFFF\u0080\uE000';
  assertStream(b(encode('t', edge)), 'all', { instructions: [['t', edge]] });
});

test('a failed parser stays failed and returns the same error', () => {
  const p = new Parser();
  const seen: string[] = [];
  const err = p.push(b('4.sync,1.1;4.sync,1.1:'), (op) => seen.push(op));
  assert.ok(err instanceof GuacError);
  assert.deepEqual(seen, ['sync'], 'instructions before the bad byte are delivered');
  assert.equal(p.error, err);
  assert.equal(p.push(b('4.sync,1.1;'), () => assert.fail('no more instructions')), err);
  assert.equal(p.push(Buffer.alloc(0), () => {}), err);
  const s = new InstructionSplitter();
  const serr = s.push(b('4.sync,1.1;x'));
  assert.ok(serr instanceof GuacError);
  assert.equal(s.push(b('4.sync,1.1;')), serr);
  assert.equal(s.error, serr);
});

test('a throwing handler propagates and stops the parser with GUAC_PARSE_HANDLER_THREW', () => {
  const boom = new Error('boom');
  const p = new Parser();
  assert.throws(() => p.push(b('3.nop;3.nop;'), () => { throw boom; }), (e) => e === boom);
  assert.equal(p.error?.code, 'GUAC_PARSE_HANDLER_THREW');
  assert.equal(p.error?.status, STATUS.SERVER_ERROR);
  assert.equal(p.error?.cause, boom);
  assert.equal(p.push(b('3.nop;'), () => {}), p.error);
  const s = new InstructionSplitter();
  assert.throws(() => s.push(b('3.nop;'), () => { throw boom; }), (e) => e === boom);
  assert.equal(s.error?.code, 'GUAC_PARSE_HANDLER_THREW');
  assert.equal(s.push(b('3.nop;')), s.error);
});

test('nonsensical limits are refused when constructing', () => {
  for (const limits of [{ maxElements: 0 }, { maxLengthDigits: 1.5 }, { maxElementLength: -1 }, { maxInstructionBytes: 0 }, { maxLengthDigits: 16 }]) {
    assert.throws(() => new Parser(limits), (e) => e instanceof GuacError && e.code === 'GUAC_PARSE_BAD_LIMITS' && /Invalid parser limit/.test(e.message));
    assert.throws(() => new InstructionSplitter(limits), GuacError);
  }
  assert.deepEqual(new Parser({ maxElements: 3, maxLengthDigits: undefined }).limits, { ...GUACD_LIMITS, maxElements: 3 });
});

test('every error code is listed in PARSE_ERRORS', () => {
  for (const code of ['GUAC_PARSE_LENGTH_DIGITS', 'GUAC_PARSE_BAD_LENGTH', 'GUAC_PARSE_BAD_DELIMITER', 'GUAC_PARSE_ELEMENT_TOO_LONG',
    'GUAC_PARSE_TOO_MANY_ELEMENTS', 'GUAC_PARSE_INSTRUCTION_TOO_LONG', 'GUAC_PARSE_BAD_UTF8', 'GUAC_PARSE_BAD_LIMITS', 'GUAC_PARSE_HANDLER_THREW']) {
    assert.ok(code in PARSE_ERRORS, code);
  }
});
