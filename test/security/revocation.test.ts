/**
 * Taking access away ends the sessions it let in, not just future ones: a
 * real gateway (`serve` child, SQLite registry) holds live SSH sessions
 * through the real guacd; the user is revoked from another process (as the
 * CLI does: the request travels as a row the gateway polls for), a grant is
 * withdrawn and a connection removed through the admin API (in the
 * gateway's own process). Each browser gets CLIENT_FORBIDDEN (771, close
 * 1008) with "Access was revoked.", history records 771, and sessions still
 * covered by a grant go on.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { STATUS } from '../../src/protocol/status.js';
import { openRegistry } from '../../src/registry/open.js';
import type { Registry } from '../../src/registry/types.js';
import { loadTestEnv, waitFor } from '../helpers/env.js';
import { Cleanups, expectClosedWith, sshParams } from '../helpers/security.js';
import { startServe, type ServeRun } from '../helpers/serve.js';
import { TunnelClient } from '../helpers/ws-client.js';

const cleanups = new Cleanups();
const SECRET = randomBytes(32).toString('base64url');
const ADMIN_KEY = `admin-${randomBytes(16).toString('hex')}`;

describe('revocation ends live sessions', { timeout: 120_000 }, () => {
  let dataDir: string;
  let gateway: ServeRun;
  let reg: Registry;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gg-revoke-'));
    const env = loadTestEnv();
    gateway = await startServe({ ...process.env, GATEWAY_SECRET: SECRET, GATEWAY_ADMIN_KEY: ADMIN_KEY, GATEWAY_DATA_DIR: dataDir },
      ['--guacd', `${env.guacd.host}:${env.guacd.port}`]);
    // This process is another one on the gateway's SQLite file, as the CLI is.
    reg = await openRegistry(undefined, { dataDir, secretKey: SECRET });
    await reg.createConnection({ name: 'ssh', protocol: 'ssh', params: sshParams() });
    for (const user of ['alice', 'bob', 'carol']) await reg.grant('ssh', user);
  });
  after(async () => {
    await cleanups.run();
    await reg?.close();
    await gateway?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  async function live(user: string): Promise<TunnelClient> {
    const { token } = await reg.mintToken({ connection: 'ssh', user });
    const c = await TunnelClient.connect(`ws://127.0.0.1:${gateway.port}/tunnel?token=${encodeURIComponent(token)}`, { timeoutMs: 10_000 });
    cleanups.add(() => c.terminate());
    await c.waitForPrompt(30_000);
    return c;
  }

  async function cutOff(c: TunnelClient): Promise<void> {
    const { message } = await expectClosedWith(c, STATUS.CLIENT_FORBIDDEN, { timeoutMs: 15_000 });
    assert.equal(message, 'Access was revoked.');
    const row = await waitFor(async () => {
      const s = await reg.getSession(c.uuid as string);
      return s?.endedAt != null ? s : undefined;
    }, { what: 'the session end in history', timeoutMs: 10_000 });
    assert.equal(row.status, 0x0303);
  }

  const api = (method: string, path: string) =>
    fetch(`http://127.0.0.1:${gateway.port}/api${path}`, { method, headers: { Authorization: `Bearer ${ADMIN_KEY}` } });

  it('revoking a user from another process (the CLI\'s way) ends their session on the gateway', async () => {
    const alice = await live('alice');
    const bob = await live('bob');
    await reg.revoke({ user: 'alice' });
    await cutOff(alice);
    assert.equal(bob.ws.readyState, bob.ws.OPEN, 'another user\'s session was ended');
    bob.close();
  });

  it('withdrawing a grant and removing the connection through the admin API end the sessions they let in', async () => {
    const bob = await live('bob');
    const carol = await live('carol');
    assert.equal((await api('DELETE', '/connections/ssh/grants/bob')).status, 204);
    await cutOff(bob);
    assert.equal(carol.ws.readyState, carol.ws.OPEN, 'carol still holds her grant');
    assert.equal((await api('DELETE', '/connections/ssh')).status, 204);
    await cutOff(carol);
  });
});
