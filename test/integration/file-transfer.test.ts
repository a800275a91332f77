/**
 * File transfer through the gateway with real guacd and the test sshd's
 * SFTP: uploads and downloads over the HTTP stream routes, the policy the
 * gateway enforces itself, the access rules of the routes, and faults.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, before, describe, it } from 'node:test';
import { createMetrics } from '../../src/server/metrics.js';
import { tokenResolver } from '../../src/tunnel/resolver.js';
import { sealToken, type TokenInput } from '../../src/tunnel/token.js';
import type { TransferRecord } from '../../src/tunnel/streams/index.js';
import { loadTestEnv, waitFor, type GuacdInstance, type TestEnv } from '../helpers/env.js';
import { forEachGuacd } from '../helpers/guacd-matrix.js';
import { parseSamples, sample } from '../helpers/prometheus.js';
import { sha256, sftpDir, type SftpDir } from '../helpers/sftp-dir.js';
import { startTestGateway, TunnelClient, type TestGateway } from '../helpers/ws-client.js';
import { withRdp } from '../helpers/rdp-lock.js';

const SECRET = 'file-transfer-test-secret-0123456789';

let env: TestEnv;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});
before(() => {
  env = loadTestEnv();
});

interface Session {
  c: TunnelClient;
  /** `<session>/<secret>` from `gateway-streams`. */
  base: string;
  policy: string[];
  /** The SFTP filesystem object's index. */
  fs: number;
  dir: SftpDir;
}

