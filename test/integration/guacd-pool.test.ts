/**
 * A tunnel over a pool of real guacd (started by this file, so that killing
 * one spares the shared test environment): sessions spread over both, a
 * guacd killed ends its own sessions with GUAC_TUNNEL_UPSTREAM_LOST and the
 * next sessions open on the other; a guacd that refuses connections is
 * skipped without failing a session; every guacd down is a clear status; a
 * guacd started with TLS (`-C`/`-K`) is reached with the CA, and refused
 * without it.
 */
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { CHANNELS } from '../../src/diagnostics.js';
import { GuacdPool } from '../../src/guacd/pool.js';
import { STATUS } from '../../src/protocol/status.js';
import { tokenResolver } from '../../src/tunnel/resolver.js';
import { sealToken } from '../../src/tunnel/token.js';
import { freePort, loadTestEnv, repoRoot, waitFor } from '../helpers/env.js';
import { startOwnGuacd, startSilentListener, type OwnGuacd } from '../helpers/faults.js';
import { Cleanups, sshParams } from '../helpers/security.js';
import { startChild, startServe } from '../helpers/serve.js';
import { makeGuacdCertificates } from '../helpers/tls-certs.js';
import { startTestGateway, TunnelClient } from '../helpers/ws-client.js';

const SECRET = 'guacd-pool-test-secret-0123456789';
const cleanups = new Cleanups();
afterEach(() => cleanups.run());

type Message = Record<string, unknown>;
const closes: Message[] = [];
const healths: Message[] = [];
const onClose = (m: unknown) => closes.push(m as Message);
const onHealth = (m: unknown) => healths.push(m as Message);
before(() => {
  diagnostics_channel.subscribe(CHANNELS.sessionClose, onClose);
  diagnostics_channel.subscribe(CHANNELS.guacdHealth, onHealth);
});
after(() => {
  diagnostics_channel.unsubscribe(CHANNELS.sessionClose, onClose);
  diagnostics_channel.unsubscribe(CHANNELS.guacdHealth, onHealth);
});

/** The newest guacd of the matrix (the version fleets run), else the environment's 1.3.0. */
function wrapper(): string {
  const env = loadTestEnv();
  return env.guacds[env.guacds.length - 1]?.wrapper ?? env.guacd.wrapper;
}

async function ownGuacd(extraArgs: string[] = []): Promise<OwnGuacd> {
  const g = await startOwnGuacd(wrapper(), extraArgs);
  cleanups.add(() => g.kill());
  return g;
}

function token(): string {
  return sealToken({ exp: Math.floor(Date.now() / 1000) + 300, target: { protocol: 'ssh', params: sshParams() }, user: 'pool' }, SECRET);
}

async function gatewayOn(pool: GuacdPool, handshakeTimeoutMs?: number) {
  const gw = await startTestGateway({ guacd: pool, resolve: tokenResolver({ secret: SECRET }), ...(handshakeTimeoutMs ? { handshakeTimeoutMs } : {}) });
  cleanups.add(() => gw.close());
  return gw;
}

/** Opens a session and waits for its first frame; returns the client and the guacd it landed on. */
async function open(gw: Awaited<ReturnType<typeof gatewayOn>>): Promise<{ client: TunnelClient; guacd: string }> {
  const client = await TunnelClient.connect(`${gw.wsUrl}?token=${encodeURIComponent(token())}`);
  cleanups.add(() => client.close());
  await client.waitForOpcode('sync', 30_000);
  const session = gw.tunnel.sessions.get(client.uuid!);
  assert.ok(session?.info.guacd, 'the session knows its guacd');
  return { client, guacd: session.info.guacd };
}

const nameOf = (g: { port: number }): string => `127.0.0.1:${g.port}`;

/**
 * A CA, a server certificate for 127.0.0.1 (`guacd.pem`/`guacd.key`) and a
 * client certificate (`client.pem`/`client.key`) it signed, in a folder
 * removed by the cleanups.
 */
