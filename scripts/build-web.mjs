#!/usr/bin/env node
// Builds the browser client: type-checks src/web (tsconfig.web.json), then
// bundles it with esbuild into dist/web/:
//   index.html, app.css (page + client styles), client.css (client styles for
//   host pages), embed.js (ES module: `mount(element, options)`), and app.js
//   (the standalone page; imports ./embed.js so both share one module);
//   recording.html, recording.js, recording.css (the playback page).
// Usage: node scripts/build-web.mjs [--no-check] [--dev]
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src/web');
const out = join(root, 'dist/web');
const args = new Set(process.argv.slice(2));
const dev = args.has('--dev');

if (!args.has('--no-check')) {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const check = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.web.json')], { stdio: 'inherit' });
  if (check.status !== 0) {
    process.stderr.write('build-web: type check of src/web failed\n');
    process.exit(check.status ?? 1);
  }
}

await mkdir(out, { recursive: true });

const common = {
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: !dev,
  sourcemap: true,
  // guacamole-common-js's license header is a plain comment minification drops.
  banner: { js: '/*! guacamole-gateway web client. Includes guacamole-common-js 1.5.0 (Apache License 2.0). */' },
  logLevel: 'warning',
};

// app.js keeps `import … from './embed.js'` instead of inlining it.
const embedExternal = {
  name: 'embed-external',
  setup(build) {
    build.onResolve({ filter: /^\.\/embed\.js$/ }, () => ({ path: './embed.js', external: true }));
  },
};

await Promise.all([
  esbuild.build({ ...common, entryPoints: { embed: join(src, 'embed.ts') }, outdir: out }),
  esbuild.build({ ...common, entryPoints: { app: join(src, 'main.ts') }, outdir: out, plugins: [embedExternal] }),
  esbuild.build({ ...common, entryPoints: { recording: join(src, 'player.ts') }, outdir: out }),
  esbuild.build({
    ...common,
    format: undefined,
    target: undefined,
    banner: undefined,
    entryPoints: { app: join(src, 'app.css'), client: join(src, 'client.css'), recording: join(src, 'recording.css') },
    outdir: out,
  }),
]);
await copyFile(join(src, 'index.html'), join(out, 'index.html'));
await copyFile(join(src, 'recording.html'), join(out, 'recording.html'));
process.stderr.write(`build-web: wrote ${out}\n`);