forEachGuacd((guacd: GuacdInstance) => {
  let g: TestGateway;
  let transfers: TransferRecord[];

  async function gateway(): Promise<TestGateway> {
    transfers = [];
    const gw = await startTestGateway({
      guacd: { host: guacd.host, port: guacd.port },
      resolve: tokenResolver({ secret: SECRET }),
      onTransfer: (r) => { transfers.push(r); },
    });
    cleanups.push(() => gw.close());
    return gw;
  }

  async function session(claims: Partial<TokenInput> = {}): Promise<Session> {
    g ??= await gateway();
    const dir = sftpDir(env, 'it');
    cleanups.push(() => dir.remove());
    const token = sealToken({ exp: Math.floor(Date.now() / 1000) + 300, target: { protocol: 'ssh', params: dir.params }, ...claims }, SECRET);
    const c = await TunnelClient.connect(`${g.wsUrl}?token=${encodeURIComponent(token)}`);
    cleanups.push(() => c.terminate());
    const announce = await c.waitForOpcode('gateway-streams', 15_000);
    const fs = claims.readOnly ? -1 : Number((await c.waitForOpcode('filesystem', 15_000)).args[0]);
    return { c, base: announce.args[0], policy: announce.args.slice(1), fs, dir };
  }

  function url(s: Session, index: number, name = 'f'): string {
    return `${g.httpUrl}/streams/${s.base}/${index}/${encodeURIComponent(name)}`;
  }

  /** Opens a `put` into the SFTP root and posts `data` to it. */
  async function upload(s: Session, index: number, name: string, data: Buffer, init: RequestInit = {}): Promise<Response> {
    s.c.send('put', s.fs, index, 'application/octet-stream', `/${name}`);
    return fetch(url(s, index, name), { method: 'POST', body: data, ...init });
  }

  /** Asks guacd for `/name` and returns the `body` stream index it offers. */
  async function offer(s: Session, name: string): Promise<number> {
    const from = s.c.received.length;
    s.c.send('get', s.fs, `/${name}`);
    const body = await s.c.waitFor((r) => r.opcode === 'body' && r.args[3] === `/${name}`, 10_000, 'body', from);
    return Number(body.args[1]);
  }

  function put(s: Session, name: string, data: Buffer): string {
    const path = join(s.dir.path, name);
    writeFileSync(path, data);
    return path;
  }

  afterEach(() => {
    g = undefined as unknown as TestGateway;
  });

  describe('uploads', () => {
    it('streams a 5 MB body into a put stream; the file on the target has the same sha256 (and /metrics counts it)', async (tc) => {
      const metrics = createMetrics();
      tc.after(() => metrics.close());
      const s = await session();
      assert.deepEqual(s.policy, ['1', '1', '0']);
      const data = randomBytes(5 * 1024 * 1024 + 17);
      const res = await upload(s, 3, 'up.bin', data);
      assert.equal(res.status, 200, await res.clone().text());
      assert.deepEqual(await res.json(), { bytes: data.length });
      s.c.send('end', 3);
      const path = join(s.dir.path, 'up.bin');
      await waitFor(() => existsSync(path) && statSync(path).size === data.length, { what: 'the uploaded file' });
      assert.equal(sha256(path), sha256(data));
      // guacd's acks of the blocks were the gateway's: none reached the browser (its first may have).
      const acks = s.c.received.filter((r) => r.opcode === 'ack' && r.args[0] === '3');
      assert.ok(acks.length <= 1, `${acks.length} acks reached the browser`);
      await waitFor(() => transfers.find((t) => t.direction === 'upload'), { what: 'transfer record' });
      const t = transfers.find((r) => r.direction === 'upload')!;
      assert.equal(t.name, '/up.bin');
      assert.equal(t.bytes, data.length);
      assert.equal(t.via, 'http');
      assert.equal(t.status.name, 'SUCCESS');
      const m = parseSamples(await metrics.registry.metrics());
      assert.equal(sample(m, 'guacamole_gateway_transfers_total', { direction: 'upload', status: 'SUCCESS' }), 1);
      assert.equal(sample(m, 'guacamole_gateway_transfer_bytes_total', { direction: 'upload' }), data.length);
    });

    it('a file stream (a file dropped on the display) lands in the user\'s home, where guacd puts it', async () => {
      const s = await session();
      const data = randomBytes(300_000);
      const name = `dropped-${randomBytes(4).toString('hex')}.bin`;
      const path = join(env.user.home, name);
      cleanups.push(() => rmSync(path, { force: true }));
      s.c.send('file', 1, 'application/octet-stream', name);
      const res = await fetch(url(s, 1, name), { method: 'POST', body: data });
      assert.equal(res.status, 200, await res.clone().text());
      await waitFor(() => existsSync(path) && statSync(path).size === data.length, { what: 'the uploaded file' });
      assert.equal(sha256(path), sha256(data));
    });

    it('with --no-upload the browser\'s put is answered with CLIENT_FORBIDDEN and nothing is written', async (tc) => {
      const metrics = createMetrics();
      tc.after(() => metrics.close());
      const s = await session({ noUpload: true });
      assert.deepEqual(s.policy, ['0', '1', '0']);
      const from = s.c.received.length;
      s.c.send('put', s.fs, 2, 'application/octet-stream', '/denied.bin');
      const ack = await s.c.waitFor((r) => r.opcode === 'ack' && r.args[0] === '2', 5000, 'ack', from);
      assert.equal(ack.args[2], String(0x0303));
      assert.match(ack.args[1], /Uploading files is not allowed/);
      // A page that posts anyway gets the same refusal.
      const res = await fetch(url(s, 2), { method: 'POST', body: Buffer.from('x') });
      assert.equal(res.status, 403);
      assert.equal(res.headers.get('guacamole-status-code'), String(0x0303));
      assert.equal(await res.text(), 'Uploading files is not allowed on this connection.\n');
      assert.equal(existsSync(join(s.dir.path, 'denied.bin')), false);
      assert.equal(transfers[0]?.status.name, 'CLIENT_FORBIDDEN');
      await waitFor(async () => sample(parseSamples(await metrics.registry.metrics()), 'guacamole_gateway_transfers_total', { direction: 'upload', status: 'CLIENT_FORBIDDEN' }) >= 1,
        { what: 'the refusal counted' });
    });

    it('beyond the maximum upload size: CLIENT_OVERRUN before any byte, no file at all', async () => {
      const s = await session({ maxUploadBytes: 1000 });
      assert.deepEqual(s.policy, ['1', '1', '1000']);
      const res = await upload(s, 4, 'big.bin', randomBytes(1001));
      assert.equal(res.status, 413);
      assert.equal(res.headers.get('guacamole-status-code'), String(0x030d));
      assert.match(await res.text(), /larger than the maximum upload size of 1000 bytes/);
      // The put was held by the gateway: guacd never opened (nor created) the file.
      assert.equal(existsSync(join(s.dir.path, 'big.bin')), false);
      // Within the limit the same session uploads.
      const ok = await upload(s, 5, 'small.bin', randomBytes(1000));
      assert.equal(ok.status, 200);
      await waitFor(() => existsSync(join(s.dir.path, 'small.bin')) && statSync(join(s.dir.path, 'small.bin')).size === 1000, { what: 'small.bin' });
    });

    it('a read-only viewer cannot upload: its file stream is refused with CLIENT_FORBIDDEN', async () => {
      const s = await session({ readOnly: true });
      assert.deepEqual(s.policy, ['0', '0', '0']);
      const from = s.c.received.length;
      s.c.send('file', 0, 'application/octet-stream', 'viewer.bin');
      const ack = await s.c.waitFor((r) => r.opcode === 'ack' && r.args[0] === '0', 5000, 'ack', from);
      assert.equal(ack.args[2], String(0x0303));
      assert.equal(existsSync(join(s.dir.path, 'viewer.bin')), false);
    });
  });

  describe('downloads', () => {
    it('streams a 5 MB file as an HTTP response with the same sha256, acked as it drains', async () => {
      const s = await session();
      const data = randomBytes(5 * 1024 * 1024 + 5);
      put(s, 'down.bin', data);
      const index = await offer(s, 'down.bin');
      // Blocks of earlier streams with the same index (guacd 1.3.0's argv streams) are not this one's.
      const from = s.c.received.length;
      const res = await fetch(url(s, index, 'down.bin'));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/octet-stream');
      assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="down.bin"/);
      const got = Buffer.from(await res.arrayBuffer());
      assert.equal(got.length, data.length);
      assert.equal(sha256(got), sha256(data));
      // The blocks went to the HTTP response, not the tunnel; the end reached both.
      await s.c.waitFor((r) => r.opcode === 'end' && r.args[0] === String(index), 5000, 'end', from);
      const leaked = s.c.received.slice(from).filter((r) => r.opcode === 'blob' && r.args[0] === String(index));
      assert.deepEqual(leaked.map((r) => r.args[1].slice(0, 40)), []);
      await waitFor(() => transfers.find((t) => t.direction === 'download'), { what: 'transfer record' });
      assert.equal(transfers.find((t) => t.direction === 'download')!.bytes, data.length);
    });

    it('with --no-download guacd\'s file body is refused and never reaches the browser; listings still do', async () => {
      const s = await session({ noDownload: true });
      put(s, 'secret.txt', Buffer.from('secret'));
      const from = s.c.received.length;
      s.c.send('get', s.fs, '/');
      await s.c.waitFor((r) => r.opcode === 'body' && r.args[3] === '/', 10_000, 'listing', from);
      s.c.send('get', s.fs, '/secret.txt');
      await waitFor(() => transfers.find((t) => t.direction === 'download'), { what: 'refusal record' });
      assert.equal(transfers[0].status.name, 'CLIENT_FORBIDDEN');
      assert.equal(s.c.received.slice(from).some((r) => r.opcode === 'body' && r.args[3] === '/secret.txt'), false);
      assert.equal(s.c.received.slice(from).some((r) => r.opcode === 'blob' && r.args[1] === Buffer.from('secret').toString('base64')), false);
    });
  });

  describe('many at once', () => {
    it('three uploads and two downloads in one session at once all arrive whole; the tunnel keeps answering meanwhile', async () => {
      const s = await session();
      const ups = [0, 1, 2].map((i) => ({ name: `many-up-${i}.bin`, data: randomBytes(2 * 1024 * 1024 + i) }));
      const downs = [0, 1].map((i) => ({ name: `many-down-${i}.bin`, data: randomBytes(2 * 1024 * 1024 + 7 * i) }));
      for (const d of downs) put(s, d.name, d.data);
      const indexes: number[] = [];
      for (const d of downs) indexes.push(await offer(s, d.name));
      let echoes = 0;
      const pinging = (async () => {
        for (let i = 0; i < 10; i++) {
          const from = s.c.received.length;
          s.c.ping(`9${i}`);
          await s.c.waitFor((r) => r.opcode === '' && r.args[1] === `9${i}`, 5000, 'ping echo', from);
          echoes++;
        }
      })();
      const results = await Promise.all([
        ...ups.map((u, i) => upload(s, 10 + i, u.name, u.data).then((r) => r.status)),
        ...downs.map((d, i) => fetch(url(s, indexes[i]!)).then(async (r) => sha256(Buffer.from(await r.arrayBuffer())) === sha256(d.data))),
      ]);
      await pinging;
      assert.deepEqual(results, [200, 200, 200, true, true]);
      assert.equal(echoes, 10);
      for (const [i, u] of ups.entries()) {
        s.c.send('end', 10 + i);
        const path = join(s.dir.path, u.name);
        await waitFor(() => existsSync(path) && statSync(path).size === u.data.length, { what: u.name });
        assert.equal(sha256(path), sha256(u.data));
      }
    });
  });

  describe('access to the stream routes', () => {
    it('a wrong secret, another session\'s secret, an unknown index and a closed session are all 404 RESOURCE_NOT_FOUND', async () => {
      const a = await session();
      const b = await session();
      put(a, 'a.bin', Buffer.from('only for a'));
      const index = await offer(a, 'a.bin');
      const [idA, secretA] = a.base.split('/');
      const [, secretB] = b.base.split('/');
      const probes = [
        `${g.httpUrl}/streams/${idA}/${secretB}/${index}/a.bin`,
        `${g.httpUrl}/streams/${idA}/${'A'.repeat(43)}/${index}/a.bin`,
        `${g.httpUrl}/streams/${b.base}/${index}/a.bin`,
        `${g.httpUrl}/streams/${idA}/${secretA}/77/a.bin`,
      ];
      for (const p of probes) {
        const res = await fetch(p);
        assert.equal(res.status, 404, p);
        assert.equal(res.headers.get('guacamole-status-code'), String(0x0204));
        assert.equal(await res.text(), 'No such stream.\n');
      }
      // The right one still works after the probes (they took nothing).
      const ok = await fetch(url(a, index));
      assert.equal(Buffer.from(await ok.arrayBuffer()).toString(), 'only for a');
      // A second fetch of the same stream: it is over (404), never served twice.
      assert.equal((await fetch(url(a, index))).status, 404);
      a.c.close();
      await a.c.waitClosed();
      const after = await fetch(url(a, index));
      assert.equal(after.status, 404);
    });

    it('malformed paths and methods are 400; a foreign Origin may not upload (403)', async () => {
      const s = await session();
      for (const [p, method] of [['..%2F..%2Fetc%2Fpasswd', 'GET'], [`${s.base}/99999999/x`, 'GET'], [`${s.base}/1/x`, 'DELETE']] as const) {
        const res = await fetch(`${g.httpUrl}/streams/${p}`, { method });
        assert.equal(res.status, 400, p);
        assert.equal(res.headers.get('guacamole-status-code'), String(0x0300));
      }
      s.c.send('put', s.fs, 6, 'application/octet-stream', '/evil.bin');
      const res = await fetch(url(s, 6), { method: 'POST', body: Buffer.from('x'), headers: { Origin: 'https://evil.example' } });
      assert.equal(res.status, 403);
      assert.equal(res.headers.get('guacamole-status-code'), String(0x0303));
    });

    it('a hostile file name from the target cannot break the Content-Disposition header', async () => {
      const s = await session();
      const name = 'a";b%0d ü.txt';
      put(s, name, Buffer.from('x'));
      const index = await offer(s, name);
      const res = await fetch(url(s, index));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-disposition'), `attachment; filename="a__b_0d _.txt"; filename*=UTF-8''${encodeURIComponent(name)}`);
      await res.arrayBuffer();
    });
  });

  describe('VNC with SFTP', () => {
    it('a VNC session with sftp-* parameters uploads and downloads through its SFTP filesystem', async () => {
      g ??= await gateway();
      const dir = sftpDir(env, 'vnc');
      cleanups.push(() => dir.remove());
      writeFileSync(join(dir.path, 'vnc-side.txt'), 'next to the desktop\n');
      const token = sealToken({
        exp: Math.floor(Date.now() / 1000) + 300,
        target: { protocol: 'vnc', params: {
          ...env.vnc.params, 'enable-sftp': 'true', 'sftp-hostname': env.ssh.host, 'sftp-port': String(env.ssh.port),
          'sftp-username': env.ssh.username, 'sftp-password': env.ssh.password, 'sftp-root-directory': dir.path,
        } },
      }, SECRET);
      const c = await TunnelClient.connect(`${g.wsUrl}?token=${encodeURIComponent(token)}`);
      cleanups.push(() => c.terminate());
      const base = (await c.waitForOpcode('gateway-streams', 20_000)).args[0];
      const fs = Number((await c.waitForOpcode('filesystem', 20_000)).args[0]);
      const data = randomBytes(300_000);
      c.send('put', fs, 3, 'application/octet-stream', '/from-vnc.bin');
      const up = await fetch(`${g.httpUrl}/streams/${base}/3/from-vnc.bin`, { method: 'POST', body: data });
      assert.equal(up.status, 200, await up.clone().text());
      c.send('end', 3);
      const path = join(dir.path, 'from-vnc.bin');
      await waitFor(() => existsSync(path) && statSync(path).size === data.length, { what: 'from-vnc.bin' });
      assert.equal(sha256(path), sha256(data));
      const from = c.received.length;
      c.send('get', fs, '/vnc-side.txt');
      const body = await c.waitFor((r) => r.opcode === 'body' && r.args[3] === '/vnc-side.txt', 10_000, 'body', from);
      assert.equal(await (await fetch(`${g.httpUrl}/streams/${base}/${body.args[1]}/x`)).text(), 'next to the desktop\n');
    });
  });

  describe('RDP drive', () => {
    it('uploads into and downloads from the drive guacd keeps for the session (drive-path)', { timeout: 240_000 }, async () => withRdp(async () => {
      g ??= await gateway();
      const drive = join(tmpdir(), `gg-rdp-drive-${randomBytes(4).toString('hex')}`);
      mkdirSync(drive);
      cleanups.push(() => rmSync(drive, { recursive: true, force: true }));
      writeFileSync(join(drive, 'on-drive.txt'), 'from the drive\n');
      const token = sealToken({
        exp: Math.floor(Date.now() / 1000) + 300,
        target: { protocol: 'rdp', params: { ...env.rdp.params, 'enable-drive': 'true', 'drive-path': drive } },
      }, SECRET);
      const open = async () => {
        const c = await TunnelClient.connect(`${g!.wsUrl}?token=${encodeURIComponent(token)}`);
        cleanups.push(() => c.terminate());
        return { c, base: (await c.waitForOpcode('gateway-streams', 20_000)).args[0] };
      };
      const driveOf = async (c: TunnelClient) => Number((await c.waitForOpcode('filesystem', 30_000)).args[0]);
      let { c, base } = await open();
      let fs: number;
      try {
        fs = await driveOf(c);
      } catch (err) {
        // freerdp-shadow, the test RDP server, now and then activates a client whose drive never comes up
        // (seen twice in CI, once with every RDP session of the tests serialised by withRdp). A second
        // session, once the first has let the server go, is tried once; a gateway that lost `filesystem`
        // fails both.
        process.stderr.write(`RDP drive: ${(err as Error).message}; trying a new session once more\n`);
        c.send('disconnect');
        await c.waitClosed();
        ({ c, base } = await open());
        fs = await driveOf(c);
      }
      const data = randomBytes(700_000);
      c.send('put', fs, 9, 'application/octet-stream', '/up.bin');
      const up = await fetch(`${g.httpUrl}/streams/${base}/9/up.bin`, { method: 'POST', body: data });
      assert.equal(up.status, 200, await up.clone().text());
      c.send('end', 9);
      await waitFor(() => existsSync(join(drive, 'up.bin')) && statSync(join(drive, 'up.bin')).size === data.length, { what: 'up.bin on the drive' });
      assert.equal(sha256(join(drive, 'up.bin')), sha256(data));
      const from = c.received.length;
      c.send('get', fs, '/on-drive.txt');
      const body = await c.waitFor((r) => r.opcode === 'body' && r.args[3] === '/on-drive.txt', 10_000, 'body', from);
      const down = await fetch(`${g.httpUrl}/streams/${base}/${body.args[1]}/on-drive.txt`);
      assert.equal(await down.text(), 'from the drive\n');
      // Leave with `disconnect` so guacd lets the RDP server go now (freerdp-shadow serves one client at a time).
      c.send('disconnect');
      await c.waitClosed();
    }));
  });

  describe('faults', () => {
    it('the browser aborting a download acks guacd with an error; the session goes on', async () => {
      const s = await session();
      put(s, 'long.bin', randomBytes(20 * 1024 * 1024));
      const index = await offer(s, 'long.bin');
      const ac = new AbortController();
      const res = await fetch(url(s, index), { signal: ac.signal });
      const reader = res.body!.getReader();
      await reader.read();
      ac.abort();
      await waitFor(() => transfers.find((t) => t.direction === 'download'), { what: 'aborted record' });
      const t = transfers.find((r) => r.direction === 'download')!;
      assert.equal(t.status.name, 'RESOURCE_CLOSED');
      assert.ok(t.bytes < 20 * 1024 * 1024);
      // The browser's stream was ended for it, and the session still answers.
      await s.c.waitFor((r) => r.opcode === 'end' && r.args[0] === String(index), 5000);
      const again = await offer(s, 'long.bin');
      assert.ok(again >= 0);
    });

    it('the browser aborting an upload ends the stream toward guacd and records RESOURCE_CLOSED', async () => {
      const s = await session();
      s.c.send('put', s.fs, 7, 'application/octet-stream', '/cut.bin');
      const ac = new AbortController();
      let push: (b: Buffer) => void = () => undefined;
      const body = new ReadableStream<Uint8Array>({ start(ctl) { push = (b) => ctl.enqueue(b); } });
      const pending = fetch(url(s, 7), { method: 'POST', body, signal: ac.signal, duplex: 'half' } as RequestInit).catch((e: unknown) => e);
      push(randomBytes(100_000));
      const path = join(s.dir.path, 'cut.bin');
      await waitFor(() => existsSync(path) && statSync(path).size > 0, { what: 'first blocks written' });
      ac.abort();
      await pending;
      await waitFor(() => transfers.find((t) => t.direction === 'upload'), { what: 'aborted upload record' });
      assert.equal(transfers[0].status.name, 'RESOURCE_CLOSED');
      // A new upload on the same session still works.
      const ok = await upload(s, 8, 'after.bin', Buffer.from('fine'));
      assert.equal(ok.status, 200);
      await waitFor(() => existsSync(join(s.dir.path, 'after.bin')) && readFileSync(join(s.dir.path, 'after.bin'), 'utf8') === 'fine', { what: 'after.bin' });
    });
  });
}, { span: 'ends' });
