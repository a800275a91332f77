/**
 * `serve --workers 2` for real (guacd, sshd, SQLite and PostgreSQL):
 * sessions land on both workers and history says which; a worker killed
 * with SIGKILL is replaced and its session's history row is ended with
 * SERVER_ERROR by a live worker; SIGHUP replaces every worker while a live
 * session keeps relaying, and the old worker exits once that session ends;
 * `/metrics` (summed over the workers) counts what the test did.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { STATUS } from '../../src/protocol/status.js';
import { freePort, loadTestEnv, processAlive, repoRoot, waitFor } from '../helpers/env.js';
import { parseSamples, sample } from '../helpers/prometheus.js';
import { postgresFixture, sqliteFixture, type FixtureFactory } from '../helpers/registry.js';
import { startChild, startServe, type ServeRun } from '../helpers/serve.js';
import { TunnelClient } from '../helpers/ws-client.js';
import { guacdHandshakeFailed } from '../helpers/security.js';

const run = promisify(execFile);
const BIN = join(repoRoot(), 'bin/guacamole-gateway.js');
const env = loadTestEnv();
/** The per-client caps are off: every session comes from 127.0.0.1. */
const UNCAPPED = { GATEWAY_MAX_SESSIONS_PER_TOKEN: '0', GATEWAY_MAX_SESSIONS_PER_USER: '0', GATEWAY_MAX_SESSIONS_PER_ADDRESS: '0', GATEWAY_HANDSHAKE_RATE: '0' };

interface Row { id: string; gateway: string; endedAt: number | null; status: number | null; message?: string | null; bytesFromBrowser: number; bytesToBrowser: number }

/** A gateway's environment: its secret, admin key, data folder and database. */
function gatewayEnv(dataDir: string, secret: string, db?: string): NodeJS.ProcessEnv & { GATEWAY_ADMIN_KEY: string } {
  return {
    ...process.env, ...UNCAPPED, GATEWAY_DATA_DIR: dataDir, GATEWAY_SECRET: secret, GATEWAY_ADMIN_KEY: randomBytes(18).toString('base64url'),
    GATEWAY_GUACD: `${env.guacd.host}:${env.guacd.port}`, ...(db ? { DATABASE_URL: db } : {}),
  };
}

async function sshToken(gwEnv: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await run(process.execPath, [BIN, 'token', '--protocol', 'ssh',
    ...Object.entries(env.ssh.params).flatMap(([k, v]) => ['--param', `${k}=${v}`]), '--user', 'alice'], { env: gwEnv });
  return stdout.trim();
}

/** An SSH session through the gateway, at its prompt. */
async function openSsh(port: number, gwEnv: NodeJS.ProcessEnv): Promise<TunnelClient> {
  const client = await TunnelClient.connect(`ws://127.0.0.1:${port}/tunnel?token=${await sshToken(gwEnv)}`, { timeoutMs: 10_000 });
  await client.waitForPrompt(30_000);
  return client;
}

