/**
 * nginx for the deployment tests: a site block from docs/deployment.md made
 * to listen on a loopback port (its TLS lines dropped) in front of gateway
 * processes of the test, run in the foreground from a temporary prefix.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, waitFor } from './env.js';
import { startChild, type ChildRun } from './serve.js';

const NGINX = '/usr/sbin/nginx';

/** The fenced blocks of `lang` in docs/deployment.md, between the heading `from` and the next `## ` heading (whole page without `from`). */
export function deploymentBlocks(lang: string, from?: string): string[] {
  let doc = readFileSync(join(repoRoot(), 'docs/deployment.md'), 'utf8');
  if (from !== undefined) {
    const start = doc.indexOf(`\n${from}\n`);
    assert.ok(start >= 0, `docs/deployment.md has the section ${from}`);
    const end = doc.indexOf('\n## ', start + from.length + 2);
    doc = doc.slice(start, end < 0 ? undefined : end);
  }
  return [...doc.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

/** An nginx site block made to listen on `listen` in front of `ports` (its upstream servers, in order). */
export function nginxSite(block: string, listen: number, ports: number[]): string {
  let servers = 0;
  const conf = block
    .replace(/listen 443 ssl;/, `listen 127.0.0.1:${listen};`)
    .replace(/^\s*ssl_certificate.*$/gm, '')
    .replace(/server 127\.0\.0\.1:\d+;/g, () => `server 127.0.0.1:${ports[servers++]};`)
    .replace(/allow 10\.0\.0\.0\/8;/, 'allow 127.0.0.1;');
  assert.equal(servers, ports.length, 'the block lists one upstream server per gateway port');
  return conf;
}

/** Runs nginx with `site` in a fresh prefix under `dirs` and waits until it proxies /healthz on `port`. */
export async function startNginx(site: string, port: number, dirs: string[]): Promise<ChildRun> {
  const prefix = mkdtempSync(join(tmpdir(), 'gg-nginx-'));
  dirs.push(prefix);
  writeFileSync(join(prefix, 'nginx.conf'), [
    'daemon off;', 'master_process off;', `pid ${prefix}/nginx.pid;`, `error_log ${prefix}/error.log warn;`,
    'events { worker_connections 256; }',
    'http {', 'access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${prefix}/${t};`),
    site, '}',
  ].join('\n'));
  const nginx = startChild(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf')], process.env);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) || undefined,
    { what: `nginx to proxy /healthz:\n${nginx.output()}`, timeoutMs: 15_000 });
  return nginx;
}
