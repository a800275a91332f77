/**
 * The page's own defences, in Chromium against the real gateway, guacd and
 * sshd: a link cannot point the session (token, keystrokes, clipboard) at
 * another host, and the Content-Security-Policy lets the page, embed.js and
 * framing work while refusing everything else. A trap listener on another
 * loopback address stands for "another host": it must never see a byte.
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { loadTestEnv, waitFor } from '../helpers/env.js';
import { displayVariety, launchBrowser, openClient, startGateway, waitForPageState, type GatewayProcess, type TestBrowser } from '../helpers/browser.js';

const env = loadTestEnv();

let browser: TestBrowser;
let gateway: GatewayProcess;
let trap: Trap;

/** A listener on 127.0.0.2 that counts connections and answers 404 at once, so a leaking client fails fast. */
interface Trap {
  /** `127.0.0.2:PORT`. */
  readonly host: string;
  /** First lines of every request that reached it. */
  readonly seen: string[];
  connections: number;
  close(): Promise<void>;
}

async function startTrap(): Promise<Trap> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    trapState.connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
    socket.once('data', (chunk) => {
      trapState.seen.push(chunk.toString('latin1').split('\r\n')[0]!);
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.2', resolve);
  });
  const trapState: Trap = {
    host: `127.0.0.2:${(server.address() as net.AddressInfo).port}`,
    seen: [],
    connections: 0,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return trapState;
}

/** Serves one HTML page at `http://127.0.0.3:PORT/` (a host page on another origin than the gateway). */
async function servePage(html: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.3', resolve);
  });
  return {
    url: `http://127.0.0.3:${(server.address() as net.AddressInfo).port}/`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const sshToken = (): Promise<string> =>
  gateway.token(['--protocol', 'ssh', ...Object.entries(env.ssh.params).flatMap(([k, v]) => ['--param', `${k}=${v}`])]);

/** Every URL the page requested or opened a WebSocket to (data: and blob: URLs stay in the page). */
function recordTraffic(page: Page): string[] {
  const urls: string[] = [];
  page.on('request', (request) => {
    if (!/^(data|blob):/.test(request.url())) urls.push(request.url());
  });
  page.on('websocket', (ws) => urls.push(ws.url()));
  return urls;
}

/** URLs whose origin is not the gateway's (ws: counted as its http: twin). */
function foreign(urls: readonly string[]): string[] {
  return urls.filter((u) => new URL(u.replace(/^ws/, 'http')).origin !== gateway.url);
}

/** Collects CSP violations the page reports, from the DOM event and from the console. */
async function recordViolations(page: Page): Promise<string[]> {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content[- ]Security[- ]Policy/i.test(message.text())) violations.push(`console: ${message.text()}`);
  });
  await page.exposeFunction('__reportViolation', (text: string) => violations.push(text));
  await page.addInitScript(`document.addEventListener('securitypolicyviolation', (e) =>
    window.__reportViolation(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sourceFile || '') + ':' + e.lineNumber), true);`);
  return violations;
}

