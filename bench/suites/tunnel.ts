/**
 * Tunnel throughput: a stand-in guacd replays the recorded streams as fast as
 * its socket takes them, through the gateway, to one websocket client that
 * counts bytes. Warm-up session first, then timed sessions; median MB/s, and
 * the gateway's CPU time per 100 MB (steadier than MB/s on a shared machine:
 * three busy processes on two cores make the throughput partly a matter of
 * scheduling).
 */
import { startStack, type Stack } from '../lib/stack.js';
import { receive } from '../lib/client.js';
import { cpuMs, median, round } from '../lib/stats.js';
import type { GatewayKind } from '../lib/gateways.js';

export interface TunnelParams {
  kind: GatewayKind;
  recordings: string[];
  quick?: boolean;
}

export interface TunnelResult {
  kind: GatewayKind;
  mbps: number;
  /** Gateway CPU time (user + system) per 100 MB relayed, ms; median of the runs. */
  cpuMsPer100MB: number;
  /** The load generators' CPU per 100 MB (the client and the stand-in; recording pair only). */
  othersCpuMsPer100MB?: number;
  runs: { bytes: number; ms: number; mbps: number; capped: boolean; cpuMsPer100MB: number; othersCpuMsPer100MB?: number }[];
}

export async function measureTunnel(p: TunnelParams): Promise<TunnelResult> {
  const total = p.quick ? 40e6 : 200e6;
  const stack = await startStack(p.kind, { mode: 'replay', recordings: p.recordings, bytesPerSession: total });
  try {
    return { kind: p.kind, ...(await timedRuns(stack, total, p.quick === true)) };
  } finally {
    await stack.stop();
  }
}

/**
 * A warm-up session, then one (quick) or three timed sessions of `total`
 * bytes through `stack`; `afterRun` is called after each timed one.
 */
export async function timedRuns(stack: Stack, total: number, quick: boolean, afterRun?: () => Promise<void>): Promise<Omit<TunnelResult, 'kind'>> {
  const capMs = quick ? 6000 : 15000;
  await receive(stack.url, total / 10, capMs / 3);
  const runs: TunnelResult['runs'] = [];
  const pid = stack.gateway?.pid ?? -1;
  for (let i = 0; i < (quick ? 1 : 3); i++) {
    const cpu0 = cpuMs(pid);
    const r = await receive(stack.url, total, capMs);
    const cpu = cpuMs(pid) - cpu0;
    runs.push({ ...r, ms: round(r.ms, 1), mbps: round(r.bytes / r.ms / 1e3, 1), cpuMsPer100MB: Math.round(cpu * 1e8 / r.bytes) });
    await afterRun?.();
  }
  return { mbps: median(runs.map((r) => r.mbps)), cpuMsPer100MB: median(runs.map((r) => r.cpuMsPer100MB)), runs };
}
