import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuacError, InstructionSplitter, encode } from '../../src/protocol/index.js';
import { assertStream, feed, mulberry32, parseAll, randInt, randomChunks, splitterRun } from '../helpers/feed.js';

function push(s: InstructionSplitter, chunk: Buffer, seen?: [string, Buffer][]): Buffer {
  const out = s.push(chunk, seen ? (op, raw) => seen.push([op, raw]) : undefined);
  assert.ok(!(out instanceof GuacError), String(out));
  return out;
}

/** Realistic guacd output: sync, img, blobs of base64, rect, cfill, end. */
function guacdLike(seed: number, count: number): Buffer {
  const rng = mulberry32(seed);
  const b64 = Buffer.from(Array.from({ length: 6048 }, () => randInt(rng, 0, 255))).toString('base64');
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = rng();
    if (r < 0.1) parts.push(encode('sync', 1700000000000 + i, 1));
    else if (r < 0.3) parts.push(encode('img', 1, 14, 0, 'image/png', randInt(rng, 0, 1024), randInt(rng, 0, 768)));
    else if (r < 0.6) parts.push(encode('blob', 1, b64.slice(0, randInt(rng, 1, b64.length))));
    else if (r < 0.7) parts.push(encode('end', 1));
    else if (r < 0.85) parts.push(encode('rect', 0, 10, 20, 300, 400));
    else parts.push(encode('cfill', 14, 0, 255, 128, 0, 255));
  }
  return Buffer.from(parts.join(''));
}

test('returns a view of the chunk when nothing was carried, and keeps the tail', () => {
  const s = new InstructionSplitter();
  const chunk = Buffer.from('4.sync,3.123;3.nop;4.sy');
  const seen: [string, Buffer][] = [];
  const out = push(s, chunk, seen);
  assert.equal(out.toString(), '4.sync,3.123;3.nop;');
  assert.equal(out.buffer, chunk.buffer);
  assert.equal(out.byteOffset, chunk.byteOffset, 'a view, not a copy');
  assert.equal(s.buffered, 4);
  assert.deepEqual(seen.map(([op, raw]) => [op, raw.toString()]), [['sync', '4.sync,3.123;'], ['nop', '3.nop;']]);
  assert.equal(seen[1][1].byteOffset, chunk.byteOffset + 13);

  seen.length = 0;
  const out2 = push(s, Buffer.from('nc,1.1;3.n'), seen);
  assert.equal(out2.toString(), '4.sync,1.1;', 'carried tail and the needed part, concatenated');
  assert.deepEqual(seen.map(([op, raw]) => [op, raw.toString()]), [['sync', '4.sync,1.1;']]);
  assert.equal(seen[0][1].buffer, out2.buffer);
  assert.equal(s.buffered, 3);
});

test('returns an empty Buffer while no instruction is complete', () => {
  const s = new InstructionSplitter();
  const bytes = Buffer.from(encode('blob', 1, 'QUJD'.repeat(500)));
  for (let i = 0; i < bytes.length - 1; i += 100) {
    const out = push(s, bytes.subarray(i, Math.min(i + 100, bytes.length - 1)));
    assert.equal(out.length, 0);
  }
  assert.equal(s.buffered, bytes.length - 1);
  const seen: [string, Buffer][] = [];
  const out = push(s, bytes.subarray(bytes.length - 1), seen);
  assert.ok(out.equals(bytes));
  assert.equal(seen[0][0], 'blob');
  assert.equal(s.buffered, 0);
});

test('semicolons, commas and dots inside values do not end instructions', () => {
  const bytes = Buffer.from(encode('text', 'a;b', ';;;', '1.x;', ',') + encode('nop'));
  assertStream(bytes, 'all', { instructions: [['text', 'a;b', ';;;', '1.x;', ','], ['nop']] });
});

