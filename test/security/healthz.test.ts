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
});