async function history(port: number, adminKey: string): Promise<Row[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/sessions?limit=500`, { headers: { Authorization: `Bearer ${adminKey}` } });
  assert.equal(res.status, 200);
  return ((await res.json()) as { sessions: Row[] }).sessions;
}

/** The worker a history row names (`w<N>-<pid>-<random>`). */
const workerOf = (row: Row): { n: number; pid: number } => {
  const m = /^w(\d+)-(\d+)-[0-9a-f]{8}$/.exec(row.gateway);
  assert.ok(m, `gateway id ${row.gateway} names a worker`);
  return { n: Number(m[1]), pid: Number(m[2]) };
};

async function scrape(url: string, adminKey?: string) {
  const res = await fetch(url, adminKey ? { headers: { Authorization: `Bearer ${adminKey}` } } : {});
  assert.equal(res.status, 200, await res.clone().text());
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseSamples(await res.text());
}

/**
 * `serve --workers N …` once every worker serves: the port answers as soon as the first does (it starts
 * alone), the primary's `listening on` line comes when all do.
 */
async function startWorkers(gwEnv: NodeJS.ProcessEnv, args: string[]): Promise<ServeRun> {
  const serve = await startServe(gwEnv, args, 60_000);
  await waitFor(() => serve.output().includes('guacamole-gateway listening on'), { what: 'every worker to serve', timeoutMs: 60_000 });
  return serve;
}

/** The pids of the workers serving now, from the primary's log. */
function workerPids(serve: ServeRun): number[] {
  const pids = new Map<number, number>();
  for (const line of serve.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    const e = JSON.parse(line) as { msg: string; worker?: number; pid?: number };
    if (e.msg === 'worker serving') pids.set(e.worker!, e.pid!);
    if (e.msg === 'worker died: replacing it' || e.msg === 'worker drained and exited') pids.delete(e.worker!);
  }
  return [...pids.values()];
}

/** A describe's data folder, environment and serve runs: stopped and removed after it. */
function workersSuite(prefix: string) {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const runs: ServeRun[] = [];
  const clients: TunnelClient[] = [];
  after(async () => {
    for (const c of clients) c.terminate();
    for (const r of runs) await r.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return {
    dataDir, clients, gwEnv: gatewayEnv(dataDir, randomBytes(24).toString('base64url')),
    started: (run: ServeRun): ServeRun => { runs.push(run); return run; },
  };
}

/** How many times the gateway's log has said `msg`. */
const said = (serve: ServeRun, msg: string): number => serve.output().split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).length;

/** Whether guacd → gateway → browser still flows: a `sync` after `from`, and the gateway's ping echo. */
async function stillRelaying(client: TunnelClient): Promise<void> {
  const from = client.received.length;
  await client.waitFor((r) => r.opcode === 'sync', 15_000, 'a sync from guacd', from);
  const ts = `t${Date.now()}`;
  client.ping(ts);
  await client.waitFor((r) => r.opcode === '' && r.args[0] === 'ping' && r.args[1] === ts, 5000, 'the ping echo', from);
}

for (const [label, factory] of [['SQLite', sqliteFixture], ['PostgreSQL', postgresFixture]] as [string, FixtureFactory][]) {
  describe(`serve --workers 2 on ${label}`, { timeout: 180_000 }, () => {
    test('sessions land on both workers, all history is written, and the summed /metrics counts them', async () => {
      const fx = await factory();
      const gwEnv = gatewayEnv(fx.dataDir, fx.secret, fx.url);
      const metricsPort = await freePort();
      const serve = await startWorkers(gwEnv, ['--workers', '2', '--metrics-listen', `127.0.0.1:${metricsPort}`]);
      const clients: TunnelClient[] = [];
      try {
        const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
        // A refused token, counted by its reason.
        const refused = await TunnelClient.connect(`ws://127.0.0.1:${serve.port}/tunnel?token=v1.not-a-token`, { timeoutMs: 10_000 });
        const refusal = await refused.waitClosed(10_000);
        assert.equal(refusal.reason, String(STATUS.CLIENT_UNAUTHORIZED.guac));

        const n = 8;
        // One after another: eight SSH logins at once on a loaded machine may lose one in guacd or sshd, which
        // would change every count below; the cluster still hands them to both workers in turn.
        for (let i = 0; i < n; i++) clients.push(await openSsh(serve.port, gwEnv));
        const ids = new Set(clients.map((c) => c.uuid!));
        const live = await waitFor(async () => {
          const rows = (await history(serve.port, gwEnv.GATEWAY_ADMIN_KEY)).filter((r) => ids.has(r.id) && r.endedAt === null);
          return rows.length === n ? rows : undefined;
        }, { what: `${n} open history rows`, timeoutMs: 20_000 });
        assert.deepEqual(new Set(live.map((r) => workerOf(r).n)), new Set([1, 2]), 'both workers hold sessions');

        // What the browsers have received so far, every byte of it counted by the gateway before this scrape.
        const received = clients.reduce((a, c) => a + c.messageSizes.reduce((x, y) => x + y, 0), 0);
        let m = await scrape(metricsUrl);
        assert.equal(sample(m, 'guacamole_gateway_sessions_active', { protocol: 'ssh' }), n);
        assert.equal(sample(m, 'guacamole_gateway_sessions_opened_total', { protocol: 'ssh' }), n);
        assert.equal(sample(m, 'guacamole_gateway_handshake_seconds_count', { protocol: 'ssh' }), n);
        assert.equal(sample(m, 'guacamole_gateway_tokens_refused_total', { reason: 'GUAC_TOKEN_INVALID' }), 1);
        // The live sessions' traffic shows before they end, summed over both workers.
        assert.ok(received > 0 && (sample(m, 'guacamole_gateway_bytes_to_browser_total', { protocol: 'ssh' }) ?? 0) >= received,
          `bytes to browsers of live sessions: ${sample(m, 'guacamole_gateway_bytes_to_browser_total', { protocol: 'ssh' })} of the ${received} received`);

        for (const c of clients) c.close();
        const ended = await waitFor(async () => {
          const rows = (await history(serve.port, gwEnv.GATEWAY_ADMIN_KEY)).filter((r) => ids.has(r.id) && r.endedAt !== null);
          return rows.length === n ? rows : undefined;
        }, { what: `${n} ended history rows`, timeoutMs: 20_000 });
        assert.deepEqual(new Set(ended.map((r) => r.status)), new Set([STATUS.SUCCESS.guac]), 'a browser that leaves ends its session with SUCCESS');

        m = await waitFor(async () => {
          const s = await scrape(metricsUrl);
          return sample(s, 'guacamole_gateway_sessions_active', { protocol: 'ssh' }) === 0 ? s : undefined;
        }, { what: 'no active sessions in /metrics' });
        assert.equal(sample(m, 'guacamole_gateway_sessions_ended_total', { protocol: 'ssh', status: 'SUCCESS' }), n);
        const fromBrowser = ended.reduce((a, r) => a + r.bytesFromBrowser, 0);
        const toBrowser = ended.reduce((a, r) => a + r.bytesToBrowser, 0);
        assert.ok(toBrowser > 0 && fromBrowser > 0);
        assert.equal(sample(m, 'guacamole_gateway_bytes_from_browser_total', { protocol: 'ssh' }), fromBrowser, 'bytes from browsers: the sum of history');
        assert.equal(sample(m, 'guacamole_gateway_bytes_to_browser_total', { protocol: 'ssh' }), toBrowser, 'bytes to browsers: the sum of history');

        // A worker that does not answer (stopped) fails the scrape with 503 instead of a short sum; then it answers again.
        const stopped = workerPids(serve)[0]!;
        process.kill(stopped, 'SIGSTOP');
        try {
          const res = await fetch(metricsUrl);
          assert.equal(res.status, 503);
          assert.deepEqual(await res.json(), { error: { code: 'GUAC_METRICS_UNAVAILABLE', message: 'The metrics could not be gathered; try again.', status: 503 } });
        } finally {
          process.kill(stopped, 'SIGCONT');
        }
        assert.equal(sample(await scrape(metricsUrl), 'guacamole_gateway_sessions_opened_total', { protocol: 'ssh' }), n);
      } finally {
        for (const c of clients) c.terminate();
        await serve.stop();
        await fx.cleanup();
      }
      assert.match(serve.output(), /guacamole-gateway stopped/);
      assert.equal(serve.child.exitCode, 0);
    });
  });
}

