/**
 * Access, with the real guacd (this file's own: 1.3.0, and every version of
 * the matrix for the read-only viewer, test/helpers/guacd-matrix.ts) and sshd: bad tokens refused with their
 * status before guacd is contacted; a read-only viewer tries every input
 * instruction and the SSH target sees none of it (while the same
 * instructions from the owner do act: keys, STDIN pipe, clipboard paste,
 * SFTP upload and put); joining another user's live session without a grant
 * is refused; the admin API wants its key; and no secret reaches a log line,
 * an error instruction or an HTTP error.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { startCapture, testLogger } from '../helpers/log.js';
import { STATUS, type StatusInfo } from '../../src/protocol/status.js';
import { registryResolver, registrySessionHooks } from '../../src/registry/resolver.js';
import type { Registry } from '../../src/registry/types.js';
import { createAdminApi } from '../../src/server/admin-api.js';
import { tokenResolver, type Resolver } from '../../src/tunnel/resolver.js';
import { sealToken, type TokenInput } from '../../src/tunnel/token.js';
import { loadTestEnv, waitFor } from '../helpers/env.js';
import { forEachGuacd } from '../helpers/guacd-matrix.js';
import { startTcpProxy } from '../helpers/faults.js';
import { sqliteFixture, type RegistryFixture } from '../helpers/registry.js';
import { Cleanups, clientFor, expectClosedWith, gatewayFor, markerPath, openSession, realGuacd, runInShell, shellReady, sshParams, typeText, useOwnGuacd } from '../helpers/security.js';
import { startTestGateway, type TestGateway, type TunnelClient } from '../helpers/ws-client.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());
useOwnGuacd();

const SECRET = `access-secret-${randomBytes(12).toString('hex')}`;
const ADMIN_KEY = `admin-key-${randomBytes(12).toString('hex')}`;

/** Every log line of this file, at debug level, and every message a client was told. */
const capture = startCapture();
const logLines = capture.lines;
const toldClients: string[] = [];
/** Values that must never appear in either. */
const secrets: string[] = [];

before(() => {
  secrets.push(SECRET, ADMIN_KEY, sshParams().password);
});
after(() => capture.stop());

const now = () => Math.floor(Date.now() / 1000);
const sshTarget = (extra: Record<string, string> = {}) => ({ protocol: 'ssh', params: sshParams(extra) });
function token(claims: Partial<TokenInput> = {}, secret = SECRET): string {
  const t = sealToken({ exp: now() + 300, target: sshTarget(), ...claims } as TokenInput, secret);
  secrets.push(t);
  return t;
}

/** Notes what the browser was told (error instructions and close reasons) for the secrets check. */
function told(c: TunnelClient): void {
  for (const r of c.instructions) if (r.opcode === 'error') toldClients.push(r.args.join(' '));
}

