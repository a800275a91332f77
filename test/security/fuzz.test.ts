/**
 * Hostile streams in both directions. From the browser, against the real
 * guacd 1.3.0 (this file's own, see useOwnGuacd) with a live SSH session
 * looking on: every malformed stream ends its
 * own session with a protocol-error status, the bystander keeps typing, and
 * guacd only ever sees valid protocol (checked exactly against the fake
 * guacd for seeded random mutations). From guacd (the fake: the real one
 * cannot be made to send garbage): the same, with UPSTREAM_ERROR. Memory
 * stays bounded throughout (10 MB elements included), and the connect data
 * and raw HTTP are fuzzed too.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { encode } from '../../src/protocol/encoder.js';
import { STATUS, type StatusInfo } from '../../src/protocol/status.js';
import { tokenResolver, type Resolver } from '../../src/tunnel/resolver.js';
import { sealToken } from '../../src/tunnel/token.js';
import type { SessionRecord } from '../../src/tunnel/types.js';
import { waitFor } from '../helpers/env.js';
import { startFakeGuacd, type FakeConnection } from '../helpers/fake-guacd.js';
import { BROWSER_ERRORS, fakeGateway, fakeTarget, fuzzBrowserStreams, fuzzGuacdStreams, recordFor } from '../helpers/fuzz-rounds.js';
import { TEN_MB, malformedCases, mulberry32, randInt } from '../helpers/hostile.js';
import { memoryAfterGc, mib } from '../helpers/procfs.js';
import { Cleanups, clientFor, gatewayFor, guacdRetries, markerPath, openSession, runInShell, shellReady, sshParams, startAppServer, useOwnGuacd } from '../helpers/security.js';
import { TunnelClient } from '../helpers/ws-client.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());
useOwnGuacd();

const sshResolver: Resolver = async () => ({ protocol: 'ssh', params: sshParams() });

/** Sends each part as its own WebSocket message (binary: the bytes are not ours to validate as text). */
function sendParts(c: TunnelClient, parts: Buffer[]): void {
  for (const p of parts) c.sendRaw(p);
}

describe('fuzz: browser → gateway, with the real guacd', { timeout: 180_000 }, () => {
  it('each malformed stream ends its own session with a protocol error; the bystander goes on', async () => {
    const records: SessionRecord[] = [];
    const g = await gatewayFor(cleanups, { resolve: sshResolver, handshakeTimeoutMs: 8000, onSessionEnd: (r) => { records.push(r); } });
    const bystander = await openSession(cleanups, g);
    await shellReady(cleanups, bystander);
    const mem0 = await memoryAfterGc();

    const cases = [
      ...malformedCases('key', 60 * 1024).map((c, i) => ({ ...c, whenOpen: i % 2 === 0 })),
      // One WebSocket message over maxMessageBytes (1 MiB): ws refuses it with 1009 (reason: CLIENT_OVERRUN).
      { name: 'one 10 MB message', parts: [Buffer.concat([Buffer.from(`9.clipboard,${TEN_MB}.`), Buffer.alloc(TEN_MB, 0x41), Buffer.from(';')])], whenOpen: true },
    ];
    for (const hostile of cases) {
      // Half the cases hit a session still connecting to guacd, half a live one.
      const c = hostile.whenOpen ? await openSession(cleanups, g) : await clientFor(cleanups, g);
      if (!hostile.whenOpen) await c.waitFor(() => true, 10_000, 'the UUID');
      sendParts(c, hostile.parts);
      hostile.parts = []; // the test's own 10 MB must not count as the gateway's
      const closed = await c.waitClosed(20_000).catch((err: unknown) => assert.fail(`${hostile.name}: ${String(err)}`));
      const record = await recordFor(records, c.uuid as string, hostile.name);
      assert.ok(BROWSER_ERRORS.includes(record.status), `${hostile.name}: ended with ${record.status.name}`);
      // Every close carries the numeric status guacamole-common-js shows, ws's own refusals included.
      assert.equal(closed.reason, String(record.status.guac), hostile.name);
    }

    // A message that is not valid UTF-8 as text: ws itself refuses the frame (1007).
    const text = await clientFor(cleanups, g);
    await text.waitFor(() => true, 10_000, 'the UUID');
    text.ws.send(Buffer.from([0x34, 0x2e, 0x6b, 0x65, 0x79, 0xff, 0x3b]), { binary: false });
    const refused = await text.waitClosed(10_000);
    assert.deepEqual([refused.code, refused.reason], [1007, String(STATUS.CLIENT_BAD_REQUEST.guac)]);
    assert.equal((await recordFor(records, text.uuid as string, 'invalid text frame')).status, STATUS.CLIENT_BAD_REQUEST);

    // NUL inside a value is valid protocol: relayed, the session stays up.
    const nul = await openSession(cleanups, g);
    const nulFailed = (err: unknown) => assert.fail(`NUL in a value: ${String(err)} ${JSON.stringify(nul.received.slice(-3))}`);
    nul.sendRaw(Buffer.from('3.key,1.\u0000,1.1;5.mouse,1.\u0000,1.\u0000,1.0;', 'utf8'));
    const seen = nul.received.length;
    await nul.waitForOpcode('sync', 10_000, seen).catch(nulFailed);
    assert.equal(nul.ws.readyState, nul.ws.OPEN, 'NUL in a value closed the session');

    const marker = markerPath(cleanups, 'fuzz');
    await runInShell(bystander, `touch ${marker}`, marker, 15_000);
    assert.equal(bystander.ws.readyState, bystander.ws.OPEN);
    const mem1 = await memoryAfterGc();
    process.stderr.write(`# browser fuzz (real guacd): ${cases.length + 2} hostile sessions, heap+external ${mib(mem0.heapAndExternal)} → ${mib(mem1.heapAndExternal)} MiB, sessions reopened after guacd failed its handshake: ${guacdRetries.count}\n`);
    assert.ok(mem1.heapAndExternal - mem0.heapAndExternal < 48 * 1048576, 'memory grew by more than 48 MiB');
  });

  it('seeded random mutations: guacd only ever receives valid instructions', async () => {
    const r = await fuzzBrowserStreams(100, 20240607);
    process.stderr.write(`# browser fuzz (random): ${r.rounds} streams, ${r.errors} ended with a protocol error, the rest relayed\n`);
    assert.ok(r.errors > r.rounds / 10 && r.errors < r.rounds, `${r.errors} errors: the mutations are not exercising both paths`);
  });
});

