/**
 * Registry fixtures and the shared contract suite run against every backend:
 * SQLite in a temporary folder, and the test environment's PostgreSQL with a
 * fresh schema per run. A fixture can open the same database several times
 * (reopen, concurrent gateways) and dump every stored byte for secret checks.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadTestEnv, waitFor } from './env.js';
import { captureLogs, testLogger } from './log.js';
import { STATUS } from '../../src/protocol/status.js';
import { openRegistry } from '../../src/registry/open.js';
import { registryResolver } from '../../src/registry/resolver.js';
import { SECRET_PLACEHOLDER, type Registry } from '../../src/registry/types.js';
import { sealToken } from '../../src/tunnel/token.js';

/** One database the suite can open as often as it likes. */
export interface RegistryFixture {
  kind: 'sqlite' | 'postgres';
  /** The gateway secret the fixture opens with by default. */
  secret: string;
  /** The `url` argument of openRegistry (undefined: SQLite in `dataDir`). */
  url: string | undefined;
  dataDir: string;
  /** Opens a registry on the fixture's database. */
  open(secret?: string): Promise<Registry>;
  /** Every byte the database holds, as text (SQLite: the files; PostgreSQL: every row of every table as JSON). */
  dump(): Promise<Buffer>;
  cleanup(): Promise<void>;
}

/** Makes a fresh database per call. */
export type FixtureFactory = () => Promise<RegistryFixture>;