describe('serve --workers 2: a worker killed, then SIGHUP (SQLite, /metrics on the main port)', { timeout: 240_000 }, () => {
  const { gwEnv, clients, started } = workersSuite('gg-workers-');
  const key = gwEnv.GATEWAY_ADMIN_KEY;

  test('the killed worker is replaced and its session ends with SERVER_ERROR in history; SIGHUP keeps a live session', async () => {
    const serve = started(await startWorkers(gwEnv, ['--workers', '2', '--metrics-listen', 'main']));
    const port = serve.port;
    const metricsUrl = `http://127.0.0.1:${port}/metrics`;
    const denied = await fetch(metricsUrl);
    assert.equal(denied.status, 401);
    assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'GUAC_ADMIN_UNAUTHORIZED');

    // One session on each worker.
    const rowOf = async (c: TunnelClient): Promise<Row> => waitFor(async () => (await history(port, key)).find((r) => r.id === c.uuid),
      { what: `the history row of ${c.uuid}` });
    const byWorker = new Map<number, [TunnelClient, Row]>();
    while (byWorker.size < 2) {
      assert.ok(clients.length < 6, 'sessions reach both workers');
      const c = await openSsh(port, gwEnv);
      clients.push(c);
      const row = await rowOf(c);
      if (!byWorker.has(workerOf(row).n)) byWorker.set(workerOf(row).n, [c, row]);
    }
    const [victim, victimRow] = byWorker.get(1)!;
    const [survivor, survivorRow] = byWorker.get(2)!;
    for (const c of clients) if (c !== victim && c !== survivor) c.close();
    await waitFor(async () => sample(await scrape(metricsUrl, key), 'guacamole_gateway_sessions_active', { protocol: 'ssh' }) === 2,
      { what: 'two active sessions in /metrics' });

    // Worker 1 dies without a word.
    process.kill(workerOf(victimRow).pid, 'SIGKILL');
    await victim.waitClosed(10_000);
    const closedOut = await waitFor(async () => {
      const r = (await history(port, key)).find((x) => x.id === victimRow.id);
      return r?.endedAt !== null ? r : undefined;
    }, { what: 'the dead worker\'s session ended in history', timeoutMs: 15_000 });
    assert.equal(closedOut.status, STATUS.SERVER_ERROR.guac);
    await waitFor(() => said(serve!, 'worker serving') === 3, { what: 'a replacement worker', timeoutMs: 30_000 });
    await stillRelaying(survivor);
    assert.equal(sample(await scrape(metricsUrl, key), 'guacamole_gateway_sessions_active', { protocol: 'ssh' }), 1);

    // SIGHUP: every worker is replaced; the survivor's session lives on in its draining worker.
    const before = new Set((await history(port, key)).map((r) => workerOf(r).n));
    serve.child.kill('SIGHUP');
    await waitFor(() => serve!.output().includes('SIGHUP: workers replaced'), { what: 'the rolling replacement', timeoutMs: 60_000 });
    assert.equal(said(serve, 'worker serving'), 5);
    await stillRelaying(survivor);
    const fresh = await openSsh(port, gwEnv);
    clients.push(fresh);
    const freshRow = await rowOf(fresh);
    assert.ok(!before.has(workerOf(freshRow).n) && workerOf(freshRow).n > 3, `a new session lands on a new worker (w${workerOf(freshRow).n})`);
    assert.equal((await history(port, key)).find((r) => r.id === survivorRow.id)?.endedAt, null, 'the old session is still open');
    await waitFor(() => said(serve!, 'worker drained and exited') === 1, { what: 'the replaced worker without sessions to exit' });

    // The draining worker exits once its last session ends; that session's history is its own (SUCCESS).
    survivor.close();
    await waitFor(() => said(serve!, 'worker drained and exited') === 2, { what: 'the draining worker to exit', timeoutMs: 20_000 });
    const survivorEnd = (await history(port, key)).find((r) => r.id === survivorRow.id);
    assert.equal(survivorEnd?.status, STATUS.SUCCESS.guac);
    assert.equal(said(serve, 'worker died: replacing it'), 1, 'only the killed worker died');

    // The sums carry on across SIGHUP (drained workers hand their counters over); only the killed worker's are lost.
    const rows = await history(port, key);
    const counted = [...clients].filter((c) => workerOf(rows.find((r) => r.id === c.uuid)!).n !== workerOf(victimRow).n);
    const m = parseSamples(await (await fetch(metricsUrl, { headers: { Authorization: `Bearer ${key}` } })).text());
    assert.equal(sample(m, 'guacamole_gateway_sessions_opened_total', { protocol: 'ssh' }), counted.length);
    assert.equal(sample(m, 'guacamole_gateway_sessions_ended_total', { protocol: 'ssh', status: 'SUCCESS' }), counted.length - 1, 'all but the fresh one ended');
    assert.equal(sample(m, 'guacamole_gateway_sessions_active', { protocol: 'ssh' }), 1);
    fresh.close();
  });
});