describe('access: tokens', { timeout: 120_000 }, () => {
  it('refuses tampered, expired, future, foreign, wrong-audience, missing and replayed tokens, before guacd is contacted', async () => {
    const proxy = await startTcpProxy(realGuacd());
    cleanups.add(() => proxy.close());
    const g = await gatewayFor(cleanups, { guacd: { host: '127.0.0.1', port: proxy.port }, resolve: tokenResolver({ secret: SECRET }) });
    const good = token();
    const i = Math.floor(good.length / 2);
    const cases: [string, string | undefined, StatusInfo][] = [
      ['tampered', good.slice(0, i) + (good[i] === 'A' ? 'B' : 'A') + good.slice(i + 1), STATUS.CLIENT_UNAUTHORIZED],
      ['truncated', good.slice(0, -5), STATUS.CLIENT_UNAUTHORIZED],
      ['expired', token({ iat: now() - 600, exp: now() - 1 }), STATUS.CLIENT_TIMEOUT],
      ['issued in the future', token({ iat: now() + 3600, exp: now() + 7200 }), STATUS.CLIENT_UNAUTHORIZED],
      ['sealed with another secret', token({}, `another-secret-${randomBytes(8).toString('hex')}`), STATUS.CLIENT_UNAUTHORIZED],
      ['wrong audience', token({ aud: 'admin' }), STATUS.CLIENT_UNAUTHORIZED],
      ['unknown protocol', token({ target: { protocol: '$join-me', params: {} } }), STATUS.CLIENT_BAD_REQUEST],
      ['missing', undefined, STATUS.CLIENT_UNAUTHORIZED],
      ['15 000 characters', 'v1.' + 'A'.repeat(15_000), STATUS.CLIENT_UNAUTHORIZED],
    ];
    for (const [name, t, status] of cases) {
      const c = await clientFor(cleanups, g, t === undefined ? 'width=800' : `token=${encodeURIComponent(t)}`);
      await expectClosedWith(c, status, { timeoutMs: 10_000 }).catch((err: unknown) => assert.fail(`${name}: ${String(err)}`));
      told(c);
      const res = await fetch(`${g.httpUrl}?connect`, { method: 'POST', body: t === undefined ? '' : `token=${encodeURIComponent(t)}` });
      assert.equal(res.status, status.http, `${name} over HTTP`);
      assert.equal(res.headers.get('Guacamole-Status-Code'), String(status.guac), `${name} over HTTP`);
      toldClients.push(res.headers.get('Guacamole-Error-Message') ?? '', await res.text());
    }
    // A URL over Node's 16 KiB header limit never reaches the tunnel.
    await assert.rejects(clientFor(cleanups, g, `token=${'A'.repeat(20_000)}`), /HTTP 431/);
    assert.equal(proxy.accepted, 0, 'a refused token reached guacd');

    const once = token({ once: true });
    const first = await openSession(cleanups, g, `token=${encodeURIComponent(once)}`);
    const replay = await clientFor(cleanups, g, `token=${encodeURIComponent(once)}`);
    await expectClosedWith(replay, STATUS.RESOURCE_CONFLICT, { timeoutMs: 10_000 });
    assert.equal(first.ws.readyState, first.ws.OPEN, 'the replay disturbed the first session');
    assert.equal(proxy.accepted, 1, 'the replay reached guacd');
  });

  describe('with the registry', () => {
    let fx: RegistryFixture;
    let reg: Registry;
    let g: TestGateway;
    before(async () => {
      fx = await sqliteFixture();
      reg = await fx.open();
      secrets.push(fx.secret);
      await reg.createConnection({ name: 'ssh', protocol: 'ssh', params: sshParams() });
      await reg.createConnection({ name: 'other', protocol: 'ssh', params: sshParams() });
      await reg.grant('ssh', 'alice');
      await reg.grant('other', 'bob');
    });
    before(async () => {
      g = await startTestGateway({ guacd: realGuacd(), resolve: registryResolver(reg, fx.secret), ...registrySessionHooks(reg) });
    });
    after(async () => {
      await g?.close();
      await reg?.close();
      await fx?.cleanup();
    });

    async function mint(connection: string, user: string, extra: { once?: boolean; readOnly?: boolean } = {}): Promise<string> {
      const t = (await reg.mintToken({ connection, user, ...extra })).token;
      secrets.push(t);
      return t;
    }

    async function refused(t: string, status: StatusInfo, what: string): Promise<void> {
      const c = await clientFor(cleanups, g, `token=${encodeURIComponent(t)}`);
      await expectClosedWith(c, status, { timeoutMs: 10_000 }).catch((err: unknown) => assert.fail(`${what}: ${String(err)}`));
      told(c);
    }

    it('refuses revoked, ungranted, replayed single-use and wrong-audience registry tokens', async () => {
      const byJti = await reg.mintToken({ connection: 'ssh', user: 'alice' });
      secrets.push(byJti.token);
      await reg.revoke({ jti: byJti.jti, expiresAt: byJti.expiresAt });
      await refused(byJti.token, STATUS.CLIENT_FORBIDDEN, 'revoked by jti');

      await reg.grant('ssh', 'carol');
      const carolToken = await mint('ssh', 'carol');
      await reg.revoke({ user: 'carol' });
      await refused(carolToken, STATUS.CLIENT_FORBIDDEN, 'revoked by user');

      // A token minted while bob held a grant, used after it was withdrawn.
      await reg.grant('ssh', 'bob');
      const bobs = await mint('ssh', 'bob');
      await reg.ungrant('ssh', 'bob');
      await refused(bobs, STATUS.CLIENT_FORBIDDEN, 'grant withdrawn');

      const once = await mint('ssh', 'alice', { once: true });
      const first = await openSession(cleanups, g, `token=${encodeURIComponent(once)}`);
      await refused(once, STATUS.RESOURCE_CONFLICT, 'single-use replayed');
      first.close();

      const conn = (await reg.getConnection('ssh'))!.id;
      const aud = sealToken({ exp: now() + 60, connection: conn, user: 'alice', aud: 'api' }, fx.secret);
      secrets.push(aud);
      await refused(aud, STATUS.CLIENT_UNAUTHORIZED, 'wrong audience');
      const missing = sealToken({ exp: now() + 60, connection: randomUUID(), user: 'alice' }, fx.secret);
      await refused(missing, STATUS.RESOURCE_NOT_FOUND, 'no such connection');
    });

    it('does not let a user without a grant into another user\'s live session', async () => {
      const alice = await openSession(cleanups, g, `token=${encodeURIComponent(await mint('ssh', 'alice'))}`);
      const aliceId = [...g.tunnel.sessions.values()].find((s) => s.info.id === alice.uuid)?.info.guacdConnectionId;
      assert.match(aliceId ?? '', /^\$/);

      // bob holds no grant on alice's connection: a token naming it (minted for him or
      // forged with alice's name but another secret) is refused.
      const forged = sealToken({ exp: now() + 60, connection: (await reg.getConnection('ssh'))!.id, user: 'alice' }, `forged-${randomBytes(16).toString('hex')}`);
      secrets.push(forged);
      await refused(forged, STATUS.CLIENT_UNAUTHORIZED, 'forged token');
      const stale = sealToken({ exp: now() + 60, connection: (await reg.getConnection('ssh'))!.id, user: 'bob' }, fx.secret);
      secrets.push(stale);
      await refused(stale, STATUS.CLIENT_FORBIDDEN, 'no grant');
      // A token naming guacd's live connection id instead of a registry connection.
      const byGuacdId = sealToken({ exp: now() + 60, connection: aliceId as string, user: 'bob' }, fx.secret);
      secrets.push(byGuacdId);
      await refused(byGuacdId, STATUS.RESOURCE_NOT_FOUND, 'guacd connection id as a connection');

      // bob's own connection, asking in the connect data to join alice's: he gets a new one of his own.
      const bob = await openSession(cleanups, g, `token=${encodeURIComponent(await mint('other', 'bob'))}&join=${encodeURIComponent(aliceId as string)}&select=${encodeURIComponent(aliceId as string)}&connectionId=${encodeURIComponent(aliceId as string)}`);
      const bobSession = [...g.tunnel.sessions.values()].find((s) => s.info.id === bob.uuid);
      assert.ok(bobSession?.info.guacdConnectionId && bobSession.info.guacdConnectionId !== aliceId, 'bob joined alice\'s connection');
      assert.equal(bobSession.info.join, undefined);
      assert.equal(alice.ws.readyState, alice.ws.OPEN);
    });
  });
});

