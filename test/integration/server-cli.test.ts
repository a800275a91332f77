/**
 * The `guacamole-gateway` command: configuration checks, `token`, and `serve`
 * started and stopped as a child process (with the test environment's guacd,
 * and with its own supervised guacd).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, afterEach, before, describe, it } from 'node:test';
import { testLogger } from '../helpers/log.js';
import { fileURLToPath } from 'node:url';
import { isGuacError } from '../../src/protocol/errors.js';
import { main } from '../../src/server/cli.js';
import { parseHostPort } from '../../src/server/config.js';
import { clientLimits, readSettings, SETTINGS } from '../../src/server/settings.js';
import { resolveStaticPath } from '../../src/server/static.js';
import { openToken } from '../../src/tunnel/token.js';
import { loadTestEnv, processAlive, waitFor, type TestEnv } from '../helpers/env.js';
import { TunnelClient } from '../helpers/ws-client.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'guacamole-gateway.js');
const SECRET = 'server-cli-test-secret-0123456789abcdef';

let env: TestEnv;
let dataDir: string;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

before(() => {
  env = loadTestEnv();
  dataDir = mkdtempSync(join(tmpdir(), 'gg-cli-'));
});
after(() => rmSync(dataDir, { recursive: true, force: true }));
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

/** Runs main() in process, capturing its output. */
async function run(argv: string[], extraEnv: Record<string, string> = {}, stdin?: string) {
  let out = '';
  let err = '';
  const code = await main(argv, {
    out: (s) => { out += s; },
    err: (s) => { err += s; },
    env: { ...process.env, GATEWAY_DATA_DIR: dataDir, ...extraEnv },
    // In-process `serve` logs at info (schema migrated, key generated); only problems belong in the report.
    logger: testLogger,
    ...(stdin !== undefined ? { readStdin: async () => stdin } : {}),
  });
  return { code, out, err };
}

/** A child process with its output collected line by line. */
interface Child {
  proc: ChildProcess;
  stdout: string[];
  stderr: string[];
  exited: Promise<number | null>;
  /** Resolves with the first line matching `re` (stdout or stderr). */
  line(re: RegExp, timeoutMs?: number, from?: number): Promise<string>;
}

function startCli(args: string[], extraEnv: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, GATEWAY_DATA_DIR: dataDir, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => stdout.push(l));
  createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  return {
    proc, stdout, stderr, exited,
    line: (re, timeoutMs = 15_000) => waitFor(() => [...stdout, ...stderr].find((l) => re.test(l)), { timeoutMs, what: String(re) }),
  };
}

/** serve's settings from flags (by flag name) and an environment. */
function serveSettings(flags: Record<string, string>, env: NodeJS.ProcessEnv = {}) {
  return readSettings(SETTINGS.map((s) => s.name), flags, env);
}

