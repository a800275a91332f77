/**
 * The shape of bench/results/latest.json and the targets of issue 5, computed
 * from the figures of one run.
 */
import type { ParserResult } from '../suites/parser.js';
import type { TunnelResult } from '../suites/tunnel.js';
import type { LatencyResult } from '../suites/latency.js';
import type { IdleResult, SharedResult, StalledResult } from '../suites/scale.js';
import type { RealBurstResult, RealStackResult } from '../suites/realstack.js';
import type { TransferResult } from '../suites/transfer.js';
import type { SetupResult } from '../suites/setup.js';
import type { WorkersResult } from '../suites/workers.js';
import type { RecordingBenchResult, SlowDiskResult } from '../suites/recording.js';

/** A figure, or why it could not be had. */
export type Fig<T> = T | { error: string };

export function ok<T extends object>(f: Fig<T> | undefined): T | undefined {
  return f && !('error' in f) ? (f as T) : undefined;
}

export interface Section<T> {
  date: string;
  quick: boolean;
  figures: Record<string, Fig<T>>;
}

export interface Results {
  date: string;
  machine: { cpus: number; cpu: string; memGB: number; node: string; platform: string };
  recordings: { name: string; bytes: number; file: string; fileBytes: number }[];
  /** Parser figures keyed `recording/impl`. */
  parser?: Section<ParserResult>;
  tunnel?: Section<TunnelResult>;
  /** Issue 12: `off`, `on` (tunnel figures on the SSH stream), `slow` (a slow recording disk). */
  recording?: Section<RecordingBenchResult>;
  latency?: Section<LatencyResult>;
  idle?: Section<IdleResult>;
  shared?: Section<SharedResult>;
  stalled?: Section<StalledResult>;
  setup?: Section<SetupResult>;
  /** Keys `lite`, `ours` (one session at a time) and `burst/direct`, `burst/ours` (issue 16). */
  realstack?: Section<RealStackResult | RealBurstResult>;
  /** `serve --workers N`, keys `workers-1`, `workers-2` (issue 14). */
  workers?: Section<WorkersResult>;
  transfer?: Section<TransferResult>;
  targets: Target[];
  notes: string[];
}

export interface Target {
  id: string;
  label: string;
  /** Measured value, in `unit`. */
  value: number;
  target: number;
  cmp: '>=' | '<=';
  unit: string;
  pass: boolean;
}

function target(id: string, label: string, value: number | undefined, cmp: '>=' | '<=', goal: number, unit: string): Target | undefined {
  if (value === undefined || !Number.isFinite(value)) return undefined;
  return { id, label, value, target: goal, cmp, unit, pass: cmp === '>=' ? value >= goal : value <= goal };
}

