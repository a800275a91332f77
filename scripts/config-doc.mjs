#!/usr/bin/env node
// Writes docs/configuration.md from the code itself: the settings table
// (src/server/settings.ts) and the command table (src/server/cli.ts), the
// same tables `guacamole-gateway --help` and `serve --help` print. Needs the
// build (dist/).
//
//   node scripts/config-doc.mjs           rewrite docs/configuration.md
//   node scripts/config-doc.mjs --check   exit 1 if docs/configuration.md is stale
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeOrCheck } from './generated-doc.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOC = join(ROOT, 'docs/configuration.md');
const dist = (p) => import(join(ROOT, 'dist/src', p));

/** The two tables. */
export async function collect() {
  const { SETTINGS } = await dist('server/settings.js');
  const { COMMANDS } = await dist('server/cli.js');
  return { SETTINGS, COMMANDS };
}

const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/\n\s*/g, ' ');
// Inside a code span only the table's pipe needs escaping.
const code = (s) => `\`${String(s).replace(/\|/g, '\\|').replace(/\n\s*/g, ' ')}\``;

/** The document for `tables`. */
export function render({ SETTINGS, COMMANDS }) {
  const lines = [
    '# Configuration',
    '',
    '<!-- Written by `node scripts/config-doc.mjs` from src/server/settings.ts and src/server/cli.ts; a unit test fails when it is stale. -->',
    '',
    'Every setting of `guacamole-gateway`, once. A flag wins over its environment variable; an empty variable',
    'counts as unset; a value that does not check out stops the command with exit code 2 and a message naming the',
    'flag or variable it came from. `guacamole-gateway serve --help` prints the same table. Keys have no flag',
    '(a flag would show them in `ps`) and are never printed. Only the server reads the environment: the library',
    '(`guacamole-gateway`, `/protocol`, `/guacd`, `/tunnel`, `/registry`) takes every value as an option.',
    '',
    '## Settings',
    '',
    '| flag | environment variable | default | meaning |',
    '| --- | --- | --- | --- |',
    ...SETTINGS.map((s) => `| ${s.flag === undefined ? '—' : code(`--${s.flag} ${s.arg}`)} | ${code(s.env)}${s.secret ? ' (secret)' : ''} | ${cell(s.default)} | ${cell(s.doc)} |`),
    '',
    '`--log-level` is taken by every command; `--data-dir`, `--db` and `GATEWAY_SECRET` by `token` and the',
    'registry commands; `serve` takes them all.',
    '',
    '## Commands',
    '',
    'Exit codes: 0 done; 1 failed (refused, not found, unreachable); 2 bad usage or configuration (unknown command',
    'or flag, a missing argument, a bad setting, input refused as a bad request). List and show commands print',
    'JSON with `--json`.',
    '',
    '| command | what it does |',
    '| --- | --- |',
    ...COMMANDS.map((c) => `| ${code(`${c.name}${c.usage ? ` ${c.usage}` : ''}`)} | ${cell(c.summary)} |`),
  ];
  return lines.join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeOrCheck(DOC, render(await collect()), import.meta.url);
}
