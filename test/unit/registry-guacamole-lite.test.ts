/**
 * guacamole-lite token compatibility: tokens made by guacamole-lite's own
 * code (lib/Crypt.js from node_modules, and the README's encryptToken) open
 * here with every character intact; garbage of every shape is one error.
 */
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { decryptGuacamoleLiteToken, guacamoleLiteResolver, guacamoleLiteTarget } from '../../src/registry/guacamole-lite.js';
import { rejectsWith } from '../helpers/registry.js';

const require = createRequire(import.meta.url);
interface CryptLike {
  encrypt(data: unknown): string;
  decrypt(token: string): unknown;
}
const Crypt = require('guacamole-lite/lib/Crypt.js') as new (cypher: string, key: string) => CryptLike;

const KEY = 'MySuperSecretKeyForParamsToken12';
const PASSWORD = 'pässwörd ✓ 😀 Ωmega "quoted" \\ back';

/** guacamole-lite README / examples/encrypt_token.js, verbatim in logic. */
function readmeEncrypt(value: unknown, key = KEY): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', Buffer.from(key), iv);
  let encrypted = cipher.update(JSON.stringify(value), 'utf8', 'base64');
  encrypted += cipher.final('base64');
  return Buffer.from(JSON.stringify({ iv: iv.toString('base64'), value: encrypted })).toString('base64');
}

const sshToken = {
  connection: {
    type: 'ssh',
    settings: { hostname: '10.0.0.12', port: 22, username: 'Administrator', password: PASSWORD, 'read-only': true, width: 1024, dpi: 96, audio: ['audio/L16'] },
  },
};

function expectInvalid(fn: () => unknown): void {
  assert.throws(fn, (err: Error & { code?: string; status?: { guac: number } }) => {
    assert.equal(err.name, 'GuacError');
    assert.equal(err.code, 'GUAC_TOKEN_INVALID');
    assert.equal(err.status?.guac, 0x0301);
    assert.equal(err.message, 'The connection token is not valid.');
    return true;
  });
}

test("a token from guacamole-lite's own Crypt.encrypt opens with non-ASCII intact", () => {
  const token = new Crypt('AES-256-CBC', KEY).encrypt(sshToken);
  assert.deepEqual(decryptGuacamoleLiteToken(token, KEY), sshToken);
  // guacamole-lite itself decodes as 'ascii' and so cannot read its own non-ASCII tokens back.
  assert.throws(() => new Crypt('AES-256-CBC', KEY).decrypt(token));
});

test("a token from the README's encryptToken opens too, and turns into a target", () => {
  const tok = decryptGuacamoleLiteToken(readmeEncrypt(sshToken), Buffer.from(KEY));
  assert.deepEqual(guacamoleLiteTarget(tok), {
    protocol: 'ssh',
    params: { hostname: '10.0.0.12', port: '22', username: 'Administrator', password: PASSWORD },
    readOnly: true,
  });
});

test('handshake settings stay when the protocol takes them as parameters (RDP width, timezone); join tokens keep only settings', () => {
  const rdp = decryptGuacamoleLiteToken(
    readmeEncrypt({ connection: { type: 'rdp', settings: { hostname: 'w', width: 1280, height: 720, dpi: 96, security: 'any', 'ignore-cert': true, timezone: 'UTC' } } }),
    KEY,
  );
  assert.deepEqual(guacamoleLiteTarget(rdp), {
    protocol: 'rdp',
    params: { hostname: 'w', width: '1280', height: '720', dpi: '96', security: 'any', 'ignore-cert': 'true', timezone: 'UTC' },
    readOnly: false,
  });
  const join = decryptGuacamoleLiteToken(readmeEncrypt({ connection: { join: '$b447679c', settings: { 'read-only': true, width: 1920, image: ['image/png'] } } }), KEY);
  assert.deepEqual(guacamoleLiteTarget(join), { join: '$b447679c', params: {}, readOnly: true });
});

