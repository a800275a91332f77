/**
 * Recordings end to end: the real `serve` process (SQLite registry), the
 * real guacd and sshd, Chromium. A connection recorded with keys: a page
 * types a command in an SSH session and leaves; the gateway wrote the
 * recording (metadata complete, sha256 of the file). Its signed link plays
 * in Chromium: the duration matches the session, the key search finds the
 * command at the moment it was typed, a seek shows the terminal
 * (screenshot), playback at 8x with idle skipped reaches the end. Then the
 * file is truncated: verify and the page call it damaged. Links that are
 * expired, forged or for another audience, and hostile ids, get clear errors.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { openRegistry } from '../../src/registry/open.js';
import type { Recording } from '../../src/registry/recordings.js';
import type { Registry } from '../../src/registry/types.js';
import { sealToken } from '../../src/tunnel/token.js';
import { displayVariety, launchBrowser, openClient, waitForPageState, type TestBrowser } from '../helpers/browser.js';
import { loadTestEnv, waitFor } from '../helpers/env.js';
import { sshParams } from '../helpers/security.js';
import { startServe, type ServeRun } from '../helpers/serve.js';

const SECRET = randomBytes(32).toString('base64url');
const ADMIN_KEY = `admin-${randomBytes(16).toString('hex')}`;
const SHOTS = '/work/shots/rec';
/** Seconds of the idle stretch in the recorded session. */
const IDLE_S = 4;

