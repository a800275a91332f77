#!/usr/bin/env node
// Writes docs/errors.md from the code itself: the status table
// (src/protocol/status.ts) and each layer's error catalogue (defineErrors in
// src/<layer>/errors.ts), plus the two admin API answers that are no
// GuacError. Needs the build (dist/).
//
//   node scripts/errors-doc.mjs           rewrite docs/errors.md
//   node scripts/errors-doc.mjs --check   exit 1 if docs/errors.md is stale
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeOrCheck } from './generated-doc.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOC = join(ROOT, 'docs/errors.md');
const dist = (p) => import(join(ROOT, 'dist/src', p));

/** Every .ts file under src/ (web client excluded: it raises none). */
export function sources(dir = join(ROOT, 'src')) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'web' ? [] : sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Code → { status, meaning, layer } for every code the gateway raises. */
export async function collectErrors() {
  const { STATUS } = await dist('protocol/status.js');
  const { PARSE } = await dist('protocol/errors.js');
  const { GUACD } = await dist('guacd/errors.js');
  const { TUNNEL } = await dist('tunnel/errors.js');
  const { REGISTRY } = await dist('registry/errors.js');
  const { SERVER } = await dist('server/errors.js');
  const { ADMIN_API_ERRORS } = await dist('server/admin-api.js');

  const codes = new Map();
  const add = (code, status, meaning, layer) => { if (!codes.has(code)) codes.set(code, { status, meaning, layer }); };
  // A layer's catalogue (defineErrors): each code's status, and its doc line or message.
  const catalogue = (cat, layer, suffix = '') => {
    for (const [code, e] of Object.entries(cat.entries)) add(code, e.status, `${e.doc ?? e.message}${suffix}`, layer);
  };
  catalogue(PARSE, 'protocol', ' (from guacd: UPSTREAM_ERROR)');
  catalogue(GUACD, 'guacd');
  catalogue(TUNNEL, 'tunnel');

  // Codes answered without a GuacError (the admin API's own refusals): 'CODE', 'message'.
  const literal = String.raw`('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\`(?:[^\`\\]|\\.)*\`)`;
  const answer = new RegExp(String.raw`'(GUAC_[A-Z0-9_]+)'\s*,\s*${literal}`, 'g');
  const text = (lit) => lit.slice(1, -1).replace(/\$\{[^}]*\}/g, '…').replace(/\\(.)/g, '$1');
  const answers = new Map();
  for (const m of readFileSync(join(ROOT, 'src/server/admin-api.ts'), 'utf8').matchAll(answer)) {
    if (!answers.has(m[1])) answers.set(m[1], text(m[2]));
  }
  catalogue(REGISTRY, 'registry');
  // The admin API's own codes, with their HTTP status; those declared in a catalogue take its status and text.
  const declared = (code) => [PARSE, GUACD, TUNNEL, REGISTRY, SERVER].map((c) => c.entries[code]).find(Boolean);
  for (const [code, http] of Object.entries(ADMIN_API_ERRORS)) {
    const entry = declared(code);
    const message = entry?.doc ?? entry?.message ?? answers.get(code) ?? '';
    add(code, entry?.status ?? '—', `${message} (HTTP ${http})`.trim(), 'admin API');
  }
  catalogue(SERVER, 'server');
  return { STATUS, codes };
}

/** The order of the layers' sections in the docs. */
const LAYERS = ['protocol', 'guacd', 'tunnel', 'registry', 'admin API', 'server'];

function render({ STATUS, codes }) {
  const hex = (n) => `0x${n.toString(16).padStart(4, '0').toUpperCase()}`;
  const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    '# Errors',
    '',
    '<!-- Written by `node scripts/errors-doc.mjs` from the code; a unit test fails when it is stale. -->',
    '',
    'Every failure the gateway reports is a `GuacError` with a stable `code` (below) and a Guacamole',
    '`status`. The browser receives the status as an `error` instruction (message, decimal code) and as',
    'the websocket close reason (the decimal code, which guacamole-common-js reads); HTTP answers carry',
    'the HTTP status with `Guacamole-Status-Code` and `Guacamole-Error-Message` headers; the admin API',
    'answers `{"error": {"code", "message", "status"}}`.',
    '',
    '## Status codes',
    '',
    '| status | code | HTTP | websocket close | meaning |',
    '| --- | --- | --- | --- | --- |',
    ...Object.values(STATUS).map((s) => `| ${s.name} | ${hex(s.guac)} (${s.guac}) | ${s.http} | ${s.ws} | ${cell(s.message)} |`),
    '',
    'Codes guacd sends that are not in this table map to their class (0x01xx UNSUPPORTED, 0x02xx',
    'SERVER_ERROR, 0x03xx CLIENT_BAD_REQUEST), as guacamole-common-js does.',
    '',
    '## Error codes',
  ];
  const layers = [...new Set([...LAYERS, ...[...codes.values()].map((c) => c.layer)])];
  for (const layer of layers) {
    lines.push('', `### ${layer}`, '', '| code | status | when |', '| --- | --- | --- |');
    for (const [code, c] of [...codes].filter(([, c]) => c.layer === layer).sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`| ${code} | ${c.status} | ${cell(c.meaning)} |`);
    }
  }
  return lines.join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeOrCheck(DOC, render(await collectErrors()), import.meta.url);
}

export { render };