/** One HTTP request on a connection of its own (so the shared port may give it to either worker). */
function request(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error(`${method} ${path}: no answer`)));
    req.end(body);
  });
}

describe('serve --workers 2: the HTTP tunnel across workers', { timeout: 120_000 }, () => {
  const { gwEnv, started } = workersSuite('gg-workers-http-');

  test('reads and writes, each on a new connection, reach the worker holding the session', async () => {
    const serve = started(await startWorkers(gwEnv, ['--workers', '2']));
    const port = serve.port;
    const adminKey = gwEnv.GATEWAY_ADMIN_KEY;

    /**
     * One HTTP session: connect, then eight reads and eight writes on fresh connections (about half reach
     * the other worker, which passes them on). Returns the session and its pending read; a failure carries
     * the session's id and what it received.
     */
    async function relayed(): Promise<{ uuid: string; token: string; owner: string; current: ReturnType<typeof request> }> {
      const connect = await request(port, 'POST', '/tunnel?connect', { 'Content-Type': 'application/x-www-form-urlencoded' },
        `token=${encodeURIComponent(await sshToken(gwEnv))}&GUAC_WIDTH=800&GUAC_HEIGHT=600`);
      assert.equal(connect.status, 200, JSON.stringify(connect.headers));
      const uuid = connect.body;
      const token = connect.headers['guacamole-tunnel-token'] as string;
      const owner = /^w(\d+)\./.exec(token);
      assert.ok(owner, `the tunnel token names its worker: ${token.slice(0, 4)}…`);
      const auth = { 'Guacamole-Tunnel-Token': token };
      const row = await waitFor(async () => (await history(port, adminKey)).find((r) => r.id === uuid), { what: 'the session in history' });
      assert.equal(workerOf(row).n, Number(owner[1]));

      // As Guacamole.HTTPTunnel: read N streams until read N+1 is asked for; keys typed between reads make output.
      let current = request(port, 'GET', `/tunnel?read:${uuid}:0`, auth);
      let received = '';
      try {
        for (let n = 1; n <= 8; n++) {
          for (const pressed of [1, 0]) {
            const write = await request(port, 'POST', `/tunnel?write:${uuid}`, { ...auth, 'Content-Type': 'application/octet-stream' }, `3.key,3.120,1.${pressed};`);
            assert.equal(write.status, 200, `write ${n}: ${write.headers['guacamole-error-message']}`);
          }
          const next = request(port, 'GET', `/tunnel?read:${uuid}:${n}`, auth);
          const read = await current;
          assert.equal(read.status, 200, `read ${n - 1}: ${read.headers['guacamole-error-message']}`);
          assert.ok(read.body.endsWith('0.;'), `read ${n - 1} ends with 0.;`);
          received += read.body;
          current = next;
        }
        assert.match(received, /\d+\.img,/, 'guacd drew the typed keys');
      } catch (err) {
        throw Object.assign(err as Error, { session: uuid, drew: /\d+\.sync,/.test(received) });
      }
      return { uuid, token, owner: owner[1]!, current };
    }

    let session: Awaited<ReturnType<typeof relayed>>;
    try {
      session = await relayed();
    } catch (err) {
      // guacd now and then leaves an SSH login silent under the suite's load (see guacdHandshakeFailed): the
      // gateway then ends the session at its first-frame limit, and the pending read and the next write find
      // no tunnel. Such a session, one that drew nothing, is opened once more, said on stderr; anything else,
      // or a second failure, stands, with how the session ended.
      const { session: id, drew } = err as { session?: string; drew?: boolean };
      // Its history row is written a moment after the session ends.
      const ended = id === undefined ? undefined : await waitFor(async () => (await history(port, adminKey)).find((r) => r.id === id && r.endedAt !== null),
        { what: 'the failed session\'s end in history', timeoutMs: 5000 }).catch(() => undefined);
      const why = ended ? ` (the session ended ${ended.status}: ${ended.message ?? ''})` : '';
      if (drew !== false || ended === undefined || ended.endedAt === null || ended.status === null || !guacdHandshakeFailed(ended.status)) {
        throw Object.assign(err as Error, { message: `${(err as Error).message}${why}` });
      }
      process.stderr.write(`workers HTTP tunnel: the first session drew nothing${why}; trying once more\n`);
      session = await relayed();
    }
    const { uuid, owner, current } = session;
    // A token naming a worker that does not exist, or a forged one, is the local 404 (never a dial elsewhere).
    for (const forged of ['w999.AAAA', `w${owner}.forged`]) {
      const res = await request(port, 'GET', `/tunnel?read:${uuid}:99`, { 'Guacamole-Tunnel-Token': forged });
      assert.equal(res.status, 404);
      assert.equal(res.headers['guacamole-status-code'], String(STATUS.RESOURCE_NOT_FOUND.guac));
    }

    // Ended through the admin API: the pending read gets the end, whichever worker it reached.
    const end = await fetch(`http://127.0.0.1:${port}/api/sessions/${uuid}/end`, { method: 'POST', headers: { Authorization: `Bearer ${gwEnv.GATEWAY_ADMIN_KEY}` } });
    assert.ok(end.status === 200 || end.status === 202, String(end.status));
    const last = await current;
    assert.ok(last.status === 200 || last.status === 404, String(last.status));
    const ended = await waitFor(async () => {
      const r = (await history(port, gwEnv.GATEWAY_ADMIN_KEY)).find((x) => x.id === uuid);
      return r?.endedAt !== null ? r : undefined;
    }, { what: 'the session ended in history' });
    assert.equal(ended.status, STATUS.SESSION_CLOSED.guac);
    assert.ok(ended.bytesFromBrowser > 0 && ended.bytesToBrowser > 0);
  });
});