describe('session recordings, played in the browser', { timeout: 240_000 }, () => {
  let dataDir: string;
  let gateway: ServeRun;
  let reg: Registry;
  let browser: TestBrowser;
  let base: string;
  /** The recording made by the first test, and what it knows of it. */
  let rec: Recording;
  let typedAt: number;
  let command: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gg-rec-web-'));
    mkdirSync(SHOTS, { recursive: true });
    const env = loadTestEnv();
    gateway = await startServe({ ...process.env, GATEWAY_SECRET: SECRET, GATEWAY_ADMIN_KEY: ADMIN_KEY, GATEWAY_DATA_DIR: dataDir, DATABASE_URL: '' },
      ['--guacd', `${env.guacd.host}:${env.guacd.port}`]);
    base = `http://127.0.0.1:${gateway.port}`;
    reg = await openRegistry(undefined, { dataDir, secretKey: SECRET });
    await reg.createConnection({ name: 'ssh-rec', protocol: 'ssh', params: sshParams(), record: { keys: true, policy: 'required' } });
    await reg.grant('ssh-rec', 'alice');
    browser = await launchBrowser({ width: 1000, height: 640 });
  });
  after(async () => {
    await browser?.close();
    await reg?.close();
    await gateway?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const api = (method: string, path: string, body?: unknown) =>
    fetch(`${base}/api${path}`, { method, headers: { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const errorOf = async (r: Response) => ((await r.json()) as { error: { code: string; message: string; status: number } }).error;
  const link = async (id: string, ttl = 120): Promise<string> => {
    const r = await api('POST', `/recordings/${id}/link`, { ttl });
    assert.equal(r.status, 201);
    return base + ((await r.json()) as { url: string }).url;
  };
  const attr = async (page: Page, name: string): Promise<string | null> => page.locator('body').getAttribute(`data-${name}`);

  it('records an SSH session in which a command is typed: metadata complete, sha256 of the file', async () => {
    const minted = await reg.mintToken({ connection: 'ssh-rec', user: 'alice' });
    const page = await browser.newPage();
    const { state, code } = await openClient(page, base, minted.token);
    assert.equal(state, 'connected', `expected connected, got ${state} ${code ?? ''}`);
    await waitFor(async () => (await displayVariety(page)).colours >= 2, { what: 'the terminal to draw', timeoutMs: 15_000 });
    const marker = `/tmp/gg-rec-web-${randomBytes(4).toString('hex')}`;
    command = `touch ${marker}`;
    await page.locator('.gg-viewport').click();
    typedAt = Date.now();
    await page.keyboard.type(`${command}; echo recorded-session`);
    await page.keyboard.press('Enter');
    await waitFor(() => existsSync(marker), { what: 'the command to run', timeoutMs: 15_000 });
    rmSync(marker, { force: true });
    // Then an idle stretch: nothing on the screen while `sleep` runs (what "skip idle" skips).
    await page.keyboard.type(`sleep ${IDLE_S}; touch ${marker}-idle`);
    await page.keyboard.press('Enter');
    await waitFor(() => existsSync(`${marker}-idle`), { what: 'the idle command to end', timeoutMs: 20_000 });
    rmSync(`${marker}-idle`, { force: true });
    await page.screenshot({ path: join(SHOTS, 'live-session.png') });
    const session = await waitFor(async () => (await reg.listSessions({ active: true })).find((s) => s.tokenId === minted.jti), { what: 'the session row' });
    await page.close({ runBeforeUnload: true });

    rec = await waitFor(async () => {
      const r = await reg.recordings.get(session.id);
      return r.endedAt !== null ? r : undefined;
    }, { what: 'the recording to be finished', timeoutMs: 20_000 });
    const ended = await waitFor(async () => (await reg.getSession(session.id))?.endedAt ?? undefined, { what: 'the session end' });
    const file = readFileSync(join(dataDir, 'recordings', `${rec.id}.guac`));
    assert.deepEqual(
      [rec.sessionId, rec.user, rec.connectionName, rec.keys, rec.policy, rec.complete, rec.error],
      [session.id, 'alice', 'ssh-rec', true, 'required', true, null],
    );
    assert.equal(rec.size, file.length);
    assert.equal(rec.sha256, createHash('sha256').update(file).digest('hex'));
    assert.match(file.toString('latin1'), /^4\.size,/, 'starts with guacd\'s first instruction');
    assert.match(file.toString('latin1'), /3\.key,3\.116,1\.1,\d{1,2}\.\d+;/, 'the `t` of touch is in it with a time');
    // The recording spans first frame → session end; the session adds only the handshake before the first frame.
    const sessionMs = ended - session.startedAt;
    assert.ok(rec.durationMs! <= sessionMs && sessionMs - rec.durationMs! < 1000, `recording ${rec.durationMs} ms, session ${sessionMs} ms`);
    const verified = await api('GET', `/recordings/${rec.id}/verify`);
    assert.deepEqual(await verified.json(), {
      id: rec.id, state: 'intact', message: 'The recording is intact.', size: file.length, sha256: rec.sha256, expectedSize: rec.size, expectedSha256: rec.sha256,
    });
  });

  it('plays in Chromium: duration, key search at the right time, a seek shows the terminal, 8x with idle skipped reaches the end', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(await link(rec.id));
    await waitForPageState(page, ['ready', 'error', 'unplayable'], 30_000);
    assert.equal(await attr(page, 'state'), 'ready', (await page.locator('#notice').textContent()) ?? '');
    assert.equal(await attr(page, 'integrity'), 'intact');
    const duration = Number(await attr(page, 'duration'));
    assert.ok(Math.abs(duration - rec.durationMs!) < 1000, `player ${duration} ms, recording ${rec.durationMs} ms`);
    assert.ok(duration >= IDLE_S * 1000, `the recording spans the idle stretch: ${duration} ms`);
    assert.equal(await page.locator('#time').textContent(), `0:00 / 0:${String(Math.floor(duration / 1000)).padStart(2, '0')}`);

    // Key search: the command typed, found where it was typed (the first frame is the recording's zero).
    await page.locator('#key-search').fill(`${command};`);
    await page.locator('body[data-matches="1"]').waitFor({ state: 'attached', timeout: 5000 });
    const hit = page.locator('#key-results button').first();
    const at = Number(await hit.getAttribute('data-at'));
    const expected = typedAt - rec.firstFrame!;
    assert.ok(Math.abs(at - expected) < 1000, `found at ${at} ms, typed at ${expected} ms`);
    assert.match((await hit.textContent()) ?? '', /touch \/tmp\/gg-rec-web-[0-9a-f]{8}; echo recorded-session/);

    // Jump there, then to just before the end: the terminal is drawn.
    await hit.click();
    await page.locator(`body[data-position="${Math.round(at)}"]`).waitFor({ state: 'attached', timeout: 5000 });
    await page.locator('#seek').focus();
    await page.keyboard.press('End');
    await page.locator(`body[data-position="${duration}"]`).waitFor({ state: 'attached', timeout: 5000 });
    await waitFor(async () => (await attr(page, 'shown')) === String(duration) || undefined, { what: 'the display to reach the end', timeoutMs: 15_000 });
    await waitFor(async () => (await displayVariety(page, '#screen canvas')).colours >= 2 || undefined, { what: 'the replayed terminal to draw', timeoutMs: 10_000 });
    // The last frames' images are decoded asynchronously: wait until the picture stops changing.
    let previous: Buffer = Buffer.alloc(0);
    await waitFor(async () => {
      const shot = await page.locator('#screen').screenshot();
      const same = shot.equals(previous);
      previous = shot;
      return same || undefined;
    }, { what: 'the replayed display to settle', timeoutMs: 10_000, intervalMs: 300 });
    await page.screenshot({ path: join(SHOTS, 'player-after-seek.png') });

    // From the start at 8x, idle skipped (keyboard: Home, +, +, +, i, Space): it plays to the end.
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    for (const key of ['Home', '+', '+', '+', 'i']) await page.keyboard.press(key);
    assert.equal(await page.locator('#speed').inputValue(), '8');
    assert.equal(await page.locator('#skip-idle').isChecked(), true);
    await page.keyboard.press(' ');
    await page.locator('body[data-state="playing"]').waitFor({ state: 'attached', timeout: 5000 });
    await page.locator('body[data-state="ended"]').waitFor({ state: 'attached', timeout: Math.max(10_000, duration) });
    assert.equal(await attr(page, 'position'), String(duration));
    await page.screenshot({ path: join(SHOTS, 'player-ended.png') });
    // At 1x with idle skipped, the end comes before the idle stretch could have passed.
    for (const key of ['Home', '-', '-', '-', ' ']) await page.keyboard.press(key);
    assert.equal(await page.locator('#speed').inputValue(), '1');
    const started = Date.now();
    await page.locator('body[data-state="ended"]').waitFor({ state: 'attached', timeout: duration });
    assert.ok(Date.now() - started < duration - (IDLE_S - 1) * 1000, `1x with idle skipped took ${Date.now() - started} ms of ${duration} ms`);
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('refuses expired, forged and other-audience links, and hostile ids, with clear errors', async () => {
    const info = (token: string) => fetch(`${base}/recording/info?token=${encodeURIComponent(token)}`);
    const now = Math.floor(Date.now() / 1000);
    let r = await info(sealToken({ aud: 'recording', iat: now - 100, exp: now - 10, recording: rec.id }, SECRET));
    assert.deepEqual([r.status, (await errorOf(r)).code], [408, 'GUAC_TOKEN_EXPIRED']);
    r = await info(sealToken({ aud: 'recording', exp: now + 60, recording: rec.id }, randomBytes(32).toString('base64url')));
    assert.deepEqual([r.status, (await errorOf(r)).code], [403, 'GUAC_TOKEN_INVALID']);
    r = await info((await reg.mintToken({ connection: 'ssh-rec', user: 'alice' })).token);
    assert.deepEqual([r.status, (await errorOf(r)).code], [403, 'GUAC_TOKEN_INVALID'], 'a tunnel token is no playback link');
    r = await info(sealToken({ aud: 'share', exp: now + 60, recording: rec.id }, SECRET));
    assert.deepEqual([r.status, (await errorOf(r)).code], [403, 'GUAC_TOKEN_INVALID']);
    r = await fetch(`${base}/recording/file`);
    assert.deepEqual([r.status, (await errorOf(r)).code], [403, 'GUAC_TOKEN_MISSING']);
    // A genuine signature over a path instead of an id: still refused before any path is made.
    r = await fetch(`${base}/recording/file?token=${encodeURIComponent(sealToken({ aud: 'recording', exp: now + 60, recording: '../../gateway.db' }, SECRET))}`);
    assert.deepEqual([r.status, await errorOf(r)], [400, { code: 'GUAC_RECORDING_ID_INVALID', message: 'A recording id is a UUID.', status: 400 }]);
    r = await fetch(`${base}/recording/info?token=x`, { method: 'POST' });
    assert.equal(r.status, 405);
    // A playback link does not open a session.
    const page = await browser.newPage();
    const tunnelAttempt = await openClient(page, base, new URL(await link(rec.id)).hash.slice('#token='.length));
    assert.deepEqual([tunnelAttempt.state, tunnelAttempt.code], ['error', '0x0301']);
    // The page says why an expired link does not play.
    await page.goto(`${base}/recording.html#token=${encodeURIComponent(sealToken({ aud: 'recording', iat: now - 100, exp: now - 10, recording: rec.id }, SECRET))}`);
    await waitForPageState(page, ['error']);
    assert.equal(await page.locator('#notice').textContent(), 'The access token has expired.');
    assert.equal(await attr(page, 'code'), 'GUAC_TOKEN_EXPIRED');
    await page.close();

    for (const [path, status, code] of [
      ['/recordings/..%2F..%2Fetc%2Fpasswd', 400, 'GUAC_RECORDING_ID_INVALID'],
      ['/recordings/not-a-uuid/file', 400, 'GUAC_RECORDING_ID_INVALID'],
      [`/recordings/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`, 404, 'GUAC_RECORDING_NOT_FOUND'],
      [`/recordings/${rec.id}/nothing`, 404, 'GUAC_API_NOT_FOUND'],
    ] as const) {
      const res = await api('GET', path);
      assert.deepEqual([res.status, (await errorOf(res)).code], [status, code], path);
    }
    const del = await api('DELETE', '/recordings/..%2Fsecret');
    assert.deepEqual([del.status, (await errorOf(del)).code], [400, 'GUAC_RECORDING_ID_INVALID']);
    const badTtl = await api('POST', `/recordings/${rec.id}/link`, { ttl: 0 });
    assert.deepEqual([badTtl.status, (await errorOf(badTtl)).code], [400, 'GUAC_TTL_INVALID']);
  });

  it('downloads the file through the API, and calls a truncated file damaged (verify and the page)', async () => {
    const path = join(dataDir, 'recordings', `${rec.id}.guac`);
    const dl = await api('GET', `/recordings/${rec.id}/file`);
    assert.equal(dl.status, 200);
    assert.equal(Buffer.from(await dl.arrayBuffer()).length, rec.size);
    truncateSync(path, Math.floor(statSync(path).size / 2));
    const v = await api('GET', `/recordings/${rec.id}/verify`);
    const body = (await v.json()) as { state: string; message: string };
    assert.equal(body.state, 'damaged');
    assert.match(body.message, /^The recording file is damaged: it is \d+ bytes shorter than written \(truncated\)\.$/);
    const page = await browser.newPage();
    await page.goto(await link(rec.id));
    await waitForPageState(page, ['ready', 'error'], 30_000);
    assert.equal(await attr(page, 'integrity'), 'damaged');
    assert.match((await page.locator('#notice').textContent()) ?? '', /^The recording file is damaged: .* What is there can still be played\.$/);
    await page.screenshot({ path: join(SHOTS, 'player-damaged.png') });
    await page.close();
  });
});
