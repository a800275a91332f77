import { test, afterEach, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuacError, STATUS, encode, type StatusName } from '../../src/protocol/index.js';
import { GuacdClient, errorFromInstruction, type Instruction } from '../../src/guacd/index.js';
import { freePort, waitFor } from '../helpers/env.js';
import { startFakeGuacd, type FakeConnection, type FakeGuacd, type FakeGuacdOptions } from '../helpers/fake-guacd.js';

const open: { fakes: FakeGuacd[]; clients: GuacdClient[]; servers: net.Server[] } = { fakes: [], clients: [], servers: [] };
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'guacd-client-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

afterEach(async () => {
  await Promise.all(open.clients.splice(0).map((c) => c.close()));
  await Promise.all(open.fakes.splice(0).map((f) => f.close()));
  await Promise.all(open.servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function fake(opts: FakeGuacdOptions = {}): Promise<FakeGuacd> {
  const f = await startFakeGuacd(opts);
  open.fakes.push(f);
  return f;
}

/** A fake whose session, once ready, runs `afterReady`; and a client that completed the handshake with it. */
async function session(afterReady: (conn: FakeConnection) => Promise<void>, opts: { autoSync?: boolean; highWaterMark?: number } = {}) {
  const f = await fake({ afterReady });
  const c = await GuacdClient.connect({ host: f.host, port: f.port }, opts);
  open.clients.push(c);
  await c.handshake({ protocol: 'ssh' });
  const conn = f.connections[0];
  return { f, c, conn };
}

async function rejectsWith(promise: Promise<unknown> | (() => unknown), code: string, status: StatusName, message?: RegExp): Promise<GuacError> {
  let caught: unknown;
  try {
    await (typeof promise === 'function' ? promise() : promise);
    assert.fail('expected an error');
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof GuacError, `a GuacError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.equal(caught.status, STATUS[status]);
  if (message) assert.match(caught.message, message);
  return caught;
}

async function collect(c: GuacdClient): Promise<Instruction[]> {
  const out: Instruction[] = [];
  for await (const i of c) out.push(i);
  return out;
}

test('connect: nothing listening → GUAC_GUACD_UNREACHABLE / UPSTREAM_NOT_FOUND', async () => {
  const port = await freePort();
  await rejectsWith(GuacdClient.connect({ host: '127.0.0.1', port }), 'GUAC_GUACD_UNREACHABLE', 'UPSTREAM_NOT_FOUND', new RegExp(`127\\.0\\.0\\.1:${port}.*ECONNREFUSED`));
  await rejectsWith(GuacdClient.connect({ path: join(dir, 'no-such.sock') }), 'GUAC_GUACD_UNREACHABLE', 'UPSTREAM_NOT_FOUND', /ENOENT/);
});

test('connect: a TLS peer that never answers → GUAC_GUACD_TIMEOUT; an aborted signal → GUAC_ABORTED', async () => {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => sockets.push(s));
  open.servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await rejectsWith(GuacdClient.connect({ host: '127.0.0.1', port, tls: true }, { timeoutMs: 150 }), 'GUAC_GUACD_TIMEOUT', 'UPSTREAM_TIMEOUT', /150 ms/);
  await rejectsWith(GuacdClient.connect({ host: '127.0.0.1', port }, { signal: AbortSignal.abort() }), 'GUAC_ABORTED', 'SESSION_CLOSED');
  for (const s of sockets) s.destroy();
});

test('connect over a Unix socket and over TLS', async () => {
  const unix = await fake({ path: join(dir, 'guacd.sock') });
  const c1 = await GuacdClient.connect({ path: join(dir, 'guacd.sock') });
  open.clients.push(c1);
  assert.equal((await c1.handshake({ protocol: 'ssh' })).version, 'VERSION_1_3_0');
  assert.equal(unix.received[0].opcode, 'select');

  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const secure = await fake({ tls: { key: readFileSync(key), cert: readFileSync(cert) } });
  await rejectsWith(GuacdClient.connect({ host: secure.host, port: secure.port, tls: true }), 'GUAC_GUACD_IO', 'UPSTREAM_ERROR', /SELF_SIGNED|CERT/);
  const c2 = await GuacdClient.connect({ host: secure.host, port: secure.port, tls: { ca: readFileSync(cert), servername: 'localhost' } });
  open.clients.push(c2);
  assert.ok((await c2.handshake({ protocol: 'rdp' })).connectionId.startsWith('$fake-'));
});

test('receive() hands over instructions in order, then null when guacd closes', async () => {
  const { c } = await session(async (conn) => {
    conn.send('size', 0, 800, 600);
    conn.sendRaw(encode('img', 1, 14, 0, 'image/png', 0, 0).slice(0, 7));
    conn.sendRaw(encode('img', 1, 14, 0, 'image/png', 0, 0).slice(7) + encode('sync', 1000, 1));
    conn.send('disconnect');
    conn.end();
  });
  assert.deepEqual(await collect(c), [
    { opcode: 'size', args: ['0', '800', '600'] },
    { opcode: 'img', args: ['1', '14', '0', 'image/png', '0', '0'] },
    { opcode: 'sync', args: ['1000', '1'] },
    { opcode: 'disconnect', args: [] },
  ]);
  assert.equal(await c.receive(), null);
  assert.equal(await c.closed, undefined, 'a clean end');
});

test('autoSync echoes each sync timestamp as it is received; without it nothing is sent', async () => {
  const auto = await session(async (conn) => {
    conn.send('sync', 1234, 1);
    await conn.waitFor('sync');
    conn.send('sync', 1250);
    await conn.waitFor('sync');
    conn.end();
  }, { autoSync: true });
  assert.equal((await collect(auto.c)).length, 2);
  assert.deepEqual(auto.conn.received.filter((i) => i.opcode === 'sync'), [{ opcode: 'sync', args: ['1234'] }, { opcode: 'sync', args: ['1250'] }]);

  const manual = await session(async (conn) => {
    conn.send('sync', 99);
    await conn.waitFor('disconnect');
  });
  assert.deepEqual(await manual.c.receive(), { opcode: 'sync', args: ['99'] });
  await manual.c.close();
  assert.deepEqual(manual.conn.received.slice(-1), [{ opcode: 'disconnect', args: [] }], 'no sync, then disconnect');
});

test('guacd\'s error after ready is an instruction, and the closed reason', async () => {
  const { c } = await session(async (conn) => {
    conn.send('error', 'Password authentication failed: Authentication failed (username/password)', 0x0301);
    conn.send('disconnect');
    conn.end();
  });
  const got = await collect(c);
  assert.deepEqual(got.map((i) => i.opcode), ['error', 'disconnect']);
  const reason = await c.closed;
  assert.ok(reason instanceof GuacError);
  assert.equal(reason.code, 'GUAC_GUACD_ERROR');
  assert.equal(reason.status, STATUS.CLIENT_UNAUTHORIZED);
  assert.match(reason.message, /^Password authentication failed/);
  const mapped = errorFromInstruction(got[0].args);
  assert.equal(mapped.status, STATUS.CLIENT_UNAUTHORIZED);
  assert.equal(errorFromInstruction(['x']).status, STATUS.SERVER_ERROR, 'no code: a server error');
  const generic = errorFromInstruction(['Aborted. See logs.', '519']);
  assert.equal(generic.status, STATUS.UPSTREAM_NOT_FOUND);
  assert.equal(generic.message, 'The remote desktop server could not be found. (guacd: "Aborted. See logs.")');
});

test('after guacd\'s error or disconnect the client ends the connection itself (guacd 1.3.0 keeps its socket open)', async () => {
  for (const last of [['error', 'Aborted. See logs.', '769'], ['disconnect']]) {
    const { c, conn } = await session(async (conn) => {
      conn.send('sync', 1);
      conn.send(last[0], ...last.slice(1));
      await conn.closed; // never closes on its own, as guacd 1.3.0
    });
    const started = Date.now();
    assert.deepEqual((await collect(c)).map((i) => i.opcode), ['sync', last[0]]);
    assert.ok(Date.now() - started < 3000, 'ends promptly');
    await conn.closed;
    assert.deepEqual(conn.received.at(-1), { opcode: 'disconnect', args: [] }, 'and tells guacd, as guacamole-common-js does');
    assert.equal((await c.closed)?.status.name, last[0] === 'error' ? 'CLIENT_UNAUTHORIZED' : undefined);
    await c.close();
    await Promise.all(open.fakes.splice(0).map((f) => f.close()));
  }
});

test('a protocol violation after ready: what came before is delivered, then receive() rejects', async () => {
  const { c } = await session(async (conn) => {
    conn.send('sync', 1);
    conn.sendRaw('4.size,1x');
    await conn.closed;
  });
  assert.deepEqual(await c.receive(), { opcode: 'sync', args: ['1'] });
  await rejectsWith(c.receive(), 'GUAC_GUACD_PROTOCOL', 'UPSTREAM_ERROR', /invalid protocol data/);
  assert.equal((await c.closed)?.code, 'GUAC_GUACD_PROTOCOL');
});

test('an element over guacd\'s limit from guacd fails at once', async () => {
  const { c } = await session(async (conn) => {
    conn.sendRaw('4.blob,1.0,8193.');
    await conn.closed;
  });
  await rejectsWith(c.receive(), 'GUAC_GUACD_PROTOCOL', 'UPSTREAM_ERROR', /element too long|8192/);
});

test('send() encodes and refuses what guacd would drop the connection for', async () => {
  const { c, conn } = await session(async (conn) => { await conn.waitFor('disconnect', 10_000); });
  assert.equal(c.send('key', 0xff0d, 1), true);
  assert.equal(c.send('clipboard', 'x'.repeat(8192)), true, 'exactly 8192 code points is fine');
  c.send('mouse', ...Array.from({ length: 127 }, () => 0));
  await rejectsWith(() => c.send('clipboard', 'x'.repeat(8193)), 'GUAC_INSTRUCTION_TOO_LARGE', 'CLIENT_OVERRUN', /8192/);
  await rejectsWith(() => c.send('mouse', ...Array.from({ length: 128 }, () => 0)), 'GUAC_INSTRUCTION_TOO_LARGE', 'CLIENT_OVERRUN', /129 elements/);
  await rejectsWith(() => c.send('a', '😀'.repeat(4000), '😀'.repeat(4000), '😀'.repeat(200)), 'GUAC_INSTRUCTION_TOO_LARGE', 'CLIENT_OVERRUN', /32768 bytes/);
  c.send('nop');
  await c.drain();
  await waitFor(() => conn.received.some((i) => i.opcode === 'nop'), { timeoutMs: 5000, what: 'the nop' });
  assert.deepEqual(conn.received.filter((i) => i.opcode === 'key'), [{ opcode: 'key', args: ['65293', '1'] }]);
  assert.equal(conn.received.filter((i) => i.opcode === 'clipboard').length, 1, 'the refused one never left');
});

test('sendRaw() passes bytes through, split anywhere, and refuses invalid ones', async () => {
  const { c, conn } = await session(async (conn) => { await conn.waitFor('disconnect', 10_000); });
  c.sendRaw('3.key,5.6');
  await rejectsWith(() => c.send('nop'), 'GUAC_CLIENT_STATE', 'SERVER_ERROR', /incomplete/);
  c.sendRaw(Buffer.from('5293,1.1;'));
  await waitFor(() => conn.received.some((i) => i.opcode === 'key'), { timeoutMs: 5000, what: 'the key' });
  assert.deepEqual(conn.received.at(-1), { opcode: 'key', args: ['65293', '1'] });
  await rejectsWith(() => c.sendRaw('garbage;'), 'GUAC_INSTRUCTION_INVALID', 'CLIENT_BAD_REQUEST');
});

test('echoes the client sends itself wait while a raw instruction is half sent', async () => {
  const { c, conn } = await session(async (conn) => {
    conn.send('sync', 7);
    await conn.waitFor('disconnect', 10_000);
  }, { autoSync: true });
  c.sendRaw('3.key,5.6');
  assert.deepEqual(await c.receive(), { opcode: 'sync', args: ['7'] });
  c.sendRaw('5293,1.1;');
  await waitFor(() => conn.received.some((i) => i.opcode === 'sync'), { timeoutMs: 5000, what: 'the sync echo' });
  assert.deepEqual(conn.received.slice(-2).map((i) => i.opcode), ['key', 'sync']);
});

test('close() sends disconnect once, is idempotent, and ends send/receive', async () => {
  const { c, conn } = await session(async (conn) => { await conn.closed; });
  await Promise.all([c.close(), c.close()]);
  await c.close();
  assert.equal(c.state, 'closed');
  assert.deepEqual(conn.received.filter((i) => i.opcode === 'disconnect').length, 1);
  assert.equal(await c.receive(), null);
  await rejectsWith(() => c.send('nop'), 'GUAC_CLIENT_CLOSED', 'RESOURCE_CLOSED');
  assert.equal(await c.closed, undefined);
});

test('close() finishes even when guacd never closes its side', async () => {
  const { f, c } = await session(async (conn) => {
    // A paused socket never reads our FIN, so it never answers it with its own.
    conn.socket.pause();
    await conn.closed;
  });
  const started = Date.now();
  await c.close();
  assert.ok(Date.now() - started < 3000);
  assert.ok(f.connections.length === 1);
});

test('detach() hands over the socket and every unread byte, untouched', async () => {
  const tail = encode('img', 1, 14, 0, 'image/png', 0, 0);
  let release!: () => void;
  const go = new Promise<void>((resolve) => (release = resolve));
  const { c, conn } = await session(async (conn) => {
    conn.sendRaw(encode('sync', 1) + encode('size', 0, 10, 10) + tail.slice(0, 9));
    await go;
    conn.sendRaw(tail.slice(9) + encode('sync', 2));
    await conn.waitFor('nop');
    conn.end();
  });
  assert.deepEqual(await c.receive(), { opcode: 'sync', args: ['1'] });
  await waitFor(() => c.queued >= 1, { timeoutMs: 5000, what: 'the size instruction to be queued' });
  const { socket, pending } = c.detach();
  assert.equal(c.state, 'detached');
  assert.equal(await c.closed, undefined);
  assert.ok(pending.toString().startsWith(encode('size', 0, 10, 10)), 'queued instructions first, as raw bytes');
  await rejectsWith(c.receive(), 'GUAC_CLIENT_CLOSED', 'RESOURCE_CLOSED');
  const chunks: Buffer[] = [pending];
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise((resolve) => socket.once('end', resolve));
  socket.resume();
  release();
  socket.write(encode('nop'));
  await ended;
  socket.destroy();
  assert.equal(Buffer.concat(chunks).toString(), encode('size', 0, 10, 10) + tail + encode('sync', 2));
  assert.ok(conn.received.some((i) => i.opcode === 'nop'));
});

test('what came with ready (error, garbage, hang-up) is handed to detach() untouched, and to receive() as usual', async () => {
  const tails = [encode('error', 'Aborted.', 519), '4.sync,1.1;garbage', encode('sync', 1)];
  for (const tail of tails) {
    const f = await fake({ script: async (conn) => {
      await conn.expect('select');
      conn.send('args', 'VERSION_1_3_0', 'hostname');
      await conn.waitFor('connect');
      conn.sendRaw(encode('ready', '$x') + tail);
      conn.end();
      await conn.closed;
    } });
    const c = await GuacdClient.connect({ host: f.host, port: f.port });
    open.clients.push(c);
    await c.handshake({ protocol: 'ssh' });
    await waitFor(() => c.state === 'closed', { timeoutMs: 5000, what: 'guacd\'s hang-up' });
    const { socket, pending, ended } = c.detach();
    socket.destroy();
    assert.equal(pending.toString(), tail);
    assert.equal(ended, true);
  }
  // A reader sees guacd's error after ready as its closing reason.
  const f = await fake({ script: async (conn) => {
    await conn.expect('select');
    conn.send('args', 'VERSION_1_3_0', 'hostname');
    await conn.waitFor('connect');
    conn.sendRaw(encode('ready', '$x') + encode('error', 'Aborted.', 519));
    await conn.closed;
  } });
  const c = await GuacdClient.connect({ host: f.host, port: f.port });
  open.clients.push(c);
  await c.handshake({ protocol: 'ssh' });
  assert.deepEqual(await c.receive(), { opcode: 'error', args: ['Aborted.', '519'] });
  assert.equal((await c.closed)?.status, STATUS.UPSTREAM_NOT_FOUND);
});

test('a flood is read in order with bounded queueing (socket paused past the high-water mark)', async () => {
  const count = 20_000;
  const { c } = await session(async (conn) => {
    for (let i = 0; i < count; i++) {
      if (!conn.socket.write(encode('sync', i))) await new Promise((resolve) => conn.socket.once('drain', resolve));
    }
    conn.end();
  }, { highWaterMark: 64 });
  let expected = 0;
  for await (const i of c) {
    assert.equal(i.args[0], String(expected++));
    if (expected % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(expected, count);
});

test('receive() during the handshake and detach() after close are refused', async () => {
  const f = await fake({ afterReady: async (conn) => { await conn.closed; } });
  const c = await GuacdClient.connect({ host: f.host, port: f.port });
  open.clients.push(c);
  const pending = c.handshake({ protocol: 'ssh' });
  await rejectsWith(c.receive(), 'GUAC_CLIENT_STATE', 'SERVER_ERROR');
  await rejectsWith(() => c.send('nop'), 'GUAC_CLIENT_STATE', 'SERVER_ERROR');
  await pending;
  await c.close();
  await rejectsWith(() => c.detach(), 'GUAC_CLIENT_STATE', 'SERVER_ERROR');
});
