/**
 * Scale: memory per idle session (many sessions held open, gateway measured
 * alone after a full GC), throughput shared by many sessions streaming at
 * once, and the gateway's peak memory while the browser stops reading.
 */
import type WebSocket from 'ws';
import { startStack } from '../lib/stack.js';
import { openWs, nextMessage, pool, streamAtOnce, type StreamTotals } from '../lib/client.js';
import { nowMs, round, sleep } from '../lib/stats.js';
import type { GatewayKind } from '../lib/gateways.js';

export interface ScaleParams {
  kind: GatewayKind;
  recordings: string[];
  quick?: boolean;
}

export interface IdleResult {
  kind: GatewayKind;
  sessions: number;
  openMs: number;
  /** RSS per session between the half-way and the full count (fixed costs such as a grown young generation cancel out). */
  rssPerSession: number;
  /** The same for V8 heap used plus external memory. */
  heapPerSession: number;
  /** (RSS with all sessions − RSS before any) / sessions. */
  rssPerSessionAvg: number;
  baseRss: number;
  rss: number;
}

export interface SharedResult extends StreamTotals {
  kind: GatewayKind;
}

export interface StalledResult {
  kind: GatewayKind;
  seconds: number;
  baseRss: number;
  peakRss: number;
  growth: number;
  /** Bytes guacd (the stand-in) got rid of while the browser read nothing. */
  upstreamBytes: number;
}

async function establish(url: string): Promise<WebSocket> {
  const ws = await openWs(url, 60000);
  await nextMessage(ws, 60000);
  return ws;
}

export async function measureIdle(p: ScaleParams): Promise<IdleResult> {
  const n = p.quick ? 500 : 2000;
  const stack = await startStack(p.kind, { mode: 'idle', keepaliveMs: 3000 });
  const sockets: WebSocket[] = [];
  try {
    const warm = await pool(Array.from({ length: 50 }), 25, () => establish(stack.url));
    for (const ws of warm) ws.terminate();
    await sleep(500);
    const base = await stack.mem(true);
    const t0 = nowMs();
    const half = Math.floor(n / 2);
    sockets.push(...await pool(Array.from({ length: half }), 100, () => establish(stack.url)));
    await sleep(500);
    const mid = await stack.mem(true);
    sockets.push(...await pool(Array.from({ length: n - half }), 100, () => establish(stack.url)));
    const openMs = nowMs() - t0;
    await sleep(1000);
    const after = await stack.mem(true);
    const stats = await stack.standInStats();
    if (stats.open < n) throw new Error(`only ${stats.open} of ${n} sessions reached the stand-in`);
    const heap = (m: typeof after): number => m.heapUsed + m.external;
    return {
      kind: p.kind,
      sessions: n,
      openMs: round(openMs, 0),
      rssPerSession: Math.round((after.rss - mid.rss) / (n - half)),
      heapPerSession: Math.round((heap(after) - heap(mid)) / (n - half)),
      rssPerSessionAvg: Math.round((after.rss - base.rss) / n),
      baseRss: base.rss,
      rss: after.rss,
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    await stack.stop();
  }
}

export async function measureShared(p: ScaleParams): Promise<SharedResult> {
  const n = p.quick ? 50 : 100;
  const perSession = p.quick ? 1e6 : 2e6;
  const capMs = p.quick ? 8000 : 20000;
  const stack = await startStack(p.kind, { mode: 'replay', recordings: p.recordings, bytesPerSession: perSession });
  try {
    return { kind: p.kind, ...await streamAtOnce(stack.url, n, perSession, capMs) };
  } finally {
    await stack.stop();
  }
}

export async function measureStalled(p: ScaleParams): Promise<StalledResult> {
  const seconds = p.quick ? 3 : 10;
  // A cap so a gateway that buffers everything cannot take the machine down.
  const stack = await startStack(p.kind, { mode: 'replay', recordings: p.recordings, bytesPerSession: 3e9 });
  try {
    const base = await stack.mem(true);
    const ws = await openWs(stack.url);
    // The browser stops reading: its TCP window fills, the gateway must stop reading guacd.
    (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    let peak = base.rss;
    const end = nowMs() + seconds * 1000;
    while (nowMs() < end) {
      await sleep(250);
      const m = await stack.mem(false);
      peak = Math.max(peak, m.rss, m.peakRss);
    }
    const stats = await stack.standInStats();
    ws.terminate();
    return {
      kind: p.kind,
      seconds,
      baseRss: base.rss,
      peakRss: peak,
      growth: peak - base.rss,
      upstreamBytes: stats.flushed,
    };
  } finally {
    await stack.stop();
  }
}
