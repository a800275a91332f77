/**
 * The fleet in Chromium: two `serve` processes (gateways A and B) on one
 * PostgreSQL registry, each listing the same two guacd (this file's own).
 * The owner's page on A clicks Share; the link's token is opened on B's
 * page, and the watcher sees the owner type (its display changes). Then A
 * drains: a page opened on it says the gateway is busy (SERVER_BUSY) while
 * the owner's page stays connected until the drain time is up.
 * Screenshots: /work/shots/pool/ (fleet-owner-a.png, fleet-watcher-b.png,
 * drain-refused.png, drain-ended.png).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { Registry } from '../../src/registry/types.js';
import { displayVariety, launchBrowser, openClient, waitForPageState, type TestBrowser } from '../helpers/browser.js';
import { waitFor } from '../helpers/env.js';
import type { OwnGuacd } from '../helpers/faults.js';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import type { ServeRun } from '../helpers/serve.js';

const SHOTS = process.env.SHOTS_DIR ?? '/work/shots/pool';

describe('fleet from the page: share on gateway A, watch through gateway B; drain', { timeout: 180_000 }, () => {
  let fleet: Fleet;
  let reg: Registry;
  let g1: OwnGuacd;
  let a: ServeRun;
  let b: ServeRun;
  let browser: TestBrowser;

  const base = (gw: ServeRun): string => `http://127.0.0.1:${gw.port}`;

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    fleet = await startFleet({ aArgs: ['--drain', '4'] });
    ({ reg, g1, a, b } = fleet);
    browser = await launchBrowser({ width: 900, height: 560 });
  });
  after(async () => {
    await browser?.close();
    await fleet?.stop();
  });

  async function drawn(page: Page, what: string): Promise<void> {
    await waitFor(async () => (await displayVariety(page)).colours >= 2, { what, timeoutMs: 15_000 });
  }

  it('the owner shares on A; the link opened on B shows the owner typing; A drains: a new page is told the gateway is busy, the owner\'s page ends when the time is up', async () => {
    const minted = await reg.mintToken({ connection: 'ssh', user: 'alice', share: true });
    const owner = await browser.newPage();
    const opened = await openClient(owner, base(a), minted.token);
    assert.equal(opened.state, 'connected');
    await drawn(owner, 'the owner\'s terminal to draw');
    await owner.locator('.gg-share-toggle').click({ timeout: 10_000 });
    await owner.locator('.gg-share-make').click();
    const linkField = owner.locator('.gg-share-link');
    await linkField.waitFor({ state: 'visible', timeout: 10_000 });
    const link = new URL(await linkField.inputValue());
    assert.equal(link.origin, base(a), 'the page makes links to its own gateway');
    const row = await waitFor(async () => (await reg.listSessions({ active: true })).find((s) => s.tokenId === minted.jti && s.guacd !== null), { what: 'the owner\'s row' });
    assert.equal(row.guacd, `127.0.0.1:${g1.port}`);

    // The same link through B (a balancer may send the watcher anywhere).
    const watcher = await browser.newPage();
    await watcher.goto(`${base(b)}/${link.search}`);
    await waitForPageState(watcher, ['connected'], 20_000);
    await drawn(watcher, 'the watcher\'s terminal to draw');
    const before = await watcher.screenshot();
    const marker = `/tmp/gg-fleet-web-${randomBytes(4).toString('hex')}`;
    await owner.locator('.gg-viewport').click();
    await owner.keyboard.type(`touch ${marker}; echo watched-through-gateway-b`);
    await owner.keyboard.press('Enter');
    await waitFor(() => existsSync(marker), { what: 'the owner\'s command to run', timeoutMs: 15_000 });
    rmSync(marker, { force: true });
    await waitFor(async () => !(await watcher.screenshot()).equals(before) || undefined, { what: 'the watcher\'s display to change', timeoutMs: 10_000 });
    await owner.screenshot({ path: join(SHOTS, 'fleet-owner-a.png') });
    await watcher.screenshot({ path: join(SHOTS, 'fleet-watcher-b.png') });
    const joined = await waitFor(async () => (await reg.listSessions({ active: true, joinedSession: row.id }))[0], { what: 'the join\'s row' });
    assert.equal(joined.guacd, row.guacd);
    await watcher.close();

    // A drains (SIGTERM, --drain 4): a new page is refused with SERVER_BUSY; the owner's page goes on, then ends.
    a.child.kill('SIGTERM');
    await waitFor(async () => (await fetch(`${base(a)}/healthz`)).status === 503 || undefined, { what: 'A\'s /healthz to turn 503', timeoutMs: 5000 });
    const late = await browser.newPage();
    const refused = await openClient(late, base(a), (await reg.mintToken({ connection: 'ssh', user: 'alice' })).token);
    assert.deepEqual(refused, { state: 'error', code: '0x0201' });
    assert.match((await late.locator('body').textContent()) ?? '', /Gateway busy/);
    await late.screenshot({ path: join(SHOTS, 'drain-refused.png') });
    assert.equal((await owner.locator('body').getAttribute('data-state')), 'connected', 'the live session goes on while A drains');
    await waitForPageState(owner, ['error', 'disconnected'], 20_000);
    assert.equal(await owner.locator('body').getAttribute('data-status-code'), '0x020B');
    await owner.screenshot({ path: join(SHOTS, 'drain-ended.png') });
  });
});