describe('the page keeps the session on the gateway', { timeout: 300_000 }, () => {
  before(async () => {
    trap = await startTrap();
    gateway = await startGateway({ guacd: `${env.guacd.host}:${env.guacd.port}` });
    browser = await launchBrowser({ width: 800, height: 500 });
  });

  after(async () => {
    await browser?.close();
    await gateway?.stop();
    await trap?.close();
  });

  test('a ?tunnel= in the link never moves the session: Unicode spaces, slashes, control characters, other schemes and hosts', async () => {
    const t = trap.host;
    const gatewayHost = new URL(gateway.url).host;
    // Each would reach the trap if the page took it: the first six are what trim() strips and the URL parser
    // keeps (a same-host path that became `//127.0.0.2…` after the check), the rest the classic spellings.
    const cases: [string, string][] = [
      ['U+00A0', `\u00a0//${t}/tunnel`],
      ['U+FEFF', `\ufeff//${t}/tunnel`],
      ['U+3000', `\u3000//${t}/tunnel`],
      ['U+2028', `\u2028//${t}/tunnel`],
      ['U+2029', `\u2029//${t}/tunnel`],
      ['U+1680', `\u1680//${t}/tunnel`],
      ['scheme-relative', `//${t}/tunnel`],
      ['backslashes', `\\\\${t}\\tunnel`],
      ['slash backslash', `/\\${t}/tunnel`],
      ['tab inside', `/\t/${t}/tunnel`],
      ['newline inside', `/\n/${t}/tunnel`],
      ['leading space and tab', ` \t//${t}/tunnel`],
      ['javascript:', `javascript:fetch('http://${t}/x')//`],
      ['absolute http', `http://${t}/tunnel`],
      ['absolute ws', `ws://${t}/tunnel`],
      ['userinfo', `http://${gatewayHost}@${t}/tunnel`],
      ['same host, other port', `http://127.0.0.1:${t.split(':')[1]}/tunnel`],
    ];
    const token = await sshToken();
    for (const [name, value] of cases) {
      trap.connections = 0;
      trap.seen.length = 0;
      const page = await browser.newPage();
      try {
        const urls = recordTraffic(page);
        const errors: string[] = [];
        page.on('pageerror', (err) => errors.push(err.message));
        await page.goto(`${gateway.url}/?token=${encodeURIComponent(token)}&tunnel=${encodeURIComponent(value)}`);
        await waitForPageState(page, ['connected', 'disconnected', 'error']);
        const state = await page.locator('body').getAttribute('data-state');
        if (name === 'U+00A0') await page.screenshot({ path: '/tmp/gg-e2e-tunnel-override.png' });
        assert.equal(trap.connections, 0, `${name}: the trap was reached: ${trap.seen.join(' | ')}`);
        assert.deepEqual(foreign(urls), [], `${name}: requests left the gateway's origin`);
        assert.equal(state, 'connected', `${name}: the session did not connect (${state})`);
        assert.ok(urls.some((u) => u.startsWith(`ws://${gatewayHost}/tunnel?`)), `${name}: no WebSocket to the gateway's tunnel: ${urls.join(' ')}`);
        assert.deepEqual(errors, [], `${name}: page errors`);
      } finally {
        await page.close();
      }
    }
  });

  test('embed.js: a tunnel address is parsed once, so the origin a host page checks is the one used; other schemes throw', async () => {
    trap.connections = 0;
    trap.seen.length = 0;
    const page = await browser.newPage();
    try {
      const urls = recordTraffic(page);
      const token = await sshToken();
      const hostUrl = `${gateway.url}/__e2e-check.html`;
      // A host page that checks the address with the URL parser before passing it on, as the page once did.
      await page.route(hostUrl, (route) =>
        route.fulfill({
          contentType: 'text/html',
          body: `<!doctype html><body><div id="term" style="width:400px;height:300px"></div><p id="log"></p>
            <script type="module">
              import { mount } from '/embed.js';
              const tunnelUrl = '\\u00a0//${trap.host}/tunnel';
              const checked = new URL(tunnelUrl, new URL('/embed.js', location.href)).origin === location.origin;
              const log = document.getElementById('log');
              let thrown = '';
              const spare = document.body.appendChild(document.createElement('div'));
              try { mount(spare, { token: 'x', tunnelUrl: 'javascript:alert(1)' }); }
              catch (e) { thrown = e.name + ': ' + e.message; }
              window.result = { checked, thrown, children: spare.children.length };
              mount(document.getElementById('term'), {
                token: ${JSON.stringify(token)}, tunnelUrl,
                onStateChange: (state) => { log.textContent += state + ' '; },
              });
            </script></body>`,
        }),
      );
      await page.goto(hostUrl);
      const log = page.locator('#log');
      await waitFor(async () => /\b(error|disconnected)\b/.test((await log.textContent()) ?? ''), {
        what: 'the embedded session to fail', timeoutMs: 20_000,
      });
      const result = (await page.evaluate('window.result')) as { checked: boolean; thrown: string; children: number };
      assert.equal(result.checked, true, 'the host page saw the gateway origin');
      assert.equal(trap.connections, 0, `the trap was reached: ${trap.seen.join(' | ')}`);
      assert.deepEqual(foreign(urls), []);
      assert.equal(result.thrown, 'TypeError: The tunnel address must be a ws:, wss:, http: or https: URL, not javascript:.');
      assert.equal(result.children, 0, 'a refused mount() left DOM behind');
      // It went where the parser said: a path on the gateway, which is no tunnel (fails closed, visibly).
      assert.ok(urls.some((u) => u.startsWith(`ws://${new URL(gateway.url).host}/%C2%A0//${trap.host}/tunnel?`)), urls.join(' '));
      assert.ok(await page.getByRole('button', { name: 'Reconnect' }).isVisible());
    } finally {
      await page.close();
    }
  });

  test('the page runs under its Content-Security-Policy without a violation, over a WebSocket', async () => {
    const page = await browser.newPage();
    try {
      const violations = await recordViolations(page);
      const urls = recordTraffic(page);
      const response = page.waitForResponse((r) => new URL(r.url()).pathname === '/');
      const { state, code } = await openClient(page, gateway.url, await sshToken());
      assert.equal(state, 'connected', `got ${state} ${code ?? ''}`);
      assert.match((await response).headers()['content-security-policy'] ?? '', /connect-src 'self'/);
      // 'self' must cover ws: to the same host and port, or the client would have fallen back to the HTTP tunnel.
      assert.ok(urls.some((u) => u.startsWith(`ws://${new URL(gateway.url).host}/tunnel?`)), urls.join(' '));
      assert.ok(!urls.some((u) => u.includes('/tunnel?connect')), 'the HTTP tunnel was used');
      // Drawing goes through images (data: and blob: URLs); the remote cursor too.
      await waitFor(async () => (await displayVariety(page)).colours >= 2, { what: 'the terminal to draw', timeoutMs: 15_000 });
      const marker = `/tmp/gg-e2e-csp-${process.pid}-${Date.now()}`;
      await page.keyboard.type(`echo csp-ok > ${marker}\n`);
      assert.equal((await waitFor(() => readFile(marker, 'utf8').catch(() => undefined), { what: 'the file the shell writes' })).trim(), 'csp-ok');
      await rm(marker, { force: true });
      await page.click('.gg-clipboard-toggle');
      await page.fill('.gg-clipboard-text', 'clipboard under CSP');
      await page.click('.gg-clipboard-toggle');
      await page.screenshot({ path: '/tmp/gg-e2e-csp.png' });
      assert.equal(violations.length, 0, violations.join('\n'));
      // The policy does bite: an inline script is refused and reported.
      await page.evaluate(`(() => { const s = document.createElement('script'); s.textContent = 'window.inlineRan = true'; document.head.append(s); })()`);
      await waitFor(() => violations.some((v) => v.startsWith('script-src')), { what: 'the inline-script violation', timeoutMs: 5000 });
      assert.equal(await page.evaluate('window.inlineRan === true'), false);
    } finally {
      await page.close();
    }
  });

  test('another origin imports embed.js and frames the page (CORS for the module, framing open)', async () => {
    const page = await browser.newPage();
    let host: { url: string; close(): Promise<void> } | undefined;
    try {
      const [embedToken, frameToken] = await Promise.all([sshToken(), sshToken()]);
      // A real listener on another loopback address: Chromium's local-network checks refuse a page that
      // came from nowhere (an intercepted one) access to the loopback gateway.
      host = await servePage(`<!doctype html><body style="margin:0"><div id="term" style="width:400px;height:300px"></div><p id="log"></p>
            <iframe src="${gateway.url}/?token=${encodeURIComponent(frameToken)}" style="width:400px;height:300px;border:0"></iframe>
            <script type="module">
              import { mount } from '${gateway.url}/embed.js';
              const log = document.getElementById('log');
              mount(document.getElementById('term'), {
                token: ${JSON.stringify(embedToken)},
                onStateChange: (state) => { log.textContent += state + ' '; },
              });
            </script></body>`);
      const violations = await recordViolations(page);
      await page.goto(host.url);
      await waitFor(async () => /\bconnected\b/.test((await page.locator('#log').textContent()) ?? ''), {
        what: 'the embedded session to connect', timeoutMs: 20_000,
      });
      await waitFor(async () => (await page.frameLocator('iframe').locator('body').getAttribute('data-state')) === 'connected', {
        what: 'the framed page to connect', timeoutMs: 20_000,
      });
      await waitFor(async () => (await displayVariety(page)).colours >= 2, { what: 'the embedded terminal to draw', timeoutMs: 15_000 });
      await page.screenshot({ path: '/tmp/gg-e2e-cross-origin.png' });
      assert.equal(violations.length, 0, violations.join('\n'));
    } finally {
      await page.close();
      await host?.close();
    }
  });
});
