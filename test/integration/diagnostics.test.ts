/**
 * A host application observing the library through `node:diagnostics_channel`
 * (no logger): the events of real SSH sessions through the real guacd and
 * sshd, their order and fields, no secret in any; and a host that passes no
 * logger gets no output at all from the library.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import diagnostics_channel from 'node:diagnostics_channel';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, it } from 'node:test';
import { CHANNELS } from '../../src/diagnostics.js';
import { STATUS } from '../../src/protocol/status.js';
import { tokenResolver } from '../../src/tunnel/resolver.js';
import { sealToken } from '../../src/tunnel/token.js';
import { createTunnel } from '../../src/tunnel/tunnel.js';
import { listenOnLoopback, waitFor } from '../helpers/env.js';
import { Cleanups, realGuacd, sshParams, useOwnGuacd } from '../helpers/security.js';
import { NO_CLIENT_LIMITS, TunnelClient } from '../helpers/ws-client.js';
import { encode } from '../../src/protocol/encoder.js';
import { startFakeGuacd } from '../helpers/fake-guacd.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());
useOwnGuacd();

const SECRET = `diagnostics-secret-${randomBytes(12).toString('hex')}`;

type Event = { channel: string; message: Record<string, unknown> };
const events: Event[] = [];
const listeners = Object.values(CHANNELS).map((channel) => {
  const fn = (message: unknown) => events.push({ channel, message: message as Record<string, unknown> });
  return [channel, fn] as const;
});
before(() => { for (const [channel, fn] of listeners) diagnostics_channel.subscribe(channel, fn); });
after(() => { for (const [channel, fn] of listeners) diagnostics_channel.unsubscribe(channel, fn); });

/** A host app as the README shows it: its own http server, the tunnel mounted on it, no logger. */
async function hostApp(guacd: { host: string; port: number } = realGuacd()): Promise<{ wsUrl: string }> {
  const tunnel = createTunnel({ guacd, resolve: tokenResolver({ secret: SECRET }), limits: NO_CLIENT_LIMITS });
  const server = http.createServer((req, res) => { if (!tunnel.handleHttp(req, res)) res.writeHead(404).end(); });
  server.on('upgrade', (req, socket, head) => tunnel.handleUpgrade(req, socket, head));
  const { port, close } = await listenOnLoopback(server, tunnel);
  cleanups.add(close);
  return { wsUrl: `ws://127.0.0.1:${port}/tunnel` };
}

function token(extra: Record<string, unknown> = {}): string {
  return sealToken({ exp: Math.floor(Date.now() / 1000) + 300, target: { protocol: 'ssh', params: sshParams() }, user: 'alice', ...extra }, SECRET);
}

async function eventsOf(session: string, last: string): Promise<Event[]> {
  await waitFor(() => events.some((e) => e.channel === last && e.message.session === session), { timeoutMs: 30_000, what: `${last} of ${session}` });
  return events.filter((e) => e.message.session === session);
}

function assertNoSecret(list: Event[], secrets: string[]): void {
  const text = JSON.stringify(list);
  for (const s of secrets) assert.ok(!text.includes(s), `an event holds a secret: ${text.slice(0, 300)}`);
}

