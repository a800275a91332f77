/**
 * A browser that stops reading must not grow the gateway (issue 15, item 2).
 * Every path where the browser's input makes output is bounded: the
 * gateway stops reading a browser whose output is over the high-water mark,
 * cuts one that stays stuck (CLIENT_TIMEOUT), and refuses internal
 * instructions guacamole-common-js never sends (CLIENT_BAD_REQUEST). The
 * WebSocket attack runs over a real SSH session against a gateway process
 * of its own, whose memory is measured; the HTTP one needs guacd output
 * faster than a terminal makes it, so the fake guacd floods.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { encode } from '../../src/protocol/encoder.js';
import { STATUS } from '../../src/protocol/status.js';
import type { Resolver } from '../../src/tunnel/resolver.js';
import type { SessionRecord } from '../../src/tunnel/types.js';
import { waitFor } from '../helpers/env.js';
import { startFakeGuacd } from '../helpers/fake-guacd.js';
import { fakeTarget, recordFor } from '../helpers/fuzz-rounds.js';
import { describeStalledReader, runStalledReader } from '../helpers/stalled-reader.js';
import { Cleanups, expectClosedWith, gatewayFor, markerPath, openSession, realGuacd, runInShell, shellReady, sshParams } from '../helpers/security.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const sshResolver: Resolver = async () => ({ protocol: 'ssh', params: sshParams() });

/** A fake guacd that, once ready, writes `blob` instructions as fast as its socket takes them; `written()` counts the bytes. */
async function floodingGuacd(): Promise<{ address: { host: string; port: number }; written(): number }> {
  let written = 0;
  const chunk = encode('blob', 1, 'A'.repeat(4000)).repeat(16);
  const fake = await startFakeGuacd({
    afterReady: async (c) => {
      c.send('sync', 0);
      const pump = (): void => {
        while (!c.socket.destroyed) {
          written += chunk.length;
          if (!c.socket.write(chunk)) return;
        }
      };
      c.socket.on('drain', pump);
      pump();
      await c.closed;
    },
  });
  cleanups.add(() => fake.close());
  return { address: { host: fake.host, port: fake.port }, written: () => written };
}

/** One raw HTTP request on a connection of its own, which never reads the answer. */
function rawRequest(port: number, head: string, body = ''): net.Socket {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.pause();
  socket.write(`${head}\r\nHost: 127.0.0.1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  cleanups.add(() => socket.destroy());
  return socket;
}

describe('a browser that stops reading (WebSocket)', { timeout: 120_000 }, () => {
  it('floods pings and never reads: the gateway stops reading it, its memory stays flat, the session ends with CLIENT_TIMEOUT', async () => {
    // The drop comes some seconds after browserTimeoutMs: the kernel's socket buffers go on taking
    // the backlog in dribs for a while (measured: 6 s) before the browser is seen to take nothing.
    const browserTimeoutMs = 3000;
    const r = await runStalledReader({ guacd: realGuacd(), durationMs: 15_000, browserTimeoutMs });
    process.stderr.write(`# stalled reader (15 s): ${describeStalledReader(r)}\n`);
    // Unfixed, the gateway read everything and queued the echoes: 65 → 1,998 MiB in 12 s.
    assert.ok(r.rssPeakMiB - r.rssStartMiB < 128, `gateway RSS grew from ${r.rssStartMiB} to ${r.rssPeakMiB} MiB`);
    assert.ok(r.droppedAfterMs.length >= 1, 'the gateway never dropped the stalled browser');
    // What the gateway holds for a session held back, after a full collection: its backlog, about 2 MiB.
    assert.ok(r.heapEndMiB - r.heapStartMiB < 8, `gateway heap+external after GC ${r.heapStartMiB} → ${r.heapEndMiB} MiB`);
    // Flat while the first session is held back: from its third second to its drop (unfixed: +160 MiB a second).
    const held = r.rssBySecond.slice(2, Math.floor(r.droppedAfterMs[0] / 1000));
    assert.ok(held.length >= 2 && Math.max(...held) - held[0] < 8, `gateway RSS while the browser was held back: ${held.join(' ')} MiB`);
    const stalled = r.ends.filter((e) => e.status === STATUS.CLIENT_TIMEOUT.guac);
    assert.ok(stalled.length >= 1, `session ends: ${JSON.stringify(r.ends)}`);
    assert.equal(stalled[0].code, 'GUAC_TUNNEL_BROWSER_STALLED');
    assert.match(stalled[0].message ?? '', /stopped reading/);
  });
});

