/**
 * Issue 12: what recording costs the relay. The SSH-like recorded stream
 * (ssh-seq) through `ours` with recording off and on (keys included), as
 * the tunnel suite measures throughput; and through a gateway whose
 * recording "disk" is a FIFO drained at 1 MB/s, far slower than the stream:
 * the session must still get every byte at full speed and the gateway's
 * memory stay bounded (the recording stops at its queue bound, marked
 * incomplete, instead of holding the relay or growing).
 */
import { startStack, type Stack } from '../lib/stack.js';
import { receive } from '../lib/client.js';
import { measureTunnel, timedRuns, type TunnelResult } from './tunnel.js';
import { cpuMs, median, round, selfCpuMs } from '../lib/stats.js';
import type { RecordingStats } from '../lib/gateways.js';

export interface RecordingParams {
  /** `pair`: off and on side by side, their runs interleaved (what the on/off target compares). */
  mode: 'off' | 'on' | 'slow' | 'pair';
  recordings: string[];
  quick?: boolean;
}

export interface SlowDiskResult {
  mode: 'slow';
  /** Bytes the client got, of those sent. */
  bytes: number;
  total: number;
  mbps: number;
  rssBefore: number;
  peakRss: number;
  /** Peak RSS minus RSS before the session, bytes. */
  growth: number;
  recording: RecordingStats | undefined;
}

export type RecordingBenchResult = (TunnelResult & { mode: 'off' | 'on'; recorded?: RecordingStats[] }) | SlowDiskResult;

/** The last session's recording once its file is closed (its fault, if any, and the bytes written). */
async function waitRecorded(stack: Stack): Promise<RecordingStats> {
  for (let i = 0; i < 100; i++) {
    const s = await stack.gateway!.call<RecordingStats | undefined>('recording', undefined, 10000);
    if (s?.finished) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the recording did not finish within 10 s of its session');
}

/** Timed runs per side in `pair` mode (one with `--quick`). */
const PAIR_RUNS = 5;

/**
 * Whole-size sessions per side before the timed ones, not counted (as the
 * setup suite's warm bursts): the first two full sessions of either side ran
 * 15-30% slower than the later ones (the gateway's heap and the kernel's
 * socket and page-cache memory growing to what the stream needs), which a
 * long-running gateway has long done.
 */
const PAIR_WARM_RUNS = 2;

/**
 * Off and on at once, each with its own stand-in and gateway, their timed
 * sessions alternating (off first in even rounds, on first in odd ones):
 * on two shared cores a run's speed depends on what the machine does at
 * that moment, and one side measured minutes after the other compared two
 * moments, not two gateways (single runs ranged 352-638 MB/s).
 */
async function measurePair(p: RecordingParams): Promise<{ off: RecordingBenchResult; on: RecordingBenchResult }> {
  const total = p.quick ? 40e6 : 200e6;
  const capMs = p.quick ? 6000 : 15000;
  const init = { mode: 'replay' as const, recordings: p.recordings, bytesPerSession: total };
  const off = await startStack('ours', init);
  let on: Stack | undefined;
  try {
    on = await startStack('ours-rec', init);
    const sides = [{ stack: off, runs: [] as TunnelResult['runs'] }, { stack: on, runs: [] as TunnelResult['runs'] }];
    const recorded: RecordingStats[] = [];
    for (let i = 0; i < (p.quick ? 1 : PAIR_WARM_RUNS); i++) {
      for (const side of sides) {
        await receive(side.stack.url, p.quick ? total / 10 : total, capMs);
        if (side.stack === on) await waitRecorded(on);
      }
    }
    for (let i = 0; i < (p.quick ? 1 : PAIR_RUNS); i++) {
      for (const side of i % 2 === 0 ? sides : [...sides].reverse()) {
        const pid = side.stack.gateway!.pid;
        const standInPid = side.stack.standIn.pid;
        const cpu0 = cpuMs(pid);
        const others0 = cpuMs(standInPid) + selfCpuMs();
        const r = await receive(side.stack.url, total, capMs);
        const cpu = cpuMs(pid) - cpu0;
        const others = cpuMs(standInPid) + selfCpuMs() - others0;
        side.runs.push({
          ...r, ms: round(r.ms, 1), mbps: round(r.bytes / r.ms / 1e3, 1), cpuMsPer100MB: Math.round(cpu * 1e8 / r.bytes),
          othersCpuMsPer100MB: Math.round(others * 1e8 / r.bytes),
        });
        // Each timed session's recording must be whole: a recording that stopped (overrun) would make "on" cheap.
        if (side.stack === on) recorded.push(await waitRecorded(on));
      }
    }
    const figure = (runs: TunnelResult['runs']) => ({
      mbps: median(runs.map((r) => r.mbps)), cpuMsPer100MB: median(runs.map((r) => r.cpuMsPer100MB)),
      othersCpuMsPer100MB: median(runs.map((r) => r.othersCpuMsPer100MB ?? NaN)), runs,
    });
    return {
      off: { kind: 'ours', ...figure(sides[0]!.runs), mode: 'off' },
      on: { kind: 'ours-rec', ...figure(sides[1]!.runs), mode: 'on', recorded },
    };
  } finally {
    await Promise.allSettled([off.stop(), on?.stop()]);
  }
}

export async function measureRecording(p: RecordingParams): Promise<RecordingBenchResult | { off: RecordingBenchResult; on: RecordingBenchResult }> {
  if (p.mode === 'pair') return measurePair(p);
  const total = p.quick ? 40e6 : 200e6;
  if (p.mode === 'off') return { ...(await measureTunnel({ kind: 'ours', recordings: p.recordings, quick: p.quick === true })), mode: 'off' };
  if (p.mode === 'on') {
    const stack = await startStack('ours-rec', { mode: 'replay', recordings: p.recordings, bytesPerSession: total });
    try {
      // Each timed session's recording must be whole: a recording that stopped (overrun) would make "on" cheap.
      const recorded: RecordingStats[] = [];
      const r = await timedRuns(stack, total, p.quick === true, async () => {
        recorded.push(await waitRecorded(stack));
      });
      return { kind: 'ours-rec', ...r, mode: 'on', recorded };
    } finally {
      await stack.stop();
    }
  }
  const stack = await startStack('ours-rec-slow', { mode: 'replay', recordings: p.recordings, bytesPerSession: total });
  try {
    const before = await stack.mem(true);
    const r = await receive(stack.url, total, p.quick ? 8000 : 20000);
    const after = await stack.mem(false);
    const recording = await stack.gateway!.call<RecordingStats | undefined>('recording', undefined, 10000);
    return {
      mode: 'slow', bytes: r.bytes, total, mbps: Math.round(r.bytes / r.ms / 1e2) / 10,
      rssBefore: before.rss, peakRss: after.peakRss, growth: after.peakRss - before.rss, recording,
    };
  } finally {
    await stack.stop();
  }
}
