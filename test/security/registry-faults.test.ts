/**
 * The registry's PostgreSQL going away, at connect and mid-session, with the
 * real guacd 1.3.0 (this file's own) and sshd. The test environment's PostgreSQL is shared, so it is
 * never stopped: the gateway reaches it through a TCP proxy the test cuts
 * (every connection reset, new ones refused) or blackholes, in a schema of
 * its own.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import pg from 'pg';
import { startCapture, testLogger } from '../helpers/log.js';
import { STATUS } from '../../src/protocol/status.js';
import { openRegistry } from '../../src/registry/open.js';
import { registryResolver, registrySessionHooks } from '../../src/registry/resolver.js';
import type { Registry } from '../../src/registry/types.js';
import type { SessionRecord } from '../../src/tunnel/types.js';
import { waitFor } from '../helpers/env.js';
import { startTcpProxy, type TcpProxy } from '../helpers/faults.js';
import { newSecret, testPostgresUrl } from '../helpers/registry.js';
import { Cleanups, clientFor, expectClosedWith, gatewayFor, markerPath, openSession, realGuacd, runInShell, sshParams, useOwnGuacd } from '../helpers/security.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());
useOwnGuacd();
let proxy: TcpProxy;
// A failed test must not leave the database cut for the next one.
afterEach(() => proxy?.setMode('pass'));

describe('faults: the registry database goes away', { timeout: 120_000 }, () => {
  const schema = `sec_registry_${randomBytes(5).toString('hex')}`;
  const secret = newSecret();
  let admin: pg.Client;
  let reg: Registry;
  let dataDir: string;
  let proxiedUrl: string;
  const logs: string[] = [];
  let capture: { stop(): void } | undefined;

  before(async () => {
    const base = testPostgresUrl();
    admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`);
    const u = new URL(base);
    proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port) });
    u.host = `127.0.0.1:${proxy.port}`;
    u.searchParams.set('options', `-c search_path=${schema}`);
    dataDir = mkdtempSync(join(tmpdir(), 'gg-sec-pg-'));
    proxiedUrl = u.toString();
    reg = await openRegistry(proxiedUrl, { dataDir, secretKey: secret, poolSize: 4, logger: testLogger });
    await reg.createConnection({ name: 'ssh', protocol: 'ssh', params: sshParams() });
    await reg.grant('ssh', 'alice');
    capture = startCapture(logs);
  });
  after(async () => {
    capture?.stop();
    proxy?.setMode('pass');
    await reg?.close();
    await proxy?.close();
    await admin?.query(`DROP SCHEMA ${pg.escapeIdentifier(schema)} CASCADE`);
    await admin?.end();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function rows(table: string): Promise<Record<string, unknown>[]> {
    return (await admin.query(`SELECT * FROM ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`)).rows;
  }

  it('at connect: a clear SERVER_ERROR, guacd never contacted, nothing written, the single-use token not spent', async () => {
    const guacdProxy = await startTcpProxy(realGuacd());
    cleanups.add(() => guacdProxy.close());
    const records: SessionRecord[] = [];
    const hooks = registrySessionHooks(reg);
    const g = await gatewayFor(cleanups, {
      guacd: { host: '127.0.0.1', port: guacdProxy.port },
      resolve: registryResolver(reg, secret),
      handshakeTimeoutMs: 3000,
      onSessionStart: hooks.onSessionStart,
      onSessionEnd: (r) => { records.push(r); return hooks.onSessionEnd(r); },
    });
    const { token } = await reg.mintToken({ connection: 'ssh', user: 'alice', once: true });
    const query = `token=${encodeURIComponent(token)}`;
    const sessionsBefore = (await rows('sessions')).length;

    proxy.setMode('reset');
    const refused = await clientFor(cleanups, g, query);
    const closed = await expectClosedWith(refused, STATUS.SERVER_ERROR, { timeoutMs: 15_000 });
    assert.match(closed.message ?? '', /registry is unavailable/i);

    // A database that stops answering holds the connect no longer than the handshake timeout.
    proxy.setMode('blackhole');
    const t0 = Date.now();
    const hung = await clientFor(cleanups, g, query);
    const timedOut = await expectClosedWith(hung, STATUS.SERVER_ERROR, { timeoutMs: 15_000 });
    assert.match(timedOut.message ?? '', /could not check access in time/);
    assert.ok(Date.now() - t0 < 8000, `blackholed registry held the connect ${Date.now() - t0} ms`);

    proxy.setMode('reset');
    proxy.setMode('pass');
    assert.equal(guacdProxy.accepted, 0, 'guacd was contacted');
    assert.equal(records.length, 0, 'an unresolved request made history');
    assert.equal((await rows('sessions')).length, sessionsBefore);
    assert.equal((await rows('used_tokens')).length, 0, 'the single-use token was spent by a refused attempt');

    const ok = await openSession(cleanups, g, query);
    ok.close();
    await ok.waitClosed();
    for (const line of logs) assert.ok(!line.includes(token) && !line.includes(sshParams().password), `log leaks a secret: ${line}`);
  });

  it('mid-session: the session goes on, and its history row is completed once the database is back', async () => {
    const hooks = registrySessionHooks(reg);
    const records: SessionRecord[] = [];
    const g = await gatewayFor(cleanups, {
      resolve: registryResolver(reg, secret),
      onSessionStart: hooks.onSessionStart,
      onSessionEnd: (r) => { records.push(r); return hooks.onSessionEnd(r); },
    });
    const { token } = await reg.mintToken({ connection: 'ssh', user: 'alice' });
    const c = await openSession(cleanups, g, `token=${encodeURIComponent(token)}`);
    const id = c.uuid as string;
    await waitFor(async () => (await rows('sessions')).some((r) => r.id === id), { what: 'the start row' });

    proxy.setMode('reset');
    const marker = markerPath(cleanups, 'pg');
    await runInShell(c, `touch ${marker}`, marker);
    c.close();
    await c.waitClosed();
    await waitFor(() => records.length === 1, { what: 'onSessionEnd' });
    await waitFor(() => logs.some((l) => l.includes('could not record a session end')), { timeoutMs: 10_000, what: 'the failed write to be logged' });
    const row = (await rows('sessions')).find((r) => r.id === id);
    assert.equal(row?.ended_at, null, 'the end was written while the database was cut?');

    proxy.setMode('pass');
    const done = await waitFor(async () => {
      const r = (await rows('sessions')).find((x) => x.id === id);
      return r && r.ended_at !== null ? r : undefined;
    }, { timeoutMs: 20_000, intervalMs: 250, what: 'the end to be recorded after the database came back' });
    assert.equal(Number(done.status), STATUS.SUCCESS.guac);
    assert.ok(Number(done.bytes_to_browser) > 0 && Number(done.bytes_from_browser) > 0);
    assert.equal(done.user_name, 'alice');
  });

  it('a path that dies silently: queries fail at the query timeout, and the pool recovers by itself', async () => {
    const own = await openRegistry(proxiedUrl, { dataDir, secretKey: secret, poolSize: 2, queryTimeoutMs: 1500 });
    cleanups.add(() => own.close());
    await Promise.all([own.listConnections(), own.getConnection('ssh')]); // both pooled connections open
    proxy.setMode('blackhole');
    const t0 = Date.now();
    const stuck = await Promise.allSettled([own.listConnections(), own.getConnection('ssh'), own.listGrants()]);
    assert.deepEqual(stuck.map((r) => r.status), ['rejected', 'rejected', 'rejected'], 'a blackholed query answered?');
    // Two on the pooled connections at 1.5 s; the third then waits for a new connection, which the blackhole
    // swallows too, up to the pool's 10 s connect limit.
    assert.ok(Date.now() - t0 < 14_000, `blackholed queries held ${Date.now() - t0} ms`);
    // No reset: the dead connections are still open at the proxy. Without the query timeout they would hold
    // the whole pool for good; with it they were dropped, and new ones work once the path is back.
    proxy.setMode('pass');
    const back = await own.getConnection('ssh');
    assert.equal(back?.name, 'ssh');
  });
});
