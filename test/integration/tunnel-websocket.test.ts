/**
 * The WebSocket tunnel against every real guacd of the test environment
 * (test/helpers/guacd-matrix.ts) and its sshd (`bash scripts/test-env.sh up`).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import { afterEach, before, describe, it } from 'node:test';
import { STATUS } from '../../src/protocol/status.js';
import { tokenResolver, type Resolver } from '../../src/tunnel/resolver.js';
import { sealToken } from '../../src/tunnel/token.js';
import type { SessionRecord, TunnelOptions } from '../../src/tunnel/types.js';
import { loadTestEnv, waitFor, type GuacdInstance, type TestEnv } from '../helpers/env.js';
import { atLeast, forEachGuacd } from '../helpers/guacd-matrix.js';
import { startTestGateway, TunnelClient, type TestGateway } from '../helpers/ws-client.js';
import { sqliteFixture } from '../helpers/registry.js';
import { registryResolver } from '../../src/registry/resolver.js';

const SECRET = 'tunnel-websocket-test-secret-0123456789';
const ENTER = 0xff0d;

let env: TestEnv;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

before(() => {
  env = loadTestEnv();
});

/** The guacd of the version under test (set by each version's suite). */
let current: GuacdInstance;

function guacd(): { host: string; port: number } {
  return { host: current.host, port: current.port };
}

async function gateway(options: Partial<TunnelOptions> = {}): Promise<TestGateway> {
  const g = await startTestGateway({ guacd: guacd(), resolve: tokenResolver({ secret: SECRET }), ...options });
  cleanups.push(() => g.close());
  return g;
}

async function open(g: TestGateway, query: string): Promise<TunnelClient> {
  const c = await TunnelClient.connect(`${g.wsUrl}?${query}`);
  cleanups.push(() => c.terminate());
  return c;
}

function sshToken(overrides: Record<string, string> = {}, extra: { readOnly?: boolean; exp?: number } = {}): string {
  const now = Math.floor(Date.now() / 1000);
  return sealToken({
    exp: extra.exp ?? now + 300,
    target: { protocol: 'ssh', params: { ...env.ssh.params, ...overrides } },
    ...(extra.readOnly ? { readOnly: true } : {}),
  }, SECRET);
}

function typeText(c: TunnelClient, text: string): void {
  for (const ch of text) {
    const keysym = ch === '\n' ? ENTER : ch.codePointAt(0) as number;
    c.send('key', keysym, 1);
    c.send('key', keysym, 0);
  }
}

/** A file the test user can create and the test can see. */
function markerPath(): string {
  const path = `/tmp/gg-tunnel-${randomBytes(6).toString('hex')}`;
  cleanups.push(() => rmSync(path, { force: true }));
  return path;
}