/** Every target whose figures exist, in display order. */
export function computeTargets(r: Results): Target[] {
  const out: (Target | undefined)[] = [];
  const pf = r.parser?.figures ?? {};
  const recs = [...new Set(Object.keys(pf).map((k) => k.split('/')[0]!))].sort();
  for (const rec of recs) {
    const get = (impl: string): number | undefined => ok(pf[`${rec}/${impl}`])?.mbps;
    const lite = get('lite');
    const ceil = get('indexOf');
    const impls = [['ours-parser', 'Parser'], ['ours-splitter', 'Splitter as the tunnel drives it'], ['ours-splitter-bytes', 'Splitter, bytes only']] as const;
    for (const [impl, name] of impls) {
      const v = get(impl);
      out.push(target(`parser.${rec}.${impl}.vs-lite`, `${name} / lite parser (${rec})`, v && lite ? v / lite : undefined, '>=', 5, 'x'));
    }
    // The indexOf ceiling is far off for all three: one row, for our fastest.
    const best = Math.max(...impls.map(([impl]) => get(impl) ?? 0));
    out.push(target(`parser.${rec}.best.vs-indexOf`, `Fastest of ours / indexOf (${rec})`, best && ceil ? best / ceil : undefined, '>=', 0.3, 'x'));
  }
  const tf = r.tunnel?.figures ?? {};
  const t = (k: string): number | undefined => ok(tf[k])?.mbps;
  const ours = t('ours');
  out.push(target('tunnel.vs-lite', 'Tunnel MB/s / lite', ours && t('lite') ? ours / t('lite')! : undefined, '>=', 10, 'x'));
  out.push(target('tunnel.vs-pipe', 'Tunnel MB/s / pipe ceiling', ours && t('pipe') ? ours / t('pipe')! : undefined, '>=', 0.5, 'x'));
  const rf = r.recording?.figures ?? {};
  const rmbps = (k: string): number | undefined => (ok(rf[k]) as TunnelResult | undefined)?.mbps;
  const on = rmbps('on');
  const off = rmbps('off');
  // Only whole recordings count: one that stopped (overrun) made "on" cheap.
  const stopped = ((ok(rf.on) as { recorded?: { fault?: string }[] } | undefined)?.recorded ?? []).find((x) => x.fault)?.fault;
  out.push(target('recording.on-vs-off', `Tunnel MB/s, recording on / off (SSH stream)${stopped ? `: recording stopped, ${stopped}` : ''}`,
    on !== undefined && off ? (stopped ? 0 : on / off) : undefined, '>=', 0.7, 'x'));
  const slow = ok(rf.slow) as SlowDiskResult | undefined;
  out.push(target('recording.slow-disk-growth', 'Peak RSS growth, recording to a 1 MB/s disk', slow ? slow.growth / 2 ** 20 : undefined, '<=', 64, 'MB'));
  const lf = r.latency?.figures ?? {};
  const p99 = (k: string): number | undefined => ok(lf[k])?.p99;
  const o99 = p99('ours');
  out.push(target('latency.p99-vs-lite', 'p99 RTT / lite p99', o99 !== undefined && p99('lite') ? o99 / p99('lite')! : undefined, '<=', 1, 'x'));
  out.push(target('latency.p99-added', 'p99 RTT - TCP p99', o99 !== undefined && p99('tcp') !== undefined ? o99 - p99('tcp')! : undefined, '<=', 0.3, 'ms'));
  const idle = ok(r.idle?.figures.ours);
  out.push(target('idle.per-session', `RSS per idle session (${idle?.sessions ?? '?'})`, idle ? idle.rssPerSession / 1024 : undefined, '<=', 64, 'KB'));
  const st = ok(r.stalled?.figures.ours);
  out.push(target('stalled.growth', `Peak RSS growth, browser stalled ${st?.seconds ?? '?'} s`, st ? st.growth / 2 ** 20 : undefined, '<=', 64, 'MB'));
  const tr = ok(r.transfer?.figures.ours);
  out.push(target('transfer.growth', `Peak RSS growth, ${tr ? Math.round(tr.bytes / 2 ** 20) : '?'} MiB up and down`, tr?.memGrowthMiB, '<=', 64, 'MB'));
  out.push(...setupTargets(r));
  return out.filter((x): x is Target => x !== undefined);
}

/** Issue 16: a burst of 500 at once, and one session alone, as ratios within one run. */
function setupTargets(r: Results): (Target | undefined)[] {
  const sf = r.setup?.figures ?? {};
  const burst = (k: string, n: number) => ok(sf[k])?.bursts.find((b) => b.n === n);
  const reg = burst('registry', 500);
  const lite = burst('lite', 500);
  const bare = burst('ours', 500);
  const single = (k: string): number | undefined => ok(sf[k])?.singleMs;
  const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a !== undefined && b ? a / b : undefined);
  return [
    target('setup.500.vs-lite', 'Setup, 500 at once: sessions/s / lite (registry)', ratio(reg?.sessionsPerSec, lite?.sessionsPerSec), '>=', 1.5, 'x'),
    target('setup.500.p95-vs-lite', 'Setup, 500 at once: p95 / lite p95 (registry)', ratio(reg?.p95, lite?.p95), '<=', 1, 'x'),
    target('setup.500.registry-cost', 'Setup, 500 at once: registry sessions/s / bare tunnel', ratio(reg?.sessionsPerSec, bare?.sessionsPerSec), '>=', 0.9, 'x'),
    target('setup.single-vs-lite', 'Setup, one session alone: time / lite (registry)', ratio(single('registry'), single('lite')), '<=', 1, 'x'),
  ];
}
