/**
 * The page in Chromium against `serve --workers 2` with WebSockets blocked:
 * guacamole-common-js falls back to its HTTP tunnel, whose reads and writes
 * the browser spreads over several connections, which the shared port gives
 * to either worker. The session connects, draws, takes typing and stays up,
 * and its history row is the worker's that the tunnel token names.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sealToken } from '../../src/tunnel/token.js';
import { displayVariety, launchBrowser, openClient, pageState, type TestBrowser } from '../helpers/browser.js';
import { loadTestEnv, waitFor } from '../helpers/env.js';
import { sshParams } from '../helpers/security.js';
import { startServe, type ServeRun } from '../helpers/serve.js';

const SECRET = randomBytes(32).toString('base64url');
const ADMIN_KEY = `admin-${randomBytes(16).toString('hex')}`;

describe('the page over the HTTP tunnel, two workers', { timeout: 120_000 }, () => {
  let dataDir: string;
  let gateway: ServeRun;
  let browser: TestBrowser;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gg-workers-web-'));
    const env = loadTestEnv();
    gateway = await startServe({
      ...process.env, GATEWAY_SECRET: SECRET, GATEWAY_ADMIN_KEY: ADMIN_KEY, GATEWAY_DATA_DIR: dataDir, DATABASE_URL: '',
      GATEWAY_MAX_SESSIONS_PER_ADDRESS: '0', GATEWAY_HANDSHAKE_RATE: '0',
    }, ['--guacd', `${env.guacd.host}:${env.guacd.port}`, '--workers', '2'], 60_000);
    await waitFor(() => gateway.output().includes('guacamole-gateway listening on'), { what: 'both workers to serve', timeoutMs: 60_000 });
    browser = await launchBrowser({ width: 900, height: 560 });
  });
  after(async () => {
    await browser?.close();
    await gateway?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('connects, draws and takes typing with WebSockets blocked', async () => {
    const page = await browser.newPage();
    let blocked = 0;
    await page.routeWebSocket(/\/tunnel/, (ws) => {
      blocked++;
      void ws.close();
    });
    const tunnelTokens = new Set<string>();
    let httpRequests = 0;
    page.on('request', (r) => { if (/\/tunnel\?(read|write):/.test(r.url())) httpRequests++; });
    page.on('response', (r) => {
      const token = r.headers()['guacamole-tunnel-token'];
      if (token) tunnelTokens.add(token);
    });
    const token = sealToken({ aud: 'tunnel', exp: Math.floor(Date.now() / 1000) + 300, target: { protocol: 'ssh', params: sshParams() } }, SECRET);
    const base = `http://127.0.0.1:${gateway.port}`;
    const { state, code } = await openClient(page, base, token, 30_000);
    assert.equal(state, 'connected', `expected connected, got ${state} ${code ?? ''}`);
    assert.ok(blocked >= 1, 'the WebSocket was tried first and refused');
    assert.equal(tunnelTokens.size, 1);
    const [tunnelToken] = [...tunnelTokens];
    const owner = /^w(\d+)\./.exec(tunnelToken!);
    assert.ok(owner, 'the HTTP tunnel token names its worker');
    await waitFor(async () => (await displayVariety(page)).colours >= 2, { what: 'the terminal to draw', timeoutMs: 20_000 });

    // Typing: writes (and the reads answering them) on whichever connection Chromium picks.
    const before = httpRequests;
    for (const line of ['echo one', 'echo two', 'echo three']) {
      await page.keyboard.type(line);
      await page.keyboard.press('Enter');
    }
    await waitFor(() => httpRequests - before >= 6, { what: 'reads and writes to go on', timeoutMs: 15_000 });
    assert.equal((await pageState(page)).state, 'connected', 'still connected');

    const sessions = async () => {
      const res = await fetch(`${base}/api/sessions`, { headers: { Authorization: `Bearer ${ADMIN_KEY}` } });
      return ((await res.json()) as { sessions: { id: string; gateway: string; endedAt: number | null; bytesFromBrowser: number; status: number | null }[] }).sessions;
    };
    const [live] = await sessions();
    assert.match(live!.gateway, new RegExp(`^w${owner[1]}-`), 'history names the worker the token names');
    await page.close();
    const row = await waitFor(async () => (await sessions()).find((s) => s.id === live!.id && s.endedAt !== null), { what: 'the session to end', timeoutMs: 30_000 });
    assert.ok(row.bytesFromBrowser > 200, `the typing reached the gateway (${row.bytesFromBrowser} bytes)`);
  });
});