test('multibyte opcodes are decoded', () => {
  const bytes = Buffer.from(encode('é😀', 'x') + encode('日本', ''));
  const seen: string[] = [];
  for (const [chunks] of [[[bytes]], [[bytes.subarray(0, 3), bytes.subarray(3, 17), bytes.subarray(17)]]]) {
    const s = new InstructionSplitter();
    seen.length = 0;
    for (const c of chunks) s.push(c, (op) => seen.push(op));
    assert.deepEqual(seen, ['é😀', '日本']);
  }
});

test('output is byte-identical to the input on guacd-like streams, under any cut', () => {
  const bytes = guacdLike(11, 300);
  const expected = parseAll(bytes);
  for (const r of feed(() => splitterRun(), bytes, { random: 12, count: 30 })) {
    assert.ok(r.output!.equals(bytes));
    assert.deepEqual(r.instructions, expected);
  }
  const [whole] = feed(() => splitterRun(), bytes, 'whole');
  assert.ok(whole.output!.equals(bytes));
});

test('opcodes of one-element and many-element instructions in long ASCII chunks', () => {
  const bytes = Buffer.from('3.nop;4.sync,1.1;5.mouse,1.1,1.2,1.0;0.,4.ping,1.0;'.repeat(4));
  const seen: string[] = [];
  assert.ok(push(new InstructionSplitter(), bytes, undefined).equals(bytes));
  new InstructionSplitter().push(bytes, (op) => seen.push(op));
  assert.deepEqual(seen, Array.from({ length: 4 }, () => ['nop', 'sync', 'mouse', '']).flat());
});

test('works without a callback', () => {
  const bytes = guacdLike(13, 50);
  const rng = mulberry32(14);
  const s = new InstructionSplitter();
  const outs = randomChunks(bytes, rng).map((c) => push(s, c));
  assert.ok(Buffer.concat(outs).equals(bytes));
});

test('a trickle of one-byte chunks is carried compactly', () => {
  const bytes = Buffer.from(encode('blob', 1, 'A'.repeat(8000)) + encode('blob', 1, 'B'.repeat(8000)));
  const s = new InstructionSplitter();
  const outs: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const out = push(s, bytes.subarray(i, i + 1));
    if (out.length) outs.push(out);
  }
  assert.equal(outs.length, 2);
  assert.ok(Buffer.concat(outs).equals(bytes));
});

test('instructions completed before an error in the same chunk are reported before it', () => {
  // Nothing carried: views of the chunk.
  const seen: [string, string][] = [];
  const s = new InstructionSplitter();
  const err = s.push(Buffer.from('4.sync,1.1;3.nop;x.'), (op, raw) => seen.push([op, raw.toString()]));
  assert.ok(err instanceof GuacError);
  assert.equal(err.code, 'GUAC_PARSE_BAD_LENGTH');
  assert.match(err.message, /at byte 17\)/);
  assert.deepEqual(seen, [['sync', '4.sync,1.1;'], ['nop', '3.nop;']]);
  // Carried over: guacd's last words before garbage, joined with the held bytes.
  seen.length = 0;
  const t = new InstructionSplitter();
  assert.equal(push(t, Buffer.from('4.sy'), []).length, 0);
  const err2 = t.push(Buffer.from('nc,1.2;5.error,3.bye,3.519;;'), (op, raw) => seen.push([op, raw.toString()]));
  assert.ok(err2 instanceof GuacError && err2.code === 'GUAC_PARSE_BAD_LENGTH');
  assert.deepEqual(seen, [['sync', '4.sync,1.2;'], ['error', '5.error,3.bye,3.519;']]);
  assert.equal(t.push(Buffer.from('3.nop;'), () => assert.fail('failed for good')), err2);
  // The same through pushViews: the pieces arrive, then the error.
  const pieces: string[] = [];
  const spans: [string, string][] = [];
  const u = new InstructionSplitter();
  assert.equal(u.pushViews(Buffer.from('4.sy'), () => assert.fail('nothing complete')), undefined);
  const err3 = u.pushViews(Buffer.from('nc,1.2;5.error,3.bye,3.519;;'), (bytes) => pieces.push(bytes.toString()),
    (op, bytes, start, end) => spans.push([op, bytes.toString('latin1', start, end)]));
  assert.ok(err3 instanceof GuacError && err3.code === 'GUAC_PARSE_BAD_LENGTH');
  assert.deepEqual(pieces, ['4.sync,1.2;', '5.error,3.bye,3.519;']);
  assert.deepEqual(spans, [['sync', '4.sync,1.2;'], ['error', '5.error,3.bye,3.519;']]);
});

