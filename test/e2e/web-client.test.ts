/**
 * The web client end to end: Chromium opens the gateway's page, which talks
 * through the gateway to the real guacd, sshd and Xvnc of the test
 * environment, once per guacd version (test/helpers/guacd-matrix.ts).
 * Effects are checked where they land: files on disk, pixels on the canvas,
 * the size of the X display, the gateway's guacd sockets.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GuacdClient } from '../../src/guacd/index.js';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { readFile, rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { loadTestEnv, waitFor } from '../helpers/env.js';
import { atLeast, forEachGuacd } from '../helpers/guacd-matrix.js';
import {
  countConnectionsTo,
  displayVariety,
  launchBrowser,
  openClient,
  openConnected,
  pageState,
  startGateway,
  waitForPageState,
  type GatewayProcess,
  type TestBrowser,
} from '../helpers/browser.js';

const env = loadTestEnv();
const created: string[] = [];

let browser: TestBrowser;
let gateway: GatewayProcess;

function tokenArgs(protocol: string, params: Record<string, string>, extra: string[] = []): string[] {
  return ['--protocol', protocol, ...Object.entries(params).flatMap(([k, v]) => ['--param', `${k}=${v}`]), ...extra];
}

const sshToken = (extra: string[] = [], params: Record<string, string> = {}): Promise<string> =>
  gateway.token(tokenArgs('ssh', { ...env.ssh.params, ...params }, extra));

function tmpFile(label: string): { path: string; word: string } {
  const word = `${label}${randomBytes(6).toString('hex')}`;
  const path = `/tmp/gg-e2e-${word}`;
  created.push(path);
  return { path, word };
}

const readIfExists = (path: string): Promise<string | undefined> => readFile(path, 'utf8').catch(() => undefined);

/** Opens an SSH session and waits until the terminal has drawn something. */
async function openTerminal(page: Page, token: string): Promise<void> {
  const { state, code } = await openConnected(page, gateway.url, token);
  assert.equal(state, 'connected', `expected connected, got ${state} ${code ?? ''}`);
  await waitFor(async () => (await displayVariety(page)).colours >= 2, { what: 'the terminal to draw', timeoutMs: 15_000 });
}

/** Types a shell command and presses Enter. */
async function run(page: Page, command: string): Promise<void> {
  await page.keyboard.type(command);
  await page.keyboard.press('Enter');
}

