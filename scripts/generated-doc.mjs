// The ending every doc generator shares: write the doc, or with --check
// exit 1 when the file on disk is not what the generator would write.
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * @param {string} doc the generated file's path
 * @param {string} text what the generator makes of the code today
 * @param {string} script the generator's own path (import.meta.url), named in the stale message
 */
export function writeOrCheck(doc, text, script) {
  const name = relative(process.cwd(), doc);
  if (process.argv.includes('--check')) {
    let old = '';
    try { old = readFileSync(doc, 'utf8'); } catch { /* missing */ }
    if (old !== text) {
      console.error(`${name} is stale: run node ${relative(process.cwd(), fileURLToPath(script))}`);
      process.exit(1);
    }
  } else {
    writeFileSync(doc, text);
    console.log(`wrote ${doc}`);
  }
}
