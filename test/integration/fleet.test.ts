/**
 * The gateway as a fleet, with real processes: two `serve` (gateways A and
 * B) on one PostgreSQL registry, each listing the same two guacd (this
 * file's own, of one version: a join must reach the guacd that holds the
 * connection). Sessions land on both guacd and history says where; a share
 * link of a session A opened on guacd 1 is joined through B, whose pool
 * lists guacd 2 first, and the watcher receives the owner's frames.
 * The whole fleet: gateway A and a gateway C with `--workers 2` behind the
 * nginx block of docs/deployment.md, browsers from different addresses:
 * sessions land on both gateways, both of C's workers and both guacd, and
 * a join through nginx reaches the owner's guacd.
 * Then `--drain`: SIGTERM turns /healthz 503, refuses new sessions with
 * SERVER_BUSY, lets the live one run, ends it with SESSION_CLOSED when the
 * time is up, and the process exits.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { STATUS } from '../../src/protocol/status.js';
import type { Registry } from '../../src/registry/types.js';
import { freePort, loadTestEnv, waitFor } from '../helpers/env.js';
import { startOwnGuacd, type OwnGuacd } from '../helpers/faults.js';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { Cleanups, clientFor, expectClosedWith, markerPath, openSession, runInShell, shellReady } from '../helpers/security.js';
import { deploymentBlocks, nginxSite, startNginx } from '../helpers/nginx.js';
import { startServe, type ServeRun } from '../helpers/serve.js';
import type { TunnelClient } from '../helpers/ws-client.js';

const DRAWING = ['img', 'png', 'blob', 'copy', 'rect'];

describe('fleet: two gateways, two guacd, one PostgreSQL registry', { timeout: 180_000 }, () => {
  const cleanups = new Cleanups();
  const dirs: string[] = [];
  let fleet: Fleet;
  let reg: Registry;
  let g1: OwnGuacd;
  let g2: OwnGuacd;
  let a: ServeRun;
  let b: ServeRun;
  let gatewayEnv: () => NodeJS.ProcessEnv;
  let name: (g: OwnGuacd) => string;

  const url = (gw: ServeRun): { wsUrl: string } => ({ wsUrl: `ws://127.0.0.1:${gw.port}/tunnel` });
  const q = (token: string): string => `token=${encodeURIComponent(token)}`;
  const row = (c: TunnelClient) => waitFor(async () => {
    const r = await reg.getSession(c.uuid as string);
    return r?.guacd ? r : undefined;
  }, { what: `the history row of ${c.uuid}`, timeoutMs: 15_000 });

  before(async () => {
    fleet = await startFleet({ env: { GATEWAY_MAX_SESSIONS_PER_ADDRESS: '0', GATEWAY_HANDSHAKE_RATE: '0/60' } });
    ({ reg, g1, g2, a, b, gatewayEnv, name } = fleet);
  });
  after(async () => {
    await cleanups.run();
    await fleet?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('sessions land on both guacd (history says which); a share of a session on A / guacd 1 joined through B shows the owner\'s frames', async () => {
    const health = await (await fetch(`http://127.0.0.1:${b.port}/healthz`)).json() as { guacd: { pool: { name: string; healthy: boolean }[] } };
    assert.deepEqual(health.guacd.pool.map((m) => [m.name, m.healthy]), [[name(g2), true], [name(g1), true]]);

    const owner = await openSession(cleanups, url(a), q((await reg.mintToken({ connection: 'ssh', user: 'alice' })).token));
    const second = await openSession(cleanups, url(a), q((await reg.mintToken({ connection: 'ssh', user: 'alice' })).token));
    assert.equal((await row(owner)).guacd, name(g1));
    assert.equal((await row(second)).guacd, name(g2));
    const aHealth = await (await fetch(`http://127.0.0.1:${a.port}/healthz`)).json() as { guacd: { pool: { name: string; sessions: number }[] } };
    assert.deepEqual(aHealth.guacd.pool.map((m) => [m.name, m.sessions]), [[name(g1), 1], [name(g2), 1]]);

    await shellReady(cleanups, owner);
    const share = await reg.createShare({ session: owner.uuid as string, readOnly: true, creator: 'alice' });
    // Through B, whose own choice for a new session would be guacd 2 (listed first, no sessions there).
    const watcher = await openSession(cleanups, url(b), q(share.token));
    const joined = await row(watcher);
    assert.equal(joined.guacd, name(g1));
    assert.equal(joined.joinedSession, owner.uuid);
    assert.notEqual(joined.gateway, (await row(owner)).gateway, 'the join ran on the other gateway');

    const seen = watcher.received.length;
    const marker = markerPath(cleanups, 'fleet-owner');
    await runInShell(owner, `echo fleet-typed > ${marker}`, marker);
    await watcher.waitFor((r) => DRAWING.includes(r.opcode), 10_000, 'a drawing instruction after the owner typed', seen);
  });

  it('a join whose guacd a gateway does not list is refused with GUAC_TUNNEL_GUACD_UNKNOWN', async () => {
    const c = await openSession(cleanups, url(a), q((await reg.mintToken({ connection: 'ssh', user: 'alice' })).token));
    await row(c);
    const lone = await startServe(gatewayEnv(), ['--guacd', `${loadTestEnv().guacd.host}:${loadTestEnv().guacd.port}`]);
    cleanups.add(() => lone.stop());
    const share = await reg.createShare({ session: c.uuid as string, readOnly: true });
    const refused = await clientFor(cleanups, url(lone), q(share.token));
    const { message } = await expectClosedWith(refused, STATUS.UPSTREAM_NOT_FOUND);
    assert.match(message ?? '', /runs on guacd "127\.0\.0\.1:\d+", which this gateway does not list/);
  });

  it('the whole fleet: A and C (--workers 2) behind nginx; sessions land on both gateways, both workers and both guacd; a join through nginx reaches the owner\'s guacd', async () => {
    const c = await startServe({ ...gatewayEnv(), GATEWAY_GUACD: `${name(g1)},${name(g2)}` }, ['--workers', '2'], 60_000);
    cleanups.add(() => c.stop());
    await waitFor(() => c.output().includes('guacamole-gateway listening on'), { what: 'every worker of C to serve', timeoutMs: 60_000 });
    const nginxPort = await freePort();
    const nginx = await startNginx(nginxSite(deploymentBlocks('nginx')[0]!, nginxPort, [a.port, c.port]), nginxPort, dirs);
    cleanups.add(() => nginx.stop());
    const viaNginx = { wsUrl: `ws://127.0.0.1:${nginxPort}/tunnel` };
    // The block keeps a browser on one gateway (ip_hash, by an IPv4 address's first three octets): browsers of other networks.
    const from = (i: number) => ({ localAddress: `127.0.${i}.1` });
    const sessions: TunnelClient[] = [];
    for (let i = 1; i <= 12; i++) {
      sessions.push(await openSession(cleanups, viaNginx, q((await reg.mintToken({ connection: 'ssh', user: 'alice' })).token), from(i)));
    }
    const rows = await Promise.all(sessions.map(row));
    const aId = (await row(await openSession(cleanups, url(a), q((await reg.mintToken({ connection: 'ssh', user: 'alice' })).token)))).gateway;
    const gateways = new Set(rows.map((r) => r.gateway));
    assert.ok(gateways.has(aId), `a session on A: ${[...gateways].join(', ')}`);
    const workers = new Set([...gateways].filter((g) => g !== aId).map((g) => g?.split('-')[0]));
    assert.deepEqual(workers, new Set(['w1', 'w2']), `sessions on both of C's workers: ${[...gateways].join(', ')}`);
    assert.deepEqual(new Set(rows.map((r) => r.guacd)), new Set([name(g1), name(g2)]));

    // A session C holds, joined through nginx by a browser the balancer may send to either gateway.
    const owner = sessions[rows.findIndex((r) => r.gateway !== aId)]!;
    await shellReady(cleanups, owner);
    const share = await reg.createShare({ session: owner.uuid as string, readOnly: true, creator: 'alice' });
    const watcher = await openSession(cleanups, viaNginx, q(share.token), from(40));
    assert.equal((await row(watcher)).guacd, (await row(owner)).guacd);
    const seen = watcher.received.length;
    const marker = markerPath(cleanups, 'fleet-nginx');
    await runInShell(owner, `echo fleet-nginx > ${marker}`, marker);
    await watcher.waitFor((r) => DRAWING.includes(r.opcode), 10_000, 'a drawing instruction after the owner typed', seen);
  });

  it('--drain: SIGTERM turns /healthz 503 and refuses new sessions with SERVER_BUSY; the live session runs until the time is up, then SESSION_CLOSED; the process exits', async () => {
    const d = await startServe(gatewayEnv(), ['--guacd', name(g1), '--drain', '3']);
    cleanups.add(() => d.stop());
    const live = await openSession(cleanups, url(d), q((await reg.mintToken({ connection: 'ssh', user: 'alice' })).token));
    await shellReady(cleanups, live);
    const exited = new Promise<number | null>((resolve) => d.child.once('exit', (code) => resolve(code)));

    d.child.kill('SIGTERM');
    const health = await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${d.port}/healthz`);
      return res.status === 503 ? res.json() as Promise<{ ok: boolean; draining: boolean }> : undefined;
    }, { what: '/healthz to turn 503', timeoutMs: 5000 });
    assert.deepEqual([health.ok, health.draining], [false, true]);

    const refused = await clientFor(cleanups, url(d), q((await reg.mintToken({ connection: 'ssh', user: 'alice' })).token));
    const { message } = await expectClosedWith(refused, STATUS.SERVER_BUSY);
    assert.equal(message, 'This gateway is shutting down and starts no new sessions; connect again to reach another.');

    // The live session still works while the gateway drains.
    const marker = markerPath(cleanups, 'fleet-drain');
    await runInShell(live, `touch ${marker}`, marker, 5000);
    const end = await expectClosedWith(live, STATUS.SESSION_CLOSED, { timeoutMs: 15_000 });
    assert.equal(end.message, 'The gateway is shutting down.');
    assert.equal(await exited, 0);
    const ended = await waitFor(async () => (await reg.getSession(live.uuid as string))?.status ?? undefined, { what: 'the drained session\'s history', timeoutMs: 10_000 });
    assert.equal(ended, STATUS.SESSION_CLOSED.guac);
  });

  it('a guacd killed under a gateway: its session ends with UPSTREAM_ERROR (GUAC_TUNNEL_UPSTREAM_LOST) in the page and in history; the next sessions open on the other', async () => {
    const env = loadTestEnv();
    const wrapper = env.guacds[env.guacds.length - 1]?.wrapper ?? env.guacd.wrapper;
    const [g3, g4] = await Promise.all([startOwnGuacd(wrapper), startOwnGuacd(wrapper)]);
    cleanups.add(() => g3.kill());
    cleanups.add(() => g4.kill());
    const c = await startServe(gatewayEnv(), ['--guacd', name(g3), '--guacd', name(g4)]);
    cleanups.add(() => c.stop());
    const open = async () => openSession(cleanups, url(c), q((await reg.mintToken({ connection: 'ssh', user: 'alice' })).token));
    const first = await open();
    const second = await open();
    assert.deepEqual([(await row(first)).guacd, (await row(second)).guacd], [name(g3), name(g4)]);

    await g4.kill();
    await expectClosedWith(second, STATUS.UPSTREAM_ERROR);
    assert.equal(second.instructions.find((r) => r.opcode === 'error')?.args[0], 'The connection to the remote desktop server was lost.');
    const ended = await waitFor(async () => {
      const r = await reg.getSession(second.uuid as string);
      return r?.endedAt ? r : undefined;
    }, { what: 'the lost session\'s history', timeoutMs: 10_000 });
    assert.deepEqual([ended.status, ended.guacd], [STATUS.UPSTREAM_ERROR.guac, name(g4)]);
    assert.equal(first.ws.readyState, first.ws.OPEN, 'the session on the other guacd goes on');

    await waitFor(async () => {
      const h = await (await fetch(`http://127.0.0.1:${c.port}/healthz`)).json() as { ok: boolean; guacd: { pool: { name: string; healthy: boolean }[] } };
      return h.ok && h.guacd.pool.find((m) => m.name === name(g4))?.healthy === false;
    }, { what: 'guacd 4 reported down, the gateway still ok', timeoutMs: 15_000 });
    const next = [await open(), await open()];
    assert.deepEqual(await Promise.all(next.map(async (n) => (await row(n)).guacd)), [name(g3), name(g3)]);
  });
});