/** The X screen size of a display, as xrandr reports it. */
async function screenSize(display: string): Promise<{ width: number; height: number }> {
  const { stdout } = await promisify(execFile)('xrandr', ['-d', display], { timeout: 5000 });
  const m = /current (\d+) x (\d+)/.exec(stdout);
  if (!m) throw new Error(`xrandr -d ${display}: no current size in ${stdout.slice(0, 120)}`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** Sets the X screen size of a display (one of Xvnc's modes). */
async function setScreenSize(display: string, width: number, height: number): Promise<void> {
  await promisify(execFile)('xrandr', ['-d', display, '-s', `${width}x${height}`], { timeout: 5000 });
}

/** The remote display's size (its default layer) and its element's box on the page. */
async function displayGeometry(page: Page): Promise<{ width: number; height: number; box: { width: number; height: number }; viewport: { width: number; height: number } }> {
  return page.evaluate(`(() => {
    const viewport = document.querySelector('.gg-viewport');
    // Guacamole.Display: the bounds element (scaled size) holds the display
    // element, styled with the remote size in pixels (canvases are rounded up).
    const element = viewport.firstElementChild;
    const inner = element.firstElementChild;
    const box = element.getBoundingClientRect();
    return { width: parseFloat(inner.style.width), height: parseFloat(inner.style.height), box: { width: box.width, height: box.height },
      viewport: { width: viewport.clientWidth, height: viewport.clientHeight } };
  })()`);
}

/** guacd's id of the newest live session in a `serve` process's history (its SQLite file in the data folder). */
function newestActiveGuacdId(dataDir: string): string | undefined {
  for (const file of readdirSync(dataDir).filter((f) => /\.(db|sqlite3?)$/.test(f))) {
    const db = new Database(join(dataDir, file), { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare('SELECT guacd_id FROM sessions WHERE ended_at IS NULL AND guacd_id IS NOT NULL ORDER BY started_at DESC LIMIT 1').get() as { guacd_id: string } | undefined;
      if (row) return row.guacd_id;
    } finally {
      db.close();
    }
  }
  return undefined;
}

/** The scratch VNC desktop at its initial size (a test that failed may have left it otherwise). */
async function resetScratch(): Promise<typeof env.vncScratch> {
  await setScreenSize(env.vncScratch.display, env.vncScratch.width, env.vncScratch.height);
  return env.vncScratch;
}

type Geometry = Awaited<ReturnType<typeof displayGeometry>>;

/** The display fills the viewport with its aspect ratio kept: one side touches, none overflows. */
function fitted(g: Geometry): boolean {
  const scale = Math.min(g.viewport.width / g.width, g.viewport.height / g.height);
  return Math.abs(g.box.width - g.width * scale) <= 1 && Math.abs(g.box.height - g.height * scale) <= 1;
}

/** Waits until the page shows a display that `match`es, fitted to the viewport. */
async function waitForFitted(page: Page, match: (g: Geometry) => boolean, what: string): Promise<Geometry> {
  let last: Geometry | undefined;
  try {
    return await waitFor(async () => {
      last = await displayGeometry(page);
      return match(last) && fitted(last) ? last : undefined;
    }, { what, timeoutMs: 10_000 });
  } catch (err) {
    const g = last;
    throw new Error(`${(err as Error).message}; last: ${g ? `a ${g.width}x${g.height} display shown ${g.box.width}x${g.box.height} in a ${g.viewport.width}x${g.viewport.height} viewport` : 'none'}`);
  }
}

forEachGuacd((version) => describe('web client through the gateway', { timeout: 180_000 }, () => {
  before(async () => {
    gateway = await startGateway({ guacd: `${version.host}:${version.port}` });
    browser = await launchBrowser({ width: 1024, height: 640 });
  });

  after(async () => {
    await browser?.close();
    await gateway?.stop();
    await Promise.all(created.map((path) => rm(path, { force: true })));
  });

  test('keystrokes typed in the page run in the SSH shell', async () => {
    const page = await browser.newPage();
    try {
      await openTerminal(page, await sshToken());
      const { path, word } = tmpFile('keys');
      await run(page, `echo ${word} > ${path}`);
      const content = await waitFor(() => readIfExists(path), { what: 'the file the shell writes' });
      assert.equal(content.trim(), word);
    } finally {
      await page.close();
    }
  });

  test('text from an input method or on-screen keyboard (no key events) reaches the shell, non-ASCII included', async () => {
    const page = await browser.newPage();
    try {
      await openTerminal(page, await sshToken());
      const { path, word } = tmpFile('ime');
      await run(page, `cat > ${path}`);
      // The redirection makes the file as cat starts: the text then goes to cat, not to a shell still busy (one
      // CI run timed out with no way to tell which side lost it).
      await waitFor(async () => (await readIfExists(path)) !== undefined || undefined, { what: 'cat to start (the file made)' });
      // What an IME commits, or a phone's keyboard types: an input event carrying text, no keydown per character.
      // BMP only: guacd's terminal writes a Unicode keysym as UTF-8 only below U+10000 and ignores the rest
      // (emoji), whatever the client sends; those go through the clipboard panel instead.
      const text = `Grüße 你好 ✓ ${word}`;
      await page.keyboard.insertText(text);
      await page.keyboard.press('Enter');
      await page.keyboard.press('Control+D');
      let seen: string | undefined;
      const content = await waitFor(async () => {
        seen = await readIfExists(path);
        return seen?.includes('\n') ? seen : undefined;
      }, { what: 'the file cat writes' }).catch((err: Error) => {
        throw new Error(`${err.message}; the file holds ${JSON.stringify(seen)}`);
      });
      assert.equal(content, `${text}\n`);
    } finally {
      await page.close();
    }
  });

  test('a read-only session shows the terminal but ignores typing', async () => {
    const viewer = await browser.newPage();
    const writer = await browser.newPage();
    try {
      await openTerminal(viewer, await sshToken(['--read-only']));
      const ignored = tmpFile('ro');
      await viewer.bringToFront();
      await run(viewer, `echo ${ignored.word} > ${ignored.path}`);

      // Marker: a writable session typed after the viewer got its command done,
      // so guacd and sshd were live and had time to act on the viewer's keys.
      await openTerminal(writer, await sshToken());
      const marker = tmpFile('mark');
      await writer.bringToFront();
      await run(writer, `echo ${marker.word} > ${marker.path}`);
      await waitFor(() => readIfExists(marker.path), { what: 'the marker file' });

      const deadline = Date.now() + 3000;
      while (Date.now() < deadline) {
        assert.equal(await readIfExists(ignored.path), undefined, 'the read-only session ran a command');
        await new Promise((ok) => setTimeout(ok, 200));
      }
      assert.equal((await pageState(viewer)).state, 'connected');
    } finally {
      await writer.close();
      await viewer.close();
    }
  });

  test(atLeast(version, '1.6.0')
    ? 'a VNC desktop takes the page\'s size (guacd 1.6 resizes it), draws, and takes pointer and keys'
    : 'a VNC desktop draws scaled to the page, and takes pointer and keys', async () => {
    const scratch = await resetScratch();
    const page = await browser.newPage();
    try {
      const { state, code } = await openConnected(page, gateway.url, await gateway.token(tokenArgs('vnc', scratch.params)));
      assert.equal(state, 'connected', `expected connected, got ${state} ${code ?? ''}`);
      const drawn = (size?: { width: number; height: number }) => waitFor(
        async () => {
          const v = await displayVariety(page);
          // desktop, xterm, text; at the size asked for, else at least 640x480: the
          // cursor's 64x64 sprite may be the most colourful canvas before the desktop draws
          const fits = size ? v.width === size.width && v.height === size.height : v.width >= 640 && v.height >= 480;
          return v.colours >= 3 && fits ? v : undefined;
        },
        { what: size ? `the desktop drawn at ${size.width}x${size.height}` : 'the desktop drawn, at least 640x480', timeoutMs: 15_000 },
      );
      let variety = await drawn();
      if (atLeast(version, '1.6.0')) {
        // guacd 1.6 asks the VNC server (ExtendedDesktopSize) for the browser's
        // size; its first frames may still show the desktop's old size.
        const geometry = await displayGeometry(page);
        variety = await drawn(geometry.viewport);
        assert.deepEqual(await screenSize(scratch.display), geometry.viewport, 'the X screen itself was resized');
      }

      // Pointer and keys through the scaled display: the test desktop's xterm
      // sits at +40+40 (80x24) and X gives keys to the window under the pointer.
      const box = await page.locator('.gg-viewport > div').boundingBox();
      assert.ok(box, 'display has a box');
      const scale = box.width / variety.width;
      if (atLeast(version, '1.6.0')) {
        assert.equal(scale, 1);
      } else {
        assert.deepEqual(await screenSize(scratch.display), { width: scratch.width, height: scratch.height }, 'the X screen keeps its size');
        assert.ok(scale < 1, `a 1024x640 window shows the ${variety.width}x${variety.height} desktop scaled down`);
      }
      const { path, word } = tmpFile('vnc');
      // The desktop is shared: another session typing at once garbles the
      // line, so cancel it (Ctrl+C) and type again.
      const content = await waitFor(
        async () => {
          await page.mouse.move(box.x + 200 * scale, box.y + 150 * scale, { steps: 3 });
          await page.keyboard.press('Control+C');
          await run(page, `echo ${word} > ${path}`);
          return waitFor(() => readIfExists(path), { timeoutMs: 4000 }).catch(() => undefined);
        },
        { what: 'the file the xterm writes', timeoutMs: 15_000, intervalMs: 0 },
      );
      assert.equal(content.trim(), word);
    } finally {
      await page.close();
      await setScreenSize(scratch.display, scratch.width, scratch.height);
    }
  });

  test('the page follows a remote desktop that changes size; guacd 1.6 also follows the page', async () => {
    const scratch = await resetScratch();
    const page = await browser.newPage();
    try {
      const { state, code } = await openConnected(page, gateway.url, await gateway.token(tokenArgs('vnc', scratch.params)));
      assert.equal(state, 'connected', `expected connected, got ${state} ${code ?? ''}`);
      await waitFor(async () => (await displayVariety(page)).colours >= 3, { what: 'the desktop to draw', timeoutMs: 15_000 });
      // The desktop changes size on the server side (a user changing the resolution): smaller, then larger than the page.
      for (const [width, height] of [[800, 600], [1280, 1024]] as const) {
        await setScreenSize(scratch.display, width, height);
        await waitForFitted(page, (g) => g.width === width && g.height === height, `the page's display to become ${width}x${height}, fitted`);
      }
      // The page changes size: guacd 1.6 resizes the desktop to it; older guacd leave VNC desktops alone.
      await page.setViewportSize({ width: 900, height: 500 });
      if (atLeast(version, '1.6.0')) {
        const viewport = (await displayGeometry(page)).viewport;
        await waitFor(async () => {
          const s = await screenSize(scratch.display);
          return s.width === viewport.width && s.height === viewport.height;
        }, { what: `the X screen to become ${viewport.width}x${viewport.height}`, timeoutMs: 10_000 });
        await waitForFitted(page, (g) => g.width === viewport.width && g.height === viewport.height, 'the page\'s display to follow, fitted');
      } else {
        await waitForFitted(page, (g) => g.viewport.width === 900 && g.width === 1280, 'the 1280x1024 display fitted to the new page size');
        assert.deepEqual(await screenSize(scratch.display), { width: 1280, height: 1024 }, 'the X screen keeps its size');
      }
    } finally {
      await page.close();
      await setScreenSize(scratch.display, scratch.width, scratch.height);
    }
  });

  test('a VNC connection without a stored password: guacd asks, the page shows a login form, the typed password logs in', async () => {
    const scratch = await resetScratch();
    const page = await browser.newPage();
    try {
      // The token carries no password: guacd's VNC plugin sends `required,password`.
      const { password, ...withoutPassword } = scratch.params;
      assert.ok(password);
      const sent: string[] = [];
      page.on('websocket', (ws) => ws.on('framesent', (frame) => { sent.push(String(frame.payload)); }));
      await page.goto(`${gateway.url}/?token=${encodeURIComponent(await gateway.token(tokenArgs('vnc', withoutPassword)))}`);
      const form = page.locator('form.gg-login');
      await form.waitFor({ state: 'visible', timeout: 20_000 });
      assert.equal(await page.locator('.gg-client').getAttribute('data-prompt'), 'credentials');
      assert.equal((await page.locator('.gg-title').textContent())?.trim(), 'Log in');
      assert.equal((await pageState(page)).state, 'connecting');
      // Exactly what guacd asked for: the password, masked, focused.
      assert.deepEqual(await form.locator('input').evaluateAll((inputs) => inputs.map((i) => [(i as { name: string }).name, (i as { type: string }).type])), [['password', 'password']]);
      // While the form is open the page keeps guacd from dropping a silent user (15 s): `nop`.
      await waitFor(() => sent.some((f) => f.includes('3.nop;')), { what: 'a nop while the form is open', timeoutMs: 10_000 });
      await page.keyboard.type(scratch.password);
      await page.screenshot({ path: `/tmp/gg-e2e-vnc-login-${version.version}.png` });
      await page.keyboard.press('Enter');
      // A selector wait: waitForFunction's string predicate is eval, which the page's CSP refuses once it must poll.
      await waitForPageState(page, ['connected'], 20_000);
      assert.equal(await page.locator('.gg-client').getAttribute('data-prompt'), null);
      assert.equal(await form.count(), 0, 'the form is gone');
      const variety = await waitFor(async () => {
        const v = await displayVariety(page);
        return v.colours >= 3 ? v : undefined;
      }, { what: 'the desktop to draw', timeoutMs: 15_000 });
      assert.ok(variety.width >= 640, `display ${variety.width}x${variety.height}`);
      assert.ok(!(await page.content()).includes(scratch.password), 'the password stays out of the page');
    } finally {
      await page.close();
      await setScreenSize(scratch.display, scratch.width, scratch.height);
    }
  });

  test(atLeast(version, '1.5.0')
    ? 'the owner\'s page shows who joined and who left (guacd\'s msg)'
    : 'guacd 1.3.0 sends no msg: the owner\'s page shows no notice', async () => {
    const page = await browser.newPage();
    try {
      await openTerminal(page, await sshToken());
      const guacdId = await waitFor(() => newestActiveGuacdId(gateway.env.GATEWAY_DATA_DIR as string), { what: 'the session in the gateway\'s history' });
      // Bob joins from elsewhere (straight to guacd, as another gateway would), read-only, named.
      const bob = await GuacdClient.open({ host: version.host, port: version.port }, { join: guacdId, readOnly: true, name: 'bob' }, { autoSync: true });
      void (async () => { for await (const _ of bob.client); })().catch(() => undefined);
      const notice = page.locator('.gg-notice');
      if (atLeast(version, '1.5.0')) {
        await notice.filter({ hasText: 'bob joined the session.' }).waitFor({ timeout: 10_000 });
        await page.screenshot({ path: `/tmp/gg-e2e-joined-${version.version}.png` });
        await bob.client.close();
        await notice.filter({ hasText: 'bob left the session.' }).waitFor({ timeout: 10_000 });
        assert.equal(await page.locator('.gg-notices').getAttribute('aria-live'), 'polite');
      } else {
        await bob.client.close();
        // The page is live and drawing after bob came and went: a command typed in it runs.
        const { path, word } = tmpFile('nomsg');
        await run(page, `echo ${word} > ${path}`);
        await waitFor(() => readIfExists(path), { what: 'the file' });
        assert.equal(await notice.count(), 0);
      }
    } finally {
      await page.close();
    }
  });

  test('a wrong SSH password shows why', async () => {
    const page = await browser.newPage();
    try {
      const { state, code } = await openClient(page, gateway.url, await sshToken([], { password: 'not-the-password' }), 30_000);
      assert.equal(state, 'error');
      assert.ok(code === '0x0301' || code === '0x0203', `status code ${code}`);
      const title = page.locator('.gg-title');
      assert.ok(await title.isVisible());
      const expected = code === '0x0301' ? 'Access denied' : 'Remote server error';
      assert.equal((await title.textContent())?.trim(), expected);
      assert.ok(await page.getByText(`Status ${code}`).isVisible());
      assert.ok(await page.getByRole('button', { name: 'Reconnect' }).isVisible());
      await page.screenshot({ path: '/tmp/gg-e2e-badpw.png' });
    } finally {
      await page.close();
    }
  });

  test('an expired link says so and offers no reconnect', async () => {
    const page = await browser.newPage();
    try {
      const token = await sshToken(['--ttl', '1']);
      await new Promise((ok) => setTimeout(ok, 2100)); // the token's one-second life must pass
      const { state, code } = await openClient(page, gateway.url, token);
      assert.equal(state, 'error');
      assert.equal(code, '0x0308');
      assert.ok(await page.getByText('This link has expired').isVisible());
      assert.equal(await page.getByRole('button', { name: 'Reconnect' }).isVisible(), false);
    } finally {
      await page.close();
    }
  });

  test('closing the tab closes the guacd connection within a second', async () => {
    const pid = gateway.child.pid!;
    const before = await countConnectionsTo(pid, version.port);
    const page = await browser.newPage();
    let closed = false;
    try {
      await openTerminal(page, await sshToken());
      assert.equal(await countConnectionsTo(pid, version.port), before + 1);
      const start = Date.now();
      await page.close();
      closed = true;
      await waitFor(async () => (await countConnectionsTo(pid, version.port)) === before, {
        what: 'the guacd connection to close',
        timeoutMs: 1000,
        intervalMs: 20,
      });
      assert.ok(Date.now() - start <= 1000, `took ${Date.now() - start} ms`);
    } finally {
      if (!closed) await page.close();
    }
  });

  test('embed.js mounts a session in a host page element', async () => {
    const page = await browser.newPage();
    try {
      const token = await sshToken();
      // The host page is served at the gateway's origin by interception, so
      // the module import needs no CORS; embed.js finds /tunnel by itself.
      const hostUrl = `${gateway.url}/__e2e-host.html`;
      await page.route(hostUrl, (route) =>
        route.fulfill({
          contentType: 'text/html',
          body: `<!doctype html><body style="margin:0"><div id="term" style="width:640px;height:400px"></div>
            <p id="log"></p><script type="module">
              import { mount } from '/embed.js';
              const log = document.getElementById('log');
              window.session = mount(document.getElementById('term'), {
                token: ${JSON.stringify(token)},
                onStateChange: (state) => { log.textContent += state + ' '; },
              });
            </script></body>`,
        }),
      );
      await page.goto(hostUrl);
      const log = page.locator('#log');
      await waitFor(async () => /\bconnected\b/.test((await log.textContent()) ?? ''), {
        what: 'the embedded session to connect',
        timeoutMs: 20_000,
      });
      await waitFor(async () => (await displayVariety(page)).colours >= 2, { what: 'the terminal to draw', timeoutMs: 15_000 });
      await page.click('#term');
      const { path, word } = tmpFile('embed');
      await run(page, `echo ${word} > ${path}`);
      assert.equal((await waitFor(() => readIfExists(path), { what: 'the file' })).trim(), word);

      await page.evaluate('window.session.disconnect()');
      await waitFor(async () => (await log.textContent())?.includes('disconnected'), { what: 'the disconnected state', timeoutMs: 5000 });
      assert.equal(await page.locator('#term .gg-client').getAttribute('data-state'), 'disconnected');
      assert.ok(await page.getByRole('button', { name: 'Reconnect' }).isVisible());
    } finally {
      await page.close();
    }
  });

  test('the page works inside an iframe', async () => {
    const page = await browser.newPage();
    try {
      const token = await sshToken();
      const hostUrl = `${gateway.url}/__e2e-frame.html`;
      await page.route(hostUrl, (route) =>
        route.fulfill({
          contentType: 'text/html',
          body: `<!doctype html><body style="margin:0"><input id="host-input">
            <iframe src="/?token=${encodeURIComponent(token)}" style="width:700px;height:420px;border:0"></iframe></body>`,
        }),
      );
      await page.goto(hostUrl);
      const frame = page.frameLocator('iframe');
      await waitFor(async () => (await frame.locator('body').getAttribute('data-state')) === 'connected', {
        what: 'the framed session to connect',
        timeoutMs: 20_000,
      });
      await frame.locator('.gg-viewport').click();
      const { path, word } = tmpFile('frame');
      await run(page, `echo ${word} > ${path}`);
      assert.equal((await waitFor(() => readIfExists(path), { what: 'the file' })).trim(), word);

      // Keys typed into the host page stay there.
      await page.click('#host-input');
      await page.keyboard.type('local');
      assert.equal(await page.locator('#host-input').inputValue(), 'local');
    } finally {
      await page.close();
    }
  });

  test('clipboard: non-ASCII text both ways', async () => {
    const page = await browser.newPage();
    try {
      await openTerminal(page, await sshToken());
      const display = page.locator('.gg-viewport > div');
      const box = await display.boundingBox();
      assert.ok(box, 'display has a box');

      // Local → remote: the panel's text becomes guacd's clipboard; a right
      // click in the terminal pastes it into `cat`, which writes the bytes.
      const pasted = tmpFile('clip');
      const text = `Grüße € ✓ ${pasted.word}`;
      await page.click('.gg-clipboard-toggle');
      await page.fill('.gg-clipboard-text', text);
      await page.click('.gg-clipboard-toggle'); // closing the panel sends the text at once
      await run(page, `cat > ${pasted.path}`);
      // The paste goes to whatever reads the terminal: wait until `cat` runs (its shell made the file), not the
      // shell's line editor, which a loaded machine can still be in.
      await waitFor(async () => (await readIfExists(pasted.path)) !== undefined || undefined, { what: 'cat to start' });
      await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2, { button: 'right' });
      await page.keyboard.press('Enter');
      await page.keyboard.press('Control+D');
      const content = await waitFor(
        async () => {
          const c = await readIfExists(pasted.path);
          return c && c.includes('\n') ? c : undefined;
        },
        { what: 'the pasted file', timeoutMs: 20_000 },
      );
      assert.equal(content, `${text}\n`);

      // Remote → local: the shell prints non-ASCII (typed as octal escapes);
      // selecting the screen makes guacd send it as clipboard to the page.
      const word = randomBytes(4).toString('hex');
      await run(page, `clear; printf '\\303\\244\\342\\202\\254 %s\\n' ${word}`);
      const remoteText = `ä€ ${word}`;
      const clipboard = page.locator('.gg-clipboard-text');
      await waitFor(
        async () => {
          await page.mouse.move(box.x + 2, box.y + 2);
          await page.mouse.down();
          // End left of the terminal's scrollbar, which would take the release.
          await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 3, { steps: 4 });
          await page.mouse.up();
          return (await clipboard.inputValue()).includes(remoteText);
        },
        { what: 'the remote selection in the clipboard panel', intervalMs: 500 },
      );
    } finally {
      await page.close();
    }
  });
}));
