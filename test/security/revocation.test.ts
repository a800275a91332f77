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
import { after, afterEach, before, describe, it } from 'node:test';
import { STATUS } from '../../src/protocol/status.js';
import { openRegistry } from '../../src/registry/open.js';
import type { Registry } from '../../src/registry/types.js';
import { loadTestEnv, waitFor } from '../helpers/env.js';
import { registryResolver, registrySessionHooks } from '../../src/registry/resolver.js';
import type { Resolver } from '../../src/tunnel/resolver.js';
import { Cleanups, clientFor, expectClosedWith, gatewayFor, sshParams, sshRegistry } from '../helpers/security.js';
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

  it('revoking a leaked token by its jti ends the sessions it opened, and only those', async () => {
    const leaked = await reg.mintToken({ connection: 'ssh', user: 'bob' });
    const url = `ws://127.0.0.1:${gateway.port}/tunnel?token=${encodeURIComponent(leaked.token)}`;
    const [victim, attacker] = await Promise.all([0, 1].map(async () => {
      const c = await TunnelClient.connect(url, { timeoutMs: 10_000 });
      cleanups.add(() => c.terminate());
      await c.waitForPrompt(30_000);
      return c;
    }));
    const own = await live('bob');
    await reg.revoke({ jti: leaked.jti, expiresAt: leaked.expiresAt });
    await cutOff(attacker!);
    await cutOff(victim!);
    assert.equal(own.ws.readyState, own.ws.OPEN, 'a session of another token of the same user was ended');
    own.close();
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

describe('access taken away while a session is connecting', { timeout: 120_000 }, () => {
  const registry = sshRegistry('dora');
  // Gateways close after each test, while the registry their history goes to is still open.
  afterEach(() => cleanups.run());

  /**
   * A gateway whose resolver has run its checks (access granted) and is then
   * held until `release`, as a slow guacd handshake holds a session before its
   * history row exists; and a client connecting through it with dora's token.
   */
  async function heldSession(): Promise<{ client: TunnelClient; release: () => void; jti: string }> {
    const { fx, reg } = registry;
    const inner = registryResolver(reg, fx.secret);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    let checked!: () => void;
    const passed = new Promise<void>((resolve) => { checked = resolve; });
    const held: Resolver = async (req) => {
      const target = await inner(req);
      checked();
      await gate;
      return target;
    };
    const g = await gatewayFor(cleanups, { resolve: held, ...registrySessionHooks(reg) });
    // As serve wires it (src/server/gateway.ts): end requests close the local session.
    const off = await reg.onSessionEndRequest((id, status, message) => g.tunnel.sessions.get(id)?.close(status, message));
    cleanups.add(off);
    const { token, jti } = await reg.mintToken({ connection: 'ssh', user: 'dora' });
    const client = await clientFor(cleanups, g, `token=${encodeURIComponent(token)}`);
    await passed;
    return { client, release, jti };
  }

  async function endsOnStart(client: TunnelClient): Promise<void> {
    const { message } = await expectClosedWith(client, STATUS.CLIENT_FORBIDDEN, { timeoutMs: 30_000 });
    assert.equal(message, 'Access was revoked.');
    const row = await waitFor(async () => {
      const s = await registry.reg.getSession(client.uuid as string);
      return s?.endedAt != null ? s : undefined;
    }, { what: 'the session end in history', timeoutMs: 10_000 });
    assert.equal(row.status, 0x0303);
  }

  it('the user revoked after the checks, before the history row: the session ends as it starts', async () => {
    const { client, release } = await heldSession();
    await registry.reg.revoke({ user: 'dora' });
    release();
    await endsOnStart(client);
  });

  it('the grant withdrawn after the checks, before the history row: the session ends as it starts', async () => {
    const { reg } = registry;
    await reg.grant('ssh', 'dora');
    // A token minted now works (its iat is past the revocation of the test before).
    const { client, release } = await heldSession();
    await reg.ungrant('ssh', 'dora');
    release();
    await endsOnStart(client);
  });

  it('its token revoked by jti after the checks, before the history row: the session ends as it starts', async () => {
    const { reg } = registry;
    await reg.grant('ssh', 'dora');
    const { client, release, jti } = await heldSession();
    await reg.revoke({ jti });
    release();
    await endsOnStart(client);
  });

  it('a session that lost nothing starts and stays', async () => {
    const { reg } = registry;
    await reg.grant('ssh', 'dora');
    const { client, release } = await heldSession();
    release();
    await client.waitForPrompt(30_000);
    const row = await waitFor(async () => (await reg.getSession(client.uuid as string)) ?? undefined, { what: 'the history row', timeoutMs: 10_000 });
    assert.equal(row.endedAt, null);
    assert.equal(client.ws.readyState, client.ws.OPEN);
  });
});
