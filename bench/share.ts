/**
 * Share links: time from opening a share link (websocket open with the
 * share token) to the watcher's first frame (first `img` or `sync`), over
 * 20 joins of one live SSH session, beside the owner's own first frame over
 * the same number of fresh sessions. Real guacd (each version the test
 * environment runs, or `--guacd 1.3.0,1.6.0`) and sshd; the gateway (tunnel
 * and SQLite registry) runs in this process, the client is a `ws` socket.
 *
 *   bash scripts/test-env.sh up && node dist/bench/share.js [--joins 20] [--guacd 1.3.0,1.6.0]
 *
 * Writes bench/results/share.json and prints a table.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type WebSocket from 'ws';
import { openRegistry } from '../src/registry/open.js';
import { registryResolver, registrySessionHooks } from '../src/registry/resolver.js';
import { createTunnel } from '../src/tunnel/tunnel.js';
import { msgBuffer, openWs, takeEarly } from './lib/client.js';
import { ROOT } from './lib/recordings.js';
import { nowMs, quantile, round } from './lib/stats.js';
import { InstrReader } from './lib/wire.js';

interface EnvJson {
  guacds: { version: string; host: string; port: number }[];
  ssh: { params: Record<string, string> };
}

const { values } = parseArgs({ options: { joins: { type: 'string', default: '20' }, guacd: { type: 'string' } } });
const JOINS = Number(values.joins);

/** Opens `url` and resolves with ms from the open socket to the first `img` or `sync`; keeps the socket open. */
async function firstFrame(url: string): Promise<{ ws: WebSocket; ms: number }> {
  const ws = await openWs(url);
  const t0 = nowMs();
  const ms = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no frame within 20 s')), 20_000);
    const reader = new InstrReader((opcode) => {
      if (opcode === 'img' || opcode === 'sync') {
        clearTimeout(timer);
        ws.removeAllListeners('message');
        resolve(nowMs() - t0);
      } else if (opcode === 'error') reject(new Error('error instruction'));
    });
    for (const b of takeEarly(ws)) reader.push(b);
    ws.on('message', (d) => reader.push(msgBuffer(d)));
    ws.once('close', (code, reason) => reject(new Error(`closed ${code} ${reason.toString()}`)));
  });
  return { ws, ms };
}

const stats = (xs: number[]) => ({ n: xs.length, p50: round(quantile(xs, 0.5), 1), p95: round(quantile(xs, 0.95), 1), samples: xs.map((x) => round(x, 1)) });

async function measure(guacd: { host: string; port: number }, ssh: Record<string, string>): Promise<{ owner: ReturnType<typeof stats>; watcher: ReturnType<typeof stats> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gg-bench-share-'));
  const secret = 'bench-share-secret-0123456789abcdef';
  const reg = await openRegistry(undefined, { dataDir, secretKey: secret });
  const tunnel = createTunnel({ guacd, resolve: registryResolver(reg, secret), ...registrySessionHooks(reg),
    limits: { maxSessionsPerToken: 0, maxSessionsPerUser: 0, maxSessionsPerAddress: 0, handshakesPerAddress: 0 } });
  const server = http.createServer((req, res) => { if (!tunnel.handleHttp(req, res)) res.writeHead(404).end(); });
  server.on('upgrade', (req, socket, head) => tunnel.handleUpgrade(req, socket, head));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/tunnel?token=`;
  try {
    await reg.createConnection({ name: 'ssh', protocol: 'ssh', params: ssh });
    await reg.grant('ssh', 'owner');
    const owners: number[] = [];
    // One warm-up session each, not counted.
    for (let i = 0; i <= JOINS; i++) {
      const { ws, ms } = await firstFrame(url + encodeURIComponent((await reg.mintToken({ connection: 'ssh', user: 'owner' })).token));
      if (i > 0) owners.push(ms);
      ws.close();
    }
    const { ws: owner } = await firstFrame(url + encodeURIComponent((await reg.mintToken({ connection: 'ssh', user: 'owner' })).token));
    const id = [...tunnel.sessions.values()].find((s) => s.info.join === undefined)!.info.id;
    for (let t = 0; t < 100 && !(await reg.getSession(id))?.guacdId; t++) await new Promise((r) => setTimeout(r, 50));
    const watchers: number[] = [];
    for (let i = 0; i <= JOINS; i++) {
      const share = await reg.createShare({ session: id, readOnly: true });
      const { ws, ms } = await firstFrame(url + encodeURIComponent(share.token));
      if (i > 0) watchers.push(ms);
      ws.close();
    }
    owner.close();
    return { owner: stats(owners), watcher: stats(watchers) };
  } finally {
    await tunnel.close();
    server.close();
    await reg.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const env = JSON.parse(readFileSync(join(ROOT, '.test-env', 'env.json'), 'utf8')) as EnvJson;
  const wanted = values.guacd?.split(',');
  const results: Record<string, unknown> = { date: new Date().toISOString(), joins: JOINS };
  const lines = ['| guacd | owner first frame p50 / p95 (ms) | watcher first frame p50 / p95 (ms) |', '| --- | --- | --- |'];
  for (const g of env.guacds.filter((x) => !wanted || wanted.includes(x.version))) {
    const r = await measure(g, env.ssh.params);
    results[g.version] = r;
    lines.push(`| ${g.version} | ${r.owner.p50} / ${r.owner.p95} | ${r.watcher.p50} / ${r.watcher.p95} |`);
  }
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'share.json'), JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
