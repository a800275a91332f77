/**
 * A gateway that dies without ending its sessions must not leave them
 * "active" in history for ever: live gateways beat, and the others end the
 * open sessions of a silent one (status SERVER_ERROR). Shown on both
 * backends through the registry, then for real: a `serve` process killed
 * with SIGKILL in the middle of an SSH session through the real guacd.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import { STATUS } from '../../src/protocol/status.js';
import { loadTestEnv, repoRoot, waitFor } from '../helpers/env.js';
import { postgresFixture, sqliteFixture, type FixtureFactory } from '../helpers/registry.js';
import { startServe } from '../helpers/serve.js';
import { TunnelClient } from '../helpers/ws-client.js';

const run = promisify(execFile);

for (const [label, factory] of [['SQLite', sqliteFixture], ['PostgreSQL', postgresFixture]] as [string, FixtureFactory][]) {
  test(`${label}: open sessions of a gateway that stopped beating are ended; live ones are not`, async () => {
    const fx = await factory();
    const dead = await fx.open();
    const live = await fx.open();
    try {
      const crashed = randomUUID();
      const finished = randomUUID();
      const mine = randomUUID();
      const startedAt = Date.now() - 1000;
      await dead.sessionStarted({ id: crashed, user: 'alice', startedAt });
      await dead.sessionStarted({ id: finished, user: 'alice', startedAt });
      await dead.sessionEnded({ id: finished, user: 'alice', startedAt, endedAt: startedAt + 10, bytesFromBrowser: 5, bytesToBrowser: 7, status: STATUS.SUCCESS });
      await live.sessionStarted({ id: mine, user: 'bob', startedAt });

      // Both gateways beat just now: nothing is an orphan.
      assert.equal(await live.endOrphanedSessions(), 0);
      assert.equal((await live.getSession(crashed))?.endedAt, null);

      // Two minutes later `dead` has been silent (its timer is not that fast; `now` stands in for the wait).
      const later = Date.now() + 120_000;
      assert.equal(await live.endOrphanedSessions({ now: later }), 1);
      const ended = await live.getSession(crashed);
      assert.deepEqual([ended?.endedAt, ended?.status], [later, STATUS.SERVER_ERROR.guac]);
      // Its finished session keeps what it recorded; the sweeping gateway's own stays open.
      const kept = await live.getSession(finished);
      assert.deepEqual([kept?.status, kept?.bytesToBrowser], [0, 7]);
      assert.equal((await live.getSession(mine))?.endedAt, null);
      assert.equal(await live.endOrphanedSessions({ now: later }), 0, 'a second sweep finds nothing');
    } finally {
      await dead.close();
      await live.close();
      await fx.cleanup();
    }
  });
}

describe('serve killed mid-session (SQLite)', { timeout: 90_000 }, () => {
  const env = loadTestEnv();
  const dataDir = mkdtempSync(join(tmpdir(), 'gg-orphan-'));
  const adminKey = randomBytes(18).toString('base64url');
  const gwEnv = { ...process.env, GATEWAY_DATA_DIR: dataDir, GATEWAY_SECRET: randomBytes(24).toString('base64url'), GATEWAY_ADMIN_KEY: adminKey };
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const stop of stops) await stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('the next start ends the session the killed gateway left open, with SERVER_ERROR', async () => {
    const guacd = `${env.guacd.host}:${env.guacd.port}`;
    const first = await startServe(gwEnv, ['--guacd', guacd]);
    stops.push(first.stop);
    const { stdout: token } = await run(process.execPath, [join(repoRoot(), 'bin/guacamole-gateway.js'), 'token', '--protocol', 'ssh',
      ...Object.entries(env.ssh.params).flatMap(([k, v]) => ['--param', `${k}=${v}`]), '--user', 'alice'], { env: gwEnv });
    const client = await TunnelClient.connect(`ws://127.0.0.1:${first.port}/tunnel?token=${token.trim()}`, { timeoutMs: 10_000 });
    await client.waitForPrompt(20_000);
    const sessions = async (port: number) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/sessions`, { headers: { Authorization: `Bearer ${adminKey}` } });
      return ((await res.json()) as { sessions: { id: string; endedAt: number | null; status: number | null }[] }).sessions;
    };
    await waitFor(async () => (await sessions(first.port)).find((s) => s.id === client.uuid && s.endedAt === null), { what: 'the live session in history' });

    await first.kill();
    await client.waitClosed(10_000);
    const second = await startServe(gwEnv, ['--guacd', guacd]);
    stops.push(second.stop);
    const row = await waitFor(async () => (await sessions(second.port)).find((s) => s.id === client.uuid && s.endedAt !== null),
      { what: 'the orphaned session to be ended' });
    assert.equal(row.status, STATUS.SERVER_ERROR.guac);
  });
});
