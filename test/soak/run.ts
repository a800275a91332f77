/**
 * `npm run soak`: the long versions of test/security, against the real
 * guacd 1.3.0 and sshd of the test environment (`bash scripts/test-env.sh up`).
 *
 * - cycles: 1,000 sessions opened and ended every way (clean and abrupt),
 *   fds, sockets to guacd and memory measured after every 100;
 * - load: 200 concurrent SSH sessions through one gateway process, the
 *   gateway's and guacd's CPU and memory measured apart;
 * - fuzz: thousands of seeded mutated streams in each direction;
 * - stalled: a client floods pings over a live SSH session and never reads,
 *   for a minute, with the gateway holding it back only, then with the
 *   gateway also cutting it (its default), then four such clients at once;
 *   the gateway's memory measured.
 *
 *   node dist/test/soak/run.js [--only cycles,load,fuzz,stalled] [--cycles 1000]
 *     [--sessions 200] [--fuzz 3000] [--stall-seconds 60] [--protocol ssh|telnet] [--out results.json]
 *
 * Prints a report and exits 1 when a bound is broken.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CYCLE_MODES, holdings, runCycles, settled, type Holdings } from '../helpers/cycles.js';
import { loadTestEnv } from '../helpers/env.js';
import { startOwnGuacd } from '../helpers/faults.js';
import { fuzzBrowserStreams, fuzzGuacdStreams, type FuzzResult } from '../helpers/fuzz-rounds.js';
import { describeLoad, runLoad, type LoadResult } from '../helpers/load.js';
import { describeStalledReader, runStalledReader, type StalledReaderResult } from '../helpers/stalled-reader.js';
import { memoryAfterGc, mib } from '../helpers/procfs.js';
import { Cleanups, gatewayFor, guacdRetries } from '../helpers/security.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'cycles,load,fuzz,stalled' },
    cycles: { type: 'string', default: '1000' },
    sessions: { type: 'string', default: '200' },
    fuzz: { type: 'string', default: '3000' },
    'stall-seconds': { type: 'string', default: '60' },
    protocol: { type: 'string', default: 'ssh' },
    out: { type: 'string' },
  },
});
const sections = new Set((values.only as string).split(','));
const failures: string[] = [];
const report: Record<string, unknown> = { startedAt: new Date().toISOString() };

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function check(ok: boolean, what: string): void {
  say(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
}

function row(label: string, h: Holdings): string {
  return `${label.padEnd(12)} fds ${String(h.fds).padStart(4)}  guacd sockets ${String(h.guacdSockets).padStart(3)}  ` +
    `heap+external ${mib(h.memory.heapAndExternal).padStart(6)} MiB  rss ${mib(h.memory.rss).padStart(6)} MiB`;
}

async function cycles(total: number, protocol: 'ssh' | 'telnet'): Promise<void> {
  say(`\n== cycles: ${total} ${protocol} sessions, ${CYCLE_MODES.join(', ')} in turn, 4 at a time`);
  const cleanups = new Cleanups();
  try {
    const guacd = await startOwnGuacd();
    cleanups.add(() => guacd.kill());
    const params = loadTestEnv()[protocol].params;
    const g = await gatewayFor(cleanups, { guacd: { host: guacd.host, port: guacd.port }, resolve: async () => ({ protocol, params }), handshakeTimeoutMs: 8000 });
    const retries0 = guacdRetries.count;
    const batch = 100;
    const warm = await runCycles(g, 2 * CYCLE_MODES.length, 2);
    failures.push(...warm.failures);
    let gaveUp = warm.gaveUp.length;
    await settled(g, guacd.port, { fds: 0, guacdSockets: 0, memory: await memoryAfterGc() }, 60_000);
    const base = await holdings(guacd.port);
    say(row('baseline', base));
    const rows: Holdings[] = [];
    const t0 = Date.now();
    for (let done = 0; done < total; done += batch) {
      const errs = await runCycles(g, Math.min(batch, total - done), 4);
      for (const e of errs.failures) failures.push(`cycle: ${e}`);
      gaveUp += errs.gaveUp.length;
      for (const e of errs.gaveUp) say(`  guacd failed a session three times: ${e}`);
      await settled(g, guacd.port, base, 60_000);
      const h = await holdings(guacd.port);
      rows.push(h);
      say(row(`${done + Math.min(batch, total - done)}`, h));
    }
    const took = (Date.now() - t0) / 1000;
    // Abandoned HTTP sessions keep their last words for 15 s.
    await new Promise((resolve) => setTimeout(resolve, 16_000));
    const end = await holdings(guacd.port);
    say(row('after 16 s', end));
    // Growth after the first batch (pools, caches and JIT settle there) tells a leak from a plateau.
    const first = rows[0] ?? base;
    const perCycle = (end.memory.heapAndExternal - first.memory.heapAndExternal) / Math.max(1, total - batch);
    say(`  ${total} cycles in ${took.toFixed(0)} s; after the first ${batch}: ${(perCycle / 1024).toFixed(2)} KiB/cycle; ` +
      `sessions reopened after guacd failed its handshake: ${guacdRetries.count - retries0}`);
    for (const [reason, n] of guacdRetries.reasons) say(`    ${n} × ${reason}`);
    check(end.fds <= base.fds + 4, `fds back to the baseline (${base.fds} → ${end.fds})`);
    check(end.guacdSockets <= base.guacdSockets, `sockets to guacd back to the baseline (${base.guacdSockets} → ${end.guacdSockets})`);
    check(end.memory.heapAndExternal - base.memory.heapAndExternal < 16 * 1048576,
      `heap+external within 16 MiB of the baseline (${mib(base.memory.heapAndExternal)} → ${mib(end.memory.heapAndExternal)} MiB)`);
    check(perCycle < 2048, `no steady growth (${(perCycle / 1024).toFixed(2)} KiB/cycle after the first batch)`);
    check(gaveUp <= total / 20, `guacd failed few sessions three times in a row (${gaveUp})`);
    report.cycles = { total, protocol, seconds: took, base, rows, end, perCycleBytes: perCycle, reopened: guacdRetries.count - retries0, gaveUp };
  } finally {
    await cleanups.run();
  }
}

async function load(sessions: number): Promise<void> {
  say(`\n== load: ${sessions} concurrent SSH sessions through one gateway process and a guacd of our own`);
  const r: LoadResult = await runLoad({ sessions, openConcurrency: 8, lines: 500, holdMs: 30_000, log: say });
  say(`  ${describeLoad(r)}`);
  check(r.working === r.sessions, `every session ran its command (${r.working}/${r.sessions})`);
  report.load = r;
}

async function fuzz(rounds: number): Promise<void> {
  say(`\n== fuzz: ${rounds} mutated streams each way (fake guacd)`);
  const results: Record<string, FuzzResult> = {};
  for (const [name, run, seed] of [['browser', fuzzBrowserStreams, 1], ['guacd', fuzzGuacdStreams, 2]] as const) {
    const t0 = Date.now();
    const r = await run(rounds, seed);
    results[name] = r;
    say(`  ${name} → gateway: ${r.rounds} streams in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${r.errors} protocol errors, ` +
      `heap+external ${mib(r.memoryBefore.heapAndExternal)} → ${mib(r.memoryAfter.heapAndExternal)} MiB`);
    check(r.memoryAfter.heapAndExternal - r.memoryBefore.heapAndExternal < 16 * 1048576, `${name} fuzz: memory within 16 MiB`);
  }
  report.fuzz = results;
}

async function stalled(seconds: number): Promise<void> {
  say(`\n== stalled: a client floods pings over a live SSH session and never reads, ${seconds} s per run`);
  const cleanups = new Cleanups();
  try {
    const guacd = await startOwnGuacd();
    cleanups.add(() => guacd.kill());
    const results: Record<string, StalledReaderResult> = {};
    const runs = [['held back, never cut', 0, 1], ['cut (browserTimeoutMs 15 s), reconnecting', undefined, 1], ['4 at once, held back, never cut', 0, 4]] as const;
    for (const [name, browserTimeoutMs, attackers] of runs) {
      const r = await runStalledReader({
        guacd: { host: guacd.host, port: guacd.port }, durationMs: seconds * 1000, attackers,
        ...(browserTimeoutMs !== undefined ? { browserTimeoutMs } : {}),
      });
      results[name] = r;
      say(`  ${name}: ${describeStalledReader(r)}`);
      check(r.rssPeakMiB - r.rssStartMiB < 64, `${name}: gateway RSS within 64 MiB of its start (${r.rssStartMiB} → peak ${r.rssPeakMiB} MiB)`);
    }
    report.stalled = results;
  } finally {
    await cleanups.run();
  }
}

try {
  if (sections.has('cycles')) await cycles(Number(values.cycles), values.protocol === 'telnet' ? 'telnet' : 'ssh');
  if (sections.has('load')) await load(Number(values.sessions));
  if (sections.has('fuzz')) await fuzz(Number(values.fuzz));
  if (sections.has('stalled')) await stalled(Number(values['stall-seconds']));
} catch (err) {
  failures.push(`aborted: ${(err as Error).stack ?? String(err)}`);
}
report.failures = failures;
report.memory = await memoryAfterGc();
if (values.out) writeFileSync(values.out, JSON.stringify(report, null, 2) + '\n');
say(failures.length ? `\nsoak FAILED:\n${failures.map((f) => `  - ${f}`).join('\n')}` : '\nsoak passed');
process.exit(failures.length ? 1 : 0);
