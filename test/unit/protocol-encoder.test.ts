import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode, encodeElement } from '../../src/protocol/index.js';
import { codePointLength } from '../../src/protocol/encoder.js';
import { parseAll } from '../helpers/feed.js';

test('encode writes LENGTH.VALUE elements joined by commas and ended by a semicolon', () => {
  assert.equal(encode('size', 1024, 768), '4.size,4.1024,3.768;');
  assert.equal(encode('nop'), '3.nop;');
  assert.equal(encode('', 'ping', 1700000000000), '0.,4.ping,13.1700000000000;');
  assert.equal(encode('key', '', 1), '3.key,0.,1.1;');
});

test('lengths count code points, not bytes or UTF-16 units', () => {
  assert.equal(encodeElement(''), '0.');
  assert.equal(encodeElement('😀'), '1.😀');
  // 👩‍👩‍👧 is three emoji joined by two ZWJs: five code points, eight UTF-16 units.
  assert.equal(encodeElement('👩‍👩‍👧'), '5.👩‍👩‍👧');
  assert.equal(encodeElement('日本語'), '3.日本語');
  assert.equal(encodeElement('é,;.'), '4.é,;.');
  assert.equal(encode('clipboard', 'a😀b'), '9.clipboard,3.a😀b;');
});

test('a lone surrogate counts one, matching the U+FFFD it becomes in UTF-8', () => {
  for (const s of ['\uD83D', 'a\uDE00b', '\uDE00\uD83D', 'x\uD83D']) {
    const wire = Buffer.from(encode('t', s));
    const [[, value]] = parseAll(wire);
    assert.equal(codePointLength(s), [...value].length, JSON.stringify(s));
    assert.equal(value, s.replace(/[\uD800-\uDFFF]/g, '\uFFFD'));
  }
});

test('codePointLength agrees with string iteration on well-formed strings', () => {
  for (const s of ['', 'abc', '😀😀', 'a😀b', '𠀀𠀁', 'ÿ€😀日', 'x'.repeat(10000) + '😀']) {
    assert.equal(codePointLength(s), [...s].length);
  }
});