forEachGuacd((version) => describe('access: a read-only viewer changes nothing on the target', { timeout: 120_000 }, () => {
  useOwnGuacd(version);
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const home = () => loadTestEnv().user.home;

  /** Every input instruction a browser can send, each carrying a command or file named by `tag`. */
  function attack(c: TunnelClient, tag: (kind: string) => string): void {
    typeText(c, `touch ${tag('key')}\n`);
    c.send('pipe', 21, 'text/plain', 'STDIN');
    c.send('blob', 21, b64(`touch ${tag('pipe')}\n`));
    c.send('end', 21);
    c.send('clipboard', 22, 'text/plain');
    c.send('blob', 22, b64(`touch ${tag('clipboard')}\n`));
    c.send('end', 22);
    c.send('mouse', 30, 30, 0);
    c.send('mouse', 30, 30, 2); // middle button: the terminal pastes its clipboard
    c.send('mouse', 30, 30, 0);
    c.send('file', 23, 'text/plain', tag('file').split('/').pop() as string);
    c.send('blob', 23, b64('uploaded'));
    c.send('end', 23);
    c.send('put', 0, 24, 'text/plain', tag('put'));
    c.send('blob', 24, b64('put'));
    c.send('end', 24);
    // A size and font that still leave the terminal rows and columns: guacd
    // 1.6.0 aborts the connection's process (GUAC_ASSERT in
    // guac_terminal_fit_to_range) when an owner makes it 320x200 at font size 48.
    c.send('size', 640, 400, 96);
    c.send('argv', 25, 'text/plain', 'font-size');
    c.send('blob', 25, b64('20'));
    c.send('end', 25);
    c.send('touch', 0, 10, 10, 5, 5, 0, 1);
    c.send('audio', 26, 'audio/L16;rate=44100,channels=2');
    c.send('blob', 26, b64('\u0000\u0000'));
    c.send('usbconnect', 1, 'x');
    c.send('blob', 0, b64('stream zero'));
    c.send('end', 0);
  }

  /** Files the attack would make: /tmp markers, and the SFTP upload in the home folder. */
  function targets(prefix: string): { tag: (kind: string) => string; paths: () => string[] } {
    const kinds = ['key', 'pipe', 'clipboard', 'file', 'put'];
    const tag = (kind: string) => `/tmp/${prefix}-${kind}`;
    cleanups.add(() => { for (const k of kinds) rmSync(tag(k), { force: true }); rmSync(join(home(), `${prefix}-file`), { force: true }); });
    return { tag, paths: () => kinds.map((k) => (k === 'file' ? join(home(), `${prefix}-file`) : tag(k))) };
  }

  /** Makes the owner write the terminal's size to a file and returns it ("rows cols"). */
  async function sttySize(owner: TunnelClient): Promise<string> {
    const file = markerPath(cleanups, 'stty');
    await runInShell(owner, `stty size > ${file}`, file);
    return waitFor(() => readFileSync(file, 'utf8').trim(), { timeoutMs: 5000, what: 'stty size' });
  }

  it('joined read-only: the owner\'s instructions act, the viewer\'s identical ones do not', async () => {
    const sftp = { 'enable-sftp': 'true', 'sftp-root-directory': '/' };
    const g = await gatewayFor(cleanups, { resolve: tokenResolver({ secret: SECRET }) });
    const owner = await openSession(cleanups, g, `token=${encodeURIComponent(token({ target: sshTarget(sftp) }))}`);
    await shellReady(cleanups, owner);
    const ownerId = [...g.tunnel.sessions.values()].find((s) => s.info.id === owner.uuid)?.info.guacdConnectionId as string;
    const sizeBefore = await sttySize(owner);

    const joinResolver: Resolver = async () => ({ join: ownerId, params: {}, readOnly: true });
    const viewers = await gatewayFor(cleanups, { resolve: joinResolver });
    const viewer = await openSession(cleanups, viewers, 'view=1');
    const viewerSession = [...viewers.tunnel.sessions.values()][0];
    assert.equal(viewerSession.info.readOnly, true);
    const v = targets(`gg-ro-viewer-${randomBytes(4).toString('hex')}`);
    attack(viewer, v.tag);
    const viewerOwnClipboard = `/tmp/gg-ro-viewer-clip-${randomBytes(4).toString('hex')}`;
    cleanups.add(() => rmSync(viewerOwnClipboard, { force: true }));
    viewer.send('clipboard', 27, 'text/plain');
    viewer.send('blob', 27, b64(`touch ${viewerOwnClipboard}\n`));
    viewer.send('end', 27);
    // Let guacd handle whatever got through, then have the owner paste the (shared) terminal clipboard.
    viewer.send('nop');
    await viewer.waitForOpcode('sync', 10_000, viewer.received.length);
    owner.send('mouse', 40, 40, 0);
    owner.send('mouse', 40, 40, 2);
    owner.send('mouse', 40, 40, 0);
    const sizeAfter = await sttySize(owner);
    assert.equal(sizeAfter, sizeBefore, 'the viewer resized the terminal (size or argv font-size)');

    // The same instructions from the owner do act: the check can see them.
    const o = targets(`gg-ro-owner-${randomBytes(4).toString('hex')}`);
    attack(owner, o.tag);
    await waitFor(() => o.paths().every((path) => existsSync(path)), { timeoutMs: 15_000, what: 'every file of the owner' })
      .catch((err: unknown) => { throw new Error(`${(err as Error).message}; missing: ${o.paths().filter((p) => !existsSync(p)).join(' ')}`); });
    for (const path of [...v.paths(), viewerOwnClipboard]) assert.equal(existsSync(path), false, `the read-only viewer created ${path}`);
    assert.equal(viewer.ws.readyState, viewer.ws.OPEN, `the viewer should still be watching; it got ${JSON.stringify(viewer.instructions.filter((r) => r.opcode === 'error' || r.opcode === 'disconnect').map((r) => [r.opcode, ...r.args]))}`);
  });

  it('a read-only token on a new connection: nothing the viewer sends reaches the shell', async () => {
    const g = await gatewayFor(cleanups, { resolve: tokenResolver({ secret: SECRET }) });
    const viewer = await openSession(cleanups, g, `token=${encodeURIComponent(token({ readOnly: true, target: sshTarget({ 'enable-sftp': 'true', 'sftp-root-directory': '/' }) }))}`);
    const v = targets(`gg-ro-new-${randomBytes(4).toString('hex')}`);
    // No frame tells when the remote shell is ready, and a read-only viewer cannot test it
    // by typing: the attack is repeated for 6 s, as runInShell would retype.
    for (let round = 0; round < 4; round++) {
      attack(viewer, v.tag);
      await waitFor(() => v.paths().some((p) => existsSync(p)), { timeoutMs: 2000, what: 'a file the viewer made' }).catch(() => undefined);
    }
    for (const path of v.paths()) assert.equal(existsSync(path), false, `the read-only session created ${path}`);
    assert.equal(viewer.ws.readyState, viewer.ws.OPEN);
  });
}));