describe('configuration', () => {
  it('validates ports and addresses with clear messages', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:4822', '--guacd'), { host: '127.0.0.1', port: 4822 });
    assert.deepEqual(parseHostPort('[::1]:4822', '--guacd'), { host: '::1', port: 4822 });
    for (const bad of ['4822', 'host:', 'host:0', 'host:70000', ':4822', 'a:b:c']) {
      assert.throws(() => parseHostPort(bad, '--guacd'), (e: unknown) => isGuacError(e, 'GUAC_CONFIG_INVALID') && /--guacd/.test(e.message), bad);
    }
    // --guacd repeats (parseArgs gives an array), or lists them in GATEWAY_GUACD; names are normalized.
    assert.deepEqual(readSettings(['guacd'], { guacd: ['10.0.0.1:4822', 'TLS://g2.example:4823'] }, {}).guacd, [
      { name: '10.0.0.1:4822', address: { host: '10.0.0.1', port: 4822 }, tls: false },
      { name: 'tls://g2.example:4823', address: { host: 'g2.example', port: 4823 }, tls: true },
    ]);
    assert.deepEqual(serveSettings({}, { GATEWAY_GUACD: 'unix:/run/guacd.sock, [::1]:4822' }).guacd?.map((g) => g.name), ['unix:/run/guacd.sock', '[::1]:4822']);
    for (const [bad, message] of [['a:1 a:1', /lists a:1 twice/], ['unix:rel/path', /unix:\/absolute\/path/], ['tls://nohost', /HOST:PORT/], [' , ', /names no guacd/]] as const) {
      assert.throws(() => serveSettings({}, { GATEWAY_GUACD: bad }), (e: unknown) => isGuacError(e, 'GUAC_CONFIG_INVALID') && message.test(e.message), bad);
    }
    assert.equal(serveSettings({ drain: '30' }).drainMs, 30_000);
    // How long a session waits for a recordings disk that fell behind: 2 s unless set; 0 never waits.
    assert.equal(serveSettings({}).recordingMaxWaitMs, 2000);
    assert.equal(serveSettings({ 'recording-max-wait': '0' }).recordingMaxWaitMs, 0);
    assert.equal(serveSettings({}, { GATEWAY_RECORDING_MAX_WAIT: '10' }).recordingMaxWaitMs, 10_000);
    for (const bad of ['-1', '1.5', 'soon']) {
      assert.throws(() => serveSettings({ 'recording-max-wait': bad }),
        (e: unknown) => isGuacError(e, 'GUAC_CONFIG_INVALID') && /--recording-max-wait must be a whole number of seconds/.test(e.message), bad);
    }
    assert.equal(serveSettings({ port: '0' }).port, 0);
    assert.equal(serveSettings({}).port, 8080);
    assert.equal(serveSettings({}).host, '127.0.0.1');
    assert.throws(() => serveSettings({ port: '65536' }), /--port must be a port number/);
    assert.throws(() => serveSettings({ port: 'http' }), /--port/);
    assert.throws(() => serveSettings({ 'idle-timeout': '-1' }), /--idle-timeout/);
  });

  it('reads the per-client limits and trusted proxies from flags, else the environment', () => {
    assert.deepEqual(clientLimits(serveSettings({})), {}, 'the tunnel\'s defaults apply');
    assert.deepEqual(serveSettings({}).trustedProxies, []);
    const c = serveSettings({ 'max-sessions-per-token': '2', 'max-sessions-per-user': '0', 'handshake-rate': '10/30', 'trust-proxy': '127.0.0.1, ::1' },
      { GATEWAY_MAX_SESSIONS_PER_TOKEN: '9', GATEWAY_MAX_SESSIONS_PER_ADDRESS: '7' });
    assert.deepEqual(clientLimits(c), { maxSessionsPerToken: 2, maxSessionsPerUser: 0, maxSessionsPerAddress: 7, handshakesPerAddress: 10, handshakeWindowMs: 30_000 });
    assert.deepEqual(c.trustedProxies, ['127.0.0.1', '::1']);
    assert.deepEqual(clientLimits(serveSettings({}, { GATEWAY_HANDSHAKE_RATE: '0', GATEWAY_TRUST_PROXY: '10.0.0.1' })), { handshakesPerAddress: 0 });
    const bad: [Record<string, string>, NodeJS.ProcessEnv, RegExp][] = [
      [{ 'max-sessions-per-token': '-1' }, {}, /--max-sessions-per-token must be a whole number/],
      [{ 'max-sessions-per-user': 'lots' }, {}, /--max-sessions-per-user/],
      [{}, { GATEWAY_MAX_SESSIONS_PER_ADDRESS: '1e3' }, /--max-sessions-per-address \(GATEWAY_MAX_SESSIONS_PER_ADDRESS\)/],
      [{ 'handshake-rate': '30' }, {}, /--handshake-rate must be N\/SECONDS/],
      [{ 'handshake-rate': '30/0' }, {}, /--handshake-rate/],
      [{ 'trust-proxy': 'nginx.local' }, {}, /--trust-proxy must list IP addresses/],
    ];
    for (const [input, env, message] of bad) {
      assert.throws(() => serveSettings(input, env), (e: unknown) => isGuacError(e, 'GUAC_CONFIG_INVALID') && message.test(e.message), message.source);
    }
  });

  it('keeps static paths inside the web root', () => {
    const root = '/srv/web';
    assert.equal(resolveStaticPath(root, '/'), '/srv/web/index.html');
    assert.equal(resolveStaticPath(root, '/app.js'), '/srv/web/app.js');
    for (const bad of ['/../etc/passwd', '/%2e%2e/etc/passwd', '/..%2fetc%2fpasswd', '/a/../../x', '/%00', '/a\\..\\b', 'relative', '/%E0%A4%A']) {
      assert.equal(resolveStaticPath(root, bad), undefined, bad);
    }
  });
});

