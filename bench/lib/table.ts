/** The text table `npm run bench` prints. */
import { ok, type Results, type Fig, type Section } from './results.js';
import { human } from './stats.js';
import type { SetupResult } from '../suites/setup.js';
import type { RealBurstResult, RealStackResult } from '../suites/realstack.js';
import type { TunnelResult } from '../suites/tunnel.js';
import type { SlowDiskResult } from '../suites/recording.js';
import type { RecordingStats } from './gateways.js';
import type { TransferResult } from '../suites/transfer.js';

function grid(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}

function cell<T extends object>(f: Fig<T> | undefined, show: (v: T) => string): string {
  if (!f) return '-';
  if ('error' in f) return 'n/a';
  return show(f as T);
}

function errors<T extends object>(s: Section<T> | undefined): string[] {
  if (!s) return [];
  return Object.entries(s.figures)
    .filter(([, f]) => 'error' in (f as object))
    .map(([k, f]) => `  ! ${k}: ${(f as { error: string }).error.split('\n')[0]}`);
}

const KINDS = ['pipe', 'lite', 'ours'];
const kb = (b: number): string => (b / 1024).toFixed(1);
const mb = (b: number): string => (b / 2 ** 20).toFixed(1);

export function renderTable(r: Results): string {
  const out: string[] = [];
  const head = (s: string, sec?: { date: string; quick: boolean }): void => {
    out.push('', `${s}${sec ? `   [${sec.date}${sec.quick ? ', quick' : ''}]` : ''}`);
  };
  if (r.parser) {
    const impls = ['ours-parser', 'ours-splitter', 'ours-splitter-bytes', 'lite', 'common-js', 'indexOf'];
    const recs = [...new Set(Object.keys(r.parser.figures).map((k) => k.split('/')[0]!))].sort();
    head('Parser, 64 KiB chunks: MB/s (instructions/s)', r.parser);
    out.push(grid([['recording', ...impls], ...recs.map((rec) => [rec, ...impls.map((i) =>
      cell(r.parser!.figures[`${rec}/${i}`], (v) => `${v.mbps.toFixed(0)} (${human(v.instrPerSec)})`))])]));
    out.push(...errors(r.parser));
  }
  if (r.tunnel) {
    head('Tunnel throughput, stand-in guacd → gateway → ws client: MB/s', r.tunnel);
    out.push(grid([['', ...KINDS],
      ['MB/s', ...KINDS.map((k) => cell(r.tunnel!.figures[k], (v) => v.mbps.toFixed(0)))],
      // Older results have no CPU figure.
      ['gateway CPU, ms per 100 MB', ...KINDS.map((k) => cell(r.tunnel!.figures[k], (v) => (v.cpuMsPer100MB === undefined ? '-' : v.cpuMsPer100MB.toFixed(0))))]]));
    out.push(...errors(r.tunnel));
  }
  if (r.recording) {
    const f = r.recording.figures;
    const t = (k: string) => ok(f[k]) as TunnelResult | undefined;
    const slow = ok(f.slow) as SlowDiskResult | undefined;
    head('Recording (issue 12), SSH stream through ours: MB/s off / on; a 1 MB/s recording disk', r.recording);
    out.push(grid([['', 'off', 'on', 'slow disk'],
      ['MB/s', t('off')?.mbps.toFixed(0) ?? '-', t('on')?.mbps.toFixed(0) ?? '-', slow?.mbps.toFixed(0) ?? '-'],
      ['gateway CPU, ms per 100 MB', t('off')?.cpuMsPer100MB.toFixed(0) ?? '-', t('on')?.cpuMsPer100MB.toFixed(0) ?? '-', '-'],
      ['clients + stand-in CPU, ms per 100 MB', others(t('off')), others(t('on')), '-'],
      ['on/off if CPU-bound (all processes)', '-', ceiling(t('off'), t('on')), '-'],
      ['session waited for the disk: times, ms', '-', waited(f.on), slow?.recording ? `${slow.recording.stalls ?? 0}, ${slow.recording.stalledMs ?? 0}` : '-'],
      ['recordings whole', '-', recordedCell(f.on), '-'],
      ['peak RSS growth, MB', '-', '-', slow ? mb(slow.growth) : '-'],
      ['recording queue max, MB / fault', '-', '-', slow?.recording ? `${mb(slow.recording.maxPending)} / ${slow.recording.fault ?? 'none'}` : '-']]));
    out.push(...errors(r.recording));
  }
  if (r.latency) {
    const kinds = ['tcp', ...KINDS];
    head('Round trip key → sync: ms', r.latency);
    out.push(grid([['', ...kinds],
      ['p50', ...kinds.map((k) => cell(r.latency!.figures[k], (v) => v.p50.toFixed(3)))],
      ['p99', ...kinds.map((k) => cell(r.latency!.figures[k], (v) => v.p99.toFixed(3)))]]));
    out.push(...errors(r.latency));
  }
  if (r.idle) {
    const n = Object.values(r.idle.figures).map((f) => ok(f)?.sessions).find(Boolean) ?? '?';
    head(`Idle sessions (${n}): memory per session, KB`, r.idle);
    out.push(grid([['', ...KINDS],
      ['RSS (2nd half)', ...KINDS.map((k) => cell(r.idle!.figures[k], (v) => kb(v.rssPerSession)))],
      ['RSS (average)', ...KINDS.map((k) => cell(r.idle!.figures[k], (v) => kb(v.rssPerSessionAvg)))],
      ['heap+external (2nd half)', ...KINDS.map((k) => cell(r.idle!.figures[k], (v) => kb(v.heapPerSession)))],
      ['open all, ms', ...KINDS.map((k) => cell(r.idle!.figures[k], (v) => v.openMs.toFixed(0)))]]));
    out.push(...errors(r.idle));
  }
  if (r.shared) {
    const n = Object.values(r.shared.figures).map((f) => ok(f)?.sessions).find(Boolean) ?? '?';
    head(`Throughput shared by ${n} sessions streaming at once: MB/s total`, r.shared);
    out.push(grid([['', ...KINDS], ['MB/s', ...KINDS.map((k) => cell(r.shared!.figures[k], (v) => `${v.mbps.toFixed(0)}${v.capped ? '*' : ''}`))]]));
    out.push(...errors(r.shared));
  }
  if (r.stalled) {
    head('Browser stops reading: gateway memory, MiB', r.stalled);
    out.push(grid([['', ...KINDS],
      ['base RSS', ...KINDS.map((k) => cell(r.stalled!.figures[k], (v) => mb(v.baseRss)))],
      ['peak RSS', ...KINDS.map((k) => cell(r.stalled!.figures[k], (v) => mb(v.peakRss)))],
      ['taken from guacd', ...KINDS.map((k) => cell(r.stalled!.figures[k], (v) => mb(v.upstreamBytes)))]]));
    out.push(...errors(r.stalled));
  }
  if (r.setup) {
    const kinds = ['floor', 'lite', 'ours', 'registry'];
    const sizes = [...new Set(Object.values(r.setup.figures).flatMap((f) => ok(f)?.bursts.map((b) => b.n) ?? []))].sort((a, b) => a - b);
    const burst = (k: string, n: number, show: (b: SetupResult['bursts'][number]) => string): string =>
      cell(r.setup!.figures[k], (v) => { const b = v.bursts.find((x) => x.n === n); return b ? show(b) : '-'; });
    head('Session setup, N opened at once → first frame (floor: our guacd client straight to the stand-in)', r.setup);
    out.push(grid([['', ...kinds],
      ['1 alone, ms', ...kinds.map((k) => cell(r.setup!.figures[k], (v) => v.singleMs.toFixed(1)))],
      ...sizes.flatMap((n) => [
        [`${n}: sessions/s`, ...kinds.map((k) => burst(k, n, (b) => b.sessionsPerSec.toFixed(0)))],
        [`${n}: p50 / p95 ms`, ...kinds.map((k) => burst(k, n, (b) => `${b.p50.toFixed(0)} / ${b.p95.toFixed(0)}`))],
        [`${n}: gateway CPU ms/session`, ...kinds.map((k) => burst(k, n, (b) => (Number.isFinite(b.cpuMsPerSession) ? b.cpuMsPerSession.toFixed(2) : '-')))],
        [`${n}: clients / stand-in CPU`, ...kinds.map((k) => burst(k, n, (b) => (b.clientCpuMsPerSession === undefined ? '-'
          : `${b.clientCpuMsPerSession.toFixed(2)} / ${b.standInCpuMsPerSession.toFixed(2)}`)))],
      ])]));
    out.push(...errors(r.setup));
  }
  if (r.realstack) {
    const kinds = ['lite', 'ours'];
    head('Real SSH through guacd 1.3.0: ws open → first frame, median ms', r.realstack);
    const one = (k: string) => r.realstack!.figures[k] as Fig<RealStackResult> | undefined;
    out.push(grid([['', ...kinds],
      ['first img/sync', ...kinds.map((k) => cell(one(k), (v) => v.firstFrameMs.toFixed(1)))],
      ['first img', ...kinds.map((k) => cell(one(k), (v) => v.firstImgMs.toFixed(1)))]]));
    const bursts = ['direct', 'ours'];
    const b = (k: string) => r.realstack!.figures[`burst/${k}`] as Fig<RealBurstResult> | undefined;
    if (bursts.some((k) => b(k))) {
      const n = bursts.map((k) => ok(b(k))?.n).find(Boolean) ?? '?';
      head(`Real SSH, ${n} sessions opened at once → first sync (direct: our guacd client straight to guacd)`);
      out.push(grid([['', ...bursts],
        ['sessions/s', ...bursts.map((k) => cell(b(k), (v) => v.sessionsPerSec.toFixed(0)))],
        ['p50 / p95 ms', ...bursts.map((k) => cell(b(k), (v) => `${v.p50.toFixed(0)} / ${v.p95.toFixed(0)}`))],
        ['no first frame', ...bursts.map((k) => cell(b(k), (v) => String(v.failed ?? 0)))]]));
    }
    out.push(...errors(r.realstack));
  }
  if (r.workers) {
    const keys = ['workers-1', 'workers-2'];
    head('serve --workers N: 50 sessions streaming at once (primary + workers, SQLite)', r.workers);
    out.push(grid([['', ...keys],
      ['MB/s total', ...keys.map((k) => cell(r.workers!.figures[k], (v) => `${v.mbps.toFixed(0)}${v.capped ? '*' : ''}`))],
      ['gateway CPU, ms per 100 MB', ...keys.map((k) => cell(r.workers!.figures[k], (v) => v.cpuMsPer100MB.toFixed(0)))]]));
    out.push(...errors(r.workers));
  }
  if (r.transfer) {
    const kinds = ['sftp', 'direct', 'ours'];
    const f = (k: string) => r.transfer!.figures[k] as Fig<TransferResult> | undefined;
    const mib = kinds.map((k) => ok(f(k))?.bytes).find(Boolean);
    head(`File transfer, ${mib ? Math.round(mib / 2 ** 20) : '?'} MiB each way over SFTP (sftp: OpenSSH's client; direct: guacd alone, our guacd client acking each block; ours: the HTTP stream routes through guacd)`, r.transfer);
    out.push(grid([['', ...kinds],
      ['upload MB/s', ...kinds.map((k) => cell(f(k), (v) => v.uploadMBps.toFixed(1)))],
      ['download MB/s', ...kinds.map((k) => cell(f(k), (v) => v.downloadMBps.toFixed(1)))],
      ['gateway RSS growth MiB', ...kinds.map((k) => cell(f(k), (v) => (v.memGrowthMiB === undefined ? '-' : v.memGrowthMiB.toFixed(1))))]]));
    out.push(...errors(r.transfer));
  }
  if (r.targets.length) {
    head('Targets (ours)');
    out.push(grid(r.targets.map((t) => [t.label, `${t.value.toFixed(t.unit === 'x' ? 2 : 3)}${t.unit}`, `${t.cmp} ${t.target}${t.unit}`, t.pass ? 'PASS' : 'MISS'])));
  }
  for (const n of r.notes) out.push(`note: ${n}`);
  return out.join('\n');
}

