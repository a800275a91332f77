/**
 * Sharing from the page and the API, end to end: the real `serve` process
 * (SQLite registry), the real guacd and sshd, Chromium. The owner's page
 * (a token minted with `share`) shows the Share control, makes a watch
 * link and copies it; a second page opens the link and watches the owner
 * type (its display changes; a screenshot). A page whose token lacks the
 * claim shows no control. `POST /share` refuses a UUID without the token
 * that opened it, a token without the claim, and a forged token; the admin
 * API makes, lists and revokes links.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { STATUS } from '../../src/protocol/status.js';
import { openRegistry } from '../../src/registry/open.js';
import type { Registry } from '../../src/registry/types.js';
import { SHARE_LINKS_PER_MINUTE } from '../../src/server/page-share.js';
import { sealToken } from '../../src/tunnel/token.js';
import { displayVariety, launchBrowser, openClient, type TestBrowser } from '../helpers/browser.js';
import { loadTestEnv, waitFor } from '../helpers/env.js';
import { sshParams } from '../helpers/security.js';
import { startServe, type ServeRun } from '../helpers/serve.js';

const SECRET = randomBytes(32).toString('base64url');
const ADMIN_KEY = `admin-${randomBytes(16).toString('hex')}`;

describe('sharing from the page', { timeout: 180_000 }, () => {
  let dataDir: string;
  let gateway: ServeRun;
  let reg: Registry;
  let browser: TestBrowser;
  let base: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gg-share-web-'));
    const env = loadTestEnv();
    gateway = await startServe({ ...process.env, GATEWAY_SECRET: SECRET, GATEWAY_ADMIN_KEY: ADMIN_KEY, GATEWAY_DATA_DIR: dataDir, DATABASE_URL: '' },
      ['--guacd', `${env.guacd.host}:${env.guacd.port}`]);
    base = `http://127.0.0.1:${gateway.port}`;
    reg = await openRegistry(undefined, { dataDir, secretKey: SECRET });
    await reg.createConnection({ name: 'ssh', protocol: 'ssh', params: sshParams() });
    await reg.grant('ssh', 'alice');
    browser = await launchBrowser({ width: 900, height: 560 });
  });
  after(async () => {
    await browser?.close();
    await reg?.close();
    await gateway?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const share = (body: Record<string, unknown>) =>
    fetch(`${base}/share`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const api = (method: string, path: string, body?: unknown) =>
    fetch(`${base}/api${path}`, { method, headers: { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

  /** Opens the page for `token` and waits until the terminal has drawn. */
  async function terminal(page: Page, token: string): Promise<void> {
    const { state, code } = await openClient(page, base, token);
    assert.equal(state, 'connected', `expected connected, got ${state} ${code ?? ''}`);
    await waitFor(async () => (await displayVariety(page)).colours >= 2, { what: 'the terminal to draw', timeoutMs: 15_000 });
  }

  /** The live session opened with `jti`, once its history row knows guacd's id. */
  const sessionOf = (jti: string) => waitFor(async () => (await reg.listSessions({ active: true })).find((s) => s.tokenId === jti && s.guacdId !== null), { what: 'the session in history' });

  it('the owner clicks Share, a second page opens the link and watches the owner type', async () => {
    const minted = await reg.mintToken({ connection: 'ssh', user: 'alice', share: true });
    const owner = await browser.newPage();
    await terminal(owner, minted.token);
    const toggle = owner.locator('.gg-share-toggle');
    await toggle.waitFor({ state: 'visible', timeout: 10_000 });
    await toggle.click();
    await owner.locator('.gg-share-make').click();
    const linkField = owner.locator('.gg-share-link');
    await linkField.waitFor({ state: 'visible', timeout: 10_000 });
    const link = await linkField.inputValue();
    assert.match(link, new RegExp(`^${base}/\\?token=v1\\.`));
    assert.match((await owner.locator('.gg-share-note').textContent()) ?? '', /^Watch-only link/);
    const ownerRow = await sessionOf(minted.jti);
    const listed = await reg.listShares(ownerRow.id);
    assert.deepEqual(listed.map((s) => [s.readOnly, s.creator]), [[true, 'alice']]);

    const watcher = await browser.newPage();
    await watcher.goto(link);
    await watcher.locator('body[data-state="connected"]').waitFor({ state: 'attached', timeout: 20_000 });
    await waitFor(async () => (await displayVariety(watcher)).colours >= 2, { what: 'the watcher\'s terminal to draw', timeoutMs: 15_000 });
    // A watcher's page offers no Share of its own (its token is a share link, not a page token with the claim).
    const before = await watcher.screenshot();
    const marker = `/tmp/gg-share-web-${randomBytes(4).toString('hex')}`;
    await owner.locator('.gg-viewport').click();
    await owner.keyboard.type(`touch ${marker}; echo shared-session-visible`);
    await owner.keyboard.press('Enter');
    await waitFor(() => existsSync(marker), { what: 'the owner\'s command to run', timeoutMs: 15_000 });
    rmSync(marker, { force: true });
    await waitFor(async () => !(await watcher.screenshot()).equals(before) || undefined, { what: 'the watcher\'s display to change', timeoutMs: 10_000 });
    await watcher.screenshot({ path: '/tmp/gg-e2e-share-watcher.png' });
    await owner.screenshot({ path: '/tmp/gg-e2e-share-owner.png' });
    assert.equal(await watcher.locator('.gg-share-toggle').isVisible(), false);

    // Revoked from the admin API: the watcher's page says so.
    const res = await api('DELETE', `/shares/${listed[0]!.id}`);
    assert.equal(res.status, 204);
    await watcher.locator('body[data-state="error"]').waitFor({ state: 'attached', timeout: 15_000 });
    assert.equal(await watcher.locator('body').getAttribute('data-status-code'), '0x0303');
    await watcher.screenshot({ path: '/tmp/gg-e2e-share-revoked.png' });
    await watcher.close();

    // An administrator's watch link; then the owner leaves: the watcher's page says so in words.
    const watched = await api('POST', `/sessions/${ownerRow.id}/watch`);
    const admin = await browser.newPage();
    await admin.goto(base + ((await watched.json()) as { url: string }).url);
    await admin.locator('body[data-state="connected"]').waitFor({ state: 'attached', timeout: 20_000 });
    await owner.close({ runBeforeUnload: true });
    await admin.locator('body[data-state="error"]').waitFor({ state: 'attached', timeout: 15_000 });
    assert.equal(await admin.locator('body').getAttribute('data-status-code'), '0x0206');
    assert.equal((await admin.locator('.gg-server-message').textContent())?.trim(), 'Server said: The owner left the shared session.');
    // Joining again cannot help: the live connection is gone, so no Reconnect is offered.
    assert.equal(await admin.getByRole('button', { name: 'Reconnect' }).isVisible(), false);
    await admin.screenshot({ path: '/tmp/gg-e2e-share-owner-left.png' });
    await admin.close();
  });

  it('POST /share wants the token that opened the session, with the share claim; the admin API makes, lists and revokes links', async () => {
    const plain = await reg.mintToken({ connection: 'ssh', user: 'alice' });
    const page = await browser.newPage();
    const checked = page.waitForResponse((r) => r.url() === `${base}/share`);
    await terminal(page, plain.token);
    assert.equal((await checked).status(), 403, 'the page asked and was refused');
    assert.equal(await page.locator('.gg-share-toggle').isVisible(), false, 'a token without the claim shows a Share control');
    const plainRow = await sessionOf(plain.jti);

    const sharer = await reg.mintToken({ connection: 'ssh', user: 'alice', share: true });
    const err = async (r: Response) => ((await r.json()) as { error: { code: string; status: number } }).error;
    // The UUID alone, a token without the claim, another token's session, a forged token.
    let r = await share({ session: plainRow.id });
    assert.deepEqual([r.status, (await err(r)).code], [400, 'GUAC_REQUEST_INVALID']);
    r = await share({ token: plain.token, session: plainRow.id });
    assert.deepEqual([r.status, (await err(r)).code], [403, 'GUAC_SHARE_NOT_ALLOWED']);
    r = await share({ token: sharer.token, session: plainRow.id });
    assert.deepEqual([r.status, (await err(r)).code], [403, 'GUAC_SHARE_NOT_ALLOWED']);
    const forged = sealToken({ exp: Math.floor(Date.now() / 1000) + 60, jti: plain.jti, connection: plainRow.connectionId!, user: 'alice', share: true }, randomBytes(32));
    r = await share({ token: forged, session: plainRow.id });
    assert.deepEqual([r.status, (await err(r)).code], [STATUS.CLIENT_UNAUTHORIZED.http, 'GUAC_TOKEN_INVALID']);
    r = await fetch(`${base}/share`);
    assert.equal(r.status, 405);

    // The admin API on the same session.
    r = await api('POST', `/sessions/${plainRow.id}/shares`, { readOnly: false, ttl: 60, once: true });
    assert.equal(r.status, 201);
    const made = (await r.json()) as { id: string; url: string; token: string; readOnly: boolean; once: boolean };
    assert.deepEqual([made.readOnly, made.once, made.url], [false, true, `/?token=${encodeURIComponent(made.token)}`]);
    r = await api('POST', `/sessions/${plainRow.id}/watch`);
    const watch = (await r.json()) as { id: string; readOnly: boolean };
    assert.deepEqual([r.status, watch.readOnly], [201, true]);
    r = await api('GET', `/sessions/${plainRow.id}/shares`);
    assert.deepEqual(((await r.json()) as { shares: { id: string }[] }).shares.map((s) => s.id).sort(), [made.id, watch.id].sort());
    r = await api('POST', `/sessions/${plainRow.id}/shares`, { readOnly: 'no' });
    assert.deepEqual([r.status, (await err(r)).code], [400, 'GUAC_REQUEST_INVALID']);
    r = await api('POST', `/sessions/${plainRow.id}/shares`, { admin: true });
    assert.deepEqual([r.status, (await err(r)).code], [400, 'GUAC_REQUEST_INVALID']);
    r = await api('DELETE', `/shares/${made.id}`);
    assert.equal(r.status, 204);
    assert.notEqual((await reg.getShare(made.id))?.revokedAt, null);
    r = await api('DELETE', '/shares/no-such-share');
    assert.deepEqual([r.status, (await err(r)).code], [404, 'GUAC_SHARE_NOT_FOUND']);
    r = await fetch(`${base}/api/sessions/${plainRow.id}/watch`, { method: 'POST' });
    assert.equal(r.status, 401, 'watching needs the admin key');

    // A page makes at most SHARE_LINKS_PER_MINUTE links with its token; asking whether it may is not counted.
    const sharing = await browser.newPage();
    await terminal(sharing, sharer.token);
    const sharerRow = await sessionOf(sharer.jti);
    for (let i = 0; i < SHARE_LINKS_PER_MINUTE; i++) {
      r = await share({ token: sharer.token, session: sharerRow.id, readOnly: true });
      assert.equal(r.status, 201, `link ${i + 1}`);
    }
    r = await share({ token: sharer.token, session: sharerRow.id, readOnly: true });
    assert.deepEqual([r.status, (await err(r)).code], [429, 'GUAC_SHARE_RATE']);
    r = await share({ token: sharer.token, session: sharerRow.id, check: true });
    assert.equal(r.status, 200);
    assert.equal((await reg.listShares(sharerRow.id)).length, SHARE_LINKS_PER_MINUTE, 'a refused link was made anyway');
    await sharing.close();
    await page.close();
  });
});