describe('serve --workers 2: the primary killed', { timeout: 120_000 }, () => {
  const { dataDir, gwEnv, started } = workersSuite('gg-workers-orphan-');

  test('the workers lose their primary: they end their sessions (SESSION_CLOSED, history written) and exit', async () => {
    const serve = started(await startWorkers(gwEnv, ['--workers', '2']));
    const pids = workerPids(serve);
    assert.equal(pids.length, 2);
    const client = await openSsh(serve.port, gwEnv);
    await serve.kill();
    assert.equal((await client.waitClosed(15_000)).reason, String(STATUS.SESSION_CLOSED.guac));
    await waitFor(() => pids.every((pid) => !processAlive(pid)), { what: 'both workers to exit', timeoutMs: 15_000 });
    const db = new Database(join(dataDir, 'gateway.db'), { readonly: true });
    try {
      const row = db.prepare('SELECT ended_at, status FROM sessions WHERE id = ?').get(client.uuid) as { ended_at: number | null; status: number };
      assert.ok(row.ended_at !== null);
      assert.equal(row.status, STATUS.SESSION_CLOSED.guac);
    } finally {
      db.close();
    }
  });
});

test('SQLite with two writer processes (WAL, busy timeout): both migrate, every history row of both is written', { timeout: 120_000 }, async () => {
  const fx = await sqliteFixture();
  try {
    const writer = join(repoRoot(), 'dist/test/helpers/sqlite-writer.js');
    const n = 400;
    const results = await Promise.all(['w1-test', 'w2-test'].map(async (gateway) => {
      const { stdout } = await run(process.execPath, [writer, fx.dataDir, fx.secret, gateway, String(n)], { timeout: 90_000 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? String(e) }));
      return JSON.parse(stdout) as { written?: number; error?: string };
    }));
    assert.deepEqual(results, [{ written: n }, { written: n }]);
    const db = new Database(join(fx.dataDir, 'gateway.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT gateway, COUNT(*) AS n, SUM(ended_at IS NOT NULL AND status = 0) AS ended, SUM(bytes_to_browser) AS bytes FROM sessions GROUP BY gateway ORDER BY gateway').all();
      const bytes = 2 * (n * (n - 1)) / 2;
      assert.deepEqual(rows, [{ gateway: 'w1-test', n, ended: n, bytes }, { gateway: 'w2-test', n, ended: n, bytes }]);
      assert.equal((db.prepare('SELECT COUNT(*) AS n FROM schema_migrations').get() as { n: number }).n, (db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number }).v, 'each migration once');
    } finally {
      db.close();
    }
  } finally {
    await fx.cleanup();
  }
});