/** True when `view` lies in the memory of `whole`. */
function within(view: Buffer, whole: Buffer): boolean {
  return view.buffer === whole.buffer && view.byteOffset >= whole.byteOffset && view.byteOffset + view.length <= whole.byteOffset + whole.length;
}

test('pushViews hands over a view of the chunk, and joins only the instruction that crossed it', () => {
  const s = new InstructionSplitter();
  const pieces: Buffer[] = [];
  const spans: [string, Buffer, number, number][] = [];
  const onBytes = (b: Buffer): void => {
    pieces.push(b);
  };
  const onSpan = (op: string, bytes: Buffer, start: number, end: number): void => {
    spans.push([op, bytes, start, end]);
  };
  const chunk = Buffer.from('4.sync,3.123;3.nop;4.sy');
  assert.equal(s.pushViews(chunk, onBytes, onSpan), undefined);
  assert.deepEqual(pieces.map(String), ['4.sync,3.123;3.nop;']);
  assert.ok(within(pieces[0], chunk) && pieces[0].byteOffset === chunk.byteOffset, 'a view, not a copy');
  assert.deepEqual(spans.map(([op, b, a, z]) => [op, b.toString('latin1', a, z)]), [['sync', '4.sync,3.123;'], ['nop', '3.nop;']]);
  assert.equal(s.buffered, 4);

  pieces.length = spans.length = 0;
  const next = Buffer.from('nc,1.1;3.nop;3.end;1');
  assert.equal(s.pushViews(next, onBytes, onSpan), undefined);
  assert.deepEqual(pieces.map(String), ['4.sync,1.1;', '3.nop;3.end;']);
  assert.ok(!within(pieces[0], next), 'the crossing instruction is joined');
  assert.ok(within(pieces[1], next) && pieces[1].byteOffset === next.byteOffset + 7, 'the rest is a view');
  assert.deepEqual(spans.map(([op, b, a, z]) => [op, b.toString('latin1', a, z)]), [['sync', '4.sync,1.1;'], ['nop', '3.nop;'], ['end', '3.end;']]);
  for (const [, b, a, z] of spans) {
    const piece = pieces.find((p) => within(b.subarray(a, z), p));
    assert.ok(piece, 'each span lies within a piece');
  }
  assert.equal(s.buffered, 1);

  // Without an instruction callback, bytes only.
  const t = new InstructionSplitter();
  const bytes = guacdLike(15, 80);
  const outs: Buffer[] = [];
  for (const c of randomChunks(bytes, mulberry32(16))) assert.equal(t.pushViews(c, (b) => outs.push(b)), undefined);
  assert.ok(Buffer.concat(outs).equals(bytes));
});

test('opcodes stay exact when many distinct ones come and go (the intern cache)', () => {
  const rng = mulberry32(17);
  const ops = Array.from({ length: 3000 }, (_, i) => {
    const n = randInt(rng, 0, 12);
    let s = '';
    for (let k = 0; k < n; k++) s += String.fromCharCode(randInt(rng, 0x20, 0x7e));
    return i % 7 === 0 ? s.slice(0, 2) : s;
  });
  const bytes = Buffer.from([...ops, ...ops.slice().reverse()].map((op) => encode(op, 'x')).join(''));
  const seen: string[] = [];
  const spans: string[] = [];
  const t = new InstructionSplitter();
  for (const c of randomChunks(bytes, rng)) assert.equal(t.pushViews(c, () => {}, (op) => spans.push(op)), undefined);
  new InstructionSplitter().push(bytes, (op) => seen.push(op));
  const want = [...ops, ...ops.slice().reverse()];
  assert.deepEqual(seen, want);
  assert.deepEqual(spans, want);
});
