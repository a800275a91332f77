import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GuacError } from '../../src/protocol/errors.js';
import { STATUS } from '../../src/protocol/status.js';
import { openToken, sealToken, type TokenPayload } from '../../src/tunnel/token.js';
import { tokenResolver, type TunnelRequest } from '../../src/tunnel/resolver.js';

const SECRET = 'unit-test-secret-0123456789abcdef';
const NOW = 1_800_000_000;

function assertGuacError(fn: () => unknown, code: string, status: keyof typeof STATUS): GuacError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof GuacError, `expected a GuacError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.equal(caught.status, STATUS[status]);
  return caught;
}

function request(query: Record<string, string>): TunnelRequest {
  return { query: new URLSearchParams(query), headers: {} };
}

describe('tunnel token', () => {
  const target = { protocol: 'ssh', params: { hostname: 'h', port: 22, password: 'hunter2-secret' } };

  it('round-trips a payload and fills v, iat, jti', () => {
    const token = sealToken({ exp: NOW + 60, iat: NOW, target, user: 'ann', readOnly: true, once: true }, SECRET);
    assert.match(token, /^v1\.[A-Za-z0-9_-]+$/);
    const p = openToken(token, SECRET, NOW);
    assert.equal(p.v, 1);
    assert.equal(p.iat, NOW);
    assert.equal(p.exp, NOW + 60);
    assert.match(p.jti, /^[0-9a-f-]{36}$/);
    assert.deepEqual(p.target, target);
    assert.equal(p.user, 'ann');
    assert.equal(p.readOnly, true);
    assert.equal(p.once, true);
  });

  it('encrypts: neither the password nor the user appear in the token', () => {
    const token = sealToken({ exp: NOW + 60, iat: NOW, target, user: 'ann' }, SECRET);
    const raw = Buffer.from(token.slice(3), 'base64url').toString('latin1');
    assert.ok(!raw.includes('hunter2'));
    assert.ok(!raw.includes('ann'));
    assert.ok(!token.includes('aHVudGVy')); // base64 of "hunter"
  });

  it('two seals of one payload differ (random nonce and jti)', () => {
    const a = sealToken({ exp: NOW + 60, iat: NOW, target }, SECRET);
    const b = sealToken({ exp: NOW + 60, iat: NOW, target }, SECRET);
    assert.notEqual(a, b);
  });

  it('rejects every flipped character (tampering) as GUAC_TOKEN_INVALID / CLIENT_UNAUTHORIZED', () => {
    const token = sealToken({ exp: NOW + 60, iat: NOW, target }, SECRET);
    for (let i = 3; i < token.length; i += 7) {
      const c = token[i] === 'A' ? 'B' : 'A';
      const bad = token.slice(0, i) + c + token.slice(i + 1);
      const err = assertGuacError(() => openToken(bad, SECRET, NOW), 'GUAC_TOKEN_INVALID', 'CLIENT_UNAUTHORIZED');
      assert.equal(err.message, 'The access token is invalid.');
    }
  });

  it('accepts only the canonical base64url spelling: every other last character is GUAC_TOKEN_INVALID', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const residues = new Set<number>();
    // The jti's length moves the body through every length mod 3, so the last character
    // carries 4, 2 or no unused bits.
    for (let extra = 0; extra < 3; extra++) {
      const token = sealToken({ exp: NOW + 60, iat: NOW, target, jti: `j${'x'.repeat(extra)}` }, SECRET);
      const b64 = token.slice(3);
      const raw = Buffer.from(b64, 'base64url');
      assert.ok(openToken(token, SECRET, NOW));
      const unused = [0, 4, 2][raw.length % 3];
      residues.add(unused);
      const last = alphabet.indexOf(b64[b64.length - 1]);
      const mask = (1 << unused) - 1;
      let variants = 0;
      for (let low = 0; low <= mask; low++) {
        const idx = (last & ~mask) | low;
        if (idx === last) continue;
        const variant = token.slice(0, -1) + alphabet[idx];
        // The decoder cannot tell them apart: only the spelling check does.
        assert.deepEqual(Buffer.from(variant.slice(3), 'base64url'), raw);
        const err = assertGuacError(() => openToken(variant, SECRET, NOW), 'GUAC_TOKEN_INVALID', 'CLIENT_UNAUTHORIZED');
        assert.equal(err.message, 'The access token is invalid.');
        variants++;
      }
      assert.equal(variants, mask);
      // A dangling character (length 1 mod 4) is dropped by the decoder: refused too.
      if (unused === 0) for (const c of ['A', 'Q', '_']) {
        assert.deepEqual(Buffer.from(b64 + c, 'base64url').length, raw.length);
        assertGuacError(() => openToken(token + c, SECRET, NOW), 'GUAC_TOKEN_INVALID', 'CLIENT_UNAUTHORIZED');
      }
    }
    assert.deepEqual([...residues].sort(), [0, 2, 4]);
  });

  it('rejects malformed tokens', () => {
    for (const bad of ['', 'v1.', 'v2.abcd', 'v1.!!!!', 'v1.' + 'A'.repeat(20), 'nonsense', 'v1.' + 'A'.repeat(20000)]) {
      assertGuacError(() => openToken(bad, SECRET, NOW), 'GUAC_TOKEN_INVALID', 'CLIENT_UNAUTHORIZED');
    }
  });

  it('rejects another secret', () => {
    const token = sealToken({ exp: NOW + 60, iat: NOW, target }, SECRET);
    assertGuacError(() => openToken(token, SECRET + 'x', NOW), 'GUAC_TOKEN_INVALID', 'CLIENT_UNAUTHORIZED');
  });

  it('expires at exp with GUAC_TOKEN_EXPIRED / CLIENT_TIMEOUT (0x0308)', () => {
    const token = sealToken({ exp: NOW + 60, iat: NOW, target }, SECRET);
    assert.ok(openToken(token, SECRET, NOW + 59.9));
    const err = assertGuacError(() => openToken(token, SECRET, NOW + 60), 'GUAC_TOKEN_EXPIRED', 'CLIENT_TIMEOUT');
    assert.equal(err.status.guac, 0x0308);
    assert.equal(err.message, 'The access token has expired.');
  });

  it('rejects a token issued in the future beyond the skew', () => {
    const token = sealToken({ exp: NOW + 7200, iat: NOW + 3600, target }, SECRET);
    assertGuacError(() => openToken(token, SECRET, NOW), 'GUAC_TOKEN_INVALID', 'CLIENT_UNAUTHORIZED');
    assert.ok(openToken(token, SECRET, NOW + 3500));
  });

  it('refuses short secrets and bad payloads when sealing, without echoing them', () => {
    const err = assertGuacError(() => sealToken({ exp: NOW + 1, target }, 'short'), 'GUAC_TOKEN_CONFIG', 'SERVER_ERROR');
    assert.ok(!err.message.includes('short'));
    assertGuacError(() => openToken('v1.x', 'short'), 'GUAC_TOKEN_CONFIG', 'SERVER_ERROR');
    assertGuacError(() => sealToken({ exp: NOW - 10, iat: NOW, target }, SECRET), 'GUAC_TOKEN_CONFIG', 'SERVER_ERROR');
    const bad = { exp: NOW + 10, iat: NOW, target: { protocol: 'ssh', params: { x: { nested: 'hunter2' } } } } as unknown as TokenPayload;
    const e2 = assertGuacError(() => sealToken(bad, SECRET), 'GUAC_TOKEN_CONFIG', 'SERVER_ERROR');
    assert.ok(!e2.message.includes('hunter2'));
  });

  it('accepts Uint8Array secrets equal to their string form', () => {
    const token = sealToken({ exp: NOW + 60, iat: NOW, target }, Buffer.from(SECRET));
    assert.equal(openToken(token, SECRET, NOW).exp, NOW + 60);
  });
});

describe('tokenResolver', () => {
  const target = { protocol: 'ssh', params: { hostname: 'h', password: 'pw' } };
  const resolver = tokenResolver({ secret: SECRET, now: () => NOW });

  it('opens the inline target', async () => {
    const token = sealToken({ exp: NOW + 60, iat: NOW, target, user: 'bob', connection: 'c-1' }, SECRET);
    const t = await resolver(request({ token }));
    assert.deepEqual(t, { protocol: 'ssh', params: target.params, user: 'bob', connectionId: 'c-1', tokenId: openToken(token, SECRET, NOW).jti });
  });

  it('applies readOnly from the payload or the target', async () => {
    const a = sealToken({ exp: NOW + 60, iat: NOW, target, readOnly: true }, SECRET);
    assert.equal((await resolver(request({ token: a }))).readOnly, true);
    const b = sealToken({ exp: NOW + 60, iat: NOW, target: { ...target, readOnly: true } }, SECRET);
    assert.equal((await resolver(request({ token: b }))).readOnly, true);
  });

  it('refuses a missing token, a foreign audience, an unknown protocol and a token without target', async () => {
    await assert.rejects(resolver(request({})), { code: 'GUAC_TOKEN_MISSING', status: STATUS.CLIENT_UNAUTHORIZED });
    const aud = sealToken({ exp: NOW + 60, iat: NOW, target, aud: 'admin' }, SECRET);
    await assert.rejects(resolver(request({ token: aud })), { code: 'GUAC_TOKEN_INVALID', status: STATUS.CLIENT_UNAUTHORIZED });
    const proto = sealToken({ exp: NOW + 60, iat: NOW, target: { protocol: 'x11', params: {} } }, SECRET);
    await assert.rejects(resolver(request({ token: proto })), { code: 'GUAC_PROTOCOL_UNKNOWN', status: STATUS.CLIENT_BAD_REQUEST });
    const none = sealToken({ exp: NOW + 60, iat: NOW, connection: 'c-1' }, SECRET);
    await assert.rejects(resolver(request({ token: none })), { code: 'GUAC_TOKEN_NO_TARGET', status: STATUS.CLIENT_BAD_REQUEST });
  });

  it('passes expiry through as CLIENT_TIMEOUT', async () => {
    const token = sealToken({ exp: NOW - 1, iat: NOW - 100, target }, SECRET);
    await assert.rejects(resolver(request({ token })), { code: 'GUAC_TOKEN_EXPIRED', status: STATUS.CLIENT_TIMEOUT });
  });

  it('accepts a once token a single time', async () => {
    const token = sealToken({ exp: NOW + 60, iat: NOW, target, once: true }, SECRET);
    await resolver(request({ token }));
    await assert.rejects(resolver(request({ token })), { code: 'GUAC_TOKEN_USED', status: STATUS.RESOURCE_CONFLICT });
  });

  it('hands connection tokens to resolveConnection', async () => {
    const r = tokenResolver({
      secret: SECRET,
      now: () => NOW,
      resolveConnection: async (p) => ({ protocol: 'vnc', params: { hostname: p.connection ?? '' } }),
    });
    const token = sealToken({ exp: NOW + 60, iat: NOW, connection: 'box', readOnly: true, jti: 'box-1' }, SECRET);
    assert.deepEqual(await r(request({ token })), { protocol: 'vnc', params: { hostname: 'box' }, readOnly: true, tokenId: 'box-1' });
  });
});
