/**
 * File transfer through the gateway's HTTP stream routes (issue 13), next to
 * OpenSSH's own `sftp` client against the same sshd: upload and download
 * MB/s of one large file, and the gateway's memory growth while it carries
 * it (its peak RSS, sampled and from the kernel's high-water mark, over its
 * RSS before, after a full GC).
 *
 * Gateway path: a websocket session (SSH with SFTP through guacd), a `put`
 * into the SFTP root and the body POSTed to the stream route; then a `get`
 * and the body read from the route. The upload body is generated (a 1 MiB
 * random block repeated), the download counted and dropped; OpenSSH reads and
 * writes local files, on the same disk as the target's.
 */
import { execFile } from 'node:child_process';
import { createWriteStream, rmSync, statSync, mkdirSync, chownSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import { startGatewayProc } from '../lib/stack.js';
import { openWs, msgBuffer, takeEarly } from '../lib/client.js';
import { InstrReader, instr } from '../lib/wire.js';
import { nowMs, round } from '../lib/stats.js';
import type { Upstream } from '../lib/gateways.js';
import type { MemSample } from '../procs/gateway.js';

const MIB = 2 ** 20;

export interface TransferParams {
  kind: 'ours' | 'sftp' | 'direct';
  upstream: Upstream;
  /** The sshd and the account (key login for `sftp`). */
  ssh: { host: string; port: number; username: string; privateKeyPath: string; home: string };
  quick?: boolean;
}

export interface TransferResult {
  kind: 'ours' | 'sftp' | 'direct';
  bytes: number;
  uploadMBps: number;
  downloadMBps: number;
  /** Gateway only: peak RSS over its RSS before the transfers, MiB. */
  memGrowthMiB?: number;
}

/** A session's view of the instructions it needs. */
class Session {
  private readonly waiters: { test: (op: string, args: string[]) => boolean; resolve: (args: string[]) => void }[] = [];
  private readonly seen: [string, string[]][] = [];

  constructor(private readonly ws: WebSocket) {
    const reader = new InstrReader((op, args) => {
      if (op === 'sync') ws.send(instr('sync', args[0] ?? '0'));
      this.seen.push([op, args]);
      for (const w of [...this.waiters]) {
        if (w.test(op, args)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(args);
        }
      }
    });
    for (const b of takeEarly(ws)) reader.push(b);
    ws.on('message', (d) => reader.push(msgBuffer(d)));
  }

  send(op: string, ...args: (string | number)[]): void {
    this.ws.send(instr(op, ...args));
  }

  wait(test: (op: string, args: string[]) => boolean, timeoutMs = 20_000): Promise<string[]> {
    const hit = this.seen.find(([op, args]) => test(op, args));
    if (hit) return Promise.resolve(hit[1]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('instruction did not come in time')), timeoutMs);
      this.waiters.push({ test, resolve: (a) => { clearTimeout(timer); resolve(a); } });
    });
  }
}

function request(url: string, method: string, body?: (req: http.ClientRequest) => Promise<void>): Promise<{ status: number; bytes: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => {
      let bytes = 0;
      const keep: Buffer[] = [];
      res.on('data', (b: Buffer) => {
        bytes += b.length;
        if (res.statusCode !== 200 || method !== 'GET') keep.push(b);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, text: Buffer.concat(keep).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body) body(req).then(() => req.end(), reject);
    else req.end();
  });
}

/** Writes `total` bytes of a repeated random block to `req`, honouring its backpressure. */
async function generate(req: http.ClientRequest, total: number): Promise<void> {
  const block = randomBytes(MIB);
  for (let left = total; left > 0; left -= MIB) {
    if (!req.write(left >= MIB ? block : block.subarray(0, left))) await new Promise<void>((r) => req.once('drain', () => r()));
  }
}

