/**
 * `/metrics` is served only where configured: not at all by default (not
 * even with the admin key), on the main port only with the admin key
 * (`--metrics-listen main`), and on its own listener (`--metrics-listen
 * HOST:PORT`) without a key, where nothing but GET/HEAD /metrics answers.
 * Hostile scrapes (other methods, paths, broken requests) get a clear error
 * and leave the listener serving.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { STATUS } from '../../src/protocol/status.js';
import { freePort, loadTestEnv, repoRoot } from '../helpers/env.js';
import { parseSamples, sample } from '../helpers/prometheus.js';
import { startChild, startServe, type ServeRun } from '../helpers/serve.js';
import { TunnelClient } from '../helpers/ws-client.js';

const env = loadTestEnv();

/** Sends raw bytes and returns the whole answer. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer')));
  });
}

async function errorOf(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

describe('/metrics access', { timeout: 120_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'gg-metrics-'));
  const adminKey = randomBytes(18).toString('base64url');
  const gwEnv = {
    ...process.env, GATEWAY_DATA_DIR: dataDir, GATEWAY_SECRET: randomBytes(24).toString('base64url'), GATEWAY_ADMIN_KEY: adminKey,
    GATEWAY_GUACD: `${env.guacd.host}:${env.guacd.port}`,
  };
  const auth = { headers: { Authorization: `Bearer ${adminKey}` } };
  const running: ServeRun[] = [];
  after(async () => {
    for (const r of running) await r.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('not configured: no /metrics anywhere, not even with the admin key', async () => {
    const serve = await startServe(gwEnv);
    running.push(serve);
    const res = await fetch(`http://127.0.0.1:${serve.port}/metrics`, auth);
    assert.equal(res.status, 404);
    assert.doesNotMatch(await res.text(), /guacamole_gateway_/);
    await serve.stop();
  });

  test('--metrics-listen main: the admin key is required; a wrong one is refused', async () => {
    const serve = await startServe(gwEnv, ['--metrics-listen', 'main']);
    running.push(serve);
    const url = `http://127.0.0.1:${serve.port}/metrics`;
    for (const headers of [{} as Record<string, string>, { Authorization: 'Bearer wrong-key-wrong-key' }, { Authorization: adminKey }]) {
      const res = await fetch(url, { headers });
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="guacamole-gateway"');
      assert.equal(await errorOf(res), 'GUAC_ADMIN_UNAUTHORIZED');
    }
    const ok = await fetch(url, auth);
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /^# HELP guacamole_gateway_sessions_active /m);
    await serve.stop();
  });

  test('--metrics-listen HOST:PORT: served there without a key, not on the main port; hostile scrapes answered', async () => {
    const metricsPort = await freePort();
    const serve = await startServe(gwEnv, ['--metrics-listen', `127.0.0.1:${metricsPort}`]);
    running.push(serve);
    assert.match(serve.output(), new RegExp(`metrics: http://127\\.0\\.0\\.1:${metricsPort}/metrics`));
    assert.equal((await fetch(`http://127.0.0.1:${serve.port}/metrics`, auth)).status, 404, 'not on the main port');
    const url = `http://127.0.0.1:${metricsPort}/metrics`;

    // A refused token and a missing one, each counted by its reason.
    for (const q of ['?token=v1.forged', '']) {
      const c = await TunnelClient.connect(`ws://127.0.0.1:${serve.port}/tunnel${q}`, { timeoutMs: 10_000 });
      assert.equal((await c.waitClosed(10_000)).reason, String(STATUS.CLIENT_UNAUTHORIZED.guac));
    }
    const res = await fetch(`${url}?name[]=x`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const m = parseSamples(await res.text());
    assert.equal(sample(m, 'guacamole_gateway_tokens_refused_total', { reason: 'GUAC_TOKEN_INVALID' }), 1);
    assert.equal(sample(m, 'guacamole_gateway_tokens_refused_total', { reason: 'GUAC_TOKEN_MISSING' }), 1);
    assert.equal(sample(m, 'guacamole_gateway_handshakes_failed_total', { code: 'GUAC_TOKEN_INVALID' }), 1);
    assert.equal(sample(m, 'guacamole_gateway_sessions_opened_total', { protocol: 'ssh' }), 0);
    assert.ok(sample(m, 'process_cpu_seconds_total') > 0, 'process metrics too');

    const head = await fetch(url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      const bad = await fetch(url, { method });
      assert.equal(bad.status, 405, method);
      assert.equal(bad.headers.get('allow'), 'GET, HEAD');
      assert.equal(await errorOf(bad), 'GUAC_METHOD_NOT_ALLOWED');
    }
    for (const path of ['/', '/metrics/', '/metricsx', '/api/connections', '/tunnel', '/healthz', '/metrics%2f']) {
      const bad = await fetch(`http://127.0.0.1:${metricsPort}${path}`);
      assert.equal(bad.status, 404, path);
      assert.equal(await errorOf(bad), 'GUAC_METRICS_NOT_FOUND');
    }
    assert.match(await raw(metricsPort, 'GET /metrics/../metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 404 /);
    assert.match(await raw(metricsPort, '\x00\x01garbage\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.match(await raw(metricsPort, `GET /metrics?${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1\.1 (431|400) /);
    // Still serving after all that.
    assert.equal((await fetch(url)).status, 200);
    await serve.stop();
    assert.equal(serve.child.exitCode, 0);
  });

  test('a metrics address that cannot be listened on stops serve with a clear error', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      const run = startChild(process.execPath, [join(repoRoot(), 'bin/guacamole-gateway.js'), 'serve', '--port', '0', '--metrics-listen', `127.0.0.1:${taken}`], gwEnv);
      const code = await new Promise<number | null>((resolve) => run.child.once('exit', (c) => resolve(c)));
      assert.equal(code, 1);
      assert.match(run.output(), new RegExp(`error: cannot listen on 127\\.0\\.0\\.1:${taken} \\(EADDRINUSE\\)`));
    } finally {
      blocker.close();
    }
  });
});