/** A TCP proxy in front of guacd that notes when each connection from the gateway closes. */
async function guacdProxy(): Promise<{ port: number; opened: number; closedAt: number[]; close(): Promise<void> }> {
  const state = { opened: 0, closedAt: [] as number[] };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    state.opened++;
    const up = net.connect(guacd().port, guacd().host);
    sockets.add(down).add(up);
    down.pipe(up).pipe(down);
    down.on('close', () => { state.closedAt.push(Date.now()); up.destroy(); });
    up.on('close', () => down.destroy());
    down.on('error', () => undefined);
    up.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const result = {
    port: (server.address() as net.AddressInfo).port,
    get opened() { return state.opened; },
    closedAt: state.closedAt,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  cleanups.push(() => result.close());
  return result;
}

forEachGuacd((version) => describe('WebSocket tunnel with the real guacd', { timeout: 120_000 }, () => {
  before(() => { current = version; });

  it('sends the UUID as the first message and echoes pings', async () => {
    const g = await gateway();
    const c = await open(g, `token=${encodeURIComponent(sshToken())}`);
    const first = await c.waitFor(() => true, 5000, 'first message');
    assert.equal(first.opcode, '');
    assert.equal(first.message, 0);
    assert.equal(first.args.length, 1);
    assert.match(first.args[0], /^[0-9a-f-]{36}$/);
    c.ping('424242');
    const echo = await c.waitFor((r) => r.opcode === '' && r.args[0] === 'ping' && r.args[1] === '424242');
    assert.deepEqual(echo.args, ['ping', '424242']);
  });

  it('runs a full SSH session: frames arrive and typed keys create a file', async () => {
    const records: SessionRecord[] = [];
    const g = await gateway({ onSessionEnd: (r) => { records.push(r); } });
    const c = await open(g, `token=${encodeURIComponent(sshToken())}&width=1024&height=768&dpi=96`);
    await c.waitForOpcode('size', 10_000);
    await c.waitForPrompt();
    const marker = markerPath();
    typeText(c, `touch ${marker}\n`);
    await waitFor(() => existsSync(marker), { timeoutMs: 10_000, what: `file ${marker}` });
    assert.equal(c.partialMessages, 0);
    c.close();
    const closed = await c.waitClosed();
    assert.equal(closed.code, 1000);
    await waitFor(() => records.length === 1, { what: 'history' });
    assert.equal(records[0].status, STATUS.SUCCESS);
    assert.equal(records[0].protocol, 'ssh');
    assert.match(records[0].guacdConnectionId ?? '', /^\$[0-9a-f-]{36}$/);
  });

  it('passes a wrong SSH password through: error instruction and a numeric close reason', async () => {
    const g = await gateway();
    const c = await open(g, `token=${encodeURIComponent(sshToken({ password: 'wrong-password' }))}`);
    const closed = await c.waitClosed(20_000);
    const errors = c.instructions.filter((r) => r.opcode === 'error');
    assert.equal(errors.length, 1);
    const code = Number.parseInt(errors[0].args[1], 10);
    assert.ok(code >= 0x0200, `status ${errors[0].args[1]}`);
    assert.match(closed.reason, /^\d+$/);
    assert.equal(Number.parseInt(closed.reason, 10), code);
    assert.equal(code, STATUS.CLIENT_UNAUTHORIZED.guac);
    assert.equal(closed.code, STATUS.CLIENT_UNAUTHORIZED.ws);
  });

  it('refuses invalid (769) and expired (776) tokens without contacting guacd', async () => {
    const proxy = await guacdProxy();
    const g = await gateway({ guacd: { host: '127.0.0.1', port: proxy.port } });

    const tampered = sshToken().slice(0, -4) + 'AAAA';
    const bad = await open(g, `token=${encodeURIComponent(tampered)}`);
    const badClose = await bad.waitClosed();
    assert.equal(badClose.reason, '769');
    assert.equal(badClose.code, 1008);
    assert.deepEqual(bad.instructions.map((r) => [r.opcode, r.args[1]]), [['error', '769']]);

    const past = Math.floor(Date.now() / 1000) - 10;
    const expired = await open(g, `token=${encodeURIComponent(sealToken({ iat: past - 60, exp: past, target: { protocol: 'ssh', params: env.ssh.params } }, SECRET))}`);
    const expClose = await expired.waitClosed();
    assert.equal(expClose.reason, '776');
    assert.equal(Number.parseInt(expClose.reason, 10), 0x0308);

    const missing = await open(g, 'width=800');
    assert.equal((await missing.waitClosed()).reason, '769');
    assert.equal(proxy.opened, 0, 'guacd was contacted');
    for (const c of [bad, expired]) {
      assert.ok(!c.instructions.some((r) => r.args.some((a) => a.includes(env.ssh.password))));
    }
  });

  it('read-only: the viewer\'s keys do nothing while the owner\'s frames still arrive', async () => {
    const g = await gateway();
    const owner = await open(g, `token=${encodeURIComponent(sshToken())}`);
    await owner.waitForPrompt();
    const session = [...g.tunnel.sessions.values()].find((s) => s.info.id === owner.uuid);
    const connectionId = session?.info.guacdConnectionId;
    assert.ok(connectionId);

    // A viewer joins the owner's connection; the resolver marks it read-only.
    const joinResolver: Resolver = async () => ({ join: connectionId, params: {}, readOnly: true });
    const viewerGateway = await gateway({ resolve: joinResolver });
    const viewer = await open(viewerGateway, 'view=1');
    await viewer.waitForOpcode('sync', 10_000);
    const viewerFile = markerPath();
    typeText(viewer, `touch ${viewerFile}\n`);
    const seen = viewer.received.length;

    const ownerFile = markerPath();
    typeText(owner, `touch ${ownerFile}\n`);
    await waitFor(() => existsSync(ownerFile), { timeoutMs: 10_000, what: 'owner file' });
    // The viewer watched the owner type: drawing reached it after its own keys.
    await viewer.waitFor((r) => r.opcode === 'blob', 10_000, 'frames after typing', seen);
    assert.equal(existsSync(viewerFile), false, 'the read-only viewer typed into the session');
    const viewerSession = [...viewerGateway.tunnel.sessions.values()][0];
    assert.equal(viewerSession.info.readOnly, true);
  });

  it('closes the guacd connection within 1 s of the browser leaving', async () => {
    const proxy = await guacdProxy();
    const g = await gateway({ guacd: { host: '127.0.0.1', port: proxy.port } });
    for (const leave of ['close', 'terminate'] as const) {
      const c = await open(g, `token=${encodeURIComponent(sshToken())}`);
      await c.waitForOpcode('sync', 10_000);
      const before = proxy.closedAt.length;
      const t0 = Date.now();
      if (leave === 'close') c.close();
      else c.terminate();
      await waitFor(() => proxy.closedAt.length > before, { timeoutMs: 2000, what: 'guacd connection closed' });
      assert.ok(proxy.closedAt[before] - t0 < 1000, `${leave}: guacd closed after ${proxy.closedAt[before] - t0} ms`);
      await waitFor(() => g.tunnel.sessions.size === 0, { timeoutMs: 1000, what: 'session gone' });
    }
  });

  it(atLeast(version, '1.5.0')
    ? 'guacd tells the owner who joined and left (msg, with the name the joiner\'s gateway sent)'
    : 'guacd 1.3.0 has no msg: the owner hears nothing of joiners', async () => {
    const g = await gateway();
    const owner = await open(g, `token=${encodeURIComponent(sshToken())}`);
    await owner.waitForPrompt();
    const connectionId = [...g.tunnel.sessions.values()].find((s) => s.info.id === owner.uuid)?.info.guacdConnectionId;
    assert.ok(connectionId);
    const viewers = await gateway({ resolve: async () => ({ join: connectionId, params: {}, readOnly: true, user: 'bob' }) });
    const viewer = await open(viewers, 'view=1');
    await viewer.waitForOpcode('sync', 10_000);
    viewer.close();
    await viewer.waitClosed();
    if (atLeast(version, '1.5.0')) {
      const joined = await owner.waitFor((r) => r.opcode === 'msg' && r.args[0] === '1', 10_000, 'msg USER_JOINED');
      assert.equal(joined.args[2], 'bob');
      assert.match(joined.args[1], /^@/, 'guacd\'s id of the joining user');
      const left = await owner.waitFor((r) => r.opcode === 'msg' && r.args[0] === '2', 10_000, 'msg USER_LEFT');
      assert.deepEqual(left.args, ['2', joined.args[1], 'bob']);
    } else {
      // Something the owner sees after the viewer left: a frame drawn for a key the owner typed.
      const seen = owner.received.length;
      typeText(owner, ' ');
      await owner.waitFor((r) => r.opcode === 'sync', 10_000, 'a frame after the viewer left', seen);
      assert.equal(owner.received.some((r) => r.opcode === 'msg'), false);
    }
  });

  it('a registry connection stored without its password: guacd asks (required), the browser\'s answer logs in', async () => {
    const fx = await sqliteFixture();
    cleanups.push(() => fx.cleanup());
    const reg = await fx.open();
    cleanups.push(() => reg.close());
    // Left out on purpose: the user types it (the page's login form).
    const { password: _password, ...params } = env.vnc.params;
    await reg.createConnection({ name: 'desk', protocol: 'vnc', params });
    await reg.grant('desk', 'alice');
    const { token } = await reg.mintToken({ connection: 'desk', user: 'alice' });
    assert.ok(!(await fx.dump()).includes(env.vnc.password), 'no password stored');
    const g = await gateway({ resolve: registryResolver(reg, fx.secret) });
    const c = await open(g, `token=${encodeURIComponent(token)}&width=${env.vnc.width}&height=${env.vnc.height}`);
    const asked = await c.waitFor((r) => r.opcode === 'required', 15_000, 'required');
    assert.deepEqual(asked.args, ['password']);
    c.send('argv', 1, 'text/plain', 'password');
    c.send('blob', 1, Buffer.from(env.vnc.password).toString('base64'));
    c.send('end', 1);
    const ack = await c.waitFor((r) => r.opcode === 'ack' && r.args[0] === '1', 10_000, 'the argv stream\'s ack');
    assert.equal(ack.args[2], '0');
    await c.waitFor((r) => r.opcode === 'img' && Number(r.args[2]) >= 0, 15_000, 'the desktop drawn');
    assert.equal(c.instructions.some((r) => r.opcode === 'error'), false);
  });

  it('joining a connection guacd does not have: RESOURCE_NOT_FOUND to the browser (1.3.0 hangs up, 1.5+ answers with an error)', async () => {
    const records: SessionRecord[] = [];
    const g = await gateway({ resolve: async () => ({ join: '$00000000-0000-0000-0000-000000000000', params: {}, readOnly: true }), onSessionEnd: (r) => { records.push(r); } });
    const c = await open(g, 'view=1');
    const closed = await c.waitClosed(10_000);
    assert.equal(closed.reason, String(STATUS.RESOURCE_NOT_FOUND.guac));
    assert.equal(closed.code, STATUS.RESOURCE_NOT_FOUND.ws);
    const errors = c.instructions.filter((r) => r.opcode === 'error');
    assert.deepEqual(errors.map((r) => r.args), [[
      atLeast(version, '1.5.0')
        ? 'guacd has no connection $00000000-0000-0000-0000-000000000000 to join (guacd: "No such connection.").'
        : 'guacd closed the connection instead of joining $00000000-0000-0000-0000-000000000000: no such connection.',
      String(STATUS.RESOURCE_NOT_FOUND.guac),
    ]]);
    await waitFor(() => records.length === 1, { what: 'history' });
    assert.equal(records[0].status, STATUS.RESOURCE_NOT_FOUND);
  });
}));
