import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { GuacError } from '../../src/protocol/errors.js';
import { STATUS } from '../../src/protocol/status.js';
import { HANDSHAKE_DEFAULTS } from '../../src/guacd/handshake.js';
import { handshakeFor } from '../../src/tunnel/connect-data.js';
import { TUNNEL_ERRORS } from '../../src/tunnel/errors.js';
import { isActivity, viewerMaySend } from '../../src/tunnel/read-only.js';
import {
  MESSAGE_FLUSH_BYTES, closeReason, errorInstruction, headerSafe, parseHttpOperation, pingInstruction, sendInMessages, uuidInstruction,
} from '../../src/tunnel/wire.js';

describe('tunnel wire contract', () => {
  it('encodes the UUID, ping and error instructions', () => {
    const uuid = '0b9c3e5c-5f0e-4d43-9a63-6f0f4d2f4b11';
    assert.equal(uuidInstruction(uuid), `0.,36.${uuid};`);
    assert.equal(pingInstruction('1700000000000'), '0.,4.ping,13.1700000000000;');
    assert.equal(errorInstruction(STATUS.UPSTREAM_NOT_FOUND, 'No guacd'), '5.error,8.No guacd,3.519;');
    assert.equal(closeReason(STATUS.CLIENT_UNAUTHORIZED), '769');
    assert.equal(Number.parseInt(closeReason(STATUS.CLIENT_TIMEOUT), 10), 0x0308);
  });

  it('parses the HTTP tunnel operations as guacamole-common-js sends them', () => {
    const uuid = '0b9c3e5c-5f0e-4d43-9a63-6f0f4d2f4b11';
    assert.deepEqual(parseHttpOperation('connect'), { op: 'connect' });
    assert.deepEqual(parseHttpOperation(`read:${uuid}:0`), { op: 'read', uuid });
    assert.deepEqual(parseHttpOperation(`read:${uuid}:1234`), { op: 'read', uuid });
    assert.deepEqual(parseHttpOperation(`write:${uuid}`), { op: 'write', uuid });
    for (const q of ['', 'token=abc', 'connect=1', `read:${uuid}x`, 'read:short:1', `delete:${uuid}`]) {
      assert.equal(parseHttpOperation(q), undefined, q);
    }
  });

  it('batches whole instructions into messages of at least 8192 bytes, cut at instruction ends', () => {
    const blob = (n: number) => `4.blob,1.1,${n}.${'A'.repeat(n)};`;
    const parts = [blob(3000), blob(3000), blob(3000), '3.nop;', blob(5000), blob(4000), '4.sync,1.1;'];
    // A view in a larger buffer, as the relay hands them over.
    const whole = Buffer.from(`xx${parts.join('')}yy`);
    const bytes = whole.subarray(2, whole.length - 2);
    const ends: number[] = [];
    let at = bytes.byteOffset;
    for (const p of parts) ends.push((at += p.length));
    const sent: Buffer[] = [];
    sendInMessages(bytes, ends, (m) => sent.push(m));
    // 3 blobs reach 8192; then nop + 2 blobs do; the sync is what is left.
    assert.deepEqual(sent.map(String), [parts.slice(0, 3).join(''), parts.slice(3, 6).join(''), parts[6]]);
    for (const m of sent.slice(0, -1)) assert.ok(m.length >= MESSAGE_FLUSH_BYTES);
    for (const m of sent) assert.equal(m.buffer, whole.buffer, 'views, not copies');
    const small: Buffer[] = [];
    sendInMessages(Buffer.from('3.nop;'), [6], (m) => small.push(m));
    assert.deepEqual(small.map(String), ['3.nop;']);
  });

  it('makes messages header-safe', () => {
    assert.equal(headerSafe('a\r\nb\u00e9c'), 'a b c');
    assert.equal(headerSafe('x'.repeat(1000)).length, 256);
  });
});

describe('read-only filter', () => {
  it('keeps sync, ack, nop, disconnect and get', () => {
    for (const op of ['sync', 'ack', 'nop', 'disconnect', 'get']) assert.equal(viewerMaySend(op), true, op);
  });

  it('drops every input instruction, stream data and unknown opcodes', () => {
    const dropped = ['key', 'mouse', 'touch', 'size', 'clipboard', 'file', 'pipe', 'put', 'audio', 'argv',
      'blob', 'end', 'usbconnect', 'usbdata', 'usbdisconnect', 'select', 'connect', 'frobnicate'];
    for (const op of dropped) assert.equal(viewerMaySend(op), false, op);
  });

  it('counts user input as activity, not the automatic acknowledgements', () => {
    for (const op of ['key', 'mouse', 'touch', 'size', 'clipboard', 'blob']) assert.equal(isActivity(op), true, op);
    for (const op of ['sync', 'ack', 'nop']) assert.equal(isActivity(op), false, op);
  });
});