function certificates(): string {
  const dir = makeGuacdCertificates();
  cleanups.add(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A data folder for a `serve`, removed by the cleanups. */
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gg-pool-serve-'));
  cleanups.add(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('guacd pool with real guacd', { timeout: 120_000 }, () => {
  it('sessions land on both guacd; one killed: its sessions end with GUAC_TUNNEL_UPSTREAM_LOST, the next open on the other', async () => {
    const [g1, g2] = await Promise.all([ownGuacd(), ownGuacd()]);
    const pool = new GuacdPool([{ address: { host: g1.host, port: g1.port } }, { address: { host: g2.host, port: g2.port } }], { checkIntervalMs: 300 });
    pool.start();
    cleanups.add(() => pool.stop());
    const gw = await gatewayOn(pool);

    const sessions = [];
    for (let i = 0; i < 4; i++) sessions.push(await open(gw));
    const on1 = sessions.filter((s) => s.guacd === nameOf(g1));
    const on2 = sessions.filter((s) => s.guacd === nameOf(g2));
    assert.equal(on1.length, 2, `fewest sessions first: ${sessions.map((s) => s.guacd).join(', ')}`);
    assert.equal(on2.length, 2);
    assert.deepEqual(pool.status().map((m) => [m.name, m.healthy, m.sessions]), [[nameOf(g1), true, 2], [nameOf(g2), true, 2]]);

    await g1.kill();
    for (const { client } of on1) {
      const closed = await client.waitClosed(10_000);
      assert.equal(closed.reason, String(STATUS.UPSTREAM_ERROR.guac));
      const error = client.received.find((r) => r.opcode === 'error');
      assert.deepEqual(error?.args, ['The connection to the remote desktop server was lost.', String(STATUS.UPSTREAM_ERROR.guac)]);
      const close = closes.find((m) => m.session === client.uuid);
      assert.equal(close?.code, 'GUAC_TUNNEL_UPSTREAM_LOST');
      assert.equal(close?.guacd, nameOf(g1));
    }
    // guacd 2's sessions go on.
    for (const { client } of on2) assert.equal(gw.tunnel.sessions.get(client.uuid!)?.state, 'open');
    await waitFor(() => healths.some((h) => h.guacd === nameOf(g1) && h.healthy === false), { timeoutMs: 10_000, what: 'guacd 1 reported down' });
    const down = pool.status().find((m) => m.name === nameOf(g1));
    assert.equal(down?.healthy, false);
    assert.equal(down?.error, 'GUAC_GUACD_UNREACHABLE');
    assert.equal(down?.sessions, 0);

    const next = [await open(gw), await open(gw)];
    assert.deepEqual(next.map((s) => s.guacd), [nameOf(g2), nameOf(g2)]);
    assert.equal(pool.status().find((m) => m.name === nameOf(g2))?.sessions, 4);
  });

  it('a guacd that refuses connections is skipped without failing a session; every guacd down is GUAC_TUNNEL_NO_GUACD', async () => {
    const g = await ownGuacd();
    const nothing = await freePort();
    // No probes: what the pool learns, it learns from the sessions' own connects.
    const pool = new GuacdPool([{ address: { host: '127.0.0.1', port: nothing } }, { address: { host: g.host, port: g.port } }], { checkIntervalMs: 0 });
    const gw = await gatewayOn(pool);
    const landed = [await open(gw), await open(gw), await open(gw)];
    assert.deepEqual(landed.map((s) => s.guacd), [nameOf(g), nameOf(g), nameOf(g)]);
    assert.deepEqual(pool.status().map((m) => [m.healthy, m.error, m.sessions]), [[false, 'GUAC_GUACD_UNREACHABLE', 0], [true, undefined, 3]]);

    await g.kill();
    // The guacd is gone but not yet known to be: the session's connect finds out, then no guacd is left.
    const client = await TunnelClient.connect(`${gw.wsUrl}?token=${encodeURIComponent(token())}`);
    cleanups.add(() => client.close());
    const closed = await client.waitClosed(15_000);
    assert.equal(closed.reason, String(STATUS.UPSTREAM_UNAVAILABLE.guac));
    const error = client.received.find((r) => r.opcode === 'error');
    assert.deepEqual(error?.args, ['No remote desktop server (guacd) is available; try again later.', String(STATUS.UPSTREAM_UNAVAILABLE.guac)]);
    assert.equal(closes.find((m) => m.session === client.uuid)?.code, 'GUAC_TUNNEL_NO_GUACD');
    assert.ok(pool.status().every((m) => !m.healthy));
  });

  it('a guacd that hangs (accepts, never answers) passes the connect probe: its session ends with GUAC_TUNNEL_CONNECT_TIMEOUT, the guacd stays in the pool', async () => {
    // The fake stands in for what a real guacd does not do on demand: hang after accepting.
    const hung = await startSilentListener();
    cleanups.add(() => hung.close());
    const pool = new GuacdPool([{ address: { host: '127.0.0.1', port: hung.port } }], { checkIntervalMs: 0 });
    assert.deepEqual((await pool.check()).map((m) => m.healthy), [true], 'the probe sees only that it accepts');
    const gw = await gatewayOn(pool, 1500);
    const client = await TunnelClient.connect(`${gw.wsUrl}?token=${encodeURIComponent(token())}`);
    cleanups.add(() => client.close());
    const closed = await client.waitClosed(15_000);
    assert.equal(closed.reason, String(STATUS.UPSTREAM_TIMEOUT.guac));
    assert.equal(closes.find((m) => m.session === client.uuid)?.code, 'GUAC_TUNNEL_CONNECT_TIMEOUT');
    // A timeout may be a slow guacd: it is not marked down (docs/deployment.md says what the probe cannot see).
    assert.deepEqual(pool.status().map((m) => [m.healthy, m.sessions]), [[true, 0]]);
  });

  it('a guacd with TLS (-C/-K): reached with its CA through the pool; without the CA the probe marks it down', async () => {
    const dir = certificates();
    const g = await ownGuacd(['-C', join(dir, 'guacd.pem'), '-K', join(dir, 'guacd.key')]);
    const ca = readFileSync(join(dir, 'ca.pem'));

    const pool = new GuacdPool([{ name: `tls://${nameOf(g)}`, address: { host: g.host, port: g.port, tls: { ca } } }], { checkIntervalMs: 0 });
    assert.deepEqual((await pool.check()).map((m) => m.healthy), [true]);
    const gw = await gatewayOn(pool);
    const { guacd } = await open(gw);
    assert.equal(guacd, `tls://${nameOf(g)}`);

    const untrusted = new GuacdPool([{ address: { host: g.host, port: g.port, tls: true } }], { checkIntervalMs: 0 });
    const [status] = await untrusted.check();
    assert.equal(status?.healthy, false);
    assert.equal(status?.error, 'GUAC_GUACD_IO');
  });

  it('serve --guacd tls://… --guacd-ca: /healthz reports it healthy and a session opens on it', async () => {
    const dir = certificates();
    const g = await ownGuacd(['-C', join(dir, 'guacd.pem'), '-K', join(dir, 'guacd.key')]);
    const gw = await startServe({ ...process.env, GATEWAY_SECRET: SECRET, GATEWAY_DATA_DIR: dataDir(), DATABASE_URL: '' },
      ['--guacd', `tls://${nameOf(g)}`, '--guacd-ca', join(dir, 'ca.pem')]);
    cleanups.add(() => gw.stop());
    const health = await (await fetch(`http://127.0.0.1:${gw.port}/healthz`)).json() as { guacd: { pool: unknown[] } };
    assert.deepEqual(health.guacd.pool, [{ name: `tls://${nameOf(g)}`, healthy: true, sessions: 0 }]);
    const client = await TunnelClient.connect(`ws://127.0.0.1:${gw.port}/tunnel?token=${encodeURIComponent(token())}`);
    cleanups.add(() => client.close());
    await client.waitForOpcode('sync', 30_000);
  });

  it('--guacd-cert/--guacd-key: the client certificate a TLS proxy in front of guacd asks for; a missing key or file stops serve', async () => {
    const dir = certificates();
    const g = await ownGuacd();
    const read = (f: string) => readFileSync(join(dir, f));
    // A TLS terminator that wants a client certificate signed by the CA, then passes bytes to the plain guacd.
    const proxy = tls.createServer({ key: read('guacd.key'), cert: read('guacd.pem'), ca: read('ca.pem'), requestCert: true, rejectUnauthorized: true }, (socket) => {
      const upstream = net.connect(g.port, g.host);
      socket.pipe(upstream).pipe(socket);
      const end = () => { socket.destroy(); upstream.destroy(); };
      socket.on('error', end);
      upstream.on('error', end);
    });
    proxy.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    cleanups.add(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
    const proxyPort = (proxy.address() as net.AddressInfo).port;
    const env = { ...process.env, GATEWAY_SECRET: SECRET, GATEWAY_DATA_DIR: dataDir(), DATABASE_URL: '' };
    const flags = ['--guacd', `tls://127.0.0.1:${proxyPort}`, '--guacd-ca', join(dir, 'ca.pem')];

    const gw = await startServe(env, [...flags, '--guacd-cert', join(dir, 'client.pem'), '--guacd-key', join(dir, 'client.key')]);
    cleanups.add(() => gw.stop());
    const client = await TunnelClient.connect(`ws://127.0.0.1:${gw.port}/tunnel?token=${encodeURIComponent(token())}`);
    cleanups.add(() => client.close());
    await client.waitForOpcode('sync', 30_000);

    // Without the certificate the proxy refuses it: the probe sees it (after the TLS 1.3 handshake), and no session goes there.
    const barePort = await freePort();
    const bare = startChild(process.execPath, [join(repoRoot(), 'bin/guacamole-gateway.js'), 'serve', '--port', String(barePort), ...flags], { ...env, GATEWAY_DATA_DIR: dataDir() });
    cleanups.add(() => bare.stop());
    const health = await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${barePort}/healthz`).catch(() => undefined);
      const body = res && await res.json() as { guacd: { pool: { healthy: boolean }[] } };
      return body?.guacd.pool[0]?.healthy === false ? [res!.status, body] as const : undefined;
    }, { what: 'the bare gateway to report its guacd down', timeoutMs: 20_000 });
    assert.deepEqual(health, [503, { ok: false, draining: false, sessions: 0,
      guacd: { reachable: false, pool: [{ name: `tls://127.0.0.1:${proxyPort}`, healthy: false, sessions: 0, error: 'GUAC_GUACD_IO' }] } }]);
    const refused = await TunnelClient.connect(`ws://127.0.0.1:${barePort}/tunnel?token=${encodeURIComponent(token())}`);
    cleanups.add(() => refused.close());
    const closed = await refused.waitClosed(20_000);
    assert.equal(closed.reason, String(STATUS.UPSTREAM_UNAVAILABLE.guac));

    for (const [extra, message] of [
      [['--guacd-cert', join(dir, 'client.pem')], /--guacd-cert and --guacd-key go together/],
      [['--guacd-key', join(dir, 'client.key'), '--guacd-cert', join(dir, 'nope.pem')], /--guacd-cert ".*nope\.pem" cannot be read \(ENOENT\)/],
    ] as const) {
      const run = startChild(process.execPath, [join(repoRoot(), 'bin/guacamole-gateway.js'), 'serve', '--port', '0', ...flags, ...extra], { ...env, GATEWAY_DATA_DIR: dataDir() });
      cleanups.add(() => run.stop());
      const code = await new Promise<number | null>((resolve) => run.child.once('exit', (c) => resolve(c)));
      assert.equal(code, 2, run.output());
      assert.match(run.output(), message);
    }
  });
});
