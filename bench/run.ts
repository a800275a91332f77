/**
 * `npm run bench`: every figure of issue 5 for our gateway, guacamole-lite and
 * the ceiling, each measured in a child process of its own, on loopback.
 * Prints a table, writes bench/results/latest.json and latest.svg.
 *
 *   node dist/bench/run.js [--only parser,tunnel,recording,latency,scale,idle,shared,stalled,setup,realstack,workers,transfer] [--quick]
 *
 * With --only, the sections not run are kept from the previous latest.json.
 */
import { parseArgs } from 'node:util';
import { cpus, totalmem } from 'node:os';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startChild, modulePath } from './lib/proc.js';
import { listRecordings, loadRecording, RECORDINGS_DIR, ROOT } from './lib/recordings.js';
import { computeTargets, type Results, type Section, type Fig } from './lib/results.js';
import { renderTable } from './lib/table.js';
import { renderChart } from './lib/chart.js';
import { PARSER_IMPLS } from './suites/parser.js';
import type { MeasureArg, Suite } from './procs/measure.js';
import type { Upstream } from './lib/gateways.js';
import type { SetupResult } from './suites/setup.js';
import type { RecordingBenchResult } from './suites/recording.js';

const SECTIONS = ['parser', 'tunnel', 'recording', 'latency', 'idle', 'shared', 'stalled', 'setup', 'realstack', 'workers', 'transfer'] as const;
type SectionName = (typeof SECTIONS)[number];
const TIMEOUT_MS: Record<Suite, number> = {
  parser: 60e3, tunnel: 150e3, recording: 150e3, latency: 90e3, idle: 180e3, shared: 120e3, stalled: 60e3, setup: 300e3, realstack: 240e3,
  realburst: 200e3, workers: 150e3, transfer: 900e3,
};
const MEASURE = modulePath(import.meta.url, './procs/measure.js');
const RESULTS_DIR = join(ROOT, 'bench', 'results');

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const quick = values.quick ?? false;
const wanted = new Set<SectionName>(
  (values.only ? values.only.split(',') : ['all']).flatMap((s) => {
    const name = s.trim();
    if (name === 'all') return [...SECTIONS];
    if (name === 'scale') return ['idle', 'shared', 'stalled'] as SectionName[];
    if ((SECTIONS as readonly string[]).includes(name)) return [name as SectionName];
    throw new Error(`--only: unknown section ${name} (known: ${SECTIONS.join(', ')}, scale)`);
  }),
);