describe('guacamole-gateway token', () => {
  it('prints a token carrying the normalized parameters', async () => {
    const r = await run(['token', '--protocol', 'ssh', '--param', 'hostname=h', '--param', 'port=2222', '--param', 'username=u',
      '--secret-stdin', 'password', '--read-only', '--ttl', '60', '--user', 'ann'], { GATEWAY_SECRET: SECRET }, 'pa ss\n');
    assert.equal(r.code, 0, r.err);
    const token = r.out.trim();
    const p = openToken(token, SECRET);
    assert.deepEqual(p.target, { protocol: 'ssh', params: { hostname: 'h', port: '2222', username: 'u', password: 'pa ss' } });
    assert.equal(p.readOnly, true);
    assert.equal(p.user, 'ann');
    assert.equal(p.aud, 'tunnel');
    assert.ok(p.exp - p.iat === 60);
  });

  it('prints a page link with --url; without --ttl the token lives 300 s (docs/security.md)', async () => {
    const r = await run(['token', '--protocol', 'vnc', '--param', 'hostname=h', '--url', 'http://127.0.0.1:8080/'], { GATEWAY_SECRET: SECRET });
    assert.equal(r.code, 0, r.err);
    const url = new URL(r.out.trim());
    assert.equal(url.pathname, '/');
    const p = openToken(url.searchParams.get('token') as string, SECRET);
    assert.equal(p.exp - p.iat, 300);
  });

  it('refuses bad input with exit code 2 and never echoes secrets', async () => {
    const cases: string[][] = [
      ['token'],
      ['token', '--protocol', 'x11', '--param', 'hostname=h'],
      ['token', '--protocol', 'ssh', '--param', 'hostname=h', '--param', 'bogus=hunter2'],
      ['token', '--protocol', 'ssh', '--param', 'hostname=h', '--param', 'port=notaport'],
      ['token', '--protocol', 'ssh', '--param', 'hostname=h', '--ttl', '0'],
      ['token', '--protocol', 'ssh', '--param', 'password=hunter2'],
      ['serve', '--port', '99999'],
      ['serve', '--guacd', 'nowhere'],
      ['frobnicate'],
    ];
    for (const argv of cases) {
      const r = await run(argv, { GATEWAY_SECRET: SECRET });
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
      assert.match(r.err, /^error: /);
      assert.ok(!r.err.includes('hunter2'), r.err);
    }
    const short = await run(['token', '--protocol', 'ssh', '--param', 'hostname=h'], { GATEWAY_SECRET: 'short' });
    assert.equal(short.code, 2);
    assert.match(short.err, /GATEWAY_SECRET must be at least 16 bytes/);
  });

  it('creates <data dir>/secret once, mode 0600, and reuses it (child processes)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gg-secret-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const mint = async () => {
      const child = startCli(['token', '--protocol', 'ssh', '--param', 'hostname=h'], { GATEWAY_DATA_DIR: dir, GATEWAY_SECRET: '' });
      assert.equal(await child.exited, 0, child.stderr.join('\n'));
      return child.stdout[0];
    };
    const first = await mint();
    const file = join(dir, 'secret');
    assert.ok(existsSync(file));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const secret = readFileSync(file, 'utf8').trim();
    const second = await mint();
    assert.equal(readFileSync(file, 'utf8').trim(), secret);
    assert.ok(openToken(first, secret));
    assert.ok(openToken(second, secret));
  });
});

