/**
 * File transfer from the page, end to end: Chromium, the gateway server (a
 * child process, tokens from its CLI), the newest guacd of the test
 * environment and the test sshd's SFTP. A file dropped on the display and
 * one saved from the file browser are compared by sha256 where they land;
 * refusals are checked in words on the page and on the disk.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { loadTestEnv, waitFor, type TestEnv } from '../helpers/env.js';
import { launchBrowser, openConnected, startGateway, type GatewayProcess, type TestBrowser } from '../helpers/browser.js';
import { sha256, sftpDir, type SftpDir } from '../helpers/sftp-dir.js';

const SHOTS = '/work/shots/files';
const MB = 1024 * 1024;

let env: TestEnv;
let browser: TestBrowser;
let gateway: GatewayProcess;
let dir: SftpDir;
const removeAfter: string[] = [];

/** Writes `size` random bytes to `path` in 1 MiB pieces (a 50 MB Buffer is not needed). */
async function randomFile(path: string, size: number): Promise<void> {
  const out = createWriteStream(path);
  for (let left = size; left > 0; left -= MB) {
    if (!out.write(randomBytes(Math.min(MB, left)))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

function token(extra: string[] = []): Promise<string> {
  return gateway.token(['--protocol', 'ssh', ...Object.entries(dir.params).flatMap(([k, v]) => ['--param', `${k}=${v}`]), ...extra]);
}

async function open(extra: string[] = []): Promise<Page> {
  const page = await browser.newPage();
  const { state, code } = await openConnected(page, gateway.url, await token(extra));
  assert.equal(state, 'connected', `expected connected, got ${state} ${code ?? ''}`);
  return page;
}

/** Drops a file from disk onto the display, as a user dragging it from the desktop. */
async function dropFile(page: Page, path: string): Promise<void> {
  // A real File backed by the disk (the page streams it; 50 MB never sits in a string).
  await page.evaluate(`(() => { const i = document.createElement('input'); i.type = 'file'; i.id = 'gg-test-pick'; i.hidden = true; document.body.append(i); })()`);
  await page.setInputFiles('#gg-test-pick', path);
  const transfer = await page.evaluateHandle(`(() => { const dt = new DataTransfer(); dt.items.add(document.getElementById('gg-test-pick').files[0]); document.getElementById('gg-test-pick').remove(); return dt; })()`);
  const viewport = page.locator('.gg-viewport');
  await viewport.dispatchEvent('dragover', { dataTransfer: transfer });
  await viewport.dispatchEvent('drop', { dataTransfer: transfer });
}

/** The transfers `serve` recorded in its registry (the SQLite file in its data folder) under `name`. */
function recordedTransfers(name: string): { direction: string; bytes: number; via: string; status: number }[] {
  const dataDir = gateway.env.GATEWAY_DATA_DIR!;
  const rows: { direction: string; bytes: number; via: string; status: number }[] = [];
  for (const file of readdirSync(dataDir).filter((f) => /\.db$/.test(f))) {
    const db = new Database(join(dataDir, file), { readonly: true, fileMustExist: true });
    try {
      rows.push(...db.prepare('SELECT direction, bytes, via, status FROM transfers WHERE name = ?').all(name) as typeof rows);
    } finally {
      db.close();
    }
  }
  return rows;
}

/** Drops a small file and expects the page to refuse it with `message`; nothing reaches the target. */
async function expectRefusedDrop(page: Page, label: string, message: string, size = 3): Promise<string> {
  const name = `${label}-${randomBytes(4).toString('hex')}.bin`;
  const local = join('/tmp', name);
  removeAfter.push(local);
  await randomFile(local, size);
  await dropFile(page, local);
  const row = page.locator('.gg-transfer[data-direction="upload"][data-state="failed"]');
  await row.waitFor({ timeout: 10_000 });
  assert.equal(await row.locator('.gg-transfer-status').textContent(), message);
  assert.equal(existsSync(join(env.user.home, name)), false);
  return name;
}

before(async () => {
  env = loadTestEnv();
  mkdirSync(SHOTS, { recursive: true });
  const newest = env.guacds[env.guacds.length - 1]!;
  gateway = await startGateway({ guacd: `${newest.host}:${newest.port}` });
  browser = await launchBrowser({ width: 1100, height: 700 });
  dir = sftpDir(env, 'e2e');
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
  dir?.remove();
  for (const p of removeAfter) rmSync(p, { force: true });
});

describe('file transfer in the page', () => {
  test('a 50 MB file dropped on the display arrives whole: same sha256 on the target, progress shown', async () => {
    const page = await open();
    const name = `drop-${randomBytes(4).toString('hex')}.bin`;
    const local = join(dir.path, `local-${name}`);
    await randomFile(local, 50 * MB);
    // guacd puts `file` streams (drops) in the user's home.
    const landed = join(env.user.home, name);
    removeAfter.push(landed);
    const copy = join('/tmp', name);
    removeAfter.push(copy);
    rmSync(copy, { force: true });
    await import('node:fs/promises').then((fs) => fs.copyFile(local, copy));
    await dropFile(page, copy);
    const row = page.locator('.gg-transfer[data-direction="upload"]');
    await row.first().waitFor({ timeout: 5000 });
    await page.screenshot({ path: join(SHOTS, 'upload-progress.png') });
    await page.locator('.gg-transfer[data-direction="upload"][data-state="done"]').waitFor({ timeout: 120_000 });
    assert.match(await row.locator('.gg-transfer-status').textContent() ?? '', /^Uploaded \(50 MiB\)\.$/);
    await waitFor(() => existsSync(landed) && statSync(landed).size === 50 * MB, { what: 'the dropped file on the target', timeoutMs: 20_000 });
    assert.equal(sha256(landed), sha256(copy));
    await page.screenshot({ path: join(SHOTS, 'upload-done.png') });
    // History: the transfer is a row of the registry's transfers table.
    const rows = await waitFor(() => { const r = recordedTransfers(name); return r.length ? r : undefined; }, { what: 'the transfer in history' });
    assert.deepEqual(rows, [{ direction: 'upload', bytes: 50 * MB, via: 'http', status: 0 }]);
    await page.close();
  });

  test('a 50 MB file downloaded from the file browser in one click: Chromium saves the same bytes', async () => {
    const page = await open();
    const remote = join(dir.path, 'report-50.bin');
    await randomFile(remote, 50 * MB);
    mkdirSync(join(dir.path, 'folder'), { recursive: true });
    await page.locator('.gg-files-toggle').click();
    await page.locator('.gg-files-entry[data-path="/report-50.bin"]').waitFor({ timeout: 10_000 });
    await page.locator('.gg-files-entry[data-path="/folder"][data-kind="folder"]').waitFor();
    await page.screenshot({ path: join(SHOTS, 'file-browser.png') });
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 20_000 }),
      page.locator('.gg-files-entry[data-path="/report-50.bin"]').click(),
    ]);
    assert.equal(download.suggestedFilename(), 'report-50.bin');
    const saved = await download.path();
    assert.ok(saved, `download failed: ${await download.failure()}`);
    assert.equal(statSync(saved).size, 50 * MB);
    assert.equal(sha256(saved), sha256(remote));
    await page.locator('.gg-transfer[data-direction="download"][data-state="done"]').waitFor({ timeout: 20_000 });
    const rows = await waitFor(() => { const r = recordedTransfers('/report-50.bin'); return r.length ? r : undefined; }, { what: 'the download in history' });
    assert.deepEqual(rows, [{ direction: 'download', bytes: 50 * MB, via: 'http', status: 0 }]);
    // Into a folder, and back up.
    await page.locator('.gg-files-entry[data-path="/folder"]').click();
    await page.locator('.gg-files-path', { hasText: '/folder' }).waitFor();
    await page.locator('.gg-files-note', { hasText: 'This folder is empty.' }).waitFor();
    await page.locator('.gg-files-up').click();
    await page.locator('.gg-files-entry[data-path="/report-50.bin"]').waitFor();
    await page.screenshot({ path: join(SHOTS, 'download-done.png') });
    await page.close();
  });

  test('a download guacd starts itself (guacctl\'s escape in the terminal) arrives as a browser download', async () => {
    const page = await open();
    const remote = join(dir.path, 'from-guacctl.bin');
    await randomFile(remote, 3 * MB);
    await page.locator('.gg-viewport').click();
    // What `guacctl -d FILE` prints: guacd's terminal answers it with a `file` stream.
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 20_000 }),
      page.keyboard.type(`printf '\\033]482200;%s\\007' ${remote}\n`),
    ]);
    assert.equal(download.suggestedFilename(), 'from-guacctl.bin');
    const saved = await download.path();
    assert.equal(sha256(saved), sha256(remote));
    await page.close();
  });

  test('uploading into the open folder of the file browser', async () => {
    const page = await open();
    mkdirSync(join(dir.path, 'inbox'), { recursive: true });
    const { chownSync } = await import('node:fs');
    const { uid, gid } = statSync(dir.path);
    chownSync(join(dir.path, 'inbox'), uid, gid);
    const local = join('/tmp', `into-${randomBytes(4).toString('hex')}.txt`);
    removeAfter.push(local);
    await import('node:fs/promises').then((fs) => fs.writeFile(local, 'into the folder\n'));
    await page.locator('.gg-files-toggle').click();
    await page.locator('.gg-files-entry[data-path="/inbox"]').click();
    await page.locator('.gg-files-path', { hasText: '/inbox' }).waitFor();
    await page.setInputFiles('.gg-files-input', local);
    await page.locator('.gg-transfer[data-direction="upload"][data-state="done"]').waitFor({ timeout: 20_000 });
    const landed = join(dir.path, 'inbox', local.split('/').pop()!);
    await waitFor(() => existsSync(landed) && statSync(landed).size === 16, { what: 'the file in the folder' });
    await page.close();
  });

  test('a denied upload (--no-upload) says so in words and writes nothing', async () => {
    const page = await open(['--no-upload']);
    const name = await expectRefusedDrop(page, 'denied', 'Uploading files is not allowed on this connection.');
    const rows = await waitFor(() => { const r = recordedTransfers(name); return r.length ? r : undefined; }, { what: 'the refusal in history' });
    assert.deepEqual(rows, [{ direction: 'upload', bytes: 0, via: 'tunnel', status: 0x0303 }]);
    await page.screenshot({ path: join(SHOTS, 'upload-denied.png') });
    await page.close();
  });

  test('beyond --max-upload-size the page refuses before sending, in words', async () => {
    const page = await open(['--max-upload-size', '1K']);
    await expectRefusedDrop(page, 'big', 'The file is larger than the maximum upload size of 1.0 KiB.', 4096);
    await page.close();
  });

  test('a read-only viewer can neither upload nor download', async () => {
    const page = await open(['--read-only']);
    assert.equal(await page.locator('.gg-client').getAttribute('data-files'), 'none');
    await expectRefusedDrop(page, 'viewer', 'Uploading files is not allowed on this connection.');
    await page.close();
  });
});
