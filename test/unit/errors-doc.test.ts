/**
 * docs/errors.md is the operator's list of every error code: it must name
 * each code the source raises, with the status it is raised with, and match
 * what scripts/errors-doc.mjs writes from the code today.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/env.js';

interface Collected {
  codes: Map<string, { status: string; meaning: string; layer: string }>;
}
interface ErrorsDoc {
  collectErrors(): Promise<Collected>;
  render(c: Collected): string;
  /** The .ts files under src/ that the generator reads. */
  sources(): string[];
}

const root = repoRoot();
// A computed specifier: the generator is plain JavaScript outside the TypeScript project.
const loadDoc = (): Promise<ErrorsDoc> => import(join(root, 'scripts', 'errors-doc.mjs')) as Promise<ErrorsDoc>;

test('docs/errors.md is what scripts/errors-doc.mjs writes from the code (run it after changing an error)', async () => {
  const doc = await loadDoc();
  const expected = doc.render(await doc.collectErrors());
  assert.equal(readFileSync(join(root, 'docs/errors.md'), 'utf8'), expected);
});

test('every GUAC_ code in src/ is documented', async () => {
  const documented = readFileSync(join(root, 'docs/errors.md'), 'utf8');
  const missing = new Set<string>();
  for (const file of (await loadDoc()).sources()) {
    for (const m of readFileSync(file, 'utf8').matchAll(/'(GUAC_[A-Z0-9_]+)'/g)) {
      if (!documented.includes(`| ${m[1]} |`)) missing.add(`${m[1]} (${file.slice(root.length)})`);
    }
  }
  assert.deepEqual([...missing], []);
});

test('codes are raised only through the catalogues: no new GuacError(\'GUAC_…\' outside a layer\'s errors.ts', async () => {
  const literal = /new GuacError\(\s*['"`](GUAC_[A-Z0-9_]+)/g;
  const found: string[] = [];
  for (const file of (await loadDoc()).sources()) {
    if (file.endsWith('/errors.ts')) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(literal)) found.push(`${m[1]} in ${file.slice(root.length)}`);
  }
  assert.deepEqual(found, []);
});

test('each catalogue code is documented with the status it is declared with', async () => {
  const { codes } = await (await loadDoc()).collectErrors();
  const catalogues = await Promise.all(['protocol', 'guacd', 'tunnel', 'registry', 'server'].map(
    (layer) => import(join(root, 'dist/src', layer, 'errors.js')) as Promise<Record<string, unknown>>,
  ));
  let seen = 0;
  for (const mod of catalogues) {
    for (const cat of Object.values(mod)) {
      const entries = (cat as { entries?: Record<string, { status: string }> } | null)?.entries;
      if (typeof entries !== 'object' || entries === null) continue;
      for (const [code, e] of Object.entries(entries)) {
        assert.equal(codes.get(code)?.status, e.status, code);
        seen++;
      }
    }
  }
  assert.ok(seen >= 90, `only ${seen} catalogue codes found`);
});