function progress(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

function cpuTimes(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Share of the machine's CPU in use over `ms` (our own children are idle between figures). */
async function busyShare(ms: number): Promise<number> {
  const a = cpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTimes();
  return (b.busy - a.busy) / Math.max(1, b.total - a.total);
}

const contended = new Map<string, number>();
/** Total time the bench may spend waiting for a quiet machine. */
let waitBudgetMs = 180e3;

/** Waits (up to a minute) for other work on the machine to calm down; figures taken anyway are noted. */
async function awaitQuiet(label: string): Promise<void> {
  if (!existsSync('/proc/stat')) return;
  const start = Date.now();
  const deadline = start + Math.min(60e3, waitBudgetMs);
  let share = await busyShare(500);
  if (share > 0.15) progress(`machine busy (${(share * 100).toFixed(0)}% CPU in use by others), waiting …`);
  while (share > 0.15 && Date.now() < deadline) share = await busyShare(2000);
  waitBudgetMs -= Date.now() - start;
  if (share > 0.15) contended.set(label, share);
}

/** One figure in a fresh child; failures become `{ error }` so the rest still runs. */
async function measure<T>(suite: Suite, label: string, params: object): Promise<Fig<T>> {
  await awaitQuiet(`${suite} ${label}`);
  const t0 = Date.now();
  progress(`${suite} ${label} …`);
  try {
    const child = await startChild(MEASURE, {}, { raiseFdLimit: true, stdout: 'ignore' });
    try {
      const arg: MeasureArg = { suite, params: { ...params, quick } };
      const r = await child.call<T>('run', arg, TIMEOUT_MS[suite]);
      progress(`${suite} ${label} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return r;
    } finally {
      await child.stop();
    }
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    progress(`${suite} ${label} FAILED: ${msg.split('\n')[0]}`);
    return { error: msg };
  }
}

async function section<T>(items: [string, Suite, object][]): Promise<Section<T>> {
  const figures: Record<string, Fig<T>> = {};
  for (const [key, suite, params] of items) figures[key] = await measure<T>(suite, key, params);
  return { date: new Date().toISOString(), quick, figures };
}

interface EnvJson {
  guacd: { host: string; port: number };
  guacds?: { host: string; port: number; version: string }[];
  ssh: { host: string; port: number; username: string; password: string; privateKeyPath?: string };
  user?: { home: string };
}

function envJson(): EnvJson | undefined {
  const file = join(ROOT, '.test-env', 'env.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as EnvJson : undefined;
}

/** The sshd's account for OpenSSH's own client (key login), when the test environment is up. */
function sshAccount(): { host: string; port: number; username: string; privateKeyPath: string; home: string } | undefined {
  const env = envJson();
  if (!env?.ssh.privateKeyPath || !env.user) return undefined;
  return { host: env.ssh.host, port: env.ssh.port, username: env.ssh.username, privateKeyPath: env.ssh.privateKeyPath, home: env.user.home };
}

/**
 * guacd and sshd of the test environment (.test-env/env.json), when it is up:
 * guacd 1.3.0, the newest of the matrix, or BENCH_GUACD=1.6.0 (the real-stack section on another version).
 */
function realTarget(which: 'default' | 'newest' = 'default'): Upstream | string {
  const env = envJson();
  if (!env) return 'test environment not up (bash scripts/test-env.sh up)';
  const wanted = which === 'default' ? process.env.BENCH_GUACD : undefined;
  const guacd = wanted ? env.guacds?.find((g) => g.version === wanted)
    : which === 'newest' && env.guacds?.length ? env.guacds[env.guacds.length - 1]! : env.guacd;
  if (!guacd) return `BENCH_GUACD=${wanted}: the test environment runs no such guacd`;
  return {
    host: guacd.host,
    port: guacd.port,
    protocol: 'ssh',
    params: { hostname: env.ssh.host, port: env.ssh.port, username: env.ssh.username, password: env.ssh.password },
  };
}

async function main(): Promise<void> {
  const recordings = listRecordings();
  const prevPath = join(RESULTS_DIR, 'latest.json');
  const prev: Partial<Results> = values.only && existsSync(prevPath) ? JSON.parse(readFileSync(prevPath, 'utf8')) as Results : {};
  const results: Results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model.trim() ?? '?', memGB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform },
    recordings: recordings.map((name) => {
      const file = existsSync(join(RECORDINGS_DIR, `${name}.guac.gz`)) ? `${name}.guac.gz` : `${name}.guac`;
      return { name, bytes: loadRecording(name).length, file, fileBytes: statSync(join(RECORDINGS_DIR, file)).size };
    }),
    targets: [],
    notes: [],
  };
  for (const s of SECTIONS) if (!wanted.has(s) && prev[s]) (results as unknown as Record<string, unknown>)[s] = prev[s];
  const needRec = ['parser', 'tunnel', 'recording', 'shared', 'stalled', 'workers'].filter((s) => wanted.has(s as SectionName));
  if (needRec.length && !recordings.length) {
    results.notes.push(`no recordings in ${RECORDINGS_DIR} (scripts/record-streams.sh): skipped ${needRec.join(', ')}`);
  }
  const gateways = ['pipe', 'lite', 'ours'] as const;
  const t0 = Date.now();

  if (wanted.has('parser') && recordings.length) {
    results.parser = await section(recordings.flatMap((rec) =>
      PARSER_IMPLS.map((impl): [string, Suite, object] => [`${rec}/${impl}`, 'parser', { impl, recording: rec }])));
  }
  if (wanted.has('tunnel') && recordings.length) {
    results.tunnel = await section(gateways.map((kind): [string, Suite, object] => [kind, 'tunnel', { kind, recordings }]));
  }
  // Issue 12: recording off vs on, and a slow disk, on the SSH-like stream.
  const ssh = recordings.filter((r) => r.startsWith('ssh'));
  if (wanted.has('recording') && ssh.length) {
    // Off and on in one measurement, their runs interleaved (suites/recording.ts); the slow disk on its own.
    const pair = await measure<{ off: RecordingBenchResult; on: RecordingBenchResult }>('recording', 'off, on', { mode: 'pair', recordings: ssh });
    const slow = await measure<RecordingBenchResult>('recording', 'slow', { mode: 'slow', recordings: ssh });
    const both = 'error' in pair ? { off: { error: pair.error as string }, on: { error: pair.error as string } } : pair;
    results.recording = { date: new Date().toISOString(), quick, figures: { ...both, slow } };
  }
  if (wanted.has('latency')) {
    results.latency = await section((['tcp', ...gateways] as const).map((kind): [string, Suite, object] => [kind, 'latency', { kind }]));
  }
  for (const s of ['idle', 'shared', 'stalled'] as const) {
    if (!wanted.has(s) || (s !== 'idle' && !recordings.length)) continue;
    results[s] = await section(gateways.map((kind): [string, Suite, object] => [kind, s, { kind, recordings }])) as never;
  }
  if (wanted.has('setup')) {
    // One measurement for all four: their rounds interleave (suites/setup.ts), so the ratios compare like with like.
    const kinds = ['floor', 'lite', 'ours', 'registry'] as const;
    const all = await measure<Record<string, SetupResult>>('setup', kinds.join(', '), { kinds });
    results.setup = { date: new Date().toISOString(), quick, figures: 'error' in all ? Object.fromEntries(kinds.map((k) => [k, { error: all.error as string }])) : all };
  }
  if (wanted.has('realstack')) {
    const upstream = realTarget();
    if (typeof upstream === 'string') results.notes.push(`realstack skipped: ${upstream}`);
    else {
      results.realstack = await section([
        ...(['lite', 'ours'] as const).map((kind): [string, Suite, object] => [kind, 'realstack', { kind, upstream }]),
        // Issue 16: a burst of real SSH sessions, through the gateway and straight to guacd.
        ...(['direct', 'ours'] as const).map((kind): [string, Suite, object] => [`burst/${kind}`, 'realburst', { kind, upstream }]),
      ]);
    }
  }

  if (wanted.has('workers') && recordings.length) {
    // Issue 14: serve --workers 1 and 2, 50 sessions streaming at once.
    results.workers = await section([1, 2].map((workers): [string, Suite, object] => [`workers-${workers}`, 'workers', { workers, recordings }]));
  }
  if (wanted.has('transfer')) {
    const upstream = realTarget('newest');
    const ssh = sshAccount();
    if (typeof upstream === 'string' || !ssh) results.notes.push(`transfer skipped: ${typeof upstream === 'string' ? upstream : 'no ssh account in env.json'}`);
    else results.transfer = await section((['sftp', 'direct', 'ours'] as const).map((kind): [string, Suite, object] => [kind, 'transfer', { kind, upstream, ssh, quick }]));
  }
  if (contended.size) {
    const worst = Math.max(...contended.values());
    results.notes.push(`${contended.size} figure(s) measured while other work used up to ${(worst * 100).toFixed(0)}% of the CPU (noisy): ${[...contended.keys()].join(', ')}`);
  }
  results.targets = computeTargets(results);
  progress(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(prevPath, JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(RESULTS_DIR, 'latest.svg'), renderChart(results));
  process.stdout.write(renderTable(results) + '\n\n');
  process.stdout.write(`wrote ${join('bench', 'results', 'latest.json')} and latest.svg\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
