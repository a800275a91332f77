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
  sites: Map<string, { status: string; message: string; file: string }[]>;
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

test('each code is raised with the status its table gives it', async () => {
  const { codes, sites } = await (await loadDoc()).collectErrors();
  const wrong: string[] = [];
  for (const [code, list] of sites) {
    const want = codes.get(code)?.status;
    for (const site of list) {
      if (want !== undefined && want !== '—' && site.status !== want) wrong.push(`${code}: ${site.status} in ${site.file}, table says ${want}`);
    }
  }
  assert.deepEqual(wrong, []);
});