describe('serve --workers 2 --drain: SIGTERM drains every worker', { timeout: 120_000 }, () => {
  const { dataDir, gwEnv, clients, started } = workersSuite('gg-workers-drain-');

  test('/healthz turns 503 and new sessions are refused (SERVER_BUSY) while the live ones run; when the time is up they end SESSION_CLOSED and the process exits', async () => {
    const serve = started(await startWorkers(gwEnv, ['--workers', '2', '--drain', '4']));
    const live = await Promise.all([openSsh(serve.port, gwEnv), openSsh(serve.port, gwEnv)]);
    clients.push(...live);
    const exited = new Promise<number | null>((resolve) => serve.child.once('exit', (code) => resolve(code)));
    serve.child.kill('SIGTERM');
    await waitFor(async () => (await fetch(`http://127.0.0.1:${serve.port}/healthz`)).status === 503, { what: '/healthz to turn 503', timeoutMs: 5000 });
    const refused = await TunnelClient.connect(`ws://127.0.0.1:${serve.port}/tunnel?token=${encodeURIComponent(await sshToken(gwEnv))}`, { timeoutMs: 10_000 });
    clients.push(refused);
    assert.equal((await refused.waitClosed(10_000)).reason, String(STATUS.SERVER_BUSY.guac));
    // Draining, not stopped: both live sessions still relay.
    for (const c of live) await stillRelaying(c);
    for (const c of live) assert.equal((await c.waitClosed(20_000)).reason, String(STATUS.SESSION_CLOSED.guac));
    assert.equal(await exited, 0);
    const db = new Database(join(dataDir, 'gateway.db'), { readonly: true });
    try {
      for (const c of live) {
        const row = db.prepare('SELECT ended_at, status FROM sessions WHERE id = ?').get(c.uuid) as { ended_at: number | null; status: number };
        assert.ok(row.ended_at !== null, 'the drained session has its history end');
        assert.equal(row.status, STATUS.SESSION_CLOSED.guac);
      }
    } finally {
      db.close();
    }
  });
});

