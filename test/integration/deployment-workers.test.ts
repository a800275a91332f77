/**
 * The `--workers` and Prometheus sections of docs/deployment.md, run as
 * written (only addresses, ports and paths swapped for the test's): the
 * systemd unit's ExecStart on PostgreSQL behind that section's nginx block,
 * scraped as its first prometheus.yml says, reloaded as ExecReload does and
 * stopped as KillMode=mixed does (SIGTERM to the main process only); the
 * PostgreSQL command line, scraped on the main port with the admin key read
 * from a file as the second prometheus.yml says.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import { STATUS } from '../../src/protocol/status.js';
import { freePort, loadTestEnv, repoRoot, waitFor } from '../helpers/env.js';
import { deploymentBlocks, nginxSite, startNginx } from '../helpers/nginx.js';
import { parseSamples, sample } from '../helpers/prometheus.js';
import { postgresFixture, type RegistryFixture } from '../helpers/registry.js';
import { startChild, type ChildRun } from '../helpers/serve.js';
import { TunnelClient } from '../helpers/ws-client.js';

const run = promisify(execFile);
const env = loadTestEnv();
const ROOT = repoRoot();
const WORKERS = '## All cores in one service: `--workers`';
const METRICS = '## Metrics: Prometheus';

/** `key=value` lines of a unit's section. */
function unitValue(unit: string, key: string): string {
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(unit);
  assert.ok(m, `the unit sets ${key}`);
  return m[1]!;
}

/** A documented command line with the values of `swap` (flag → value) replaced; every flag of `swap` must be in it. */
function swapFlags(args: string[], swap: Record<string, string>): string[] {
  const out = [...args];
  for (const [flag, value] of Object.entries(swap)) {
    const i = out.indexOf(flag);
    assert.ok(i >= 0 && i + 1 < out.length, `the documented command has ${flag}`);
    out[i + 1] = value;
  }
  return out;
}

/** What a prometheus.yml scrape job says: path, targets, bearer credentials file. */
function scrapeJob(yaml: string): { path: string; targets: string[]; credentialsFile?: string } {
  const path = /^\s*metrics_path: (\S+)$/m.exec(yaml)?.[1];
  const targets = /^\s*- targets: \[(.*)\]$/m.exec(yaml)?.[1]?.split(',').map((t) => t.trim().replace(/^'|'$/g, ''));
  assert.ok(path && targets?.length, 'the job names metrics_path and targets');
  const file = /^\s*credentials_file: (\S+)$/m.exec(yaml)?.[1];
  if (file) assert.match(yaml, /^\s*type: Bearer$/m);
  return { path, targets, ...(file ? { credentialsFile: file } : {}) };
}

/** Scrapes `target` as Prometheus would for `job` (credentials read from `credentials`, trimmed). */
async function scrape(job: { path: string }, target: string, credentials?: string) {
  const res = await fetch(`http://${target}${job.path}`, credentials === undefined ? {} : { headers: { Authorization: `Bearer ${readFileSync(credentials, 'utf8').trim()}` } });
  assert.equal(res.status, 200, await res.clone().text());
  return parseSamples(await res.text());
}

/** Waits for the `listening on` line of a serve child and returns its port. */
async function listening(child: ChildRun): Promise<number> {
  const m = await waitFor(() => {
    if (child.child.exitCode !== null) throw new Error(`serve exited:\n${child.output()}`);
    return /listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(child.output()) ?? undefined;
  }, { what: 'serve to listen', timeoutMs: 60_000 });
  return Number(m[1]);
}

