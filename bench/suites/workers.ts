/**
 * Issue 14: `serve --workers N` as operators run it (the real CLI: primary
 * plus N workers, SQLite registry, history written), 50 sessions streaming
 * the recordings from the stand-in guacd at once. Figures: aggregate MB/s
 * and the gateway's CPU per 100 MB, summed over the primary and its workers
 * (from /proc).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sealToken } from '../../src/tunnel/token.js';
import { streamAtOnce, type StreamTotals } from '../lib/client.js';
import { ROOT } from '../lib/recordings.js';
import { STANDIN_TARGET, startStandIn } from '../lib/stack.js';
import { cpuMs, round } from '../lib/stats.js';

export interface WorkersParams {
  workers: number;
  recordings: string[];
  quick?: boolean;
}

export interface WorkersResult extends StreamTotals {
  workers: number;
  /** CPU of the primary and every worker over the burst, ms per 100 MB relayed. */
  cpuMsPer100MB: number;
}

/** The worker pids of `pid` (its children, from /proc). */
function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Starts `serve --workers N` and resolves with its port once the primary says it listens. */
function startServe(workers: number, guacdPort: number, dataDir: string, secret: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/guacamole-gateway.js'), 'serve', '--port', '0', '--guacd', `127.0.0.1:${guacdPort}`,
    '--workers', String(workers), '--data-dir', dataDir, '--log-level', 'warn'], {
    env: {
      ...process.env, GATEWAY_SECRET: secret, GATEWAY_MAX_SESSIONS_PER_TOKEN: '0', GATEWAY_MAX_SESSIONS_PER_USER: '0',
      GATEWAY_MAX_SESSIONS_PER_ADDRESS: '0', GATEWAY_HANDSHAKE_RATE: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${out}`)), 60_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /listening on http:\/\/[^:]+:(\d+)\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited with ${code}:\n${out}`)); });
  });
}

export async function measureWorkers(p: WorkersParams): Promise<WorkersResult> {
  const n = 50;
  const perSession = p.quick ? 2e6 : 4e6;
  const capMs = p.quick ? 15_000 : 30_000;
  const standIn = await startStandIn({ mode: 'replay', recordings: p.recordings, bytesPerSession: perSession });
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-workers-'));
  const secret = randomBytes(32).toString('base64url');
  let serve: ChildProcess | undefined;
  try {
    const started = await startServe(p.workers, standIn.info.port, dataDir, secret);
    serve = started.child;
    const params = Object.fromEntries(Object.entries(STANDIN_TARGET.params).map(([k, v]) => [k, String(v)]));
    const token = sealToken({ aud: 'tunnel', exp: Math.floor(Date.now() / 1000) + 3600, target: { protocol: STANDIN_TARGET.protocol, params } }, secret);
    const url = `ws://127.0.0.1:${started.port}/tunnel?token=${token}`;
    const pids = [serve.pid!, ...children(serve.pid!)];
    const cpu = (): number => pids.reduce((a, pid) => a + cpuMs(pid), 0);
    let cpuUsed = 0;
    const totals = await streamAtOnce(url, n, perSession, capMs, { start: () => { cpuUsed = -cpu(); }, end: () => { cpuUsed += cpu(); } });
    return { workers: p.workers, ...totals, cpuMsPer100MB: round(cpuUsed / (totals.bytes / 1e8), 0) };
  } finally {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((resolve) => serve!.once('exit', resolve));
      serve.kill('SIGTERM');
      await exited;
    }
    await standIn.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