describe('serve --workers 1: a replacement that cannot start is tried again', { timeout: 120_000 }, () => {
  const { dataDir, gwEnv, started } = workersSuite('gg-workers-retry-');

  test('while the registry cannot be opened the replacements die; once it can, one serves', async () => {
    const serve = started(await startWorkers(gwEnv, ['--workers', '1']));
    const file = join(dataDir, 'gateway.db');
    // The registry file made unopenable (a folder in its place; the tests run as root, so no chmod).
    renameSync(file, `${file}.away`);
    mkdirSync(file);
    try {
      process.kill(workerPids(serve)[0]!, 'SIGKILL');
      await waitFor(() => said(serve!, 'worker died: replacing it') >= 2, { what: 'a replacement to fail as well', timeoutMs: 30_000 });
      assert.match(serve.output(), /GUAC_REGISTRY_UNAVAILABLE|Cannot open the SQLite registry/);
    } finally {
      rmdirSync(file);
      renameSync(`${file}.away`, file);
    }
    await waitFor(() => said(serve!, 'worker serving') === 2, { what: 'a replacement to serve', timeoutMs: 60_000 });
    assert.equal((await fetch(`http://127.0.0.1:${serve.port}/healthz`)).status, 200);
    assert.equal(said(serve, 'worker died before serving'), 0);
  });
});

