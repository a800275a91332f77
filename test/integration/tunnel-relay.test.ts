/**
 * The relay core against the scriptable fake guacd: what the real guacd
 * cannot show on demand (floods, faults, silence) and exact accounting of
 * what reached guacd.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { encode } from '../../src/protocol/encoder.js';
import { GuacError } from '../../src/protocol/errors.js';
import { STATUS } from '../../src/protocol/status.js';
import type { Resolver } from '../../src/tunnel/resolver.js';
import type { SessionRecord, TunnelOptions } from '../../src/tunnel/types.js';
import { startFakeGuacd, type FakeConnection, type FakeGuacd } from '../helpers/fake-guacd.js';
import { startTestGateway, TunnelClient, type TestGateway } from '../helpers/ws-client.js';
import { freePort } from '../helpers/env.js';

const sshTarget: Resolver = async () => ({ protocol: 'ssh', params: { hostname: 'h', username: 'u', password: 'p' } });

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function fake(opts: Parameters<typeof startFakeGuacd>[0]): Promise<FakeGuacd> {
  const f = await startFakeGuacd(opts);
  cleanups.push(() => f.close());
  return f;
}

async function gateway(f: { port: number } | null, options: Partial<TunnelOptions> = {}): Promise<TestGateway> {
  const g = await startTestGateway({ guacd: { host: '127.0.0.1', port: f ? f.port : 1 }, resolve: sshTarget, ...options });
  cleanups.push(() => g.close());
  return g;
}

async function client(g: TestGateway, query = '', opts: Parameters<typeof TunnelClient.connect>[1] = {}): Promise<TunnelClient> {
  const c = await TunnelClient.connect(`${g.wsUrl}${query}`, opts);
  cleanups.push(() => c.terminate());
  return c;
}

/** Resolves when `pred` holds, polling every 10 ms. */
async function until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('tunnel relay (fake guacd)', { timeout: 60_000 }, () => {
  it('sends the UUID first, echoes pings and never forwards internal instructions', async () => {
    let conn: FakeConnection | undefined;
    const f = await fake({ afterReady: async (c) => { conn = c; await c.closed; } });
    const g = await gateway(f);
    const c = await client(g, '', { pingMs: 0 });
    await c.waitFor(() => true, 5000, 'first message');
    assert.equal(c.received[0].opcode, '');
    assert.match(c.received[0].args[0], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(c.received[0].message, 0);
    assert.equal(c.uuid, c.received[0].args[0]);
    assert.ok(g.tunnel.sessions.has(c.uuid as string));

    await until(() => conn !== undefined, 'guacd connection');
    c.ping('12345');
    c.send('key', 65, 1);
    const echo = await c.waitFor((r) => r.opcode === '' && r.args[0] === 'ping');
    assert.deepEqual(echo.args, ['ping', '12345']);
    await (conn as FakeConnection).waitFor('key');
    assert.ok(!(conn as FakeConnection).received.some((i) => i.opcode === ''), 'an internal instruction reached guacd');
  });

  it('batches guacd output: whole instructions, several per message, about 8 KiB each', async () => {
    const N = 20_000;
    const f = await fake({
      afterReady: async (c) => {
        let batch = '';
        for (let i = 0; i < N; i++) {
          batch += encode('rect', 0, i, 0, 1, 1);
          if (batch.length > 60_000) { c.sendRaw(batch); batch = ''; }
        }
        c.sendRaw(batch + encode('nop'));
        await c.closed;
      },
    });
    const g = await gateway(f);
    const c = await client(g);
    await c.waitForOpcode('nop', 15_000);
    const rects = c.instructions.filter((r) => r.opcode === 'rect');
    assert.equal(rects.length, N);
    rects.forEach((r, i) => assert.equal(r.args[1], String(i)));
    assert.equal(c.partialMessages, 0, 'a message split an instruction');
    const messages = new Set(rects.map((r) => r.message)).size;
    assert.ok(messages < N / 50, `${messages} messages for ${N} instructions`);
    const big = c.messageSizes.filter((s) => s >= 8192);
    assert.ok(big.length > 0);
    assert.ok(Math.max(...c.messageSizes) < 8192 + 64, `largest message ${Math.max(...c.messageSizes)}`);
  });

  it('keeps memory bounded and pauses guacd while the browser does not read', async () => {
    const HIGH = 256 * 1024;
    let written = 0;
    let blocked = 0;
    let drained = 0;
    const chunk = encode('blob', 1, 'A'.repeat(4000)).repeat(16); // ~64 KiB of whole instructions
    const f = await fake({
      afterReady: async (c) => {
        const s = c.socket;
        const pump = () => {
          while (!s.destroyed) {
            written += chunk.length;
            if (!s.write(chunk)) { blocked++; return; }
          }
        };
        s.on('drain', () => { drained++; pump(); });
        pump();
        await c.closed;
      },
    });
    const g = await gateway(f, { limits: { highWaterBytes: HIGH }, browserTimeoutMs: 0 });
    const c = await client(g, '', { pingMs: 0 });
    await c.waitFor(() => true, 5000, 'UUID');
    // The browser stops reading at the TCP level, as a stuck tab would.
    (c.ws as unknown as { _socket: net.Socket })._socket.pause();
    const session = g.tunnel.sessions.get(c.uuid as string);
    assert.ok(session);
    await until(() => session.stats.guacdPauses > 0 && blocked > 0, 'guacd paused and its writes blocked', 10_000);
    // What was in flight when guacd was paused still fills the kernel's buffers (a drain or
    // two on a loaded machine): wait until guacd's writes have stalled for 250 ms.
    for (let last = -1; written !== last;) {
      last = written;
      await new Promise((r) => setTimeout(r, 250));
    }
    const before = written;
    // Nothing moves while the browser is stalled: guacd's writes stay blocked.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(written, before, 'guacd kept writing while paused');
    assert.ok(session.stats.guacdPaused);
    process.stderr.write(`# stalled browser: buffered max ${session.stats.maxBrowserBuffered}, pauses ${session.stats.guacdPauses}, written ${written}\n`);
    assert.ok(session.stats.maxBrowserBuffered <= HIGH + 2 * 65536,
      `gateway buffered ${session.stats.maxBrowserBuffered} bytes for the browser`);

    // Reading again drains the gateway and resumes guacd.
    (c.ws as unknown as { _socket: net.Socket })._socket.resume();
    await until(() => drained > 0 && written > before + 10 * chunk.length, 'guacd resumed', 10_000);
    assert.equal(c.partialMessages, 0);
  });

  it('drops a browser that stops answering pings (CLIENT_TIMEOUT) and frees the session', async () => {
    let conn: FakeConnection | undefined;
    const f = await fake({ afterReady: async (c) => { conn = c; await c.closed; } });
    const records: SessionRecord[] = [];
    const g = await gateway(f, { browserTimeoutMs: 400, onSessionEnd: (r) => { records.push(r); } });
    const c = await client(g, '', { pingMs: 0 });
    await until(() => conn !== undefined, 'guacd connection');
    (c.ws as unknown as { _socket: net.Socket })._socket.pause();
    await until(() => records.length === 1, 'session end', 5000);
    assert.equal(records[0].status, STATUS.CLIENT_TIMEOUT);
    await (conn as FakeConnection).closed;
    assert.equal(g.tunnel.sessions.size, 0);
  });

  it('ends the session with CLIENT_BAD_REQUEST on a browser protocol error', async () => {
    let conn: FakeConnection | undefined;
    const f = await fake({ afterReady: async (c) => { conn = c; await c.closed; } });
    const g = await gateway(f);
    const c = await client(g);
    await until(() => conn !== undefined, 'guacd connection');
    c.sendRaw('3.key,2.65;4.junk');
    c.sendRaw('x;');
    const err = await c.waitForOpcode('error');
    assert.equal(err.args[1], String(0x0300));
    const closed = await c.waitClosed();
    assert.equal(closed.reason, '768');
    assert.equal(closed.code, STATUS.CLIENT_BAD_REQUEST.ws);
    await (conn as FakeConnection).closed;
  });

  it('drops read-only viewers\' input and keeps sync, ack, nop, get, disconnect', async () => {
    let conn: FakeConnection | undefined;
    const f = await fake({ afterReady: async (c) => { conn = c; await c.closed; } });
    const g = await gateway(f, { resolve: async () => ({ protocol: 'ssh', params: { hostname: 'h' }, readOnly: true }) });
    const c = await client(g, '', { autoSync: false });
    await until(() => conn !== undefined, 'guacd connection');
    const handshake = f.received.find((i) => i.opcode === 'connect');
    assert.ok(handshake);
    const sent: [string, ...(string | number)[]][] = [
      ['key', 65, 1], ['mouse', 1, 1, 1], ['touch', 0, 1, 1, 1, 1, 0, 1], ['size', 800, 600],
      ['clipboard', 3, 'text/plain'], ['blob', 3, 'aGk='], ['end', 3], ['file', 5, 'text/plain', 'x'],
      ['pipe', 7, 'text/plain', 'STDIN'], ['put', 1, 9, 'text/plain', 'f'], ['audio', 11, 'audio/L16'],
      ['argv', 13, 'text/plain', 'font-size'], ['usbconnect', 1], ['usbdata', 1, 'AA=='], ['usbdisconnect', 1],
      ['frobnicate'],
      ['sync', 1], ['ack', 2, 'OK', 0], ['nop'], ['get', 1, '/'], ['disconnect'],
    ];
    const before = conn!.received.length;
    for (const [op, ...args] of sent) c.send(op, ...args);
    await conn!.waitFor('disconnect');
    assert.deepEqual(conn!.received.slice(before).map((i) => i.opcode), ['sync', 'ack', 'nop', 'get', 'disconnect']);
  });

  it('passes guacd\'s error through once and closes with its status', async () => {
    const f = await fake({ afterReady: async (c) => { c.send('error', 'Upstream went away', 0x0203); await c.closed; } });
    const records: SessionRecord[] = [];
    const g = await gateway(f, { onSessionEnd: (r) => { records.push(r); } });
    const c = await client(g);
    const closed = await c.waitClosed();
    assert.equal(closed.reason, '515');
    assert.equal(closed.code, STATUS.UPSTREAM_ERROR.ws);
    assert.deepEqual(c.instructions.filter((r) => r.opcode === 'error').map((r) => r.args), [['Upstream went away', '515']]);
    await until(() => records.length === 1, 'history');
    assert.equal(records[0].status, STATUS.UPSTREAM_ERROR);
    assert.match(records[0].guacdConnectionId ?? '', /^\$fake-/);
  });

  it('reports a handshake error from guacd with its status', async () => {
    const f = await fake({ error: { message: 'Login refused', status: 0x0301 } });
    const g = await gateway(f);
    const c = await client(g);
    const closed = await c.waitClosed();
    assert.equal(closed.reason, '769');
    assert.equal(closed.code, 1008);
    assert.ok(c.instructions.some((r) => r.opcode === 'error' && r.args[1] === '769'));
  });

  it('answers UPSTREAM_NOT_FOUND (519) when guacd is unreachable', async () => {
    const port = await freePort();
    const g = await gateway({ port });
    const c = await client(g);
    const err = await c.waitForOpcode('error');
    assert.equal(err.args[1], '519');
    assert.equal((await c.waitClosed()).reason, '519');
  });

  it('awaits the resolver before contacting guacd, and a refusal never reaches guacd', async () => {
    const f = await fake({});
    let resolvedAt = 0;
    let gate!: () => void;
    const opened = new Promise<void>((r) => { gate = r; });
    const g = await gateway(f, {
      resolve: async (req) => {
        if (req.query.get('deny')) throw new GuacError('GUAC_TOKEN_INVALID', 'CLIENT_UNAUTHORIZED', 'The access token is invalid.');
        await opened;
        resolvedAt = Date.now();
        return { protocol: 'ssh', params: { hostname: 'h' } };
      },
    });
    const denied = await client(g, '?deny=1');
    assert.equal((await denied.waitClosed()).reason, '769');
    const c = await client(g);
    await c.waitFor(() => true, 5000, 'UUID');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(f.connections.length, 0, 'guacd contacted before the resolver finished');
    gate();
    await f.nextConnection(5000);
    assert.ok(resolvedAt > 0);
    assert.equal(f.connections.length, 1);
  });

  it('times out the handshake with UPSTREAM_TIMEOUT', async () => {
    const f = await fake({ script: async (c) => { await c.closed; } });
    const g = await gateway(f, { handshakeTimeoutMs: 300 });
    const c = await client(g);
    const closed = await c.waitClosed(5000);
    assert.equal(closed.reason, String(0x0202));
    await until(() => f.connections.length === 1, 'connection');
    await f.connections[0].closed;
  });

  it('ends idle sessions with SESSION_TIMEOUT; pings and syncs are not activity, input is', async () => {
    const f = await fake({ afterReady: async (c) => { await c.closed; } });
    const g = await gateway(f, { idleTimeoutMs: 400 });
    const idle = await client(g, '', { pingMs: 50 });
    const busy = await client(g, '', { pingMs: 50 });
    const t0 = Date.now();
    const mover = setInterval(() => { busy.send('mouse', 1, 1, 0); idle.send('sync', 1); }, 100);
    cleanups.push(() => clearInterval(mover));
    const closed = await idle.waitClosed(5000);
    assert.equal(closed.reason, String(0x020a));
    assert.equal(closed.code, STATUS.SESSION_TIMEOUT.ws);
    assert.ok(Date.now() - t0 >= 350);
    assert.equal(busy.ws.readyState, busy.ws.OPEN, 'an active session timed out');
    clearInterval(mover);
    assert.equal((await busy.waitClosed(5000)).reason, String(0x020a));
  });

  it('ends sessions at their maximum length with SESSION_CLOSED, the shorter of tunnel and target', async () => {
    const f = await fake({ afterReady: async (c) => { await c.closed; } });
    const g = await gateway(f, {
      maxSessionMs: 10_000,
      resolve: async () => ({ protocol: 'ssh', params: { hostname: 'h' }, maxDurationMs: 300 }),
    });
    const c = await client(g);
    const t0 = Date.now();
    const closed = await c.waitClosed(5000);
    assert.equal(closed.reason, String(0x020b));
    assert.ok(Date.now() - t0 < 3000);
    assert.ok(c.instructions.some((r) => r.opcode === 'error' && r.args[1] === String(0x020b)));
  });

  it('sends guacd disconnect and closes its socket at once when the browser leaves, and reports history exactly once', async () => {
    let conn: FakeConnection | undefined;
    const f = await fake({ afterReady: async (c) => { conn = c; c.send('sync', 1); await c.closed; } });
    const records: SessionRecord[] = [];
    const starts: string[] = [];
    const g = await gateway(f, { onSessionStart: (i) => { starts.push(i.id); }, onSessionEnd: (r) => { records.push(r); } });
    const c = await client(g);
    await c.waitForOpcode('sync');
    c.send('key', 65, 1);
    await conn!.waitFor('key');
    const t0 = Date.now();
    c.terminate();
    // guacd is told (it would notice the closed socket only after 15 s, the owner's leave notice with it).
    await conn!.waitFor('disconnect', 1000);
    await conn!.closed;
    assert.ok(Date.now() - t0 < 1000, `guacd socket closed after ${Date.now() - t0} ms`);
    // A late guacd-side close must not report again.
    conn!.end();
    await until(() => records.length >= 1, 'history');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(records.length, 1);
    assert.deepEqual(starts, [records[0].id]);
    assert.equal(records[0].status, STATUS.SUCCESS);
    assert.equal(records[0].transport, 'websocket');
    assert.ok(records[0].bytesFromBrowser > 0 && records[0].bytesToBrowser > 0);
    assert.ok(records[0].end >= records[0].start);
    assert.equal(g.tunnel.sessions.size, 0);
  });

  it('refuses sessions beyond maxSessions with SERVER_BUSY', async () => {
    const f = await fake({ afterReady: async (c) => { await c.closed; } });
    const g = await gateway(f, { limits: { maxSessions: 1 } });
    const first = await client(g);
    await first.waitFor(() => true, 5000, 'UUID');
    const second = await client(g);
    assert.equal((await second.waitClosed()).reason, String(0x0201));
  });

  it('closes every session with SESSION_CLOSED when the tunnel closes', async () => {
    const f = await fake({ afterReady: async (c) => { await c.closed; } });
    const g = await gateway(f);
    const c = await client(g);
    await until(() => f.connections.length === 1 && g.tunnel.sessions.size === 1, 'session');
    await until(() => [...g.tunnel.sessions.values()][0].state === 'open', 'open session');
    await g.tunnel.close();
    assert.equal((await c.waitClosed()).reason, String(0x020b));
    await f.connections[0].closed;
  });
});
