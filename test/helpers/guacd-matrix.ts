/**
 * The guacd matrix: tests that talk to a real guacd run once per version the
 * test environment started (Debian's 1.3.0, and 1.5.5 / 1.6.0 when built from
 * upstream's source), each in a `describe('guacd X.Y.Z')`; versions that do
 * not run appear as skipped suites carrying the reason, so the test report
 * says which versions ran and which did not, and why.
 *
 * `GUACD_MATRIX=1.6.0,1.3.0 npm test` narrows the matrix (a developer's
 * quick run); the versions left out are reported as skipped too.
 */
import { describe } from 'node:test';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadTestEnv, repoRoot, type GuacdInstance } from './env.js';

/** A version the matrix does not run, and why. */
export interface SkippedGuacd {
  version: string;
  reason: string;
}

/** Which versions a test file needs. */
export interface MatrixOptions {
  /**
   * `all` (default): every running version. `ends`: only the oldest and the
   * newest, for heavy tests (browsers, many sessions) whose subject does not
   * change between the versions in the middle.
   */
  span?: 'all' | 'ends';
}

/** Numeric comparison of `X.Y.Z` versions. */
export function compareGuacd(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Whether guacd `g` is `version` or newer. */
export function atLeast(g: GuacdInstance | string, version: string): boolean {
  return compareGuacd(typeof g === 'string' ? g : g.version, version) >= 0;
}

/** The versions to run and the versions skipped, with reasons. */
export function guacdMatrix(opts: MatrixOptions = {}): { run: GuacdInstance[]; skipped: SkippedGuacd[] } {
  if (!existsSync(join(repoRoot(), '.test-env', 'env.json'))) {
    return { run: [], skipped: [{ version: 'any', reason: 'the test environment is not up (.test-env/env.json missing): run bash scripts/test-env.sh up' }] };
  }
  const env = loadTestEnv();
  const all = [...env.guacds].sort((a, b) => compareGuacd(a.version, b.version));
  const skipped: SkippedGuacd[] = [...env.guacdSkipped];
  const wanted = (process.env.GUACD_MATRIX ?? '').split(/[\s,]+/).filter(Boolean);
  let run = all;
  if (wanted.length > 0) {
    run = all.filter((g) => wanted.includes(g.version));
    for (const g of all) if (!run.includes(g)) skipped.push({ version: g.version, reason: `not in GUACD_MATRIX=${wanted.join(',')}` });
  }
  if (opts.span === 'ends' && run.length > 2) {
    const ends = [run[0], run[run.length - 1]];
    for (const g of run) {
      if (!ends.includes(g)) skipped.push({ version: g.version, reason: `a heavy test: it runs on the oldest and the newest guacd (${ends.map((e) => e.version).join(' and ')}) only` });
    }
    run = ends;
  }
  skipped.sort((a, b) => (a.version === 'any' ? -1 : b.version === 'any' ? 1 : compareGuacd(a.version, b.version)));
  return { run, skipped };
}

/**
 * Declares `body`'s tests once per guacd version, inside `describe('guacd
 * X.Y.Z')`; each skipped version becomes a skipped `describe` with its reason.
 */
export function forEachGuacd(body: (guacd: GuacdInstance) => void, opts: MatrixOptions = {}): void {
  const { run, skipped } = guacdMatrix(opts);
  for (const g of run) describe(`guacd ${g.version}`, () => body(g));
  for (const s of skipped) describe(`guacd ${s.version}`, { skip: s.reason }, () => undefined);
}