describe('serve --workers 2: ending sessions through any worker (SQLite)', { timeout: 120_000 }, () => {
  const { gwEnv, clients, started } = workersSuite('gg-workers-end-');

  test('the admin API ends a session whichever worker takes the request', async () => {
    const serve = started(await startWorkers(gwEnv, ['--workers', '2']));
    clients.push(...await Promise.all(Array.from({ length: 4 }, () => openSsh(serve.port, gwEnv))));
    const rows = await waitFor(async () => {
      const all = (await history(serve.port, gwEnv.GATEWAY_ADMIN_KEY)).filter((r) => clients.some((c) => c.uuid === r.id));
      return all.length === clients.length ? all : undefined;
    }, { what: 'the sessions in history' });
    assert.deepEqual(new Set(rows.map((r) => workerOf(r).n)), new Set([1, 2]));
    // Each request on a connection of its own: the shared port hands them to the workers in turn, so some
    // reach the worker that does not hold the session.
    for (const c of clients) {
      const res = await request(serve.port, 'POST', `/api/sessions/${c.uuid}/end`, { Authorization: `Bearer ${gwEnv.GATEWAY_ADMIN_KEY}` });
      assert.ok(res.status === 200 || res.status === 202, `${res.status} ${res.body}`);
      assert.equal((await c.waitClosed(10_000)).reason, String(STATUS.SESSION_CLOSED.guac));
    }
    const ended = await waitFor(async () => {
      const all = (await history(serve.port, gwEnv.GATEWAY_ADMIN_KEY)).filter((r) => clients.some((c) => c.uuid === r.id) && r.endedAt !== null);
      return all.length === clients.length ? all : undefined;
    }, { what: 'the sessions ended in history' });
    assert.deepEqual(new Set(ended.map((r) => r.status)), new Set([STATUS.SESSION_CLOSED.guac]));
  });
});

test('serve --workers 2 on a port in use: a clear error and exit 1, no replacement tried', { timeout: 60_000 }, async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const taken = (blocker.address() as net.AddressInfo).port;
  const dataDir = mkdtempSync(join(tmpdir(), 'gg-workers-busy-'));
  try {
    const gw = startChild(process.execPath, [BIN, 'serve', '--port', String(taken), '--workers', '2'], gatewayEnv(dataDir, randomBytes(24).toString('base64url')));
    const code = await new Promise<number | null>((resolve) => gw.child.once('exit', (c) => resolve(c)));
    assert.equal(code, 1);
    assert.match(gw.output(), new RegExp(`error: cannot listen on 127\\.0\\.0\\.1:${taken} \\(EADDRINUSE\\)`));
    assert.match(gw.output(), /error: worker 1 exited before serving \(code 1, signal null\)/);
    assert.doesNotMatch(gw.output(), /worker died: replacing it/);
  } finally {
    blocker.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
