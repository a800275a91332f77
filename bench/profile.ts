/**
 * Summarises V8 .cpuprofile files (from `BENCH_CPU_PROF=DIR npm run bench`):
 * self time per function, heaviest first, so a missed target can be pinned
 * on the function that costs it.
 *
 *   node dist/bench/profile.js FILE.cpuprofile [--top 25]
 *   node dist/bench/profile.js FILE.cpuprofile --under hostTimezone,openToken,isRevoked
 *
 * `--under` adds, per name, the time of every sample with a function of that
 * name (or whose file path contains it) anywhere on its stack: inclusive
 * time, each sample counted once per name.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile { nodes: ProfileNode[]; startTime: number; endTime: number; samples?: number[]; timeDeltas?: number[] }

// Piped into `head`: stop quietly when the reader goes.
process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(0); throw err; });

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, under: { type: 'string' } } });
const underNames = values.under ? values.under.split(',').map((x) => x.trim()).filter(Boolean) : [];

/** Inclusive time per name: samples whose stack holds a frame matching it. */
function under(p: Profile, byId: Map<number, ProfileNode>, names: string[]): Map<string, number> {
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, Set<string>>();
  const hits = (id: number): Set<string> => {
    let s = memo.get(id);
    if (s) return s;
    const up = parent.get(id);
    s = new Set(up === undefined ? [] : hits(up));
    const cf = byId.get(id)!.callFrame;
    for (const name of names) if (cf.functionName === name || (name.includes('/') && cf.url.includes(name))) s.add(name);
    memo.set(id, s);
    return s;
  };
  const out = new Map<string, number>(names.map((n) => [n, 0]));
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) for (const name of hits(samples[i]!)) out.set(name, out.get(name)! + (deltas[i] ?? 0));
  return out;
}

for (const file of positionals) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + (deltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const perFn = new Map<string, number>();
  for (const [id, us] of self) {
    const cf = byId.get(id)!.callFrame;
    const where = cf.url ? `${cf.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/')}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
    perFn.set(key, (perFn.get(key) ?? 0) + us);
  }
  process.stdout.write(`${file}: ${(total / 1000).toFixed(0)} ms sampled\n`);
  const line = (us: number, k: string): void => {
    process.stdout.write(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}\n`);
  };
  if (underNames.length) {
    const busy = total - (perFn.get('(idle)') ?? 0);
    process.stdout.write(`  busy ${(busy / 1000).toFixed(0)} ms; inclusive:\n`);
    for (const [k, us] of under(p, byId, underNames)) line(us, k);
    continue;
  }
  for (const [k, us] of [...perFn].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) line(us, k);
}
