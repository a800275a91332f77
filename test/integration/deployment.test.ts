/**
 * docs/deployment.md, run for real: two gateway processes sharing one
 * PostgreSQL registry behind nginx configured with the nginx block of that
 * page (its TLS lines swapped for a plain loopback port), in front of the
 * test environment's guacd and sshd. Shows that a session works through the
 * proxy (websocket upgrade, both directions), that a single-use token opens
 * once across gateways, that any gateway's admin API ends a session hosted
 * by the other, and that history records both sessions.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { loadTestEnv, repoRoot, waitFor } from '../helpers/env.js';
import { freePort } from '../helpers/browser.js';
import { deploymentBlocks, nginxSite, startNginx } from '../helpers/nginx.js';
import { startServe, type ChildRun, type ServeRun } from '../helpers/serve.js';
import { postgresFixture, type RegistryFixture } from '../helpers/registry.js';
import { TunnelClient } from '../helpers/ws-client.js';

const run = promisify(execFile);
const env = loadTestEnv();
const ROOT = repoRoot();
const CLI = join(ROOT, 'bin/guacamole-gateway.js');

/** The first ```nginx block of docs/deployment.md, made to listen on a loopback port in front of `ports`. */
export function nginxConfigFromDoc(listen: number, ports: number[]): string {
  const block = deploymentBlocks('nginx')[0];
  assert.ok(block, 'docs/deployment.md has an nginx block');
  return nginxSite(block, listen, ports);
}

describe('deployment: two gateways, one PostgreSQL, nginx in front (docs/deployment.md)', { timeout: 120_000 }, () => {
  let fixture: RegistryFixture;
  const adminKey = randomBytes(24).toString('base64url');
  const dirs: string[] = [];
  const gateways: ServeRun[] = [];
  let nginx: ChildRun;
  let nginxPort: number;
  let gwEnv: NodeJS.ProcessEnv;

  const cli = async (args: string[], stdin?: string): Promise<string> => {
    const p = run(process.execPath, [CLI, ...args], { cwd: ROOT, env: gwEnv, timeout: 20_000 });
    if (stdin !== undefined) { p.child.stdin?.end(stdin); }
    return (await p).stdout.trim();
  };
  const api = async (port: number, method: string, path: string, key = adminKey): Promise<{ status: number; body: any }> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { Authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  before(async () => {
    fixture = await postgresFixture();
    gwEnv = { ...process.env, GATEWAY_SECRET: fixture.secret, GATEWAY_ADMIN_KEY: adminKey, DATABASE_URL: fixture.url };
    for (let i = 0; i < 2; i++) {
      const dataDir = mkdtempSync(join(tmpdir(), 'gg-deploy-'));
      dirs.push(dataDir);
      gateways.push(await startServe({ ...gwEnv, GATEWAY_DATA_DIR: dataDir }, ['--guacd', `${env.guacd.host}:${env.guacd.port}`, '--trust-proxy', '127.0.0.1']));
    }
    nginxPort = await freePort();
    nginx = await startNginx(nginxConfigFromDoc(nginxPort, gateways.map((g) => g.port)), nginxPort, dirs);

    const { password, ...params } = env.ssh.params;
    await cli(['connection', 'add', '--name', 'deploy-ssh', '--protocol', 'ssh',
      ...Object.entries(params).flatMap(([k, v]) => ['--param', `${k}=${v}`]), '--secret-stdin', 'password', '--grant', 'alice'], password);
  });

  after(async () => {
    await nginx?.stop();
    await Promise.all(gateways.map((g) => g.stop()));
    await fixture?.cleanup();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('a session through nginx; its single-use token refused on the other gateway; ended across gateways; history kept', async () => {
    // Through nginx: websocket upgrade, guacd's frames down, the browser's syncs up.
    const once = await cli(['token', '--connection', 'deploy-ssh', '--user', 'alice', '--once']);
    // nginx appends the peer it saw (here loopback, itself trusted) to X-Forwarded-For: the gateway records the client before it.
    const viaProxy = await TunnelClient.connect(`ws://127.0.0.1:${nginxPort}/tunnel?token=${once}`, { timeoutMs: 10_000, headers: { 'X-Forwarded-For': '203.0.113.7' } });
    await viaProxy.waitForPrompt(20_000);

    // The same token again, straight at each gateway: used is used, whichever gateway took it first.
    for (const g of gateways) {
      const replay = await TunnelClient.connect(`ws://127.0.0.1:${g.port}/tunnel?token=${once}`);
      const closed = await replay.waitClosed(10_000);
      assert.equal(closed.reason, String(0x0205), `RESOURCE_CONFLICT from the gateway on ${g.port}`);
      const error = replay.instructions.find((r) => r.opcode === 'error');
      assert.equal(error?.args[1], String(0x0205));
      assert.match(error?.args[0] ?? '', /already used/);
    }

    // A session held directly on gateway 0, ended through gateway 1's admin API.
    const token = await cli(['token', '--connection', 'deploy-ssh', '--user', 'alice']);
    const held = await TunnelClient.connect(`ws://127.0.0.1:${gateways[0]!.port}/tunnel?token=${token}`, { timeoutMs: 10_000 });
    await held.waitForPrompt(20_000);
    const live = await waitFor(async () => {
      const { body } = await api(gateways[1]!.port, 'GET', '/api/sessions?active=true');
      return (body.sessions as { id: string }[]).find((s) => s.id === held.uuid);
    }, { what: 'the held session in the shared history' });
    const end = await api(gateways[1]!.port, 'POST', `/api/sessions/${live.id}/end`);
    assert.equal(end.status, 202, 'not live on gateway 1: the request goes to the gateway that hosts it');
    const closed = await held.waitClosed(10_000);
    assert.equal(closed.reason, String(0x020b), 'SESSION_CLOSED');

    viaProxy.close();
    await viaProxy.waitClosed(10_000);
    // The admin API through nginx (allowed from loopback), and refused without the key.
    const history = await waitFor(async () => {
      const { status, body } = await api(nginxPort, 'GET', '/api/sessions?connection=deploy-ssh');
      assert.equal(status, 200);
      const rows = body.sessions as { id: string; endedAt: number | null; bytesToBrowser: number; bytesFromBrowser: number; status: number; gateway: string; remoteAddress: string }[];
      return rows.length === 2 && rows.every((r) => r.endedAt !== null) ? rows : undefined;
    }, { what: 'both sessions ended in history', timeoutMs: 15_000 });
    for (const row of history) {
      assert.ok(row.bytesToBrowser > 1000 && row.bytesFromBrowser > 0, `byte counts recorded: ${JSON.stringify(row)}`);
      assert.ok(row.gateway, 'the hosting gateway is named');
    }
    assert.equal(history.find((r) => r.id === held.uuid)?.status, 0x020b);
    assert.equal(history.find((r) => r.id === viaProxy.uuid)?.remoteAddress, '203.0.113.7', 'the client nginx forwarded for (--trust-proxy)');
    assert.equal(history.find((r) => r.id === held.uuid)?.remoteAddress, '127.0.0.1');
    assert.equal((await api(nginxPort, 'GET', '/api/sessions', 'wrong-key-wrong-key')).status, 401);
  });
});
