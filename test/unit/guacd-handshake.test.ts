import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { GuacError, STATUS, type StatusName } from '../../src/protocol/index.js';
import { GuacdClient, type HandshakeOptions } from '../../src/guacd/index.js';
import { captureLogs, testLogger } from '../helpers/log.js';
import diagnostics_channel from 'node:diagnostics_channel';
import { CHANNELS } from '../../src/diagnostics.js';
import { startFakeGuacd, type FakeGuacd, type FakeGuacdOptions, type FakeScript } from '../helpers/fake-guacd.js';

const open: { fakes: FakeGuacd[]; clients: GuacdClient[] } = { fakes: [], clients: [] };

afterEach(async () => {
  await Promise.all(open.clients.splice(0).map((c) => c.close()));
  await Promise.all(open.fakes.splice(0).map((f) => f.close()));
});

async function fake(opts: FakeGuacdOptions | FakeScript = {}): Promise<FakeGuacd> {
  const f = await startFakeGuacd(opts);
  open.fakes.push(f);
  return f;
}

async function client(f: FakeGuacd, opts: { autoSync?: boolean } = {}): Promise<GuacdClient> {
  const c = await GuacdClient.connect({ host: f.host, port: f.port }, { logger: testLogger, ...opts });
  open.clients.push(c);
  return c;
}

/** Runs a handshake against a fake; returns what the fake saw. */
async function handshakeWith(fakeOpts: FakeGuacdOptions, opts: HandshakeOptions) {
  const f = await fake(fakeOpts);
  const c = await client(f);
  const [result, conn] = await Promise.all([c.handshake(opts), f.nextConnection()]);
  const seen = conn.received.map((i) => [i.opcode, ...i.args]);
  return { f, c, result, seen, conn };
}

