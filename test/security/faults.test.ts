/**
 * Faults with the real guacd (each version of the matrix for the guacd
 * faults, test/helpers/guacd-matrix.ts; 1.3.0 for the slow clients; run by
 * this file: see useOwnGuacd) and sshd: guacd killed mid-session (one more
 * guacd, started to be killed), guacd down at connect, a target that refuses
 * or hangs, a browser that vanishes without a close frame, and slow clients
 * (slowloris) at the HTTP and WebSocket level.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { STATUS } from '../../src/protocol/status.js';
import { registryResolver, registrySessionHooks } from '../../src/registry/resolver.js';
import type { Resolver } from '../../src/tunnel/resolver.js';
import type { SessionRecord } from '../../src/tunnel/types.js';
import { waitFor } from '../helpers/env.js';
import { atLeast, forEachGuacd } from '../helpers/guacd-matrix.js';
import { startFakeGuacd, type FakeConnection } from '../helpers/fake-guacd.js';
import { freePort, startOwnGuacd, startSilentListener } from '../helpers/faults.js';
import { socketsTo } from '../helpers/procfs.js';
import { Cleanups, clientFor, expectClosedWith, gatewayFor, openSession, realGuacd, sshParams, sshRegistry, startAppServer, useOwnGuacd } from '../helpers/security.js';
import { TunnelClient } from '../helpers/ws-client.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());
useOwnGuacd();

const ssh = (overrides: Record<string, string> = {}): Resolver => async () => ({ protocol: 'ssh', params: sshParams(overrides) });

forEachGuacd((version) => describe('faults: guacd', { timeout: 120_000 }, () => {
  useOwnGuacd(version);
  const registry = sshRegistry('alice');

  it('guacd killed mid-session: the browser gets UPSTREAM_ERROR with a message, history records it', async () => {
    const guacd = await startOwnGuacd(version.wrapper);
    cleanups.add(() => guacd.kill());
    const records: SessionRecord[] = [];
    const { fx, reg } = registry;
    const hooks = registrySessionHooks(reg);
    const g = await gatewayFor(cleanups, {
      guacd: { host: guacd.host, port: guacd.port },
      resolve: registryResolver(reg, fx.secret),
      onSessionStart: hooks.onSessionStart,
      onSessionEnd: async (r) => { records.push(r); await hooks.onSessionEnd(r); },
    });
    const { token } = await reg.mintToken({ connection: 'ssh', user: 'alice' });
    const c = await openSession(cleanups, g, `token=${encodeURIComponent(token)}`);
    const id = c.uuid as string;
    await waitFor(async () => (await reg.getSession(id))?.guacdId, { what: 'the session start in history' });

    await guacd.kill();
    const closed = await expectClosedWith(c, STATUS.UPSTREAM_ERROR, { timeoutMs: 10_000 });
    assert.match(closed.message ?? '', /remote desktop server/i);
    await waitFor(() => records.length === 1, { what: 'onSessionEnd' });
    assert.equal(records[0].status, STATUS.UPSTREAM_ERROR);
    const row = await waitFor(async () => {
      const r = await reg.getSession(id);
      return r?.endedAt ? r : undefined;
    }, { what: 'the session end in history' });
    assert.equal(row.status, STATUS.UPSTREAM_ERROR.guac);
    assert.equal(row.user, 'alice');
    assert.match(row.guacdId ?? '', /^\$/);
    assert.ok(row.bytesToBrowser > 0);
    assert.equal(g.tunnel.sessions.size, 0);
  });

  it('guacd down at connect: UPSTREAM_NOT_FOUND over WebSocket and HTTP, recorded', async () => {
    const guacd = await startOwnGuacd(version.wrapper);
    await guacd.kill();
    const records: SessionRecord[] = [];
    const g = await gatewayFor(cleanups, { guacd: { host: guacd.host, port: guacd.port }, resolve: ssh(), onSessionEnd: (r) => { records.push(r); } });
    const c = await clientFor(cleanups, g);
    await expectClosedWith(c, STATUS.UPSTREAM_NOT_FOUND, { timeoutMs: 10_000 });
    const res = await fetch(`${g.httpUrl}?connect`, { method: 'POST', body: 'x=1' });
    assert.equal(res.status, STATUS.UPSTREAM_NOT_FOUND.http);
    assert.equal(res.headers.get('Guacamole-Status-Code'), String(STATUS.UPSTREAM_NOT_FOUND.guac));
    assert.ok((res.headers.get('Guacamole-Error-Message') ?? '').length > 0);
    await res.arrayBuffer();
    await waitFor(() => records.length === 2, { what: 'two history records' });
    assert.deepEqual(records.map((r) => r.status.name), ['UPSTREAM_NOT_FOUND', 'UPSTREAM_NOT_FOUND']);
    assert.equal(g.tunnel.sessions.size, 0);
  });

  it('target refusing: guacd\'s status reaches the browser (1.3.0 UPSTREAM_NOT_FOUND, 1.6 UPSTREAM_ERROR; 1.5.5 may lose it)', async () => {
    const g = await gatewayFor(cleanups, { resolve: ssh({ port: String(await freePort()) }), firstFrameTimeoutMs: 5000 });
    const c = await clientFor(cleanups, g);
    if (atLeast(version, '1.6.0')) {
      await expectClosedWith(c, STATUS.UPSTREAM_ERROR, { timeoutMs: 20_000 });
    } else if (version.version === '1.5.5') {
      // guacd 1.5.5 bug (docs/guacd-versions.md): an SSH connection that fails
      // at once aborts before its owner is in the user list, the error reaches
      // no one, and guacd stays silent; the gateway's first-frame timer ends it.
      const closed = await c.waitClosed(20_000);
      const status = Number.parseInt(closed.reason, 10);
      assert.ok([STATUS.UPSTREAM_NOT_FOUND.guac, STATUS.UPSTREAM_TIMEOUT.guac].includes(status), `close reason ${closed.reason}`);
      if (status === STATUS.UPSTREAM_TIMEOUT.guac) {
        assert.deepEqual(c.instructions.filter((r) => r.opcode === 'error').map((r) => r.args), [['The remote desktop did not answer in time.', String(STATUS.UPSTREAM_TIMEOUT.guac)]]);
      }
    } else {
      await expectClosedWith(c, STATUS.UPSTREAM_NOT_FOUND, { timeoutMs: 20_000 });
    }
  });

  it('target accepting and never answering: UPSTREAM_TIMEOUT after firstFrameTimeoutMs, guacd connection closed', async () => {
    const silent = await startSilentListener();
    cleanups.add(() => silent.close());
    const guacdPort = realGuacd().port;
    const before = socketsTo(guacdPort);
    const g = await gatewayFor(cleanups, { resolve: ssh({ port: String(silent.port) }), firstFrameTimeoutMs: 2000 });
    const t0 = Date.now();
    const c = await clientFor(cleanups, g);
    await waitFor(() => silent.accepted > 0, { timeoutMs: 15_000, what: 'guacd reaching the target' });
    const closed = await expectClosedWith(c, STATUS.UPSTREAM_TIMEOUT, { timeoutMs: 20_000 });
    const took = Date.now() - t0;
    assert.ok(took >= 1900 && took < 15_000, `closed after ${took} ms`);
    assert.match(closed.message ?? '', /did not answer/);
    await waitFor(() => socketsTo(guacdPort) <= before, { timeoutMs: 5000, what: 'the guacd connection closed' });
  });

  it('the browser\'s disconnect ends its session at once, even when guacd does not answer it (fake guacd)', async () => {
    let conn: FakeConnection | undefined;
    const fake = await startFakeGuacd({ afterReady: async (c) => { conn = c; c.send('sync', 1); await c.closed; } });
    cleanups.add(() => fake.close());
    const records: SessionRecord[] = [];
    const g = await gatewayFor(cleanups, { guacd: { host: fake.host, port: fake.port }, resolve: ssh(), onSessionEnd: (r) => { records.push(r); } });
    const c = await clientFor(cleanups, g);
    await c.waitForOpcode('sync');
    c.send('key', 65, 1);
    c.send('disconnect');
    assert.equal((await c.waitClosed(5000)).reason, String(STATUS.SUCCESS.guac));
    await conn!.waitFor('disconnect', 5000);
    await conn!.closed;
    await waitFor(() => records.length === 1, { what: 'history' });
    assert.equal(records[0].status, STATUS.SUCCESS);
  });

  it('a browser dropped without a close frame, or gone silent, frees its session and guacd connection', async () => {
    const guacdPort = realGuacd().port;
    const before = socketsTo(guacdPort);
    const records: SessionRecord[] = [];
    const g = await gatewayFor(cleanups, { resolve: ssh(), browserTimeoutMs: 1500, onSessionEnd: (r) => { records.push(r); } });
    const raw = (c: TunnelClient) => (c.ws as unknown as { _socket: net.Socket })._socket;

    const dropped = await openSession(cleanups, g);
    const t0 = Date.now();
    raw(dropped).destroy();
    await waitFor(() => records.length === 1, { timeoutMs: 5000, what: 'the dropped session to end' });
    assert.ok(Date.now() - t0 < 2000, `ended ${Date.now() - t0} ms after the drop`);

    // Stops reading and sending, as a laptop whose network vanished: no FIN, no RST.
    const silent = await openSession(cleanups, g, '', { pingMs: 0, autoSync: false });
    raw(silent).pause();
    await waitFor(() => records.length === 2, { timeoutMs: 10_000, what: 'the silent session to end' });
    assert.equal(records[1].status, STATUS.CLIENT_TIMEOUT);
    assert.equal(g.tunnel.sessions.size, 0);
    await waitFor(() => socketsTo(guacdPort) <= before, { timeoutMs: 5000, what: 'guacd connections closed' });
  });
}));

describe('faults: slow clients (slowloris)', { timeout: 60_000 }, () => {
  let webRoot: string;
  before(() => { webRoot = mkdtempSync(join(tmpdir(), 'gg-sec-web-')); });
  after(() => rmSync(webRoot, { recursive: true, force: true }));

  /** The real server app with short timeouts, so the test need not wait for the defaults. */
  async function server(): Promise<{ port: number }> {
    const port = await startAppServer(cleanups, { guacd: realGuacd(), resolve: ssh(), browserTimeoutMs: 1500 }, { webRoot, guacd: realGuacd, headersTimeoutMs: 1500, requestTimeoutMs: 3000 });
    return { port };
  }

  /** Opens a raw connection, runs `drive`, resolves with how long the server kept it and what it said. */
  function rawClient(port: number, drive: (s: net.Socket) => void): Promise<{ ms: number; said: string }> {
    return new Promise((resolve) => {
      const t0 = Date.now();
      const s = net.connect(port, '127.0.0.1');
      let said = '';
      s.on('data', (d) => { said += d.toString('latin1'); });
      s.on('error', () => undefined);
      s.once('close', () => resolve({ ms: Date.now() - t0, said }));
      s.once('connect', () => drive(s));
      cleanups.add(() => s.destroy());
    });
  }

  function trickle(s: net.Socket, text: string, everyMs: number): void {
    let i = 0;
    const timer = setInterval(() => {
      if (s.destroyed || i >= text.length) clearInterval(timer);
      else s.write(text[i++]);
    }, everyMs);
    cleanups.add(() => clearInterval(timer));
  }

  it('cuts connections that send nothing, trickle headers, or never finish a body', async () => {
    const { port } = await server();
    const [silent, headers, body] = await Promise.all([
      rawClient(port, () => undefined),
      rawClient(port, (s) => trickle(s, 'GET /tunnel?token=x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Pad: ' + 'a'.repeat(500), 100)),
      rawClient(port, (s) => {
        s.write('POST /tunnel?connect HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n');
        trickle(s, 'token='.padEnd(2000, 'x'), 100);
      }),
    ]);
    for (const [name, r, limit] of [['silent', silent, 1500], ['headers', headers, 1500], ['body', body, 3000]] as const) {
      assert.ok(r.ms >= limit - 100 && r.ms < limit + 6000, `${name}: cut after ${r.ms} ms`);
      // Node reports the timeout to the app's clientError handler, which answers 408 and hangs up.
      assert.match(r.said, /^(HTTP\/1\.1 4\d\d |$)/, `${name}: ${r.said.slice(0, 60)}`);
      assert.ok(!r.said.includes('101 Switching'), `${name} was upgraded`);
    }
  });

  it('cuts a WebSocket that completes the upgrade but never sends an instruction (pongs do not count)', async () => {
    const { port } = await server();
    const guacdPort = realGuacd().port;
    const before = socketsTo(guacdPort);
    const t0 = Date.now();
    // ws answers the gateway's pings by itself, as any peer would; no instruction ever goes out.
    const c = await TunnelClient.connect(`ws://127.0.0.1:${port}/tunnel?x=1`, { pingMs: 0, autoSync: false, timeoutMs: 10_000 });
    cleanups.add(() => c.terminate());
    await expectClosedWith(c, STATUS.CLIENT_TIMEOUT, { timeoutMs: 25_000 });
    const took = Date.now() - t0;
    assert.ok(took >= 1400 && took < 20_000, `cut after ${took} ms`);
    await waitFor(() => socketsTo(guacdPort) <= before, { timeoutMs: 5000, what: 'the guacd connection closed' });
  });
});