describe('a browser that reads again (WebSocket, real guacd)', { timeout: 120_000 }, () => {
  it('is held back while its backlog is over the mark, then gets every echo, and its input and guacd are read again', async () => {
    const g = await gatewayFor(cleanups, { resolve: sshResolver });
    const c = await openSession(cleanups, g, '', { pingMs: 0 });
    await shellReady(cleanups, c);
    const session = g.tunnel.sessions.get(c.uuid as string);
    assert.ok(session);
    const socket = (c.ws as unknown as { _socket: net.Socket })._socket;
    socket.pause();
    // Pings until the gateway holds the browser back (790 KiB of echoes a message, under maxMessageBytes).
    const pings = encode('', 'ping', '1733300000000').repeat(30_000);
    let sent = 0;
    await waitFor(() => {
      if (!session.stats.guacdPaused && c.ws.bufferedAmount === 0) {
        c.sendRaw(pings);
        sent += 30_000;
      }
      return session.stats.guacdPaused;
    }, { timeoutMs: 10_000, intervalMs: 20, what: 'the gateway to hold the browser back' });
    const echoed = (): number => c.received.filter((r) => r.opcode === '' && r.args[0] === 'ping').length;
    socket.resume();
    await waitFor(() => echoed() === sent && !session.stats.guacdPaused, { timeoutMs: 20_000, what: `all ${sent} echoes (${echoed()} so far) and guacd resumed` });
    // Its input is read again, and guacd's output flows: a command typed now runs and draws.
    const marker = markerPath(cleanups, 'backlog');
    const frames = c.received.length;
    await runInShell(c, `touch ${marker}`, marker, 15_000);
    await c.waitForOpcode('sync', 10_000, frames);
    assert.equal(c.ws.readyState, c.ws.OPEN);
    assert.equal(c.partialMessages, 0);
  });
});

describe('internal instructions (WebSocket, real guacd)', { timeout: 120_000 }, () => {
  it('echoes a ping of up to 64 characters; a longer one, or any other internal instruction, ends the session with CLIENT_BAD_REQUEST', async () => {
    const records: SessionRecord[] = [];
    const g = await gatewayFor(cleanups, { resolve: sshResolver, onSessionEnd: (r) => { records.push(r); } });
    const ok = await openSession(cleanups, g, '', { pingMs: 0 });
    const longest = '9'.repeat(64);
    ok.ping(longest);
    const echo = await ok.waitFor((r) => r.opcode === '' && r.args[0] === 'ping', 10_000, 'the echo');
    assert.deepEqual(echo.args, ['ping', longest]);

    for (const [what, raw] of [
      ['a ping of 65 characters', encode('', 'ping', '9'.repeat(65))],
      ['a ping of 8,000 characters', encode('', 'ping', '9'.repeat(8000))],
      ['a ping without a timestamp', encode('', 'ping')],
      ['a ping with two', encode('', 'ping', '1', '2')],
      ['an unknown internal instruction', encode('', 'foo')],
    ] as const) {
      const c = await openSession(cleanups, g, '', { pingMs: 0 });
      c.sendRaw(raw);
      const closed = await expectClosedWith(c, STATUS.CLIENT_BAD_REQUEST, { timeoutMs: 10_000 }).catch((err: unknown) => assert.fail(`${what}: ${String(err)}`));
      assert.equal(closed.message, 'The browser sent an invalid tunnel instruction.', what);
      assert.ok(!c.received.some((r) => r.opcode === '' && r.args[0] === 'ping'), `${what} was echoed`);
      assert.equal((await recordFor(records, c.uuid as string, what)).status, STATUS.CLIENT_BAD_REQUEST, what);
    }
    assert.equal(ok.ws.readyState, ok.ws.OPEN, 'the well-behaved session was ended');
  });
});

