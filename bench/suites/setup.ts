/**
 * Session setup under a burst (issue 16): N sessions opened at once, each
 * timed from its open (the websocket created; for the floor, the TCP connect
 * to guacd) to its first frame (the stand-in's `sync`, sent right after
 * `ready`). Per size: sessions/s (N over the time until the last first
 * frame), p50 and p95, and the gateway's CPU time per session over the
 * burst (from /proc). Before the bursts, sessions one at a time: the time a
 * lone session takes.
 *
 * Kinds: `registry` (what `serve` runs: SQLite registry, single-use registry
 * tokens minted before the clock starts), `ours` (bare createTunnel with the
 * token resolver), `lite` (guacamole-lite 1.2.0), `floor` (the same clients
 * straight to the stand-in through our GuacdClient: no gateway, no websocket).
 */
import type WebSocket from 'ws';
import { startStack, startStandIn } from '../lib/stack.js';
import { openWs, msgBuffer, takeEarly } from '../lib/client.js';
import { InstrReader } from '../lib/wire.js';
import { cpuMs, median, nowMs, quantile, round, sleep } from '../lib/stats.js';
import { STANDIN_TARGET } from '../lib/stack.js';
import type { GatewayKind, Upstream } from '../lib/gateways.js';
import type { StandInStats } from '../lib/standin.js';

export type SetupKind = Extract<GatewayKind, 'ours' | 'registry' | 'lite'> | 'floor';

export interface SetupParams {
  kind: SetupKind;
  sizes?: number[];
  quick?: boolean;
}

export interface BurstResult {
  n: number;
  sessionsPerSec: number;
  p50: number;
  p95: number;
  /** Gateway CPU time (user + system) over the burst, per session, ms (NaN for the floor). */
  cpuMsPerSession: number;
  /** Every round, the median one reported above (by sessions/s). */
  rounds: { sessionsPerSec: number; p50: number; p95: number; cpuMsPerSession: number }[];
}

export interface SetupResult {
  kind: SetupKind;
  /** One session alone, open → first frame, median ms. */
  singleMs: number;
  bursts: BurstResult[];
}

export const SETUP_SIZES = [50, 200, 500];
const FRAME_TIMEOUT_MS = 60_000;

/** Resolves when the first `sync` arrives on `ws`. */
function firstSync(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error('no first frame in time')), FRAME_TIMEOUT_MS);
    const reader = new InstrReader((opcode, args) => {
      if (opcode === 'sync') finish();
      else if (opcode === 'error') finish(new Error(`error ${args.join(' ')}`));
    });
    const onClose = (code: number, reason: Buffer): void => finish(new Error(`closed ${code} ${reason.toString()}`));
    function finish(err?: Error): void {
      clearTimeout(timer);
      ws.removeAllListeners('message');
      ws.off('close', onClose);
      if (err) reject(err);
      else resolve();
    }
    ws.on('message', (d) => reader.push(msgBuffer(d)));
    ws.on('close', onClose);
    for (const b of takeEarly(ws)) reader.push(b);
  });
}

export interface Opened { ms: number; close(): void }

export type Opener = (url: string) => Promise<Opened>;

/** Through a gateway: websocket open → first `sync`. */
export async function openGateway(url: string): Promise<Opened> {
  const t0 = nowMs();
  const ws = await openWs(url, FRAME_TIMEOUT_MS);
  await firstSync(ws);
  return { ms: nowMs() - t0, close: () => ws.terminate() };
}