async function rejectsWith(promise: Promise<unknown>, code: string, status: StatusName, message?: RegExp): Promise<GuacError> {
  let caught: unknown;
  await promise.then(() => assert.fail('expected a rejection'), (err: unknown) => (caught = err));
  assert.ok(caught instanceof GuacError, `a GuacError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.equal(caught.status, STATUS[status]);
  if (message) assert.match(caught.message, message);
  return caught;
}

const SSH = { hostname: 'target', username: 'alice', password: 'pw' };

test('guacd 1.5 offers VERSION_1_5_0: we answer it, with timezone and name', async () => {
  const { result, seen } = await handshakeWith(
    { version: 'VERSION_1_5_0', args: ['hostname', 'port', 'username', 'password'], connectionId: '$abc' },
    { protocol: 'ssh', params: SSH, timezone: 'Europe/Paris', name: 'Alice' },
  );
  assert.deepEqual(result, { connectionId: '$abc', version: 'VERSION_1_5_0', serverVersion: 'VERSION_1_5_0', args: ['hostname', 'port', 'username', 'password'] });
  assert.deepEqual(seen, [
    ['select', 'ssh'],
    ['size', '1024', '768', '96'],
    ['audio', 'audio/L8', 'audio/L16'],
    ['video'],
    ['image', 'image/png', 'image/jpeg'],
    ['timezone', 'Europe/Paris'],
    ['name', 'Alice'],
    ['connect', 'VERSION_1_5_0', 'target', '', 'alice', 'pw'],
  ]);
});

test('guacd 1.3.0: version 1.3.0, timezone (host default) sent, name not (1.3.0 has no handler for it)', async () => {
  const { result, seen } = await handshakeWith({ version: 'VERSION_1_3_0' }, { protocol: 'ssh', params: SSH, name: 'Alice', width: 800, height: 600, dpi: 120 });
  assert.equal(result.version, 'VERSION_1_3_0');
  assert.deepEqual(seen.map((i) => i[0]), ['select', 'size', 'audio', 'video', 'image', 'timezone', 'connect']);
  assert.deepEqual(seen[1], ['size', '800', '600', '120']);
  assert.equal(seen[5][1], Intl.DateTimeFormat().resolvedOptions().timeZone);
  assert.deepEqual(seen[6], ['connect', 'VERSION_1_3_0', 'target', '', 'alice', 'pw']);
});

test('timezone: null sends none; custom mimetypes are sent as given', async () => {
  const { seen } = await handshakeWith({ version: 'VERSION_1_1_0' }, {
    protocol: 'ssh', params: SSH, timezone: null, audio: [], video: ['video/webm'], image: ['image/png'],
  });
  assert.deepEqual(seen.slice(1, 5), [['size', '1024', '768', '96'], ['audio'], ['video', 'video/webm'], ['image', 'image/png']]);
  assert.deepEqual(seen[5], ['connect', 'VERSION_1_1_0', 'target', '', 'alice', 'pw']);
});

test('an old guacd without a version (1.0.0): no version element, no timezone, no name', async () => {
  const { result, seen } = await handshakeWith({ version: null }, { protocol: 'ssh', params: SSH, timezone: 'UTC', name: 'Alice' });
  assert.equal(result.version, 'VERSION_1_0_0');
  assert.equal(result.serverVersion, 'VERSION_1_0_0');
  assert.deepEqual(seen.map((i) => i[0]), ['select', 'size', 'audio', 'video', 'image', 'connect']);
  assert.deepEqual(seen[5], ['connect', 'target', '', 'alice', 'pw']);
});

test('a future guacd (VERSION_9_9_9) gets our highest version', async () => {
  const { result, seen } = await handshakeWith({ version: 'VERSION_9_9_9' }, { protocol: 'ssh', params: SSH });
  assert.equal(result.version, 'VERSION_1_5_0');
  assert.equal(result.serverVersion, 'VERSION_9_9_9');
  assert.equal(seen.at(-1)?.[1], 'VERSION_1_5_0');
});

test('connect carries exactly the names guacd listed, in its order, empty when unset', async () => {
  const args = ['read-only', 'font-size', 'hostname', 'color-scheme', 'password', 'private-key', 'enable-sftp'];
  const { seen } = await handshakeWith({ args }, {
    protocol: 'ssh', params: { password: 'pw', hostname: 'h', fontSize: 11, enableSftp: true, readOnly: false },
  });
  assert.deepEqual(seen.at(-1), ['connect', 'VERSION_1_3_0', '', '11', 'h', '', 'pw', '', 'true']);
});

test('a parameter guacd does not list is dropped with one warning, not an error', async () => {
  const { lines } = await captureLogs(async () => {
    const params = { ...SSH, enableAgent: true, passphrase: 'SECRET-PASSPHRASE' };
    const first = await handshakeWith({ args: ['hostname', 'username', 'password'] }, { protocol: 'ssh', params });
    assert.deepEqual(first.seen.at(-1), ['connect', 'VERSION_1_3_0', 'target', 'alice', 'pw']);
    await handshakeWith({ args: ['hostname', 'username', 'password'] }, { protocol: 'ssh', params });
  });
  const warnings = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 'warn');
  assert.deepEqual(warnings.map((w) => w.parameter).sort(), ['enable-agent', 'passphrase'], 'once per parameter, not per handshake');
  assert.equal(warnings.find((w) => w.parameter === 'enable-agent')?.build, 'ENABLE_SSH_AGENT');
  assert.ok(!lines.join('\n').includes('SECRET-PASSPHRASE'), 'values are never logged');
});

test('joining: select $id, read-only sent when asked, parameters checked across protocols', async () => {
  const { seen } = await handshakeWith({ args: ['hostname', 'read-only', 'color-scheme'] }, {
    join: '$owner-1', readOnly: true, params: { colorScheme: 'white-black' },
  });
  assert.deepEqual(seen[0], ['select', '$owner-1']);
  assert.deepEqual(seen.at(-1), ['connect', 'VERSION_1_3_0', '', 'true', 'white-black']);
  const again = await handshakeWith({}, { join: 'owner-2' });
  assert.deepEqual(again.seen[0], ['select', '$owner-2'], 'the $ prefix is added when missing');
});

test('bad options fail before anything is sent', async () => {
  const f = await fake();
  for (const [opts, code] of [
    [{ protocol: 'ssh', params: { nope: 1 } }, 'GUAC_PARAM_UNKNOWN'],
    [{ protocol: 'ssh', params: { port: 'x' } }, 'GUAC_PARAM_INVALID'],
    [{ protocol: 'ftp' }, 'GUAC_PROTOCOL_UNKNOWN'],
    [{}, 'GUAC_PARAM_INVALID'],
    [{ protocol: 'ssh', join: '$x' }, 'GUAC_PARAM_INVALID'],
    [{ protocol: 'ssh', width: 0 }, 'GUAC_PARAM_INVALID'],
  ] as [HandshakeOptions, string][]) {
    const c = await client(f);
    await rejectsWith(c.handshake(opts), code, 'CLIENT_BAD_REQUEST');
    await c.closed;
    assert.equal(c.state, 'closed');
  }
  assert.equal(f.received.length, 0);
});

test('required during the handshake is answered with argv streams', async () => {
  const f = await fake(async (conn) => {
    await conn.expect('select');
    conn.send('args', 'VERSION_1_5_0', 'hostname', 'username', 'password');
    await conn.waitFor('connect');
    conn.send('required', 'username', 'password');
    const got = [];
    for (let i = 0; i < 6; i++) got.push(await conn.next());
    conn.send('ack', got[0]?.args[0] ?? '', 'Received', 0);
    conn.send('ack', got[3]?.args[0] ?? '', 'Received', 0);
    conn.send('ready', '$req');
    await conn.closed;
  });
  const c = await client(f);
  const asked: string[][] = [];
  const result = await c.handshake({
    protocol: 'vnc', params: { hostname: 'h' },
    onRequired: async (names) => (asked.push(names), { username: 'bob', password: 'pässwörd' }),
  });
  assert.equal(result.connectionId, '$req');
  assert.deepEqual(asked, [['username', 'password']]);
  const conn = f.connections[0];
  const argv = conn.received.slice(-6).map((i) => [i.opcode, ...i.args]);
  const [u, p] = [argv[0][1], argv[3][1]];
  assert.notEqual(u, p, 'one stream per value');
  assert.deepEqual(argv, [
    ['argv', u, 'text/plain', 'username'],
    ['blob', u, Buffer.from('bob').toString('base64')],
    ['end', u],
    ['argv', p, 'text/plain', 'password'],
    ['blob', p, Buffer.from('pässwörd', 'utf8').toString('base64')],
    ['end', p],
  ]);
  assert.ok(Number(u) >= 0 && Number(u) < 64, 'a stream index guacd accepts');
});

test('required after ready is answered too, and guacd\'s acks of those streams are not handed to receive()', async () => {
  const f = await fake({
    version: 'VERSION_1_3_0',
    afterReady: async (conn) => {
      conn.send('required', 'password');
      const argv = await conn.expect('argv');
      conn.send('ack', argv.args[0], 'Ready for updated parameter.', 0);
      await conn.expect('blob');
      await conn.expect('end');
      conn.send('sync', 5);
      await conn.closed;
    },
  });
  const c = await client(f);
  await c.handshake({ protocol: 'vnc', params: { hostname: 'h' }, onRequired: () => ({ password: 'secret' }) });
  assert.deepEqual(await c.receive(), { opcode: 'sync', args: ['5'] }, 'the ack was swallowed');
});

test('required without onRequired ends the client with GUAC_CREDENTIALS_REQUIRED', async () => {
  const f = await fake({ afterReady: async (conn) => { conn.send('required', 'password'); await conn.closed; } });
  const c = await client(f);
  await c.handshake({ protocol: 'vnc', params: { hostname: 'h' } });
  const err = await rejectsWith(c.receive(), 'GUAC_CREDENTIALS_REQUIRED', 'CLIENT_UNAUTHORIZED', /asked for password/);
  assert.equal(await c.closed, err);
});

test('an onRequired that throws ends the client with CLIENT_UNAUTHORIZED', async () => {
  const f = await fake({ afterReady: async (conn) => { conn.send('required', 'password'); await conn.closed; } });
  const c = await client(f);
  await c.handshake({ protocol: 'vnc', onRequired: () => { throw new Error('user cancelled'); } });
  await rejectsWith(c.receive(), 'GUAC_CREDENTIALS_REQUIRED', 'CLIENT_UNAUTHORIZED');
});

test('an error instruction at any step maps to GUAC_GUACD_ERROR with guacd\'s status and message', async () => {
  const f1 = await fake({ error: { message: 'Unable to connect to any addresses.', status: 0x0207 } });
  const c1 = await client(f1);
  const err = await rejectsWith(c1.handshake({ protocol: 'ssh', params: SSH }), 'GUAC_GUACD_ERROR', 'UPSTREAM_NOT_FOUND', /^Unable to connect to any addresses\.$/);
  assert.equal(await c1.closed, err);

  const f2 = await fake(async (conn) => { await conn.expect('select'); conn.send('error', 'Busy.', 0x0201); });
  await rejectsWith((await client(f2)).handshake({ protocol: 'rdp' }), 'GUAC_GUACD_ERROR', 'SERVER_BUSY', /^Busy\.$/);

  const f3 = await fake(async (conn) => { await conn.expect('select'); conn.send('error', 'Strange.', 0x03ff); });
  await rejectsWith((await client(f3)).handshake({ protocol: 'rdp' }), 'GUAC_GUACD_ERROR', 'CLIENT_BAD_REQUEST', /Strange/);
});

test('garbage from guacd is a protocol error', async () => {
  const f = await fake(async (conn) => { await conn.expect('select'); conn.sendRaw('HTTP/1.1 400 Bad Request\r\n\r\n'); await conn.closed; });
  await rejectsWith((await client(f)).handshake({ protocol: 'ssh' }), 'GUAC_GUACD_PROTOCOL', 'UPSTREAM_ERROR', /invalid protocol data/);
  const g = await fake(async (conn) => { await conn.expect('select'); conn.send('sync', 1); await conn.closed; });
  await rejectsWith((await client(g)).handshake({ protocol: 'ssh' }), 'GUAC_GUACD_PROTOCOL', 'UPSTREAM_ERROR', /"sync" where the handshake expected "args"/);
  const h = await fake(async (conn) => { await conn.expect('select'); conn.send('args', 'VERSION_X', 'hostname'); await conn.closed; });
  await rejectsWith((await client(h)).handshake({ protocol: 'ssh' }), 'GUAC_GUACD_PROTOCOL', 'UPSTREAM_ERROR', /version/);
  const i = await fake(async (conn) => { await conn.handshake({ connectionId: '' }); await conn.closed; });
  await rejectsWith((await client(i)).handshake({ protocol: 'ssh' }), 'GUAC_GUACD_PROTOCOL', 'UPSTREAM_ERROR', /without a connection id/);
});

test('silence ends in a handshake timeout, and the socket is closed', async () => {
  const f = await fake(async (conn) => { await conn.closed; });
  const c = await client(f);
  const started = Date.now();
  await rejectsWith(c.handshake({ protocol: 'ssh', timeoutMs: 200 }), 'GUAC_GUACD_NOT_STARTED', 'UPSTREAM_TIMEOUT', /"select" within 200 ms: is its ssh plugin installed\?/);
  assert.ok(Date.now() - started < 2000);
  await f.connections[0].closed;
  const late = await fake(async (conn) => { await conn.expect('select'); conn.send('args', 'VERSION_1_3_0'); await conn.closed; });
  await rejectsWith((await client(late)).handshake({ protocol: 'ssh', timeoutMs: 200 }), 'GUAC_GUACD_TIMEOUT', 'UPSTREAM_TIMEOUT', /waiting for "ready"/);
});

test('select has its own, shorter limit; once args came only the whole-handshake limit counts', async () => {
  const silent = await fake(async (conn) => { await conn.closed; });
  const started = Date.now();
  await rejectsWith((await client(silent)).handshake({ protocol: 'vnc', timeoutMs: 5000, selectTimeoutMs: 150 }), 'GUAC_GUACD_NOT_STARTED', 'UPSTREAM_TIMEOUT', /within 150 ms/);
  assert.ok(Date.now() - started < 2000, 'the select limit ends the wait, not the handshake limit');
  await silent.connections[0].closed;
  // args at 100 ms, then a slow connect: 400 ms in all, past the select limit but within the handshake's.
  const slow = await fake(async (conn) => {
    await conn.expect('select');
    await new Promise((r) => setTimeout(r, 100));
    conn.send('args', 'VERSION_1_3_0', 'hostname');
    for (const op of ['size', 'audio', 'video', 'image', 'timezone', 'connect']) await conn.expect(op);
    await new Promise((r) => setTimeout(r, 300));
    conn.send('ready', '$slow');
    await conn.closed;
  });
  const result = await (await client(slow)).handshake({ protocol: 'vnc', timeoutMs: 5000, selectTimeoutMs: 250 });
  assert.equal(result.connectionId, '$slow');
});

test('GuacdClient.open retries a connection guacd did not start, and nothing after args', async () => {
  let selects = 0;
  // The first connection is left hanging after select, the way a hung guacd 1.3.0 child does.
  const flaky = await fake(async (conn) => {
    selects++;
    if (selects === 1) { await conn.expect('select'); await conn.closed; return; }
    await conn.handshake({ connectionId: '$second' });
    await conn.closed;
  });
  const retries: unknown[] = [];
  const onRetry = (m: unknown) => retries.push(m);
  diagnostics_channel.subscribe(CHANNELS.guacdRetry, onRetry);
  const { lines: warnings } = await captureLogs(async () => {
    const opened = await GuacdClient.open({ host: flaky.host, port: flaky.port }, { protocol: 'ssh', params: SSH, selectTimeoutMs: 150 }, { logger: testLogger });
    open.clients.push(opened.client);
    assert.equal(opened.connectionId, '$second');
    assert.equal(selects, 2);
    await flaky.connections[0].closed; // the hung attempt was let go
  });
  diagnostics_channel.unsubscribe(CHANNELS.guacdRetry, onRetry);
  assert.ok(warnings.some((l) => /did not start the connection/.test(l)), warnings.join('\n'));
  assert.deepEqual(retries, [{ code: 'GUAC_GUACD_NOT_STARTED', attempt: 1, guacd: `${flaky.host}:${flaky.port}` }]);
  // Never started: two attempts, then the error; both sockets closed.
  const dead = await fake(async (conn) => { await conn.closed; });
  await rejectsWith(GuacdClient.open({ host: dead.host, port: dead.port }, { protocol: 'ssh', selectTimeoutMs: 100 }), 'GUAC_GUACD_NOT_STARTED', 'UPSTREAM_TIMEOUT');
  assert.equal(dead.connections.length, 2);
  await Promise.all(dead.connections.map((c) => c.closed));
  // The stray byte guacd 1.3.0 sends when it hands a connection's socket to the wrong place, another
  // connection's instruction where args should be, then a hang-up.
  let tries = 0;
  const stray = await fake(async (conn) => {
    tries++;
    if (tries === 1) { await conn.expect('select'); conn.sendRaw('G'); await conn.closed; return; }
    if (tries === 2) { await conn.expect('select'); conn.sendRaw('4.size,1.0,4.1024,3.768;'); await conn.closed; return; }
    if (tries === 3) { await conn.expect('select'); conn.end(); return; }
    await conn.handshake({ connectionId: '$fourth' });
    await conn.closed;
  });
  const fourth = await GuacdClient.open({ host: stray.host, port: stray.port }, { protocol: 'ssh', params: SSH }, { attempts: 4 });
  open.clients.push(fourth.client);
  assert.equal(fourth.connectionId, '$fourth');
  assert.equal(tries, 4);
  // A join guacd refuses by hanging up is an answer: no such connection. Not retried.
  const noJoin = await fake(async (conn) => { await conn.expect('select'); conn.end(); });
  await rejectsWith(GuacdClient.open({ host: noJoin.host, port: noJoin.port }, { join: '$gone' }), 'GUAC_JOIN_NOT_FOUND', 'RESOURCE_NOT_FOUND');
  assert.equal(noJoin.connections.length, 1);
  // Silence after connect may mean the target was reached: not retried.
  const late = await fake(async (conn) => { await conn.expect('select'); conn.send('args', 'VERSION_1_3_0'); await conn.closed; });
  await rejectsWith(GuacdClient.open({ host: late.host, port: late.port }, { protocol: 'ssh', timeoutMs: 300 }), 'GUAC_GUACD_TIMEOUT', 'UPSTREAM_TIMEOUT', /waiting for "ready"/);
  assert.equal(late.connections.length, 1);
  // guacd's own error is an answer, not a failure to start.
  const refusing = await fake(async (conn) => { await conn.expect('select'); conn.send('error', 'No such plugin', 0x0203); await conn.closed; });
  await rejectsWith(GuacdClient.open({ host: refusing.host, port: refusing.port }, { protocol: 'ssh' }), 'GUAC_GUACD_ERROR', 'UPSTREAM_ERROR');
  assert.equal(refusing.connections.length, 1);
});

test('an aborted signal ends the handshake with GUAC_ABORTED', async () => {
  const f = await fake(async (conn) => { await conn.closed; });
  const c = await client(f);
  const controller = new AbortController();
  const pending = c.handshake({ protocol: 'ssh', signal: controller.signal });
  await f.nextConnection();
  controller.abort();
  await rejectsWith(pending, 'GUAC_ABORTED', 'SESSION_CLOSED');
  const d = await client(f);
  await rejectsWith(d.handshake({ protocol: 'ssh', signal: AbortSignal.abort() }), 'GUAC_ABORTED', 'SESSION_CLOSED');
});

test('guacd closing mid-handshake: no such connection, no such protocol, or closed', async () => {
  const closeAfterSelect = await fake(async (conn) => { await conn.expect('select'); conn.end(); });
  await rejectsWith((await client(closeAfterSelect)).handshake({ join: '$gone' }), 'GUAC_JOIN_NOT_FOUND', 'RESOURCE_NOT_FOUND', /\$gone/);
  await rejectsWith((await client(closeAfterSelect)).handshake({ protocol: 'kubernetes' }), 'GUAC_PROTOCOL_UNSUPPORTED', 'UNSUPPORTED', /kubernetes/);
  const closeAfterConnect = await fake(async (conn) => { await conn.expect('select'); conn.send('args', 'VERSION_1_3_0'); await conn.waitFor('connect'); conn.end(); });
  await rejectsWith((await client(closeAfterConnect)).handshake({ protocol: 'ssh' }), 'GUAC_GUACD_CLOSED', 'UPSTREAM_ERROR', /waited for "ready"/);
});

test('joining an unknown connection: guacd 1.5+ answers select with error RESOURCE_NOT_FOUND, GUAC_JOIN_NOT_FOUND as for 1.3.0', async () => {
  // guacd 1.5.5 and 1.6.0 (src/guacd/connection.c) send this instead of closing.
  const noSuch = await fake(async (conn) => { await conn.expect('select'); conn.send('error', 'No such connection.', 0x0204); await conn.closed; });
  const err = await rejectsWith(GuacdClient.open({ host: noSuch.host, port: noSuch.port }, { join: '$gone' }), 'GUAC_JOIN_NOT_FOUND', 'RESOURCE_NOT_FOUND');
  assert.equal(err.message, 'guacd has no connection $gone to join (guacd: "No such connection.").');
  assert.equal(noSuch.connections.length, 1, 'an answer, not retried');
  // Another error to a join, or the same error to a new connection, stays guacd's own.
  const busy = await fake(async (conn) => { await conn.expect('select'); conn.send('error', 'Busy', 0x0201); await conn.closed; });
  await rejectsWith(GuacdClient.open({ host: busy.host, port: busy.port }, { join: '$x' }), 'GUAC_GUACD_ERROR', 'SERVER_BUSY', /^Busy$/);
  await rejectsWith(GuacdClient.open({ host: noSuch.host, port: noSuch.port }, { protocol: 'ssh' }), 'GUAC_GUACD_ERROR', 'RESOURCE_NOT_FOUND', /^No such connection\.$/);
});

test('guacd 1.6 ends frames with sync,<timestamp>,<frames>: autoSync echoes the timestamp alone', async () => {
  const f = await fake(async (conn) => {
    await conn.handshake({ version: 'VERSION_1_5_0', connectionId: '$six' });
    conn.send('sync', 1234, 2);
    conn.send('sync', 1250);
    await conn.closed;
  });
  const c = await client(f, { autoSync: true });
  const [, conn] = await Promise.all([c.handshake({ protocol: 'ssh' }), f.nextConnection()]);
  assert.deepEqual((await c.receive())?.args, ['1234', '2']);
  assert.deepEqual((await c.receive())?.args, ['1250']);
  const echoes = [await conn.waitFor('sync'), await conn.waitFor('sync')];
  assert.deepEqual(echoes.map((i) => i.args), [['1234'], ['1250']]);
});

test('a second handshake is refused', async () => {
  const f = await fake();
  const c = await client(f);
  await c.handshake({ protocol: 'ssh' });
  await rejectsWith(c.handshake({ protocol: 'ssh' }), 'GUAC_CLIENT_STATE', 'SERVER_ERROR');
});
