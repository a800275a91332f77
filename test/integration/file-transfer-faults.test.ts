/**
 * File transfer when guacd fails mid-stream (a scripted fake guacd: the real
 * one cannot be made to die on cue without taking the other tests with it):
 * the HTTP request or response ends with the session's status, the
 * transfer is recorded as failed, and the session leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import { encode } from '../../src/protocol/encoder.js';
import { STATUS } from '../../src/protocol/status.js';
import { tokenResolver } from '../../src/tunnel/resolver.js';
import { sealToken } from '../../src/tunnel/token.js';
import type { TransferRecord } from '../../src/tunnel/streams/index.js';
import { waitFor } from '../helpers/env.js';
import { startFakeGuacd, type FakeConnection } from '../helpers/fake-guacd.js';
import { startTestGateway, TunnelClient, type TestGateway } from '../helpers/ws-client.js';

const SECRET = 'file-transfer-faults-secret-0123456789';
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function setup(afterReady: (conn: FakeConnection) => Promise<void>): Promise<{ g: TestGateway; c: TunnelClient; base: string; transfers: TransferRecord[] }> {
  const fake = await startFakeGuacd({ afterReady });
  cleanups.push(() => fake.close());
  const transfers: TransferRecord[] = [];
  const g = await startTestGateway({ guacd: { host: fake.host, port: fake.port }, resolve: tokenResolver({ secret: SECRET }), onTransfer: (r) => { transfers.push(r); } });
  cleanups.push(() => g.close());
  const token = sealToken({ exp: Math.floor(Date.now() / 1000) + 60, target: { protocol: 'ssh', params: { hostname: 'h', 'enable-sftp': 'true' } } }, SECRET);
  const c = await TunnelClient.connect(`${g.wsUrl}?token=${encodeURIComponent(token)}`);
  cleanups.push(() => c.terminate());
  const base = (await c.waitForOpcode('gateway-streams')).args[0];
  return { g, c, base, transfers };
}

describe('file transfer faults', () => {
  it('guacd dying mid-download cuts the HTTP response (no truncated file passes as whole) and records SESSION_CLOSED', async () => {
    const { g, c, base, transfers } = await setup(async (conn) => {
      conn.send('sync', 1);
      conn.send('file', 4, 'application/octet-stream', 'half.bin');
      await conn.waitFor('ack');
      conn.send('blob', 4, randomBytes(4000).toString('base64'));
      await conn.waitFor('ack');
      conn.socket.destroy();
    });
    await c.waitForOpcode('file');
    const res = await fetch(`${g.httpUrl}/streams/${base}/4/half.bin`);
    assert.equal(res.status, 200);
    await assert.rejects(res.arrayBuffer());
    await waitFor(() => transfers.length === 1, { what: 'the transfer record' });
    assert.equal(transfers[0]!.status.guac, STATUS.SESSION_CLOSED.guac);
    assert.equal(transfers[0]!.bytes, 4000);
    await waitFor(() => g.tunnel.sessions.size === 0, { what: 'the session to end' });
  });

  it('guacd dying mid-upload answers the request with SESSION_CLOSED; the session and its stream are gone', async () => {
    let blobs = 0;
    const { g, c, base, transfers } = await setup(async (conn) => {
      conn.send('sync', 1);
      const file = await conn.waitFor('file');
      conn.send('ack', file.args[0]!, 'OK', 0);
      await conn.waitFor('blob');
      blobs++;
      conn.socket.destroy();
    });
    c.send('file', 2, 'application/octet-stream', 'cut.bin');
    let push: (b: Uint8Array | null) => void = () => undefined;
    const body = new ReadableStream<Uint8Array>({ start(ctl) { push = (b) => (b ? ctl.enqueue(b) : ctl.close()); } });
    const pending = fetch(`${g.httpUrl}/streams/${base}/2/cut.bin`, { method: 'POST', body, duplex: 'half' } as RequestInit);
    push(randomBytes(20_000));
    const res = await pending;
    assert.equal(res.status, STATUS.SESSION_CLOSED.http);
    assert.equal(res.headers.get('guacamole-status-code'), String(STATUS.SESSION_CLOSED.guac));
    assert.equal(await res.text(), 'The session ended during the transfer.\n');
    assert.equal(blobs, 1);
    assert.equal(transfers[0]!.status.guac, STATUS.SESSION_CLOSED.guac);
    await waitFor(() => g.tunnel.sessions.size === 0, { what: 'the session to end' });
  });

  it('an upload waits for guacd\'s ack before each block: never more than one block in flight', async () => {
    let most = 0;
    const { g, c, base } = await setup(async (conn) => {
      conn.send('sync', 1);
      const file = await conn.waitFor('file');
      conn.send('ack', file.args[0]!, 'OK', 0);
      let acked = 0;
      for (;;) {
        const i = await conn.next(5000);
        if (!i || i.opcode === 'end') break;
        if (i.opcode !== 'blob') continue;
        // A slow target: whatever the gateway sends meanwhile is already here when we look.
        await new Promise((r) => setTimeout(r, 5));
        most = Math.max(most, conn.received.filter((x) => x.opcode === 'blob').length - acked);
        acked++;
        conn.sendRaw(encode('ack', i.args[0]!, 'OK', 0));
      }
    });
    c.send('file', 1, 'application/octet-stream', 'paced.bin');
    const res = await fetch(`${g.httpUrl}/streams/${base}/1/paced.bin`, { method: 'POST', body: randomBytes(200_000) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { bytes: 200_000 });
    assert.equal(most, 1);
  });

  it('a browser that opens upload streams and never uses them is capped at 64 (CLIENT_TOO_MANY), and nothing piles up', async () => {
    const { c } = await setup(async (conn) => {
      conn.send('sync', 1);
      await new Promise<void>((r) => conn.socket.once('close', () => r()));
    });
    const from = c.received.length;
    for (let i = 0; i < 70; i++) c.send('file', 1000 + i, 'application/octet-stream', `f${i}`);
    const refused = await c.waitFor((r) => r.opcode === 'ack' && r.args[0] === '1064', 5000, 'refusal', from);
    assert.equal(refused.args[2], String(STATUS.CLIENT_TOO_MANY.guac));
    assert.equal(refused.args[1], 'Too many file transfers are open in this session.');
    await c.waitFor((r) => r.opcode === 'ack' && r.args[0] === '1069', 5000, 'last refusal', from);
    assert.equal(c.received.slice(from).filter((r) => r.opcode === 'ack').length, 6);
  });

  it('a page that carries a stream over the tunnel itself (no HTTP route) is relayed as before, and recorded', async () => {
    const got: string[] = [];
    const { c, transfers } = await setup(async (conn) => {
      conn.send('sync', 1);
      conn.send('file', 4, 'text/plain', 'over-tunnel.txt');
      await conn.waitFor('ack');
      conn.send('blob', 4, Buffer.alloc(1000, 0x61).toString('base64'));
      await conn.waitFor('ack');
      conn.send('end', 4);
      const file = await conn.waitFor('file');
      got.push(file.args[2]!);
      const blob = await conn.waitFor('blob');
      got.push(Buffer.from(blob.args[1]!, 'base64').toString());
      await conn.waitFor('end');
      got.push('end');
      await new Promise<void>((r) => conn.socket.once('close', () => r()));
    });
    await c.waitForOpcode('file');
    c.send('ack', 4, 'OK', 0);
    const blob = await c.waitForOpcode('blob');
    assert.equal(Buffer.from(blob.args[1]!, 'base64').length, 1000);
    c.send('ack', 4, 'OK', 0);
    await c.waitForOpcode('end');
    c.send('file', 0, 'text/plain', 'up-tunnel.txt');
    c.send('blob', 0, Buffer.from('hello').toString('base64'));
    c.send('end', 0);
    await waitFor(() => transfers.length === 2, { what: 'both records' });
    assert.deepEqual(got, ['up-tunnel.txt', 'hello', 'end']);
    assert.deepEqual(transfers.map((t) => [t.direction, t.name, t.bytes, t.via, t.status.name]),
      [['download', 'over-tunnel.txt', 1000, 'tunnel', 'SUCCESS'], ['upload', 'up-tunnel.txt', 5, 'tunnel', 'SUCCESS']]);
  });
});