describe('fuzz: guacd → gateway (fake guacd)', { timeout: 120_000 }, () => {
  it('each malformed guacd stream ends its session with UPSTREAM_ERROR; the bystander goes on; memory stays bounded', async () => {
    const { next, g, records } = await fakeGateway(cleanups);
    const bystander = await clientFor(cleanups, g);
    const bystanderConn = await next();
    const mem0 = await memoryAfterGc();
    let peak = 0;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
    cleanups.add(() => clearInterval(sampler));
    const rss0 = process.memoryUsage().rss;

    for (const hostile of malformedCases('blob', 256 * 1024)) {
      const c = await clientFor(cleanups, g);
      const conn = await next();
      conn.send('sync', 1);
      await c.waitForOpcode('sync', 5000);
      for (const part of hostile.parts) {
        if (conn.socket.destroyed) break;
        if (!conn.socket.write(part)) await Promise.race([new Promise((r) => conn.socket.once('drain', r)), conn.closed]);
      }
      const closed = await c.waitClosed(10_000).catch((err: unknown) => assert.fail(`${hostile.name}: ${String(err)}`));
      assert.equal(closed.reason, String(STATUS.UPSTREAM_ERROR.guac), hostile.name);
      const err = c.instructions.find((r) => r.opcode === 'error');
      assert.match(err?.args[0] ?? '', /sent invalid data/, hostile.name);
      assert.equal((await recordFor(records, c.uuid as string, hostile.name)).status, STATUS.UPSTREAM_ERROR);
      await conn.closed;
      assert.equal(c.partialMessages, 0, `${hostile.name}: a message split an instruction`);
    }
    clearInterval(sampler);
    bystanderConn.send('sync', 7);
    await bystander.waitFor((r) => r.opcode === 'sync' && r.args[0] === '7', 5000, 'the bystander\'s frame');
    bystander.send('key', 66, 1);
    await bystanderConn.waitFor('key', 5000);
    const mem1 = await memoryAfterGc();
    process.stderr.write(`# guacd fuzz: peak RSS +${mib(peak - rss0)} MiB during 10 MB elements; heap+external ${mib(mem0.heapAndExternal)} → ${mib(mem1.heapAndExternal)} MiB\n`);
    assert.ok(peak - rss0 < 96 * 1048576, `RSS peaked ${mib(peak - rss0)} MiB above the start`);
    assert.ok(mem1.heapAndExternal - mem0.heapAndExternal < 16 * 1048576, 'memory did not come back');
  });

  it('garbage during the handshake fails the connect with UPSTREAM_ERROR', async () => {
    const scripts: ((conn: FakeConnection) => Promise<void>)[] = [
      async (conn) => { await conn.expect('select'); conn.sendRaw('garbage;'); await conn.closed; },
      async (conn) => { await conn.expect('select'); conn.sendRaw(Buffer.concat([Buffer.from('4.args,2.'), Buffer.from([0xff, 0xfe]), Buffer.from(';')])); await conn.closed; },
      async (conn) => { await conn.expect('select'); conn.sendRaw(`4.args,${TEN_MB}.`); conn.sendRaw(Buffer.alloc(1 << 20, 0x41)); await conn.closed; },
      async (conn) => { await conn.expect('select'); conn.sendRaw('4.args,13.VERSION_1_3_0,8.hostname;5.ready'); conn.end(); await conn.closed; },
    ];
    let n = 0;
    const fake = await startFakeGuacd((conn) => scripts[n++ % scripts.length](conn));
    cleanups.add(() => fake.close());
    const g = await gatewayFor(cleanups, { guacd: { host: fake.host, port: fake.port }, resolve: fakeTarget });
    for (let i = 0; i < scripts.length; i++) {
      const c = await clientFor(cleanups, g);
      const closed = await c.waitClosed(10_000);
      const code = Number(closed.reason);
      assert.ok(code === STATUS.UPSTREAM_ERROR.guac || code === STATUS.SERVER_ERROR.guac, `handshake case ${i}: ${closed.reason}`);
    }
    assert.equal(g.tunnel.sessions.size, 0);
  });

  it('what guacd sends in the same packet as ready reaches the session: its error, garbage, hang-up, a prompt', async () => {
    const cases: { tail: string; end: boolean; status?: StatusInfo; message?: RegExp }[] = [
      { tail: encode('error', 'Aborted. See logs.', STATUS.UPSTREAM_NOT_FOUND.guac), end: false, status: STATUS.UPSTREAM_NOT_FOUND, message: /^Aborted/ },
      { tail: '4.sync,1.1;garbage', end: false, status: STATUS.UPSTREAM_ERROR, message: /sent invalid data/ },
      { tail: encode('sync', 1), end: true, status: STATUS.UPSTREAM_ERROR, message: /was lost/ },
      { tail: encode('sync', 1) + encode('disconnect'), end: true, status: STATUS.SUCCESS },
      { tail: encode('required', 'password'), end: false },
    ];
    let n = 0;
    const fake = await startFakeGuacd(async (conn) => {
      const { tail, end } = cases[n++];
      await conn.expect('select');
      conn.send('args', 'VERSION_1_3_0', 'hostname', 'password');
      await conn.waitFor('connect');
      conn.sendRaw(encode('ready', '$same-packet') + tail);
      if (end) conn.end();
      await conn.closed;
    });
    cleanups.add(() => fake.close());
    const g = await gatewayFor(cleanups, { guacd: { host: fake.host, port: fake.port }, resolve: fakeTarget });
    for (const { tail, status, message } of cases) {
      const c = await clientFor(cleanups, g);
      if (!status) {
        // guacd asks for a credential: the browser is shown the prompt and the session stays up.
        await c.waitForOpcode('required', 5000);
        assert.equal(c.ws.readyState, c.ws.OPEN, `${tail}: the session ended`);
        c.close();
        continue;
      }
      const closed = await c.waitClosed(10_000);
      assert.equal(closed.reason, String(status.guac), `${JSON.stringify(tail)}: ${JSON.stringify(c.instructions.slice(-2))}`);
      if (message) assert.match(c.instructions.find((r) => r.opcode === 'error')?.args[0] ?? '', message);
    }
  });

  it('seeded random mutations of guacd output: a clean error or a clean relay, never a broken message', async () => {
    const r = await fuzzGuacdStreams(100, 1337);
    process.stderr.write(`# guacd fuzz (random): ${r.rounds} streams, ${r.errors} ended with UPSTREAM_ERROR, the rest relayed whole\n`);
    assert.ok(r.errors > r.rounds / 10 && r.errors < r.rounds, `${r.errors} errors: the mutations are not exercising both paths`);
  });
});