const others = (v: TunnelResult | undefined): string => (v?.othersCpuMsPer100MB === undefined || !Number.isFinite(v.othersCpuMsPer100MB) ? '-' : v.othersCpuMsPer100MB.toFixed(0));

/**
 * What on/off would be if the machine's CPU were all that limits it: every process's CPU per 100 MB, off
 * over on. On two cores shared by the stand-in, the client, the relay and the recording's I/O thread, the
 * measured ratio cannot pass it.
 */
function ceiling(off: TunnelResult | undefined, on: TunnelResult | undefined): string {
  if (off?.othersCpuMsPer100MB === undefined || on?.othersCpuMsPer100MB === undefined) return '-';
  const r = (off.cpuMsPer100MB + off.othersCpuMsPer100MB) / (on.cpuMsPer100MB + on.othersCpuMsPer100MB);
  return Number.isFinite(r) ? `${r.toFixed(2)}x` : '-';
}

/** How often, and how long in all, the `on` figure's sessions waited for the recording's disk. */
function waited(f: Fig<object> | undefined): string {
  const v = ok(f as Fig<object>) as { recorded?: RecordingStats[] } | undefined;
  if (!v?.recorded?.length) return '-';
  return `${v.recorded.reduce((a, x) => a + (x.stalls ?? 0), 0)}, ${v.recorded.reduce((a, x) => a + (x.stalledMs ?? 0), 0)}`;
}

/** "3/3", or the fault that stopped a recording of the `on` figure. */
function recordedCell(f: Fig<object> | undefined): string {
  const rec = (ok(f as Fig<object>) as { recorded?: { fault?: string }[] } | undefined)?.recorded;
  if (!rec) return '-';
  const fault = rec.find((x) => x.fault)?.fault;
  return fault ?? `${rec.length}/${rec.length}`;
}
