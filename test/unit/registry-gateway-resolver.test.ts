/**
 * The resolver `serve` gives the tunnel (`gatewayResolver`): registry tokens,
 * self-contained tokens checked against the database (single use that
 * survives a restart, revocation by user), and guacamole-lite tokens only
 * when a key is configured.
 */
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Registry } from '../../src/registry/types.js';
import { gatewayResolver } from '../../src/server/gateway.js';
import { openToken, sealToken } from '../../src/tunnel/token.js';
import { rejectsWith, sqliteFixture, tokenRequest, type RegistryFixture } from '../helpers/registry.js';

const LITE_KEY = 'MySuperSecretKeyForParamsToken12';
let fx: RegistryFixture;
let reg: Registry;

before(async () => {
  fx = await sqliteFixture();
  reg = await fx.open();
});
after(async () => {
  await reg.close();
  await fx.cleanup();
});

/** What `guacamole-gateway token --protocol …` mints. */
function inline(extra: { once?: boolean; user?: string; iat?: number } = {}): string {
  const now = Math.floor(Date.now() / 1000);
  return sealToken({ iat: now, exp: now + 600, aud: 'tunnel', target: { protocol: 'ssh', params: { hostname: 'h', password: 'pw' } }, ...extra }, fx.secret);
}

/** guacamole-lite's README encryptToken. */
function liteToken(value: unknown): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', Buffer.from(LITE_KEY), iv);
  const encrypted = cipher.update(JSON.stringify(value), 'utf8', 'base64') + cipher.final('base64');
  return Buffer.from(JSON.stringify({ iv: iv.toString('base64'), value: encrypted })).toString('base64');
}

test('registry and self-contained tokens both open', async () => {
  const resolve = gatewayResolver(reg, fx.secret);
  const c = await reg.createConnection({ name: 'both', protocol: 'vnc', params: { hostname: 'v', port: 5901, password: 'vpw' } });
  await reg.grant(c.id, 'amy');
  const t = await reg.mintToken({ connection: 'both', user: 'amy' });
  assert.deepEqual(await resolve(tokenRequest(t.token)), {
    protocol: 'vnc', params: { hostname: 'v', port: '5901', password: 'vpw' }, readOnly: false, user: 'amy', connectionId: c.id, tokenId: t.jti,
  });
  const own = inline();
  assert.deepEqual(await resolve(tokenRequest(own)), { protocol: 'ssh', params: { hostname: 'h', password: 'pw' }, tokenId: openToken(own, fx.secret).jti });
});

test('a self-contained --once token is spent in the database: refused again after a restart', async () => {
  const token = inline({ once: true });
  await gatewayResolver(reg, fx.secret)(tokenRequest(token));
  await rejectsWith(gatewayResolver(reg, fx.secret)(tokenRequest(token)), 'GUAC_TOKEN_USED', 0x0205);
  const reopened = await fx.open();
  try {
    await rejectsWith(gatewayResolver(reopened, fx.secret)(tokenRequest(token)), 'GUAC_TOKEN_USED', 0x0205);
  } finally {
    await reopened.close();
  }
});

test('a self-contained token of a revoked user is refused, also one issued 299 s ahead of the clock', async () => {
  const token = inline({ user: 'eve' });
  const ahead = inline({ user: 'eve', iat: Math.floor(Date.now() / 1000) + 299 });
  await gatewayResolver(reg, fx.secret)(tokenRequest(token));
  await gatewayResolver(reg, fx.secret)(tokenRequest(ahead));
  await reg.revoke({ user: 'eve' });
  await rejectsWith(gatewayResolver(reg, fx.secret)(tokenRequest(token)), 'GUAC_TOKEN_REVOKED', 0x0303);
  await rejectsWith(gatewayResolver(reg, fx.secret)(tokenRequest(ahead)), 'GUAC_TOKEN_REVOKED', 0x0303);
});

test('guacamole-lite tokens open only with --guacamole-lite-key; gateway tokens still do', async () => {
  const lite = liteToken({ connection: { type: 'ssh', settings: { hostname: 'l', password: 'pässwörd' } } });
  await rejectsWith(gatewayResolver(reg, fx.secret)(tokenRequest(lite)), 'GUAC_TOKEN_INVALID', 0x0301);
  const resolve = gatewayResolver(reg, fx.secret, LITE_KEY);
  const { tokenId, ...target } = await resolve(tokenRequest(lite));
  assert.deepEqual(target, { protocol: 'ssh', params: { hostname: 'l', password: 'pässwörd' }, readOnly: false });
  assert.match(tokenId ?? '', /^lite:/);
  assert.equal((await resolve(tokenRequest(inline()))).params.hostname, 'h');
  await rejectsWith(resolve(tokenRequest('bm90IGEgdG9rZW4=')), 'GUAC_TOKEN_INVALID', 0x0301);
  await rejectsWith(resolve({ query: new URLSearchParams(), headers: {} }), 'GUAC_TOKEN_MISSING', 0x0301);
});