describe('a browser that stops reading (HTTP tunnel, fake guacd flooding)', { timeout: 60_000 }, () => {
  it('writes and never reads: its backlog stays under the mark, its writes are held, the session ends with CLIENT_TIMEOUT', async () => {
    const HIGH = 256 * 1024;
    const guacd = await floodingGuacd();
    const records: SessionRecord[] = [];
    const g = await gatewayFor(cleanups, {
      guacd: guacd.address, resolve: fakeTarget, browserTimeoutMs: 2000, limits: { highWaterBytes: HIGH },
      onSessionEnd: (r) => { records.push(r); },
    });
    const res = await fetch(`${g.httpUrl}?connect`, { method: 'POST', body: '' });
    assert.equal(res.status, 200);
    const token = res.headers.get('Guacamole-Tunnel-Token') as string;
    const uuid = await res.text();
    const session = g.tunnel.sessions.get(uuid);
    assert.ok(session);
    // Never a read; a write (a nop, as Guacamole.Client sends) every 100 ms, each on a connection of its own.
    const port = new URL(g.httpUrl).port;
    const writer = setInterval(() => rawRequest(Number(port), `POST /tunnel?write:${uuid} HTTP/1.1\r\nGuacamole-Tunnel-Token: ${token}`, encode('nop')), 100);
    cleanups.add(() => clearInterval(writer));
    // Unfixed, every write counted as life: the session lived on, holding guacd paused, for as long as the client wrote.
    const record = await recordFor(records, uuid, 'the session end');
    clearInterval(writer);
    assert.equal(record.status, STATUS.CLIENT_TIMEOUT);
    assert.equal(record.message, 'The browser stopped reading what the gateway sent.');
    assert.ok(session.stats.guacdPauses >= 1, 'guacd was never paused');
    assert.ok(session.stats.maxBrowserBuffered <= HIGH + 128 * 1024, `the gateway held ${session.stats.maxBrowserBuffered} bytes for the browser`);
    assert.ok(guacd.written() < 64 * 1048576, `guacd wrote ${guacd.written()} bytes`);
    await waitFor(() => g.tunnel.sessions.size === 0, { what: 'the session to go' });
  });

  it('opens reads and never takes them: an ended read it has not taken stays its backlog, guacd stays paused, new reads are no sign of life', async () => {
    const HIGH = 256 * 1024;
    const guacd = await floodingGuacd();
    const records: SessionRecord[] = [];
    const g = await gatewayFor(cleanups, {
      guacd: guacd.address, resolve: fakeTarget, browserTimeoutMs: 3000, limits: { highWaterBytes: HIGH },
      onSessionEnd: (r) => { records.push(r); },
    });
    const res = await fetch(`${g.httpUrl}?connect`, { method: 'POST', body: '' });
    const token = res.headers.get('Guacamole-Tunnel-Token') as string;
    const uuid = await res.text();
    const session = g.tunnel.sessions.get(uuid);
    assert.ok(session);
    const port = Number(new URL(g.httpUrl).port);
    const read = (n: number): net.Socket => rawRequest(port, `GET /tunnel?read:${uuid}:${n} HTTP/1.1\r\nGuacamole-Tunnel-Token: ${token}`);
    read(0);
    await waitFor(() => session.stats.guacdPaused, { what: 'guacd paused behind the first read' });
    // guacd's writes stall once the kernel's buffers between it and the gateway are full.
    let last = -1;
    await waitFor(() => {
      const stalled = guacd.written() === last;
      last = guacd.written();
      return stalled;
    }, { intervalMs: 250, what: "guacd's writes to stall" });
    const before = guacd.written();
    // A new read every 500 ms: the next ends the first. Unfixed, the ended read's bytes were forgotten and
    // guacd resumed into the new read; and each new read counted as the browser taking bytes.
    let n = 1;
    const reader = setInterval(() => read(n++), 500);
    cleanups.add(() => clearInterval(reader));
    const record = await recordFor(records, uuid, 'the session end');
    clearInterval(reader);
    assert.equal(record.status, STATUS.CLIENT_TIMEOUT);
    assert.equal(record.message, 'The browser stopped reading what the gateway sent.');
    assert.ok(guacd.written() - before < 1048576, `guacd wrote ${guacd.written() - before} more bytes after the second read`);
  });
});