describe('fuzz: connect data and raw HTTP', { timeout: 60_000 }, () => {
  let webRoot: string;
  before(() => { webRoot = mkdtempSync(join(tmpdir(), 'gg-sec-web-')); });
  after(() => rmSync(webRoot, { recursive: true, force: true }));

  it('random query strings and ?connect bodies are refused cleanly, never crash', async () => {
    const SECRET = 'fuzz-secret-0123456789abcdef0123';
    const fake = await startFakeGuacd({});
    cleanups.add(() => fake.close());
    const guacd = { host: fake.host, port: fake.port };
    const port = await startAppServer(cleanups, { guacd, resolve: tokenResolver({ secret: SECRET }) }, { webRoot, guacd: () => guacd });
    const good = sealToken({ exp: Math.floor(Date.now() / 1000) + 300, target: { protocol: 'ssh', params: { hostname: 'h' } } }, SECRET);
    const rng = mulberry32(4242);
    const pieces = ['token=', good, 'width=', 'height=', 'dpi=', 'audio=', 'image=', 'timezone=', '%', '%zz', '%ff%fe', '%00', '&', '=', '1e309', '-1',
      '99999999', 'audio/L16', 'x/;;', 'Europe/Paris', '../../etc', '\u00e9', '😀', 'a'.repeat(5000), '+', '#', '?'];
    const randomQuery = () => Array.from({ length: randInt(rng, 1, 12) }, () => pieces[randInt(rng, 0, pieces.length - 1)]).join('');
    const allowed = new Set([STATUS.CLIENT_UNAUTHORIZED.guac, STATUS.CLIENT_BAD_REQUEST.guac, STATUS.SUCCESS.guac]);
    for (let i = 0; i < 80; i++) {
      const query = randomQuery();
      const res = await fetch(`http://127.0.0.1:${port}/tunnel?connect`, { method: 'POST', body: query });
      const status = Number(res.headers.get('Guacamole-Status-Code') ?? (res.status === 200 ? 0 : -1));
      assert.ok(allowed.has(status), `?connect ${JSON.stringify(query.slice(0, 80))}: HTTP ${res.status}, ${status}`);
      await res.arrayBuffer();
    }
    for (let i = 0; i < 40; i++) {
      const query = randomQuery().replace(/#/g, '%23');
      let c: TunnelClient;
      try {
        c = await TunnelClient.connect(`ws://127.0.0.1:${port}/tunnel?${query}`, { pingMs: 0 });
      } catch {
        continue; // the client library refused to build the URL
      }
      cleanups.add(() => c.terminate());
      await waitFor(() => c.received.length > 1 || c.ws.readyState === c.ws.CLOSED, { timeoutMs: 10_000, what: `ws ${i}` });
      if (c.ws.readyState === c.ws.CLOSED) assert.ok(allowed.has(Number((await c.closed).reason)), `ws ${JSON.stringify(query.slice(0, 80))}`);
      c.terminate();
    }

    // Raw HTTP junk: each gets a 4xx (or a hang-up), and the server still serves.
    const junk = [
      'GARBAGE\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'GET /tunnel?connect HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
      `GET /tunnel HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 'POST /tunnel?connect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      'GET /tunnel HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n',
      '\u0000\u0001\u0002\r\n\r\n', 'GET /tunnel?read:00000000-0000-0000-0000-000000000000:0 HTTP/1.1\r\nHost: x\r\n\r\n',
    ];
    for (const text of junk) {
      const said = await new Promise<string>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => s.end(text));
        let out = '';
        s.on('data', (d) => { out += d.toString('latin1'); });
        s.on('error', () => undefined);
        s.on('close', () => resolve(out));
      });
      assert.match(said, /^(HTTP\/1\.1 4\d\d |$)/, `${JSON.stringify(text.slice(0, 40))} → ${said.slice(0, 40)}`);
    }
    const res = await fetch(`http://127.0.0.1:${port}/tunnel?connect`, { method: 'POST', body: `token=${encodeURIComponent(good)}` });
    assert.equal(res.status, 200, 'the server stopped serving');
    await res.text();
  });
});