/** A long random gateway secret. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** SQLite: `<tmp>/gateway.db`. */
export const sqliteFixture: FixtureFactory = async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'guacgw-registry-'));
  const secret = newSecret();
  return {
    kind: 'sqlite',
    secret,
    url: undefined,
    dataDir,
    open: (s = secret) => openRegistry(undefined, { dataDir, secretKey: s, logger: testLogger }),
    async dump() {
      const files = ['gateway.db', 'gateway.db-wal', 'gateway.db-shm'].map((f) => join(dataDir, f)).filter((f) => existsSync(f));
      return Buffer.concat(files.map((f) => readFileSync(f)));
    },
    async cleanup() {
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
};

/** The test environment's PostgreSQL URL (`.test-env/env.json`). */
export function testPostgresUrl(): string {
  return loadTestEnv().postgres.url;
}

/** PostgreSQL: a fresh schema in the test database, selected through the URL's `options=-c search_path=…`. */
export const postgresFixture: FixtureFactory = async () => {
  const base = testPostgresUrl();
  const schema = `registry_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`);
  const u = new URL(base);
  u.searchParams.set('options', `-c search_path=${schema}`);
  const url = u.toString();
  const secret = newSecret();
  const dataDir = mkdtempSync(join(tmpdir(), 'guacgw-registry-pg-'));
  return {
    kind: 'postgres',
    secret,
    url,
    dataDir,
    open: (s = secret) => openRegistry(url, { dataDir, secretKey: s, poolSize: 4, logger: testLogger }),
    async dump() {
      const tables = await admin.query<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
        [schema],
      );
      const out: string[] = [];
      for (const { table_name } of tables.rows) {
        const rows = await admin.query<{ j: string }>(`SELECT row_to_json(t)::text AS j FROM ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table_name)} t`);
        for (const r of rows.rows) out.push(`${table_name}: ${r.j}`);
      }
      return Buffer.from(out.join('\n'), 'utf8');
    },
    async cleanup() {
      await admin.query(`DROP SCHEMA ${pg.escapeIdentifier(schema)} CASCADE`);
      await admin.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
};

/** Asserts `fn` rejects with a GuacError of `code` and Guacamole status `guac`. */
export async function rejectsWith(fn: Promise<unknown> | (() => Promise<unknown>), code: string, guac?: number): Promise<void> {
  await assert.rejects(typeof fn === 'function' ? fn() : fn, (err: unknown) => {
    const e = err as { code?: string; status?: { guac?: number }; name?: string };
    assert.equal(e.name, 'GuacError', `a GuacError, got ${String(err)}`);
    assert.equal(e.code, code);
    if (guac !== undefined) assert.equal(e.status?.guac, guac, `status of ${code}`);
    return true;
  });
}

/** A tunnel request carrying `token`. */
export function tokenRequest(token: string): { query: URLSearchParams; headers: Record<string, string>; remoteAddress: string } {
  return { query: new URLSearchParams({ token }), headers: {}, remoteAddress: '127.0.0.1' };
}

/**
 * The behaviour every backend must show, as node:test tests under one
 * `describe`. Each test names its own connections, so order does not matter.
 */
export function registryContract(label: string, factory: FixtureFactory): void {
  describe(`registry contract: ${label}`, () => {
    let fx: RegistryFixture;
    let reg: Registry;
    // Non-ASCII and astral on purpose: encryption and drivers must keep every byte.
    const password = `pässwörd-✓-😀-${randomBytes(6).toString('hex')}`;
    const key = `-----BEGIN KEY ${randomBytes(9).toString('hex')}-----`;

    before(async () => {
      fx = await factory();
      reg = await fx.open();
    });
    after(async () => {
      await reg?.close();
      await fx?.cleanup();
    });

    const ssh = (name: string, extra: Record<string, string | number | boolean> = {}) =>
      reg.createConnection({ name, protocol: 'ssh', params: { hostname: 'h.example', port: 22, username: 'alice', password, ...extra } });

    test('create, get by id and by name, list; secrets shown as [set]', async () => {
      const c = await ssh('alpha', { privateKey: key, colorScheme: undefined as never, enableSftp: false });
      assert.match(c.id, /^[0-9a-f-]{36}$/);
      assert.deepEqual(c.params, { hostname: 'h.example', password: SECRET_PLACEHOLDER, port: '22', 'private-key': SECRET_PLACEHOLDER, username: 'alice' });
      assert.equal(c.protocol, 'ssh');
      assert.ok(c.createdAt > 0 && c.updatedAt === c.createdAt);
      assert.deepEqual(await reg.getConnection(c.id), c);
      assert.deepEqual(await reg.getConnection('alpha'), c);
      assert.equal(await reg.getConnection('nope'), undefined);
      assert.equal(await reg.getConnection('00000000-0000-4000-8000-000000000000'), undefined);
      assert.ok((await reg.listConnections()).some((x) => x.id === c.id));
      const r = await reg.resolveParams('alpha');
      assert.equal(r.params.password, password);
      assert.equal(r.params['private-key'], key);
    });

    test('refuses bad input with codes, storing nothing', async () => {
      const before = await reg.listConnections();
      await rejectsWith(reg.createConnection({ name: 'b1', protocol: 'ftp', params: {} }), 'GUAC_PROTOCOL_UNKNOWN', 0x0300);
      await rejectsWith(reg.createConnection({ name: 'b2', protocol: 'ssh', params: { hostnam: 'x' } }), 'GUAC_PARAM_UNKNOWN', 0x0300);
      await rejectsWith(reg.createConnection({ name: 'b3', protocol: 'ssh', params: { port: 'twenty-two' } }), 'GUAC_PARAM_INVALID', 0x0300);
      await rejectsWith(reg.createConnection({ name: '', protocol: 'ssh', params: {} }), 'GUAC_CONNECTION_NAME_INVALID', 0x0300);
      await rejectsWith(reg.createConnection({ name: 'a\nb', protocol: 'ssh', params: {} }), 'GUAC_CONNECTION_NAME_INVALID');
      await rejectsWith(reg.createConnection({ name: randomUUID(), protocol: 'ssh', params: {} }), 'GUAC_CONNECTION_NAME_INVALID');
      await rejectsWith(reg.createConnection({ name: 'b4', protocol: 'ssh', params: { password: SECRET_PLACEHOLDER } }), 'GUAC_PARAM_INVALID');
      await rejectsWith(reg.createConnection({ name: 'b5', protocol: 'ssh', params: 'hostname=x' as never }), 'GUAC_PARAM_INVALID');
      await rejectsWith(reg.createConnection({ name: 'b6', protocol: 'ssh', params: { hostname: { x: 1 } as never } }), 'GUAC_PARAM_INVALID');
      await rejectsWith(reg.createConnection({ name: 'b7', protocol: 'ssh', params: { hostname: ['h'] as never } }), 'GUAC_PARAM_INVALID');
      await ssh('dup');
      await rejectsWith(ssh('dup'), 'GUAC_CONNECTION_EXISTS', 0x0205);
      const after = await reg.listConnections();
      assert.deepEqual(after.map((c) => c.name).sort(), [...before.map((c) => c.name), 'dup'].sort());
    });

    test('names with SQL metacharacters are stored verbatim and harmless', async () => {
      const names = [`x'); DROP TABLE connections; --`, `"quoted" ; % _ \\ ?`, `名前 ☃ 😀`, `?`, `$1`];
      for (const name of names) {
        const c = await ssh(name);
        assert.equal(c.name, name);
        assert.equal((await reg.getConnection(name))?.id, c.id);
      }
      // LIKE wildcards are not patterns: '%' finds nothing.
      assert.equal(await reg.getConnection('%'), undefined);
      assert.ok((await reg.listConnections()).length >= names.length);
      await reg.removeConnection(`x'); DROP TABLE connections; --`);
      assert.equal(await reg.getConnection(`x'); DROP TABLE connections; --`), undefined);
      assert.ok(await reg.getConnection('$1'));
    });

    test('update merges, removes with null, keeps [set] secrets, renames', async () => {
      const c = await ssh('upd');
      await new Promise((r) => setTimeout(r, 2));
      const u = await reg.updateConnection('upd', { name: 'upd2', params: { port: 2222, username: null, password: SECRET_PLACEHOLDER, colorScheme: 'gray-black' } });
      assert.equal(u.id, c.id);
      assert.equal(u.name, 'upd2');
      assert.ok(u.updatedAt > c.updatedAt);
      assert.deepEqual(u.params, { 'color-scheme': 'gray-black', hostname: 'h.example', password: SECRET_PLACEHOLDER, port: '2222' });
      assert.equal((await reg.resolveParams(c.id)).params.password, password);
      const v = await reg.updateConnection(c.id, { params: { password: 'new-pw' } });
      assert.equal(v.params.password, SECRET_PLACEHOLDER);
      assert.equal((await reg.resolveParams(c.id)).params.password, 'new-pw');
      const w = await reg.updateConnection(c.id, { replaceParams: true, params: { hostname: 'other', password: SECRET_PLACEHOLDER } });
      assert.deepEqual(w.params, { hostname: 'other', password: SECRET_PLACEHOLDER });
      await rejectsWith(reg.updateConnection(c.id, { params: { privateKey: SECRET_PLACEHOLDER } }), 'GUAC_PARAM_INVALID');
      await rejectsWith(reg.updateConnection(c.id, { params: { nope: 1 } }), 'GUAC_PARAM_UNKNOWN');
      await rejectsWith(reg.updateConnection(c.id, { protocol: 'vnc', params: { serverAliveInterval: 5 } }), 'GUAC_PARAM_UNKNOWN');
      const x = await reg.updateConnection(c.id, { protocol: 'vnc', replaceParams: true, params: { hostname: 'v', port: 5901, password: SECRET_PLACEHOLDER } });
      assert.equal(x.protocol, 'vnc');
      assert.equal((await reg.resolveParams(c.id)).params.password, 'new-pw');
      await ssh('taken');
      await rejectsWith(reg.updateConnection(c.id, { name: 'taken' }), 'GUAC_CONNECTION_EXISTS', 0x0205);
      await rejectsWith(reg.updateConnection('missing', { name: 'z' }), 'GUAC_CONNECTION_NOT_FOUND', 0x0204);
      assert.equal((await reg.getConnection(c.id))?.name, 'upd2', 'a refused update changes nothing');
    });

    test('remove deletes the connection and its grants', async () => {
      const c = await ssh('rm');
      await reg.grant('rm', 'bob');
      await reg.removeConnection('rm');
      assert.equal(await reg.getConnection(c.id), undefined);
      assert.deepEqual((await reg.listGrants()).filter((g) => g.connectionId === c.id), []);
      await rejectsWith(reg.removeConnection('rm'), 'GUAC_CONNECTION_NOT_FOUND', 0x0204);
    });

    test('persists across close and reopen; another secret is refused', async () => {
      const c = await ssh('persist');
      await reg.grant('persist', 'carol', { readOnly: true });
      await reg.close();
      reg = await fx.open();
      assert.deepEqual(await reg.getConnection('persist'), c);
      assert.equal((await reg.resolveParams('persist')).params.password, password);
      assert.deepEqual((await reg.listGrants('persist')).map((g) => [g.user, g.readOnly]), [['carol', true]]);
      await rejectsWith(fx.open(newSecret()), 'GUAC_REGISTRY_KEY_MISMATCH');
    });

    test('secret values never reach the database in clear, nor the logs', async () => {
      const marker = `hunter2-${randomBytes(8).toString('hex')}-ünï`;
      const { lines } = await captureLogs(async () => {
        const c = await ssh('leak', { password: marker });
        await reg.updateConnection(c.id, { params: { password: marker + '2' } });
        await rejectsWith(reg.updateConnection(c.id, { params: { port: marker } }), 'GUAC_PARAM_INVALID');
        await reg.grant(c.id, '*');
        const t = await reg.mintToken({ connection: c.id, user: 'u' });
        await registryResolver(reg, fx.secret)(tokenRequest(t.token));
      });
      const dump = await fx.dump();
      assert.ok(dump.length > 0);
      for (const s of [marker, marker + '2', password, key]) {
        assert.equal(dump.indexOf(Buffer.from(s, 'utf8')), -1, `${fx.kind} stores a secret in clear`);
        for (const line of lines) assert.ok(!line.includes(s), `log line leaks a secret: ${line}`);
      }
      assert.ok(lines.length > 0);
    });

    test('grants: own, wildcard, read-only; minting needs one', async () => {
      const c = await ssh('g1');
      await rejectsWith(reg.mintToken({ connection: 'g1', user: 'dave' }), 'GUAC_GRANT_MISSING', 0x0303);
      await rejectsWith(reg.mintToken({ connection: 'nope', user: 'dave' }), 'GUAC_CONNECTION_NOT_FOUND', 0x0204);
      await rejectsWith(reg.grant('g1', ''), 'GUAC_USER_INVALID');
      await reg.grant('g1', 'dave', { readOnly: true });
      assert.equal((await reg.findGrant(c.id, 'dave'))?.readOnly, true);
      assert.equal(await reg.findGrant(c.id, 'erin'), undefined);
      await reg.grant('g1', '*');
      assert.equal((await reg.findGrant(c.id, 'erin'))?.user, '*');
      assert.equal((await reg.findGrant(c.id, 'dave'))?.user, 'dave', 'own grant first');
      await reg.grant('g1', 'dave', { readOnly: false });
      assert.equal((await reg.findGrant(c.id, 'dave'))?.readOnly, false, 'grant replaced');
      assert.equal(await reg.ungrant('g1', '*'), true);
      assert.equal(await reg.ungrant('g1', '*'), false);
      await rejectsWith(reg.mintToken({ connection: 'g1', user: 'erin' }), 'GUAC_GRANT_MISSING');
      await rejectsWith(reg.mintToken({ connection: 'g1', user: 'dave', ttlSeconds: 0 }), 'GUAC_TTL_INVALID');
      await rejectsWith(reg.mintToken({ connection: 'g1', user: 'dave', ttlSeconds: 1.5 }), 'GUAC_TTL_INVALID');
      await rejectsWith(reg.mintToken({ connection: 'g1', user: 'dave', readOnly: 'yes' as never }), 'GUAC_REQUEST_INVALID');
    });

    test('resolver: a minted token opens the connection with its secrets', async () => {
      const c = await ssh('r1');
      await reg.grant('r1', 'frank');
      const t = await reg.mintToken({ connection: 'r1', user: 'frank', ttlSeconds: 60 });
      assert.equal(t.connectionId, c.id);
      assert.ok(t.expiresAt > Date.now() + 50_000 && t.expiresAt <= Date.now() + 61_000);
      const resolve = registryResolver(reg, fx.secret);
      const target = await resolve(tokenRequest(t.token));
      assert.deepEqual(target, {
        protocol: 'ssh',
        params: { hostname: 'h.example', password, port: '22', username: 'alice' },
        readOnly: false,
        user: 'frank',
        connectionId: c.id,
        tokenId: t.jti,
      });
      // Reusable until it expires.
      assert.equal((await resolve(tokenRequest(t.token))).user, 'frank');
      await reg.grant('r1', 'frank', { readOnly: true });
      assert.equal((await resolve(tokenRequest(t.token))).readOnly, true, 'a read-only grant wins over the token');
      await reg.ungrant('r1', 'frank');
      await rejectsWith(resolve(tokenRequest(t.token)), 'GUAC_GRANT_MISSING', 0x0303);
      await rejectsWith(resolve({ query: new URLSearchParams(), headers: {} }), 'GUAC_TOKEN_MISSING', 0x0301);
    });

    test('resolver: expired, tampered, foreign-secret tokens are refused', async () => {
      await ssh('r2');
      await reg.grant('r2', '*');
      const resolve = registryResolver(reg, fx.secret);
      const conn = (await reg.getConnection('r2'))!.id;
      const now = Math.floor(Date.now() / 1000);
      const expired = sealToken({ v: 1, iat: now - 100, exp: now - 50, jti: randomUUID(), connection: conn, user: 'x' }, fx.secret);
      await rejectsWith(resolve(tokenRequest(expired)), 'GUAC_TOKEN_EXPIRED', 0x0308);
      const good = (await reg.mintToken({ connection: 'r2', user: 'x' })).token;
      const i = Math.floor(good.length / 2);
      const tampered = good.slice(0, i) + (good[i] === 'A' ? 'B' : 'A') + good.slice(i + 1);
      await rejectsWith(resolve(tokenRequest(tampered)), 'GUAC_TOKEN_INVALID', 0x0301);
      await rejectsWith(resolve(tokenRequest('garbage')), 'GUAC_TOKEN_INVALID', 0x0301);
      await rejectsWith(registryResolver(reg, newSecret())(tokenRequest(good)), 'GUAC_TOKEN_INVALID', 0x0301);
      const noConn = sealToken({ v: 1, iat: now, exp: now + 60, jti: randomUUID(), user: 'x' }, fx.secret);
      await rejectsWith(resolve(tokenRequest(noConn)), 'GUAC_TOKEN_INVALID', 0x0301);
    });

    test('revocation by jti, by user, by connection', async () => {
      await ssh('rv');
      await reg.grant('rv', '*');
      const resolve = registryResolver(reg, fx.secret);
      const a = await reg.mintToken({ connection: 'rv', user: 'ann' });
      const b = await reg.mintToken({ connection: 'rv', user: 'ben' });
      await reg.revoke({ jti: a.jti, expiresAt: a.expiresAt });
      await rejectsWith(resolve(tokenRequest(a.token)), 'GUAC_TOKEN_REVOKED', 0x0303);
      await resolve(tokenRequest(b.token));
      await reg.revoke({ user: 'ben' });
      await rejectsWith(resolve(tokenRequest(b.token)), 'GUAC_TOKEN_REVOKED', 0x0303);
      const c = await reg.mintToken({ connection: 'rv', user: 'cat' });
      await resolve(tokenRequest(c.token));
      await reg.revoke({ connection: 'rv' });
      await rejectsWith(resolve(tokenRequest(c.token)), 'GUAC_TOKEN_REVOKED', 0x0303);
      await rejectsWith(reg.revoke({ connection: 'no-such' }), 'GUAC_CONNECTION_NOT_FOUND');
      await rejectsWith(reg.revoke({} as never), 'GUAC_REQUEST_INVALID');
      // A token the registry mints after the revocation works at once.
      const d = await reg.mintToken({ connection: 'rv', user: 'ben' });
      assert.equal((await resolve(tokenRequest(d.token))).user, 'ben');
    });

    test('revocation covers tokens issued ahead of the clock (a back end whose clock runs fast)', async () => {
      const conn = (await ssh('skew')).id;
      await reg.grant('skew', '*');
      const resolve = registryResolver(reg, fx.secret);
      const now = () => Math.floor(Date.now() / 1000);
      // What a back end 299 s ahead seals (openToken tolerates 300 s), and one on time.
      const ahead = (claims: { user?: string }) => sealToken({ iat: now() + 299, exp: now() + 900, connection: conn, ...claims }, fx.secret);
      const onTime = (claims: { user?: string }) => sealToken({ iat: now(), exp: now() + 900, connection: conn, ...claims }, fx.secret);
      const byUser = ahead({ user: 'sam' });
      const byConn = ahead({ user: 'tia' });
      assert.equal((await resolve(tokenRequest(byUser))).user, 'sam', 'a token 299 s ahead is accepted before the revocation');
      await reg.revoke({ user: 'sam' });
      await rejectsWith(resolve(tokenRequest(byUser)), 'GUAC_TOKEN_REVOKED', 0x0303);
      assert.equal((await resolve(tokenRequest(byConn))).user, 'tia', 'revoking sam touches no one else');
      await reg.revoke({ connection: conn });
      await rejectsWith(resolve(tokenRequest(byConn)), 'GUAC_TOKEN_REVOKED', 0x0303);
      // The registry's own tokens, minted right after, work at once, for either revocation.
      for (const user of ['sam', 'tia']) {
        const m = await reg.mintToken({ connection: conn, user, ttlSeconds: 60 });
        assert.equal((await resolve(tokenRequest(m.token))).user, user);
        assert.ok(m.expiresAt <= Date.now() + 301_000, 'the lifetime counts from now, not from the pushed iat');
      }
      // A token a back end seals itself after the revocation is refused until its iat passes the cutoff:
      // the gateway cannot tell it from one sealed before (documented).
      await rejectsWith(resolve(tokenRequest(onTime({ user: 'sam' }))), 'GUAC_TOKEN_REVOKED', 0x0303);
    });

    test('single-use tokens under a burst (their spent ids written in batches): each opens exactly one session', async () => {
      await ssh('burst-once');
      await reg.grant('burst-once', '*');
      const resolve = registryResolver(reg, fx.secret);
      const tokens = await Promise.all(Array.from({ length: 150 }, () => reg.mintToken({ connection: 'burst-once', user: 'u', once: true })));
      const shared = await reg.mintToken({ connection: 'burst-once', user: 'u', once: true });
      // All at once, the shared token's 50 attempts interleaved with the others, as a burst of browsers would.
      const attempts = [...tokens.map((t) => t.token), ...Array.from({ length: 50 }, () => shared.token)]
        .map((_, i, all) => all[(i * 37) % all.length]!);
      const results = await Promise.allSettled(attempts.map((t) => resolve(tokenRequest(t))));
      const ok = results.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<typeof resolve>>> => r.status === 'fulfilled');
      assert.equal(ok.length, 151, 'every distinct token once, the shared one once');
      assert.equal(new Set(ok.map((r) => r.value.tokenId)).size, 151);
      for (const r of results) {
        if (r.status === 'rejected') {
          const e = r.reason as { code: string; status: { guac: number }; message: string };
          assert.deepEqual([e.code, e.status.guac, e.message], ['GUAC_TOKEN_USED', 0x0205, 'The single-use access token was already used.']);
        }
      }
      // Spent for good: a second burst of the same tokens opens nothing.
      const again = await Promise.allSettled(tokens.slice(0, 20).map((t) => resolve(tokenRequest(t.token))));
      assert.deepEqual(again.map((r) => r.status), Array(20).fill('rejected'));
    });

    test('history written in batches keeps every session of a burst, and close() writes what is still queued', async () => {
      const c = await ssh('burst-history');
      const ids: string[] = Array.from({ length: 300 }, () => randomUUID());
      await Promise.all(ids.map((id, i) => reg.sessionStarted({ id, user: `u${i % 7}`, connectionId: c.id, startedAt: 10_000 + i })));
      await Promise.all(ids.map((id, i) => reg.sessionEnded({ id, endedAt: 20_000 + i, bytesToBrowser: i, status: 0 })));
      const rows = await reg.listSessions({ connectionId: c.id, limit: 1000 });
      assert.equal(rows.length, 300);
      for (const r of rows) {
        const i = ids.indexOf(r.id);
        assert.deepEqual([r.startedAt, r.endedAt, r.bytesToBrowser, r.status, r.user], [10_000 + i, 20_000 + i, i, 0, `u${i % 7}`]);
      }
      // Ends asked for and not awaited (a gateway shutting down): close() writes them before the database goes.
      const other = await fx.open();
      const late = Array.from({ length: 40 }, () => randomUUID());
      const pending = late.map((id) => other.sessionEnded({ id, connectionId: c.id, startedAt: 30_000, endedAt: 31_000, status: 0x0207 }));
      await other.close();
      await Promise.all(pending);
      for (const id of late) assert.equal((await reg.getSession(id))?.endedAt, 31_000, `session ${id} recorded`);
    });

    test('single-use tokens: the second use is refused, also under concurrency', async () => {
      await ssh('once');
      await reg.grant('once', '*');
      const resolve = registryResolver(reg, fx.secret);
      const t = await reg.mintToken({ connection: 'once', user: 'u', once: true });
      await resolve(tokenRequest(t.token));
      await rejectsWith(resolve(tokenRequest(t.token)), 'GUAC_TOKEN_USED', 0x0205);
      const u = await reg.mintToken({ connection: 'once', user: 'u', once: true });
      const other = await fx.open();
      try {
        const results = await Promise.allSettled(
          Array.from({ length: 12 }, (_, i) => registryResolver(i % 2 ? other : reg, fx.secret)(tokenRequest(u.token))),
        );
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code: string }).code, 'GUAC_TOKEN_USED');
      } finally {
        await other.close();
      }
      assert.equal(await reg.consumeToken('jti-x', Date.now() - 3_600_000), true);
      assert.ok((await reg.pruneTokens()) >= 1);
      assert.equal(await reg.consumeToken('jti-x', Date.now() + 60_000), true, 'pruned after expiry');
    });

    test('history: start, end, active list, missing start, survives removal', async () => {
      const c = await ssh('hist');
      const id1 = randomUUID();
      const id2 = randomUUID();
      await reg.sessionStarted({ id: id1, user: 'ann', connectionId: c.id, startedAt: 1_000, remoteAddress: '10.0.0.1', tokenId: 'jti-ann' });
      await reg.sessionStarted({ id: id2, user: 'ben', connectionId: c.id, startedAt: 2_000, guacdId: '$abc', guacd: 'tls://guacd-2:4822' });
      let active = await reg.listSessions({ active: true, connectionId: c.id });
      assert.deepEqual(active.map((s) => s.id), [id2, id1]);
      assert.equal(active[1]!.connectionName, 'hist');
      assert.equal(active[1]!.protocol, 'ssh');
      assert.equal(active[1]!.gateway, reg.gatewayId);
      await reg.sessionEnded({ id: id1, guacdId: '$def', endedAt: 5_000, bytesFromBrowser: 12, bytesToBrowser: 3_000_000_000, status: 0x020b, message: 'The recording could not be written: the disk is full.' });
      active = await reg.listSessions({ active: true, connectionId: c.id });
      assert.deepEqual(active.map((s) => s.id), [id2]);
      // The live-session directory: which guacd holds the connection; a later write without it keeps it.
      assert.equal(active[0]!.guacd, 'tls://guacd-2:4822');
      await reg.sessionEnded({ id: id2, endedAt: 6_000, status: 0 });
      assert.equal((await reg.getSession(id2))!.guacd, 'tls://guacd-2:4822');
      const s1 = await reg.getSession(id1);
      assert.deepEqual(s1, {
        id: id1, user: 'ann', connectionId: c.id, connectionName: 'hist', protocol: 'ssh', guacdId: '$def', guacd: null, tokenId: 'jti-ann', remoteAddress: '10.0.0.1',
        gateway: reg.gatewayId, startedAt: 1_000, endedAt: 5_000, bytesFromBrowser: 12, bytesToBrowser: 3_000_000_000, status: 0x020b,
        message: 'The recording could not be written: the disk is full.', readOnly: null, shareId: null, joinedSession: null,
      });
      const id3 = randomUUID();
      await reg.sessionEnded({ id: id3, user: 'cat', connectionId: c.id, startedAt: 3_000, endedAt: 4_000, status: 0x0207 });
      assert.equal((await reg.getSession(id3))?.status, 0x0207);
      assert.equal((await reg.getSession(id3))?.message, null, 'no message given, none kept');
      assert.equal(active[0]!.message, null, 'an open session has no end message');
      await reg.removeConnection(c.id);
      const all = await reg.listSessions({ connectionId: c.id });
      assert.deepEqual(all.map((s) => s.id), [id3, id2, id1]);
      assert.equal(all[0]!.connectionName, 'hist');
      assert.deepEqual((await reg.listSessions({ connectionId: c.id, limit: 1, offset: 1 })).map((s) => s.id), [id2]);
      assert.deepEqual((await reg.listSessions({ user: 'ann', connectionId: c.id })).map((s) => s.id), [id1]);
      assert.equal(await reg.getSession('nope'), undefined);
    });

    test('session end requests reach every gateway sharing the database', async () => {
      const other = fx.kind === 'postgres' ? await fx.open() : reg;
      try {
        const got: [string, number][] = [];
        const off = await other.onSessionEndRequest((id, st) => got.push([id, st.guac]));
        const id = randomUUID();
        await reg.requestSessionEnd(id, STATUS.SESSION_CLOSED);
        await waitFor(() => got.length === 1, { what: 'the end request', timeoutMs: 5000 });
        assert.deepEqual(got, [[id, 0x020b]]);
        off();
      } finally {
        if (other !== reg) await other.close();
      }
    });

    test('revoking a user or connection, withdrawing a grant, removing a connection: their live sessions are asked to end', async () => {
      const other = fx.kind === 'postgres' ? await fx.open() : reg;
      try {
        const got = new Map<string, [number, string | undefined]>();
        const off = await other.onSessionEndRequest((id, st, message) => got.set(id, [st.guac, message]));
        /** Waits for a marker request sent after the calls before it: every request they made has arrived by then. */
        const settled = async (): Promise<string[]> => {
          const marker = randomUUID();
          await reg.requestSessionEnd(marker, STATUS.SESSION_CLOSED);
          await waitFor(() => got.has(marker), { what: 'the marker end request', timeoutMs: 5000 });
          const ids = [...got.keys()].filter((k) => k !== marker);
          got.clear();
          return ids.sort();
        };
        const a = (await ssh('end-a')).id;
        const b = (await ssh('end-b')).id;
        for (const [conn, user] of [['end-a', 'uma'], ['end-a', 'vic'], ['end-a', '*'], ['end-b', 'uma'], ['end-b', 'xav']] as const) await reg.grant(conn, user);
        const live = async (user: string, connectionId: string, tokenId?: string): Promise<string> => {
          const id = randomUUID();
          await reg.sessionStarted({ id, user, connectionId, tokenId });
          return id;
        };
        const [umaA, umaB, vicA, wesA, xavB] = [await live('uma', a), await live('uma', b), await live('vic', a), await live('wes', a), await live('xav', b)];
        await reg.sessionEnded({ id: await live('uma', a), status: 0 });

        await reg.ungrant('end-a', 'vic');
        assert.deepEqual(await settled(), [], 'vic still holds the wildcard grant');
        await reg.ungrant('end-a', '*');
        assert.deepEqual(await settled(), [vicA, wesA].sort(), 'the users only the wildcard let in');
        await reg.revoke({ user: 'uma' });
        assert.deepEqual(await settled(), [umaA, umaB].sort(), 'uma everywhere, not her ended session');
        const leaked = randomUUID();
        const [byLeak, byLeakToo] = [await live('yan', b, leaked), await live('zoe', b, leaked)];
        const yanOther = await live('yan', b, randomUUID());
        await reg.revoke({ jti: leaked });
        assert.deepEqual(await settled(), [byLeak, byLeakToo].sort(), 'the sessions the revoked token opened, no other');
        await reg.sessionEnded({ id: byLeak, status: 0x0303 });
        await reg.sessionEnded({ id: byLeakToo, status: 0x0303 });
        await reg.sessionEnded({ id: umaB, status: 0x0303 });
        await reg.removeConnection('end-b');
        assert.deepEqual(await settled(), [xavB, yanOther].sort(), 'the removed connection\'s live sessions');
        await reg.revoke({ connection: a });
        assert.deepEqual(await settled(), [umaA, vicA, wesA].sort(), 'every live session on the connection');
        await reg.revoke({ user: 'uma' });
        const [id] = await settled();
        assert.equal(id, umaA);
        // What they carry: CLIENT_FORBIDDEN and why, for the browser and history.
        await reg.revoke({ user: 'wes' });
        await waitFor(() => got.has(wesA), { what: 'the end request', timeoutMs: 5000 });
        assert.deepEqual(got.get(wesA), [0x0303, 'Access was revoked.']);
        off();
      } finally {
        if (other !== reg) await other.close();
      }
    });

    test('file transfer rules: stored per connection, merged on update, carried into tokens and resolved targets', async () => {
      const c = await reg.createConnection({ name: 'files-rules', protocol: 'ssh', params: { hostname: 'h', port: 22 }, files: { noUpload: true, maxUploadBytes: 5_000_000 } });
      assert.deepEqual(c.files, { noUpload: true, noDownload: false, maxUploadBytes: 5_000_000 });
      assert.deepEqual((await reg.getConnection(c.id))!.files, c.files);
      const u = await reg.updateConnection(c.id, { files: { noUpload: false, noDownload: true } });
      assert.deepEqual(u.files, { noUpload: false, noDownload: true, maxUploadBytes: 5_000_000 });
      assert.deepEqual((await reg.resolveParams(c.id)).files, u.files);
      await rejectsWith(reg.updateConnection(c.id, { files: { maxUploadBytes: -1 } }), 'GUAC_REQUEST_INVALID', 0x0300);
      await rejectsWith(reg.updateConnection(c.id, { files: { upload: true } as never }), 'GUAC_REQUEST_INVALID', 0x0300);
      await reg.grant(c.id, 'fil');
      const t = await reg.mintToken({ connection: c.id, user: 'fil', noUpload: true, maxUploadBytes: 1000 });
      const target = await registryResolver(reg, fx.secret)(tokenRequest(t.token));
      // The token adds to the connection's rules: both restrictions, the smaller maximum.
      assert.deepEqual(target.files, { noUpload: true, noDownload: true, maxUploadBytes: 1000 });
      await reg.removeConnection(c.id);
    });

    test('transfer history: recorded per session, listed newest first, filtered by session', async () => {
      const session = randomUUID();
      const at = Date.now();
      await reg.transferRecorded({ sessionId: session, direction: 'upload', name: 'a ü.bin', bytes: 5, via: 'http', status: 0, message: 'OK', startedAt: at, endedAt: at + 1 });
      await reg.transferRecorded({ sessionId: session, direction: 'download', name: '/x', bytes: 0, via: 'tunnel', status: 0x0303, message: 'Downloading files is not allowed on this connection.', startedAt: at + 2, endedAt: at + 2 });
      await reg.transferRecorded({ sessionId: randomUUID(), direction: 'upload', name: 'other', bytes: 1, via: 'http', status: 0, message: 'OK', startedAt: at + 3, endedAt: at + 3 });
      const mine = await reg.listTransfers({ session });
      assert.deepEqual(mine.map((t) => [t.direction, t.name, t.bytes, t.via, t.status]), [['download', '/x', 0, 'tunnel', 0x0303], ['upload', 'a ü.bin', 5, 'http', 0]]);
      assert.equal((await reg.listTransfers({ limit: 1 }))[0]!.name, 'other');
      await rejectsWith(reg.listTransfers({ limit: 0 }), 'GUAC_REQUEST_INVALID', 0x0300);
    });

    test('concurrent opens of a fresh database migrate once', async () => {
      const fresh = await factory();
      try {
        const regs = await Promise.all([fresh.open(), fresh.open(), fresh.open(), fresh.open()]);
        await regs[0]!.createConnection({ name: 'm', protocol: 'vnc', params: { hostname: 'x', port: 5900 } });
        assert.equal((await regs[3]!.listConnections()).length, 1);
        await Promise.all(regs.map((r) => r.close()));
        const again = await fresh.open();
        assert.equal((await again.listConnections()).length, 1);
        await again.close();
      } finally {
        await fresh.cleanup();
      }
    });
  });
}