describe('connect data → handshake', () => {
  const q = (s: string) => new URLSearchParams(s);

  it('takes size, dpi, timezone and mimetypes from the connect data', () => {
    const { handshake, readOnly } = handshakeFor(
      { protocol: 'ssh', params: { hostname: 'h', password: 'p' }, user: 'ann' },
      q('token=x&width=800&height=600&dpi=144&timezone=Europe/Paris&image=image/png,image/webp&audio=audio/L16'),
    );
    assert.equal(readOnly, false);
    assert.equal(handshake.protocol, 'ssh');
    assert.deepEqual([handshake.width, handshake.height, handshake.dpi], [800, 600, 144]);
    assert.equal(handshake.timezone, 'Europe/Paris');
    assert.deepEqual(handshake.image, ['image/png', 'image/webp']);
    assert.deepEqual(handshake.audio, ['audio/L16']);
    assert.equal(handshake.name, 'ann');
  });

  it('defaults what is missing and folds read-only parameters into readOnly', () => {
    const { handshake, readOnly } = handshakeFor({ protocol: 'vnc', params: { hostname: 'h', 'read-only': 'true' } }, q(''));
    assert.equal(readOnly, true);
    assert.equal(handshake.readOnly, true);
    assert.deepEqual(handshake.params, { hostname: 'h' });
    assert.deepEqual([handshake.width, handshake.height, handshake.dpi], [1024, 768, 96]);
    assert.equal(handshake.timezone, undefined);
  });

  it('takes the mimetypes a browser leaves out from the guacd layer, the same the handshake sends by default', () => {
    const { handshake } = handshakeFor({ protocol: 'ssh', params: { hostname: 'h' } }, q('token=x&audio=&image='));
    assert.deepEqual(handshake.audio, HANDSHAKE_DEFAULTS.audio);
    assert.deepEqual(handshake.video, HANDSHAKE_DEFAULTS.video);
    assert.deepEqual(handshake.image, HANDSHAKE_DEFAULTS.image);
    // Spelled out: what every browser plays and decodes (webp only when a client announces it).
    assert.deepEqual(HANDSHAKE_DEFAULTS.audio, ['audio/L8', 'audio/L16']);
    assert.deepEqual(HANDSHAKE_DEFAULTS.image, ['image/png', 'image/jpeg']);
    assert.deepEqual([HANDSHAKE_DEFAULTS.width, HANDSHAKE_DEFAULTS.height, HANDSHAKE_DEFAULTS.dpi], [1024, 768, 96]);
  });

  it('joins by id without a protocol', () => {
    const { handshake } = handshakeFor({ join: '$abc', params: {}, readOnly: true }, q(''));
    assert.equal(handshake.join, '$abc');
    assert.equal(handshake.protocol, undefined);
  });

  it('refuses bad sizes, mimetypes, unknown parameters and empty targets as CLIENT_BAD_REQUEST', () => {
    const cases: [Parameters<typeof handshakeFor>[0], string, string][] = [
      [{ protocol: 'ssh', params: { hostname: 'h' } }, 'width=0', 'GUAC_TUNNEL_BAD_CONNECT_DATA'],
      [{ protocol: 'ssh', params: { hostname: 'h' } }, 'height=abc', 'GUAC_TUNNEL_BAD_CONNECT_DATA'],
      [{ protocol: 'ssh', params: { hostname: 'h' } }, 'image=<script>', 'GUAC_TUNNEL_BAD_CONNECT_DATA'],
      [{ protocol: 'ssh', params: { hostname: 'h', nope: 1 } }, '', 'GUAC_PARAM_UNKNOWN'],
      [{ params: {} }, '', 'GUAC_TUNNEL_NO_TARGET'],
    ];
    for (const [target, data, code] of cases) {
      assert.throws(() => handshakeFor(target, q(data)), (e: unknown) => e instanceof GuacError && e.code === code && e.status === STATUS.CLIENT_BAD_REQUEST, code);
    }
  });
});

describe('tunnel error codes', () => {
  it('src/tunnel and the tunnel route raise codes only through a catalogue, and each tunnel code has a known status', () => {
    const root = new URL('../../../', import.meta.url);
    const files = [
      ...readdirSync(new URL('src/tunnel/', root)).filter((f) => f.endsWith('.ts')).map((f) => new URL(`src/tunnel/${f}`, root)),
      new URL('src/server/app.ts', root),
    ];
    const literal = /new GuacError\(\s*'(GUAC_[A-Z_]+)'/g;
    const raised = /\bTUNNEL\.(GUAC_[A-Z_]+)\(/g;
    let seen = 0;
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const where = file.pathname.split('/').slice(-2).join('/');
      for (const m of text.matchAll(literal)) assert.fail(`${m[1]} is raised with new GuacError in ${where}; use TUNNEL.${m[1]}()`);
      for (const m of text.matchAll(raised)) {
        assert.ok(m[1] in TUNNEL_ERRORS, `${m[1]} (${where}) is not in TUNNEL_ERRORS`);
        seen++;
      }
    }
    assert.ok(seen >= 15, `only ${seen} raise sites found`);
    for (const [code, [status]] of Object.entries(TUNNEL_ERRORS)) assert.ok(status in STATUS, code);
  });
});