async function measureOurs(p: TransferParams, bytes: number): Promise<TransferResult> {
  const dir = join(p.ssh.home, `bench-transfer-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir);
  const { uid, gid } = statSync(p.ssh.home);
  chownSync(dir, uid, gid);
  const upstream: Upstream = { ...p.upstream, params: { ...p.upstream.params, 'enable-sftp': 'true', 'sftp-root-directory': dir } };
  const gw = await startGatewayProc('ours', upstream);
  let peak = 0;
  let sampler: NodeJS.Timeout | undefined;
  try {
    const before = await gw.call<MemSample>('mem', { gc: true });
    const ws = await openWs(gw.info.url);
    const s = new Session(ws);
    const base = (await s.wait((op) => op === 'gateway-streams'))[0]!;
    const fs = (await s.wait((op) => op === 'filesystem'))[0]!;
    const routes = `${gw.info.url.replace(/^ws/, 'http').replace(/\?.*$/, '')}/streams/${base}`;
    sampler = setInterval(() => {
      gw.call<MemSample>('mem').then((m) => { peak = Math.max(peak, m.rss); }, () => undefined);
    }, 200);

    s.send('put', fs, 1, 'application/octet-stream', '/big.bin');
    let t0 = nowMs();
    const up = await request(`${routes}/1/big.bin`, 'POST', (req) => generate(req, bytes));
    const upMs = nowMs() - t0;
    if (up.status !== 200) throw new Error(`upload: HTTP ${up.status} ${up.text}`);
    s.send('end', 1);

    s.send('get', fs, '/big.bin');
    const body = await s.wait((op, args) => op === 'body' && args[3] === '/big.bin');
    t0 = nowMs();
    const down = await request(`${routes}/${body[1]}/big.bin`, 'GET');
    const downMs = nowMs() - t0;
    if (down.status !== 200 || down.bytes !== bytes) throw new Error(`download: HTTP ${down.status}, ${down.bytes} of ${bytes} bytes`);
    clearInterval(sampler);
    const after = await gw.call<MemSample>('mem');
    peak = Math.max(peak, after.rss, after.peakRss);
    ws.close();
    return {
      kind: 'ours', bytes,
      uploadMBps: round(bytes / 1e6 / (upMs / 1000), 1),
      downloadMBps: round(bytes / 1e6 / (downMs / 1000), 1),
      memGrowthMiB: round((peak - before.rss) / MIB, 1),
    };
  } finally {
    clearInterval(sampler);
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measureSftp(p: TransferParams, bytes: number): Promise<TransferResult> {
  const local = `/tmp/bench-sftp-${randomBytes(4).toString('hex')}`;
  const back = `${local}.back`;
  const remote = `bench-sftp-${randomBytes(4).toString('hex')}.bin`;
  const out = createWriteStream(local);
  const block = randomBytes(MIB);
  for (let left = bytes; left > 0; left -= MIB) {
    if (!out.write(left >= MIB ? block : block.subarray(0, left))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
  try {
    const batch = (cmd: string): Promise<void> => new Promise((resolve, reject) => {
      const child = execFile('sftp', [
        '-q', '-b', '-', '-P', String(p.ssh.port), '-i', p.ssh.privateKeyPath,
        '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
        `${p.ssh.username}@${p.ssh.host}`,
      ], { timeout: 600_000 }, (err) => (err ? reject(err) : resolve()));
      child.stdin?.end(`${cmd}\n`);
    });
    let t0 = nowMs();
    await batch(`put ${local} ${remote}`);
    const upMs = nowMs() - t0;
    t0 = nowMs();
    await batch(`get ${remote} ${back}`);
    const downMs = nowMs() - t0;
    if (statSync(back).size !== bytes) throw new Error('sftp get: wrong size');
    return { kind: 'sftp', bytes, uploadMBps: round(bytes / 1e6 / (upMs / 1000), 1), downloadMBps: round(bytes / 1e6 / (downMs / 1000), 1) };
  } finally {
    rmSync(local, { force: true });
    rmSync(back, { force: true });
    rmSync(join(p.ssh.home, remote), { force: true });
  }
}

/**
 * guacd's own ceiling: our GuacdClient straight to guacd, no gateway, doing
 * what the gateway does per block (`put` and a `blob` per ack; `get` and an
 * ack per `blob`), the data made and dropped in memory.
 */
async function measureDirect(p: TransferParams, bytes: number): Promise<TransferResult> {
  const { GuacdClient } = await import('../../src/guacd/index.js');
  const dir = join(p.ssh.home, `bench-direct-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir);
  const { uid, gid } = statSync(p.ssh.home);
  chownSync(dir, uid, gid);
  const client = await GuacdClient.connect({ host: p.upstream.host, port: p.upstream.port });
  try {
    await client.handshake({ protocol: p.upstream.protocol, params: { ...p.upstream.params, 'enable-sftp': 'true', 'sftp-root-directory': dir } });
    const next = async (want: (op: string, args: string[]) => boolean): Promise<string[]> => {
      for (;;) {
        const i = await client.receive();
        if (!i) throw new Error('guacd closed');
        if (i.opcode === 'sync') client.send('sync', i.args[0] ?? '0');
        if (want(i.opcode, i.args)) return i.args;
      }
    };
    const fs = (await next((op) => op === 'filesystem'))[0]!;
    const block = randomBytes(6000).toString('base64');
    client.send('put', fs, 1, 'application/octet-stream', '/big.bin');
    let t0 = nowMs();
    for (let sent = 0; ; sent += 6000) {
      const ack = await next((op, args) => op === 'ack' && args[0] === '1');
      if (ack[2] !== '0') throw new Error(`upload refused: ${ack[1]}`);
      if (sent >= bytes) break;
      client.send('blob', 1, block);
    }
    client.send('end', 1);
    const upMs = nowMs() - t0;
    client.send('get', fs, '/big.bin');
    const body = await next((op, args) => op === 'body' && args[3] === '/big.bin');
    const index = body[1]!;
    t0 = nowMs();
    client.send('ack', index, 'OK', 0);
    let got = 0;
    for (;;) {
      const args = await next((op, a) => (op === 'blob' || op === 'end') && a[0] === index);
      if (args.length < 2) break;
      got += Buffer.byteLength(args[1]!, 'base64');
      client.send('ack', index, 'OK', 0);
    }
    const downMs = nowMs() - t0;
    const sentBytes = Math.ceil(bytes / 6000) * 6000;
    if (got !== sentBytes) throw new Error(`direct download: ${got} of ${sentBytes} bytes`);
    return { kind: 'direct', bytes, uploadMBps: round(bytes / 1e6 / (upMs / 1000), 1), downloadMBps: round(bytes / 1e6 / (downMs / 1000), 1) };
  } finally {
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One figure: the gateway (`ours`), guacd alone (`direct`) or OpenSSH's `sftp`, 1 GiB each way (256 MiB with --quick). */
export function measureTransfer(p: TransferParams): Promise<TransferResult> {
  const bytes = (p.quick ? 256 : 1024) * MIB;
  return p.kind === 'ours' ? measureOurs(p, bytes) : p.kind === 'direct' ? measureDirect(p, bytes) : measureSftp(p, bytes);
}
