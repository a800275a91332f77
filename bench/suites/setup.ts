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
import { cpuMs, median, nowMs, quantile, round, selfCpuMs, sleep } from '../lib/stats.js';
import { STANDIN_TARGET } from '../lib/stack.js';
import type { GatewayKind, Upstream } from '../lib/gateways.js';
import type { StandInStats } from '../lib/standin.js';

export type SetupKind = Extract<GatewayKind, 'ours' | 'registry' | 'lite'> | 'floor';

export interface SetupParams {
  kinds: SetupKind[];
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
  /**
   * The load generators' CPU per session over the same burst, ms: the clients (this process) and the stand-in.
   * They share the machine's cores with the gateway, so they bound what any gateway can reach here.
   */
  clientCpuMsPerSession: number;
  standInCpuMsPerSession: number;
  /** Every round, the median one reported above (by sessions/s). */
  rounds: Omit<BurstResult, 'n' | 'rounds'>[];
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

/** One kind's processes and how to open its sessions. */
interface Contender {
  kind: SetupKind;
  open: Opener;
  urls(n: number): Promise<string[]>;
  stats(): Promise<StandInStats>;
  pid: number;
  standInPid: number;
  stop(): Promise<void>;
}

async function contender(kind: SetupKind): Promise<Contender> {
  if (kind === 'floor') {
    const standIn = await startStandIn({ mode: 'idle', frameOnReady: true });
    return {
      kind, pid: -1, standInPid: standIn.pid,
      open: directOpener({ host: '127.0.0.1', port: standIn.info.port, ...STANDIN_TARGET }),
      urls: (n) => Promise.resolve(Array.from({ length: n }, () => '')),
      stats: () => standIn.call<StandInStats>('stats', undefined, 10000),
      stop: () => standIn.stop(),
    };
  }
  const stack = await startStack(kind, { mode: 'idle', frameOnReady: true });
  return {
    kind, pid: stack.gateway!.pid, standInPid: stack.standIn.pid, open: openGateway,
    urls: (n) => stack.gateway!.call<string[]>('urls', n, 120_000),
    stats: () => stack.standInStats(),
    stop: () => stack.stop(),
  };
}

const WARM_BURSTS = 2;

/** One burst of `n` through `c`, with the CPU each process spent on it; the sessions are closed and drained after. */
async function burstRound(c: Contender, n: number): Promise<BurstResult['rounds'][number]> {
  const list = await c.urls(n);
  await sleep(200);
  const cpu0 = cpuMs(c.pid);
  const standIn0 = cpuMs(c.standInPid);
  const self0 = selfCpuMs();
  const b = await burst(c.open, list);
  const cpu = cpuMs(c.pid) - cpu0;
  const standInCpu = cpuMs(c.standInPid) - standIn0;
  const selfCpu = selfCpuMs() - self0;
  for (const s of b.sessions) s.close();
  await drained(() => c.stats());
  return {
    sessionsPerSec: b.sessionsPerSec, p50: b.p50, p95: b.p95, cpuMsPerSession: round(cpu / n, 2),
    clientCpuMsPerSession: round(selfCpu / n, 2), standInCpuMsPerSession: round(standInCpu / n, 2),
  };
}

/**
 * Every kind at once, their rounds interleaved: at each size, round r runs
 * each kind once, in an order turned by one every round, so a slow stretch
 * of the machine (another process, a busy sibling core) lands on all kinds
 * alike instead of on whichever ran then. The ratios the targets take
 * (registry / lite, registry / bare) are of figures measured side by side.
 */
export async function measureSetup(p: SetupParams): Promise<Record<string, SetupResult>> {
  const sizes = p.sizes ?? (p.quick ? [50, 200] : SETUP_SIZES);
  const roundsPer = p.quick ? 1 : 5;
  const all: Contender[] = [];
  try {
    for (const kind of p.kinds) all.push(await contender(kind));
    const singles = new Map<SetupKind, number[]>(p.kinds.map((k) => [k, []]));
    for (const c of all) {
      // Warm-up: JIT both sides, the registry's statements prepared.
      for (const u of await c.urls(30)) (await c.open(u)).close();
      await drained(() => c.stats());
    }
    for (let i = 0; i < (p.quick ? 5 : 15); i++) {
      for (const c of all) {
        const [u] = await c.urls(1);
        const s = await c.open(u!);
        singles.get(c.kind)!.push(s.ms);
        s.close();
        await drained(() => c.stats());
      }
    }
    const bursts = new Map<SetupKind, BurstResult[]>(p.kinds.map((k) => [k, []]));
    for (const n of sizes) {
      const rounds = new Map<SetupKind, BurstResult['rounds']>(p.kinds.map((k) => [k, []]));
      // Uncounted bursts of this size first: the first burst of a size grows every process's heap and the
      // kernel's socket caches, and cost each gateway up to twice its later rounds.
      for (let w = 0; w < WARM_BURSTS; w++) for (const c of all) await burstRound(c, n);
      for (let r = 0; r < roundsPer; r++) {
        for (let i = 0; i < all.length; i++) {
          const c = all[(i + r) % all.length]!;
          rounds.get(c.kind)!.push(await burstRound(c, n));
        }
      }
      for (const [kind, rs] of rounds) {
        const mid = [...rs].sort((a, b) => a.sessionsPerSec - b.sessionsPerSec)[Math.floor(rs.length / 2)]!;
        bursts.get(kind)!.push({ n, ...mid, rounds: rs });
      }
    }
    return Object.fromEntries(p.kinds.map((kind) => [kind, { kind, singleMs: round(median(singles.get(kind)!), 2), bursts: bursts.get(kind)! }]));
  } finally {
    await Promise.allSettled(all.map((c) => c.stop()));
  }
}