describe('diagnostics channels', () => {
  it('a real SSH session: session:open, handshake:done, session:close, in order, with their fields', { timeout: 60_000 }, async () => {
    const app = await hostApp();
    const t = token();
    const c = await TunnelClient.connect(`${app.wsUrl}?token=${encodeURIComponent(t)}`);
    cleanups.add(() => c.terminate());
    await c.waitForOpcode('sync', 30_000);
    const id = c.uuid!;
    assert.match(id, /^[0-9a-f-]{36}$/);
    c.close();
    const seen = await eventsOf(id, CHANNELS.sessionClose);
    assert.deepEqual(seen.map((e) => e.channel), [CHANNELS.sessionOpen, CHANNELS.handshakeDone, CHANNELS.sessionClose]);
    const [open, done, close] = seen.map((e) => e.message);
    assert.deepEqual(open, { session: id, transport: 'websocket', remoteAddress: '127.0.0.1' });
    assert.equal(done!.protocol, 'ssh');
    assert.equal(done!.user, 'alice');
    assert.equal(done!.readOnly, false);
    assert.match(String(done!.guacdConnectionId), /^\$[0-9a-f-]{36}$/);
    assert.ok(typeof done!.durationMs === 'number' && done!.durationMs >= 0);
    assert.equal(close!.transport, 'websocket');
    assert.equal(close!.opened, true);
    assert.equal(close!.status, STATUS.SUCCESS.guac);
    assert.equal(close!.statusName, 'SUCCESS');
    assert.ok((close!.bytesToBrowser as number) > 0 && (close!.bytesFromBrowser as number) > 0);
    assert.ok((close!.durationMs as number) >= (done!.durationMs as number));
    assertNoSecret(seen, [t, SECRET, sshParams().password!]);
  });

  it('a refused token: session:open, handshake:failed with code and status, session:close', { timeout: 60_000 }, async () => {
    const app = await hostApp();
    const now = Math.floor(Date.now() / 1000);
    const t = token({ iat: now - 600, exp: now - 60 });
    const c = await TunnelClient.connect(`${app.wsUrl}?token=${encodeURIComponent(t)}`);
    cleanups.add(() => c.terminate());
    const closed = await c.waitClosed(10_000);
    const id = c.uuid!;
    const seen = await eventsOf(id, CHANNELS.sessionClose);
    assert.deepEqual(seen.map((e) => e.channel), [CHANNELS.sessionOpen, CHANNELS.handshakeFailed, CHANNELS.sessionClose]);
    const failed = seen[1]!.message;
    assert.equal(failed.code, 'GUAC_TOKEN_EXPIRED');
    assert.equal(failed.status, STATUS.CLIENT_TIMEOUT.guac);
    assert.equal(failed.statusName, 'CLIENT_TIMEOUT');
    assert.equal(closed.reason, String(STATUS.CLIENT_TIMEOUT.guac), 'the browser was told the same status');
    assert.equal(typeof failed.message, 'string');
    const close = seen[2]!.message;
    assert.equal(close.opened, false);
    assert.equal(close.code, 'GUAC_TOKEN_EXPIRED');
    assert.equal(close.status, STATUS.CLIENT_TIMEOUT.guac);
    assertNoSecret(seen, [t, SECRET, sshParams().password!]);
  });

  it('guacd failing in the same write as its ready (a fault the real one shows only by chance): handshake:done still precedes session:close', { timeout: 60_000 }, async () => {
    const fake = await startFakeGuacd({
      script: async (conn) => {
        await conn.expect('select');
        conn.send('args', 'VERSION_1_3_0', 'hostname', 'port', 'username', 'password');
        await conn.waitFor('connect');
        conn.sendRaw(encode('ready', '$fake-at-once') + encode('error', 'The remote desktop went away.', STATUS.UPSTREAM_UNAVAILABLE.guac));
        conn.end();
      },
    });
    cleanups.add(() => fake.close());
    const app = await hostApp({ host: fake.host, port: fake.port });
    const c = await TunnelClient.connect(`${app.wsUrl}?token=${encodeURIComponent(token())}`);
    cleanups.add(() => c.terminate());
    await c.waitClosed(10_000);
    const seen = await eventsOf(c.uuid!, CHANNELS.sessionClose);
    assert.deepEqual(seen.map((e) => e.channel), [CHANNELS.sessionOpen, CHANNELS.handshakeDone, CHANNELS.sessionClose]);
    assert.equal(seen[1]!.message.guacdConnectionId, '$fake-at-once');
    assert.equal(seen[2]!.message.opened, true);
    assert.equal(seen[2]!.message.status, STATUS.UPSTREAM_UNAVAILABLE.guac);
  });

  it('a library host that passes no logger writes nothing to stdout or stderr', { timeout: 120_000 }, async () => {
    const script = fileURLToPath(new URL('../helpers/silent-host.js', import.meta.url));
    const child = spawn(process.execPath, [script], {
      env: { PATH: process.env.PATH, SILENT_HOST: JSON.stringify({ guacd: realGuacd(), ssh: sshParams() }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.add(() => { child.kill('SIGKILL'); });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    // The script's own verdict comes as its exit code alone, so that any output is the library's.
    assert.equal(code, 0, `the script failed (exit ${code}); stderr: ${stderr.slice(0, 500)}`);
    assert.equal(stdout, '');
    assert.equal(stderr, '');
  });
});