describe('guacamole-gateway serve', { timeout: 120_000 }, () => {
  it('serves the page, /healthz and the tunnel; SIGTERM closes sessions and exits 0', async () => {
    const child = startCli(['serve', '--port', '0', '--guacd', `${env.guacd.host}:${env.guacd.port}`], { GATEWAY_SECRET: SECRET });
    const line = await child.line(/listening on http:\/\//);
    const base = /(http:\/\/\S+)/.exec(line)![1];
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/$/);

    const health = await fetch(`${base}healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), {
      ok: true, draining: false, sessions: 0,
      guacd: { reachable: true, pool: [{ name: `${env.guacd.host}:${env.guacd.port}`, healthy: true, sessions: 0 }] },
    });

    if (existsSync(join(ROOT, 'dist', 'web', 'index.html'))) {
      const page = await fetch(`${base}?token=abc`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
      await page.text();
      const css = await fetch(`${base}app.css`);
      assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
      await css.text();
    }
    for (const bad of ['..%2f..%2fpackage.json', '%2e%2e/package.json', 'nope.html']) {
      const res = await fetch(`${base}${bad}`);
      assert.equal(res.status, 404, bad);
      await res.text();
    }
    const anon = await fetch(`${base}api/connections`);
    assert.equal(anon.status, 401);
    await anon.text();
    const adminKey = readFileSync(join(dataDir, 'admin-key'), 'utf8').trim();
    const listed = await fetch(`${base}api/connections`, { headers: { authorization: `Bearer ${adminKey}` } });
    assert.equal(listed.status, 200);
    assert.ok(Array.isArray(((await listed.json()) as { connections: unknown }).connections));
    assert.ok(child.stdout.some((l) => /^registry: sqlite .*gateway\.db$/.test(l)), child.stdout.join('\n'));

    const op = await fetch(`${base}tunnel?bogus`);
    assert.equal(op.status, 400);
    assert.equal(op.headers.get('Guacamole-Status-Code'), '768');
    await op.text();

    const minted = await run(['token', '--protocol', 'ssh', ...Object.entries(env.ssh.params).flatMap(([k, v]) => ['--param', `${k}=${v}`])], { GATEWAY_SECRET: SECRET });
    assert.equal(minted.code, 0, minted.err);
    const wsBase = base.replace(/^http/, 'ws');
    const c = await TunnelClient.connect(`${wsBase}tunnel?token=${encodeURIComponent(minted.out.trim())}`);
    cleanups.push(() => c.terminate());
    await c.waitForOpcode('sync', 10_000);
    const busy = await (await fetch(`${base}healthz`)).json() as { sessions: number };
    assert.equal(busy.sessions, 1);

    child.proc.kill('SIGTERM');
    const closed = await c.waitClosed(5000);
    assert.equal(closed.reason, String(0x020b));
    assert.equal(await child.exited, 0);
    assert.ok(child.stdout.includes('guacamole-gateway stopped'));
    assert.ok(!child.stderr.join('\n').includes(env.ssh.password), 'the log holds the SSH password');
  });

  it('session end, from another process, closes a live session on a SQLite gateway and records it', async () => {
    const child = startCli(['serve', '--port', '0', '--guacd', `${env.guacd.host}:${env.guacd.port}`], { GATEWAY_SECRET: SECRET });
    const base = /(http:\/\/\S+)/.exec(await child.line(/listening on http:\/\//))![1];
    const name = `cli-end-${process.pid}`;
    const added = await run(['connection', 'add', '--name', name, '--protocol', 'ssh',
      ...Object.entries(env.ssh.params).flatMap(([k, v]) => ['--param', `${k}=${v}`]), '--grant', 'bob'], { GATEWAY_SECRET: SECRET });
    assert.equal(added.code, 0, added.err);
    const minted = await run(['token', '--connection', name, '--user', 'bob'], { GATEWAY_SECRET: SECRET });
    assert.equal(minted.code, 0, minted.err);
    const c = await TunnelClient.connect(`${base.replace(/^http/, 'ws')}tunnel?token=${encodeURIComponent(minted.out.trim())}`);
    cleanups.push(() => c.terminate());
    await c.waitForOpcode('sync', 10_000);
    const id = c.uuid!;
    const active = await run(['session', 'list', '--active'], { GATEWAY_SECRET: SECRET });
    assert.ok(active.out.split('\n').some((l) => l.startsWith(`${id} `) && / active /.test(l)), active.out);

    const ended = await run(['session', 'end', id], { GATEWAY_SECRET: SECRET });
    assert.equal(ended.code, 0, ended.err);
    assert.equal(ended.out, `ended ${id}\n`);
    const closed = await c.waitClosed(5000);
    assert.equal(closed.reason, String(0x020b), 'the browser is told SESSION_CLOSED');
    const history = await run(['session', 'list'], { GATEWAY_SECRET: SECRET });
    assert.match(history.out.split('\n').find((l) => l.startsWith(`${id} `)) ?? '', / status 523 /);

    const again = await run(['session', 'end', id], { GATEWAY_SECRET: SECRET });
    assert.equal(again.code, 1);
    assert.match(again.err, /already ended/);
    const unknown = await run(['session', 'end', 'no-such-session'], { GATEWAY_SECRET: SECRET });
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /No session has the id/);
    const usage = await run(['session', 'end'], { GATEWAY_SECRET: SECRET });
    assert.equal(usage.code, 2);
    assert.match(usage.err, /session end expects ID/);
    child.proc.kill('SIGTERM');
    assert.equal(await child.exited, 0);
  });

  it('refuses to start on a registry it cannot open, with a clear message and exit code', async () => {
    const unreachable = await run(['serve', '--port', '0', '--guacd', '127.0.0.1:1', '--db', 'postgres://u:s3cr3t-pw@127.0.0.1:1/db'], { GATEWAY_SECRET: SECRET });
    assert.equal(unreachable.code, 1, unreachable.err);
    assert.match(unreachable.err, /^error: Cannot connect to the PostgreSQL registry at postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/db/);
    assert.ok(!unreachable.err.includes('s3cr3t-pw'));
    assert.equal(unreachable.out, '', 'nothing listened');
    const fromEnv = await run(['serve', '--port', '0', '--guacd', '127.0.0.1:1'], { GATEWAY_SECRET: SECRET, DATABASE_URL: 'postgresql://u:pw@127.0.0.1:1/db' });
    assert.equal(fromEnv.code, 1, 'DATABASE_URL is used when --db is absent');
    assert.match(fromEnv.err, /PostgreSQL registry at postgresql:\/\/u:\*\*\*@127\.0\.0\.1:1\/db/);

    const badUrl = await run(['serve', '--port', '0', '--guacd', '127.0.0.1:1', '--db', 'mysql://h/db'], { GATEWAY_SECRET: SECRET });
    assert.equal(badUrl.code, 2);
    assert.match(badUrl.err, /Unsupported database URL/);
    const badLite = await run(['serve', '--port', '0', '--guacd', '127.0.0.1:1', '--guacamole-lite-key', 'too-short'], { GATEWAY_SECRET: SECRET });
    assert.equal(badLite.code, 2);
    assert.match(badLite.err, /--guacamole-lite-key must be the 32-byte key/);

    const dir = mkdtempSync(join(tmpdir(), 'gg-keymismatch-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    assert.equal((await run(['connection', 'list'], { GATEWAY_DATA_DIR: dir, GATEWAY_SECRET: SECRET })).code, 0);
    const other = await run(['serve', '--port', '0', '--guacd', '127.0.0.1:1'], { GATEWAY_DATA_DIR: dir, GATEWAY_SECRET: `${SECRET}-other` });
    assert.equal(other.code, 2);
    assert.match(other.err, /different gateway secret/);
  });

  it('without --guacd, runs its own guacd, restarts it when it dies and stops it on exit', async () => {
    const child = startCli(['serve', '--port', '0'], { GATEWAY_SECRET: SECRET, GATEWAY_LOG_LEVEL: 'info' });
    const line = await child.line(/listening on http:\/\//, 20_000);
    const base = /(http:\/\/\S+)/.exec(line)![1];
    const started = (n: number) => child.stderr.filter((l) => l.includes('"guacd started"')).slice(n - 1, n)[0];
    const pidOf = (l: string) => (JSON.parse(l) as { pid: number }).pid;
    const first = pidOf(started(1));
    assert.ok(processAlive(first));
    // /healthz answers from the pool's probes: the first one may still be under way on a busy machine.
    await waitFor(async () => ((await (await fetch(`${base}healthz`)).json()) as { ok: boolean }).ok, { timeoutMs: 10_000, what: 'healthy' });

    process.kill(first, 'SIGKILL');
    const again = await waitFor(() => started(2), { timeoutMs: 15_000, what: 'guacd restarted' });
    const second = pidOf(again);
    assert.notEqual(second, first);
    await waitFor(async () => ((await (await fetch(`${base}healthz`)).json()) as { ok: boolean }).ok, { timeoutMs: 10_000, what: 'healthy again' });

    child.proc.kill('SIGINT');
    assert.equal(await child.exited, 0);
    await waitFor(() => !processAlive(second), { timeoutMs: 5000, what: 'guacd stopped' });
  });
});