/** Straight to guacd (or the stand-in) with our GuacdClient, as the tunnel opens it: connect → first `sync`. */
export function directOpener(up: Upstream, frameTimeoutMs = FRAME_TIMEOUT_MS): Opener {
  return async () => {
    const { GuacdClient } = await import('../../src/guacd/index.js');
    const t0 = nowMs();
    const { client } = await GuacdClient.open({ host: up.host, port: up.port },
      { protocol: up.protocol, params: up.params, width: 1024, height: 768, dpi: 96, timeoutMs: frameTimeoutMs });
    // A connection that never sends a frame is given up, as the gateway's first-frame limit does.
    const timer = setTimeout(() => void client.close().catch(() => undefined), frameTimeoutMs);
    let framed = false;
    try {
      for await (const { opcode } of client) if (opcode === 'sync') { framed = true; break; }
    } finally {
      clearTimeout(timer);
    }
    if (!framed) throw new Error('no first frame in time');
    return { ms: nowMs() - t0, close: () => void client.close().catch(() => undefined) };
  };
}

/** Opens every URL at once; sessions/s (n over the time to the last first frame), p50, p95; the sessions stay open. */
export async function burst(open: Opener, urls: string[]): Promise<{ wallMs: number; sessionsPerSec: number; p50: number; p95: number; sessions: Opened[] }> {
  const t0 = nowMs();
  const sessions = await Promise.all(urls.map((u) => open(u)));
  const wallMs = nowMs() - t0;
  const times = sessions.map((s) => s.ms);
  return { wallMs, sessionsPerSec: round(urls.length / (wallMs / 1000), 0), p50: round(median(times), 1), p95: round(quantile(times, 0.95), 1), sessions };
}

/** Waits (bounded) until the stand-in holds no session: the previous round is torn down. */
async function drained(stats: () => Promise<StandInStats>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await stats()).open === 0) return;
    await sleep(100);
  }
}

export async function measureSetup(p: SetupParams): Promise<SetupResult> {
  const sizes = p.sizes ?? (p.quick ? [50, 200] : SETUP_SIZES);
  const roundsPer = p.quick ? 1 : 3;
  const floor = p.kind === 'floor';
  const standIn = floor ? await startStandIn({ mode: 'idle', frameOnReady: true }) : undefined;
  const stack = floor ? undefined : await startStack(p.kind as GatewayKind, { mode: 'idle', frameOnReady: true });
  const stats = (): Promise<StandInStats> => (stack ? stack.standInStats() : standIn!.call<StandInStats>('stats', undefined, 10000));
  const open: Opener = floor ? directOpener({ host: '127.0.0.1', port: standIn!.info.port, ...STANDIN_TARGET }) : openGateway;
  const urls = (n: number): Promise<string[]> => (stack ? stack.gateway!.call<string[]>('urls', n, 120_000) : Promise.resolve(Array.from({ length: n }, () => '')));
  const pid = stack?.gateway?.pid ?? -1;
  try {
    // Warm-up: JIT both sides, the registry's statements prepared.
    for (const u of await urls(30)) (await open(u)).close();
    await drained(stats);
    const singles: number[] = [];
    for (const u of await urls(p.quick ? 5 : 15)) {
      const s = await open(u);
      singles.push(s.ms);
      s.close();
      await drained(stats);
    }
    const bursts: BurstResult[] = [];
    for (const n of sizes) {
      const rounds: BurstResult['rounds'] = [];
      for (let r = 0; r < roundsPer; r++) {
        const list = await urls(n);
        await sleep(200);
        const cpu0 = cpuMs(pid);
        const b = await burst(open, list);
        const cpu = cpuMs(pid) - cpu0;
        for (const s of b.sessions) s.close();
        rounds.push({ sessionsPerSec: b.sessionsPerSec, p50: b.p50, p95: b.p95, cpuMsPerSession: round(cpu / n, 2) });
        await drained(stats);
      }
      const mid = [...rounds].sort((a, b) => a.sessionsPerSec - b.sessionsPerSec)[Math.floor(rounds.length / 2)]!;
      bursts.push({ n, ...mid, rounds });
    }
    return { kind: p.kind, singleMs: round(median(singles), 2), bursts };
  } finally {
    await stack?.stop();
    await standIn?.stop();
  }
}
