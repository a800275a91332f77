/**
 * `/healthz` is unauthenticated: a flood of it must not become a flood of
 * connections to guacd. guacd (the test environment's) sits behind a TCP
 * proxy that counts the connections the checks open; closing it is guacd
 * gone.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { GuacdPool } from '../../src/guacd/pool.js';
import { tokenResolver } from '../../src/tunnel/resolver.js';
import { waitFor } from '../helpers/env.js';
import { startTcpProxy } from '../helpers/faults.js';
import { Cleanups, realGuacd, startAppServer } from '../helpers/security.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

/** 200 requests at once; their statuses. */
async function flood(base: string): Promise<number[]> {
  return Promise.all(Array.from({ length: 200 }, async () => {
    const res = await fetch(`${base}/healthz`);
    const body = await res.json() as { ok: boolean; guacd: { reachable: boolean } };
    assert.equal(body.ok, res.status === 200);
    assert.equal(body.guacd.reachable, body.ok);
    return res.status;
  }));
}

describe('healthz', { timeout: 60_000 }, () => {
  it('200 parallel requests share one check of guacd, up or down; a moved guacd is checked at once', async (t) => {
    const proxy = await startTcpProxy(realGuacd());
    cleanups.add(() => proxy.close());
    const webRoot = mkdtempSync(join(tmpdir(), 'gg-healthz-web-'));
    cleanups.add(() => rmSync(webRoot, { recursive: true, force: true }));
    let guacd = { host: '127.0.0.1', port: proxy.port };
    const port = await startAppServer(cleanups, { guacd, resolve: tokenResolver({ secret: 'healthz-secret-0123456789' }) }, { webRoot, guacd: () => guacd });
    const base = `http://127.0.0.1:${port}`;

    const up = await flood(base);
    assert.deepEqual(new Set(up), new Set([200]));
    // One check in flight at a time, its answer reused for 2 s: a second only if the flood outlived that.
    assert.ok(proxy.accepted >= 1 && proxy.accepted <= 2, `${proxy.accepted} connections to guacd for 200 requests`);
    t.diagnostic(`200 parallel /healthz: ${proxy.accepted} connection(s) to guacd`);

    // guacd gone (nothing listens): reported within the cache time, and the answer is shared as well.
    await proxy.close();
    await waitFor(async () => (await fetch(`${base}/healthz`)).status === 503, { timeoutMs: 10_000, what: '/healthz to see guacd gone' });
    assert.deepEqual(new Set(await flood(base)), new Set([503]));

    // A supervised guacd that restarted elsewhere: the new address is checked at once, once.
    const moved = await startTcpProxy(realGuacd());
    cleanups.add(() => moved.close());
    guacd = { host: '127.0.0.1', port: moved.port };
    assert.deepEqual(new Set(await flood(base)), new Set([200]));
    assert.ok(moved.accepted >= 1 && moved.accepted <= 2, `${moved.accepted} connections to the moved guacd for 200 requests`);
  });

  it('a pool: 200 parallel requests open no connection beyond the pool\'s own probes; each guacd is reported, one down is not the gateway down', async () => {
    const p1 = await startTcpProxy(realGuacd());
    const p2 = await startTcpProxy(realGuacd());
    cleanups.add(() => p1.close());
    cleanups.add(() => p2.close());
    const webRoot = mkdtempSync(join(tmpdir(), 'gg-healthz-web-'));
    cleanups.add(() => rmSync(webRoot, { recursive: true, force: true }));
    // As serve builds it: probes on a timer, answers reused as long.
    const pool = new GuacdPool([{ address: { host: '127.0.0.1', port: p1.port } }, { address: { host: '127.0.0.1', port: p2.port } }], { checkIntervalMs: 60_000, cacheMs: 60_000 });
    pool.start();
    cleanups.add(() => pool.stop());
    await pool.check();
    const port = await startAppServer(cleanups, { guacd: pool, resolve: tokenResolver({ secret: 'healthz-secret-0123456789' }) }, { webRoot, guacd: pool });
    const base = `http://127.0.0.1:${port}`;
    const before = [p1.accepted, p2.accepted];
    assert.deepEqual(new Set(await flood(base)), new Set([200]));
    assert.deepEqual([p1.accepted, p2.accepted], before, 'no probe for the flood');

    await p1.close();
    pool.markDown(`127.0.0.1:${p1.port}`, 'GUAC_GUACD_UNREACHABLE');
    const res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      ok: true, draining: false, sessions: 0,
      guacd: { reachable: true, pool: [
        { name: `127.0.0.1:${p1.port}`, healthy: false, sessions: 0, error: 'GUAC_GUACD_UNREACHABLE' },
        { name: `127.0.0.1:${p2.port}`, healthy: true, sessions: 0 },
      ] },
    });
  });
});