async function exited(child: ChildRun, timeoutMs: number): Promise<number | null> {
  if (child.child.exitCode !== null) return child.child.exitCode;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms:\n${child.output()}`)), timeoutMs);
    child.child.once('exit', (code) => { clearTimeout(timer); resolve(code); });
  });
}

describe('docs/deployment.md: workers and Prometheus, as written', { timeout: 240_000 }, () => {
  let fixture: RegistryFixture;
  const dirs: string[] = [];
  const children: ChildRun[] = [];
  const adminKey = randomBytes(24).toString('base64url');
  after(async () => {
    for (const c of children) await c.stop();
    await fixture?.cleanup();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const gatewayEnv = (): NodeJS.ProcessEnv => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gg-deploy-workers-'));
    dirs.push(dataDir);
    // What /etc/guacamole-gateway.env holds.
    return { ...process.env, GATEWAY_SECRET: fixture.secret, GATEWAY_ADMIN_KEY: adminKey, DATABASE_URL: fixture.url, GATEWAY_DATA_DIR: dataDir };
  };
  const sshToken = async (gwEnv: NodeJS.ProcessEnv): Promise<string> => (await run(process.execPath, [join(ROOT, 'bin/guacamole-gateway.js'), 'token', '--protocol', 'ssh',
    ...Object.entries(env.ssh.params).flatMap(([k, v]) => ['--param', `${k}=${v}`]), '--user', 'alice'], { env: gwEnv })).stdout.trim();

  test('the systemd unit behind the nginx block: sessions through nginx, scraped, reloaded, stopped', async () => {
    fixture = await postgresFixture();
    const [unit] = deploymentBlocks('ini', WORKERS);
    assert.ok(unit, 'the workers section has a unit');
    assert.equal(unitValue(unit, 'ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(unitValue(unit, 'KillMode'), 'mixed');
    assert.equal(unitValue(unit, 'KillSignal'), 'SIGTERM');
    const stopWithin = Number(unitValue(unit, 'TimeoutStopSec')) * 1000;
    const exec = unitValue(unit, 'ExecStart').split(/\s+/);
    assert.equal(exec[0], '/usr/bin/node');
    assert.equal(exec[1], 'bin/guacamole-gateway.js', 'relative to WorkingDirectory');
    const port = await freePort();
    const metricsPort = await freePort();
    const args = swapFlags(exec.slice(1), { '--port': String(port), '--guacd': `${env.guacd.host}:${env.guacd.port}`, '--metrics-listen': `127.0.0.1:${metricsPort}` });
    assert.deepEqual(args.slice(args.indexOf('--workers'), args.indexOf('--workers') + 2), ['--workers', 'auto']);
    const gwEnv = gatewayEnv();
    const serve = startChild(process.execPath, args, gwEnv, ROOT);
    children.push(serve);
    assert.equal(await listening(serve), port);

    // nginx as the workers section configures it: one upstream server, the WebSocket upgrade passed on.
    const [site] = deploymentBlocks('nginx', WORKERS);
    assert.ok(site, 'the workers section has an nginx block');
    const nginxPort = await freePort();
    const nginx = await startNginx(nginxSite(site, nginxPort, [port]), nginxPort, dirs);
    children.push(nginx);
    const clients = await Promise.all([0, 1].map(async () => {
      const c = await TunnelClient.connect(`ws://127.0.0.1:${nginxPort}/tunnel?token=${await sshToken(gwEnv)}`, { timeoutMs: 10_000 });
      await c.waitForPrompt(30_000);
      return c;
    }));
    assert.equal((await fetch(`http://127.0.0.1:${nginxPort}/metrics`)).status, 403, 'nginx keeps /metrics off the public side');

    // Prometheus, as the first job says, at the address the unit gives --metrics-listen.
    const [plain] = deploymentBlocks('yaml', METRICS);
    const job = scrapeJob(plain!);
    assert.equal(job.credentialsFile, undefined);
    assert.ok(job.targets.every((t) => t.endsWith(':9464')), 'the targets are the unit\'s metrics port');
    let m = await scrape(job, `127.0.0.1:${metricsPort}`);
    assert.equal(sample(m, 'guacamole_gateway_sessions_active', { protocol: 'ssh' }), 2);

    // systemctl reload: ExecReload's SIGHUP replaces the workers; the sessions live on.
    const syncs = clients.map((c) => c.received.length);
    await run('/bin/sh', ['-c', unitValue(unit, 'ExecReload').replace('$MAINPID', String(serve.child.pid))]);
    await waitFor(() => serve.output().includes('SIGHUP: workers replaced'), { what: 'the workers replaced', timeoutMs: 60_000 });
    for (const [i, c] of clients.entries()) await c.waitFor((r) => r.opcode === 'sync', 15_000, 'a sync after the reload', syncs[i]);
    m = await scrape(job, `127.0.0.1:${metricsPort}`);
    assert.equal(sample(m, 'guacamole_gateway_sessions_active', { protocol: 'ssh' }), 2, 'the draining workers still count their sessions');

    // systemctl stop with KillMode=mixed: SIGTERM to the main process only; everything ends within TimeoutStopSec.
    serve.child.kill('SIGTERM');
    for (const c of clients) assert.equal((await c.waitClosed(stopWithin)).reason, String(STATUS.SESSION_CLOSED.guac));
    assert.equal(await exited(serve, stopWithin), 0);
    assert.match(serve.output(), /guacamole-gateway stopped/);
    const rows = (await fixture.open().then(async (reg) => {
      try {
        return await reg.listSessions({});
      } finally {
        await reg.close();
      }
    })).filter((r) => clients.some((c) => c.uuid === r.id));
    assert.equal(rows.length, 2);
    for (const r of rows) {
      assert.equal(r.status, STATUS.SESSION_CLOSED.guac, 'history written by the stopping worker');
      assert.match(r.gateway ?? '', /^w[12]-\d+-[0-9a-f]{8}$/);
    }
  });

  test('the PostgreSQL command line, scraped on the main port with the admin key from a file', async () => {
    const [line] = deploymentBlocks('sh', WORKERS);
    assert.ok(line, 'the workers section has a command line');
    const m = /^DATABASE_URL=(\S+) (node .*)$/m.exec(line);
    assert.ok(m, 'DATABASE_URL=… node …');
    assert.match(m[1]!, /^postgres:\/\//);
    const port = await freePort();
    const argv = swapFlags(m[2]!.split(/\s+/), { '--guacd': `${env.guacd.host}:${env.guacd.port}` });
    assert.deepEqual(argv.slice(0, 3), ['node', 'bin/guacamole-gateway.js', 'serve']);
    // The line as written, on a free port and with /metrics on the main port (the second scrape job).
    const gwEnv = { ...gatewayEnv(), DATABASE_URL: fixture.url, GATEWAY_PORT: String(port), GATEWAY_METRICS_LISTEN: 'main' };
    const serve = startChild(process.execPath, argv.slice(1), gwEnv, ROOT);
    children.push(serve);
    assert.equal(await listening(serve), port);
    assert.match(serve.output(), /workers: 2 /);

    const [, withKey] = deploymentBlocks('yaml', METRICS);
    const job = scrapeJob(withKey!);
    assert.ok(job.credentialsFile && job.targets.every((t) => t.endsWith(':8080')), 'the main port, with a credentials file');
    const keyFile = join(mkdtempSync(join(tmpdir(), 'gg-prom-')), 'admin-key');
    dirs.push(join(keyFile, '..'));
    writeFileSync(keyFile, `${adminKey}\n`, { mode: 0o600 });
    const refused = await TunnelClient.connect(`ws://127.0.0.1:${port}/tunnel?token=v1.forged`, { timeoutMs: 10_000 });
    await refused.waitClosed(10_000);
    const samples = await scrape(job, `127.0.0.1:${port}`, keyFile);
    assert.equal(sample(samples, 'guacamole_gateway_tokens_refused_total', { reason: 'GUAC_TOKEN_INVALID' }), 1);
    assert.equal((await fetch(`http://127.0.0.1:${port}${job.path}`)).status, 401, 'not without the key');
    await serve.stop();
    assert.equal(serve.child.exitCode, 0);
  });
});