describe('access: the admin API', { timeout: 30_000 }, () => {
  it('refuses requests without the key or with a wrong one, changing nothing', async () => {
    const fx = await sqliteFixture();
    const reg = await fx.open();
    cleanups.add(async () => { await reg.close(); await fx.cleanup(); });
    await reg.createConnection({ name: 'ssh', protocol: 'ssh', params: sshParams() });
    const api = createAdminApi({ registry: reg, adminKey: ADMIN_KEY, logger: testLogger });
    const server = http.createServer((req, res) => {
      void api(req, res).then((handled) => { if (!handled) { res.writeHead(404); res.end(); } });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.add(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const wrong = [
      undefined, '', 'Bearer', `Bearer ${ADMIN_KEY.slice(0, -1)}`, `Bearer ${ADMIN_KEY}x`, `Bearer ${ADMIN_KEY.toUpperCase()}`,
      `Basic ${Buffer.from(`admin:${ADMIN_KEY}`).toString('base64')}`, `Token ${ADMIN_KEY}`, `Bearer  ${ADMIN_KEY} extra`, ADMIN_KEY,
    ];
    const requests: [string, string, unknown?][] = [
      ['GET', '/api/connections'], ['POST', '/api/connections', { name: 'evil', protocol: 'ssh', params: { hostname: 'x' } }],
      ['DELETE', '/api/connections/ssh'], ['PUT', '/api/connections/ssh/grants/mallory', {}],
      ['POST', '/api/tokens', { connection: 'ssh', user: 'mallory' }], ['POST', '/api/tokens/revoke', { user: 'alice' }],
      ['GET', '/api/sessions'], ['POST', `/api/sessions/${randomUUID()}/end`],
    ];
    for (const auth of wrong) {
      for (const [method, path, body] of requests) {
        const headers: Record<string, string> = body === undefined ? {} : { 'Content-Type': 'application/json' };
        if (auth !== undefined) headers.Authorization = auth;
        const res = await fetch(`${base}${path}?key=${ADMIN_KEY}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
        const text = await res.text();
        assert.equal(res.status, 401, `${method} ${path} with ${JSON.stringify(auth?.slice(0, 12))}: ${text}`);
        assert.equal(JSON.parse(text).error.code, 'GUAC_ADMIN_UNAUTHORIZED');
        toldClients.push(text);
      }
    }
    assert.deepEqual((await reg.listConnections()).map((c) => c.name), ['ssh']);
    assert.deepEqual(await reg.listGrants(), []);
    const ok = await fetch(`${base}/api/connections`, { headers: { Authorization: `Bearer ${ADMIN_KEY}` } });
    assert.equal(ok.status, 200);
    const listed = await ok.text();
    assert.ok(!listed.includes(sshParams().password), 'the API shows a stored password');
  });
});

describe('access: secrets', () => {
  it('never appear in log lines, error instructions or HTTP errors', () => {
    assert.ok(logLines.length > 20, `only ${logLines.length} log lines were captured`);
    assert.ok(toldClients.length > 20);
    for (const secret of secrets) {
      for (const line of logLines) assert.ok(!line.includes(secret), `a log line holds a secret: ${line.slice(0, 300)}`);
      for (const text of toldClients) assert.ok(!text.includes(secret), `a client was told a secret: ${text.slice(0, 300)}`);
    }
  });
});