test('the resolver reads ?token= and validates what it opens', async () => {
  const resolve = guacamoleLiteResolver({ key: KEY });
  const token = readmeEncrypt(sshToken);
  // Unencoded in a URL works too: the outer base64 of ASCII JSON never contains '+'.
  const target = await resolve({ query: new URLSearchParams(`token=${token}`), headers: {} });
  assert.equal(target.params.password, PASSWORD);
  // One token, one id for the per-token session cap (a hash: never the token, which carries the password).
  assert.match(target.tokenId ?? '', /^lite:[A-Za-z0-9_-]{43}$/);
  assert.equal((await resolve({ query: new URLSearchParams({ token }), headers: {} })).tokenId, target.tokenId);
  assert.notEqual((await resolve({ query: new URLSearchParams({ token: readmeEncrypt(sshToken) }), headers: {} })).tokenId, target.tokenId);
  await rejectsWith(resolve({ query: new URLSearchParams(), headers: {} }), 'GUAC_TOKEN_MISSING', 0x0301);
  const bad = readmeEncrypt({ connection: { type: 'ssh', settings: { hostname: 'x', bogus: 1 } } });
  await rejectsWith(resolve({ query: new URLSearchParams({ token: bad }), headers: {} }), 'GUAC_PARAM_UNKNOWN', 0x0300);
  const ftp = readmeEncrypt({ connection: { type: 'ftp', settings: {} } });
  await rejectsWith(resolve({ query: new URLSearchParams({ token: ftp }), headers: {} }), 'GUAC_PROTOCOL_UNKNOWN', 0x0300);
  const loose = await guacamoleLiteResolver({ key: KEY, validate: false })({ query: new URLSearchParams({ token: bad }), headers: {} });
  assert.deepEqual(loose.params, { hostname: 'x', bogus: 1 });
});

test('a key that is not 32 bytes is a configuration error at once', () => {
  assert.throws(() => guacamoleLiteResolver({ key: 'short' }), { code: 'GUAC_CONFIG_INVALID' });
});

test('garbage of every shape is GUAC_TOKEN_INVALID, never a crash', () => {
  const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
  const good = readmeEncrypt(sshToken);
  const outer = JSON.parse(Buffer.from(good, 'base64').toString()) as { iv: string; value: string };
  const cases: string[] = [
    '',
    'abc',
    '!!!!',
    b64('not json'),
    b64('null'),
    b64('[]'),
    b64('{}'),
    b64(JSON.stringify({ iv: outer.iv })),
    b64(JSON.stringify({ iv: 5, value: outer.value })),
    b64(JSON.stringify({ iv: b64('short'), value: outer.value })),
    b64(JSON.stringify({ iv: outer.iv, value: outer.value.slice(0, -4) })),
    b64(JSON.stringify({ iv: outer.iv, value: b64(randomBytes(32)) })),
    b64(JSON.stringify({ iv: outer.iv, value: '' })),
    b64(Buffer.from([0xff, 0xfe, 0x00])),
    readmeEncrypt(sshToken, 'AnotherKeyAnotherKeyAnotherKey32'),
    readmeEncrypt('just a string'),
    readmeEncrypt({ connection: {} }),
    readmeEncrypt({ connection: { type: 'ssh', join: '$x' } }),
    readmeEncrypt({ connection: { type: 'ssh', settings: [] } }),
    'A'.repeat(70_000),
  ];
  // Invalid UTF-8 inside valid encryption: strict decoding refuses it instead of guessing.
  const iv = randomBytes(16);
  const c = createCipheriv('aes-256-cbc', Buffer.from(KEY), iv);
  const body = Buffer.concat([c.update(Buffer.from('{"connection":{"type":"ssh","settings":{"password":"\xff"}}}', 'latin1')), c.final()]);
  cases.push(b64(JSON.stringify({ iv: iv.toString('base64'), value: body.toString('base64') })));
  for (const t of cases) expectInvalid(() => decryptGuacamoleLiteToken(t, KEY));
  // Seeded mutations of a good token: each is refused or (rarely) still a valid token, never another error.
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=';
  for (let i = 0; i < 2000; i++) {
    const arr = good.split('');
    const n = 1 + Math.floor(rnd() * 3);
    for (let j = 0; j < n; j++) arr[Math.floor(rnd() * arr.length)] = chars[Math.floor(rnd() * chars.length)]!;
    try {
      decryptGuacamoleLiteToken(arr.join(''), KEY);
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'GUAC_TOKEN_INVALID');
    }
  }
});
