/**
 * The HTTP tunnel against every real guacd of the test environment
 * (test/helpers/guacd-matrix.ts) and its sshd: a client that behaves as
 * guacamole-common-js 1.5's HTTPTunnel (next read issued as soon as the
 * current one has a status, `Guacamole-Tunnel-Token` on every request,
 * responses ending with `0.;`), then the unmodified library itself in
 * Chromium, over both tunnels. Recording and file streams, built and tested
 * on the websocket, are checked here over the HTTP tunnel too.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { createRequire } from 'node:module';
import { afterEach, before, describe, it } from 'node:test';

// Page code below runs in Chromium; this file is compiled without DOM types.
declare const window: Record<string, unknown>;
import { encode } from '../../src/protocol/encoder.js';
import { Parser } from '../../src/protocol/parser.js';
import { STATUS } from '../../src/protocol/status.js';
import { createTunnel, type Tunnel } from '../../src/tunnel/tunnel.js';
import { tokenResolver } from '../../src/tunnel/resolver.js';
import { sealToken } from '../../src/tunnel/token.js';
import type { SessionRecord, TunnelOptions } from '../../src/tunnel/types.js';
import { SessionRecorder, type RecordingResult } from '../../src/tunnel/recording/index.js';
import { CHROMIUM_PATH, launchBrowser } from '../helpers/browser.js';
import { listenOnLoopback, loadTestEnv, waitFor, type GuacdInstance, type TestEnv } from '../helpers/env.js';
import { forEachGuacd } from '../helpers/guacd-matrix.js';
import { uncapped } from '../helpers/ws-client.js';
import { sha256, sftpDir } from '../helpers/sftp-dir.js';

const SECRET = 'tunnel-http-test-secret-0123456789abc';
const ENTER = 0xff0d;
let env: TestEnv;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});
before(() => {
  env = loadTestEnv();
});

/** The guacd of the version under test (set by each version's suites). */
let current: GuacdInstance;

interface Served {
  tunnel: Tunnel;
  base: string;
}

/** The tunnel at /tunnel, plus a page running the unmodified guacamole-common-js at /. */
async function serve(options: Partial<TunnelOptions> = {}): Promise<Served> {
  const tunnel = createTunnel(uncapped({ guacd: { host: current.host, port: current.port }, resolve: tokenResolver({ secret: SECRET }), ...options }));
  // The ESM build, served as is.
  const library = readFileSync(createRequire(import.meta.url).resolve('guacamole-common-js').replace('/cjs/', '/esm/'), 'utf8');
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path.startsWith('/tunnel/streams/')) {
      tunnel.handleStream(req, res, path.slice('/tunnel/streams/'.length));
    } else if (path === '/tunnel') {
      if (!tunnel.handleHttp(req, res)) { res.writeHead(400); res.end(); }
    } else if (path === '/gcj.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      res.end(library);
    } else if (path === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(PAGE);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  server.on('upgrade', (req, socket, head) => tunnel.handleUpgrade(req, socket, head));
  const listening = await listenOnLoopback(server, tunnel);
  cleanups.push(() => listening.close());
  return { tunnel, base: `http://127.0.0.1:${listening.port}` };
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>tunnel test</title>
<script type="module">
import Guacamole from '/gcj.js';
window.log = { states: [], errors: [], instructions: 0 };
window.start = (kind, data) => {
  const tunnel = kind === 'http' ? new Guacamole.HTTPTunnel('/tunnel') : new Guacamole.WebSocketTunnel('/tunnel');
  const client = new Guacamole.Client(tunnel);
  window.client = client;
  client.onstatechange = (s) => window.log.states.push(s);
  // Client.onerror sees guacd's (and our) error instruction; tunnel.onerror a refused
  // connect or a close reason (1.5's Client does not forward tunnel errors).
  client.onerror = (st) => window.log.errors.push([st.code, st.message]);
  tunnel.onerror = (st) => window.log.errors.push([st.code, st.message]);
  const handler = tunnel.oninstruction;
  tunnel.oninstruction = (op, args) => { window.log.instructions++; handler && handler(op, args); };
  client.connect(data);
};
window.type = (text) => {
  for (const ch of text) {
    const k = ch === '\\n' ? ${ENTER} : ch.codePointAt(0);
    window.client.sendKeyEvent(1, k);
    window.client.sendKeyEvent(0, k);
  }
};
window.ready = true;
</script>`;

function sshToken(overrides: Record<string, string> = {}, exp = Math.floor(Date.now() / 1000) + 300, extra: Record<string, unknown> = {}): string {
  return sealToken({ iat: Math.min(exp - 1, Math.floor(Date.now() / 1000)), exp, target: { protocol: 'ssh', params: { ...env.ssh.params, ...overrides }, ...extra } }, SECRET);
}

function markerPath(): string {
  const path = `/tmp/gg-http-${randomBytes(6).toString('hex')}`;
  cleanups.push(() => rmSync(path, { force: true }));
  return path;
}

/** Behaves as Guacamole.HTTPTunnel: one read streaming, the next already asked for. */
class HttpTunnelClient {
  readonly received: { opcode: string; args: string[] }[] = [];
  responses = 0;
  unterminated = 0;
  endStatus: number | undefined;
  endHeaders: Record<string, string | null> = {};
  private outbox = '';
  private sending = false;
  private stopped = false;
  private readonly pinger: NodeJS.Timeout;
  readonly done: Promise<void>;

  private constructor(readonly url: string, readonly uuid: string, readonly token: string) {
    // After stop(), reads fail as the server goes away; that is the end, not an error.
    this.done = this.readLoop().catch((err: unknown) => { if (!this.stopped) throw err; });
    this.pinger = setInterval(() => this.send('nop'), 500);
  }

  static async connect(url: string, data: string): Promise<HttpTunnelClient> {
    const res = await fetch(`${url}?connect`, {
      method: 'POST', body: data, headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=UTF-8' },
    });
    const body = await res.text();
    if (res.status !== 200) {
      throw Object.assign(new Error(`connect: HTTP ${res.status}`), {
        http: res.status, code: res.headers.get('Guacamole-Status-Code'), message2: res.headers.get('Guacamole-Error-Message'),
      });
    }
    const token = res.headers.get('Guacamole-Tunnel-Token');
    assert.ok(token, 'no Guacamole-Tunnel-Token header');
    assert.equal(res.headers.get('Cache-Control'), 'no-cache');
    return new HttpTunnelClient(url, body, token);
  }

  send(opcode: string, ...args: (string | number)[]): void {
    if (this.stopped) return;
    this.outbox += encode(opcode, ...args);
    if (!this.sending) void this.flush();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.pinger);
  }

  /** Index of the first `opcode` at or after `from`. */
  async waitFor(opcode: string, timeoutMs = 10_000, from = 0): Promise<number> {
    const found = await waitFor(() => {
      const i = this.received.findIndex((r, n) => n >= from && r.opcode === opcode);
      return i >= 0 ? i + 1 : 0;
    }, { timeoutMs, what: `"${opcode}" over HTTP` });
    return found - 1;
  }

  /**
   * The shell prompt is drawn: glyphs (an `img` on a visible layer; guacd
   * draws its cursor into a buffer, layer below 0, first), then the end of
   * that frame. As in ws-client's: the glyphs may come in the very first
   * frame (guacd 1.5.5 flushes it after the prompt is printed).
   */
  async waitForPrompt(): Promise<void> {
    const glyphs = await waitFor(() => {
      const i = this.received.findIndex((r) => r.opcode === 'img' && Number(r.args[2]) >= 0);
      return i >= 0 ? i + 1 : 0;
    }, { timeoutMs: 10_000, what: 'glyphs on a visible layer over HTTP' });
    await this.waitFor('sync', 10_000, glyphs);
  }

  private async flush(): Promise<void> {
    this.sending = true;
    while (this.outbox !== '' && !this.stopped) {
      const body = this.outbox;
      this.outbox = '';
      const res = await fetch(`${this.url}?write:${this.uuid}`, {
        method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream', 'Guacamole-Tunnel-Token': this.token },
      }).catch(() => undefined);
      await res?.arrayBuffer().catch(() => undefined);
      if (!res || res.status !== 200) break;
    }
    this.sending = false;
  }

  private read(n: number): Promise<Response> {
    return fetch(`${this.url}?read:${this.uuid}:${n}`, { headers: { 'Guacamole-Tunnel-Token': this.token } });
  }

  private async readLoop(): Promise<void> {
    let n = 0;
    let current = this.read(n++);
    for (;;) {
      const res = await current;
      if (res.status !== 200) {
        this.endStatus = res.status;
        this.endHeaders = { code: res.headers.get('Guacamole-Status-Code'), message: res.headers.get('Guacamole-Error-Message') };
        await res.arrayBuffer().catch(() => undefined);
        this.stop();
        return;
      }
      assert.equal(res.headers.get('Content-Type'), 'application/octet-stream');
      const next = this.read(n++);
      this.responses++;
      const parser = new Parser();
      let ended = false;
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      while (!ended) {
        const { value, done } = await reader.read();
        if (done) break;
        const err = parser.push(Buffer.from(value), (opcode, args) => {
          if (ended) return;
          if (opcode === '' && args.length === 0) { ended = true; return; }
          this.received.push({ opcode, args });
          if (opcode === 'sync') this.send('sync', args[0]);
        });
        assert.equal(err, undefined);
      }
      if (!ended) this.unterminated++;
      await reader.cancel().catch(() => undefined);
      current = next;
    }
  }
}

function typeText(c: HttpTunnelClient, text: string): void {
  for (const ch of text) {
    const k = ch === '\n' ? ENTER : ch.codePointAt(0) as number;
    c.send('key', k, 1);
    c.send('key', k, 0);
  }
}

forEachGuacd((version) => {
before(() => { current = version; });

describe('HTTP tunnel with the real guacd', { timeout: 120_000 }, () => {
  it('runs an SSH session over ?connect / ?read / ?write, each read ending with 0.;', async () => {
    const records: SessionRecord[] = [];
    const { base, tunnel } = await serve({ onSessionEnd: (r) => { records.push(r); } });
    const c = await HttpTunnelClient.connect(`${base}/tunnel`, `token=${encodeURIComponent(sshToken())}&width=800&height=600`);
    cleanups.push(() => c.stop());
    assert.match(c.uuid, /^[0-9a-f-]{36}$/);
    assert.ok(tunnel.sessions.has(c.uuid));
    await c.waitFor('size');
    await c.waitForPrompt();
    const marker = markerPath();
    typeText(c, `touch ${marker}\n`);
    await waitFor(() => existsSync(marker), { timeoutMs: 10_000, what: marker });
    assert.ok(c.responses > 1, 'every read carried everything');
    c.send('disconnect');
    await c.done;
    assert.equal(c.endStatus, 404);
    assert.equal(c.endHeaders.code, String(STATUS.RESOURCE_NOT_FOUND.guac));
    assert.equal(c.unterminated, 0, 'a read response ended without 0.;');
    await waitFor(() => records.length === 1, { what: 'history' });
    assert.equal(records[0].transport, 'http');
    assert.equal(records[0].id, c.uuid);
  });

  it('records a session over the HTTP tunnel as over the websocket: its frames, and the keys typed', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'gg-http-rec-'));
    cleanups.push(() => rmSync(folder, { recursive: true, force: true }));
    const results: Promise<RecordingResult>[] = [];
    const { base } = await serve({
      recorder: (info, spec) => {
        const rec = new SessionRecorder({ path: join(folder, `${info.id}.guac`), ...spec });
        results.push(new Promise((resolve) => rec.once('finish', resolve)));
        return rec;
      },
    });
    const token = sshToken({}, undefined, { record: { keys: true, policy: 'required' } });
    const c = await HttpTunnelClient.connect(`${base}/tunnel`, `token=${encodeURIComponent(token)}&width=800&height=600`);
    cleanups.push(() => c.stop());
    await c.waitForPrompt();
    const marker = markerPath();
    typeText(c, `touch ${marker}\n`);
    await waitFor(() => existsSync(marker), { timeoutMs: 10_000, what: marker });
    c.send('disconnect');
    await c.done;
    const r = await waitFor(() => results[0], { what: 'the recording' });
    assert.equal(r.complete, true);
    const bytes = readFileSync(join(folder, `${c.uuid}.guac`));
    assert.equal(r.size, bytes.length);
    const recorded: { opcode: string; args: string[] }[] = [];
    assert.equal(new Parser().push(bytes, (opcode, args) => recorded.push({ opcode, args: [...args] })), undefined, 'the file parses');
    const syncs = recorded.filter((x) => x.opcode === 'sync').length;
    assert.ok(syncs >= 2 && syncs >= c.received.filter((x) => x.opcode === 'sync').length - 1, `the frames the browser got are recorded (${syncs})`);
    // The keys went in over ?write: each press of the command is in the file, in order.
    const pressed = recorded.filter((x) => x.opcode === 'key' && x.args[1] === '1').map((x) => Number(x.args[0]));
    const typed = [...`touch ${marker}`].map((ch) => ch.codePointAt(0)!).concat(ENTER);
    assert.deepEqual(pressed.slice(-typed.length), typed);
  });

  it('moves files over the HTTP tunnel as over the websocket: an upload and a download through the stream routes', async () => {
    const dir = sftpDir(env, 'http');
    cleanups.push(() => dir.remove());
    const { base } = await serve();
    const token = sealToken({ exp: Math.floor(Date.now() / 1000) + 300, target: { protocol: 'ssh', params: dir.params } }, SECRET);
    const c = await HttpTunnelClient.connect(`${base}/tunnel`, `token=${encodeURIComponent(token)}&width=800&height=600`);
    cleanups.push(() => c.stop());
    const streams = c.received[await c.waitFor('gateway-streams', 15_000)]!.args[0]!;
    assert.match(streams, new RegExp(`^${c.uuid}/`), 'the routes are this session\'s');
    const fs = c.received[await c.waitFor('filesystem', 15_000)]!.args[0]!;
    const route = (index: number, name: string): string => `${base}/tunnel/streams/${streams}/${index}/${name}`;

    // Upload: the put goes over ?write, the body to the route; the file lands whole.
    const up = randomBytes(1024 * 1024 + 3);
    c.send('put', fs, 5, 'application/octet-stream', '/up.bin');
    const res = await fetch(route(5, 'up.bin'), { method: 'POST', body: up });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { bytes: up.length });
    c.send('end', 5);
    const upPath = join(dir.path, 'up.bin');
    await waitFor(() => existsSync(upPath) && readFileSync(upPath).length === up.length, { what: 'the uploaded file' });
    assert.equal(sha256(readFileSync(upPath)), sha256(up));

    // Download: guacd's body stream is offered over ?read, its blocks go to the route only.
    const down = randomBytes(1024 * 1024 + 9);
    writeFileSync(join(dir.path, 'down.bin'), down);
    const from = c.received.length;
    c.send('get', fs, '/down.bin');
    const body = c.received[await c.waitFor('body', 10_000, from)]!;
    assert.equal(body.args[3], '/down.bin');
    const got = Buffer.from(await (await fetch(route(Number(body.args[1]), 'down.bin'))).arrayBuffer());
    assert.equal(sha256(got), sha256(down));
    const leaked = c.received.slice(from).filter((r) => r.opcode === 'blob' && r.args[0] === body.args[1]);
    assert.equal(leaked.length, 0, 'no block of the download went down the HTTP tunnel');
    c.send('disconnect');
    await c.done;
  });

  it('answers errors with HTTP status and Guacamole-Status-Code / Guacamole-Error-Message', async () => {
    const { base } = await serve();
    const connect = (data: string) => fetch(`${base}/tunnel?connect`, { method: 'POST', body: data });

    const bad = await connect(`token=${encodeURIComponent(sshToken().slice(0, -3) + 'AAA')}`);
    assert.equal(bad.status, 403);
    assert.equal(bad.headers.get('Guacamole-Status-Code'), '769');
    assert.equal(bad.headers.get('Guacamole-Error-Message'), 'The access token is invalid.');
    await bad.arrayBuffer();

    const past = Math.floor(Date.now() / 1000) - 5;
    const expired = await connect(`token=${encodeURIComponent(sshToken({}, past))}`);
    assert.equal(expired.status, 408);
    assert.equal(expired.headers.get('Guacamole-Status-Code'), '776');
    await expired.arrayBuffer();

    const uuid = '0b9c3e5c-5f0e-4d43-9a63-6f0f4d2f4b11';
    const unknown = await fetch(`${base}/tunnel?read:${uuid}:0`, { headers: { 'Guacamole-Tunnel-Token': 'nope' } });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers.get('Guacamole-Status-Code'), '516');
    await unknown.arrayBuffer();

    const noHeader = await fetch(`${base}/tunnel?write:${uuid}`, { method: 'POST', body: '3.nop;' });
    assert.equal(noHeader.status, 400);
    assert.equal(noHeader.headers.get('Guacamole-Status-Code'), '768');
    await noHeader.arrayBuffer();
  });

  it('allows the configured origins cross-origin (CORS with credentials), no others', async () => {
    const { base } = await serve({ allowedOrigins: ['https://app.example'] });
    const uuid = '0b9c3e5c-5f0e-4d43-9a63-6f0f4d2f4b11';
    const pre = await fetch(`${base}/tunnel?read:${uuid}:0`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Headers': 'guacamole-tunnel-token' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('Access-Control-Allow-Origin'), 'https://app.example');
    assert.equal(pre.headers.get('Access-Control-Allow-Credentials'), 'true');
    assert.match(pre.headers.get('Access-Control-Allow-Headers') ?? '', /Guacamole-Tunnel-Token/);
    const refused = await fetch(`${base}/tunnel?connect`, { method: 'POST', body: 'token=x', headers: { Origin: 'https://app.example' } });
    assert.match(refused.headers.get('Access-Control-Expose-Headers') ?? '', /Guacamole-Status-Code/);
    assert.equal(refused.headers.get('Guacamole-Status-Code'), '769');
    await refused.arrayBuffer();
    const other = await fetch(`${base}/tunnel?connect`, { method: 'POST', body: 'token=x', headers: { Origin: 'https://evil.example' } });
    assert.equal(other.headers.get('Access-Control-Allow-Origin'), null);
    await other.arrayBuffer();
    // An unlisted origin's preflight grants nothing: its browser never sends the token-carrying reads and writes.
    const otherPre = await fetch(`${base}/tunnel?read:${uuid}:0`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://evil.example', 'Access-Control-Request-Headers': 'guacamole-tunnel-token' },
    });
    assert.equal(otherPre.status, 204);
    for (const h of ['Access-Control-Allow-Origin', 'Access-Control-Allow-Headers', 'Access-Control-Allow-Methods']) assert.equal(otherPre.headers.get(h), null, h);
    await otherPre.arrayBuffer();
  });

  it('answers 502 / 519 when guacd is unreachable', async () => {
    const { base } = await serve({ guacd: { host: '127.0.0.1', port: 1 } });
    const res = await fetch(`${base}/tunnel?connect`, { method: 'POST', body: `token=${encodeURIComponent(sshToken())}` });
    assert.equal(res.status, 502);
    assert.equal(res.headers.get('Guacamole-Status-Code'), '519');
    await res.arrayBuffer();
  });

  it('drops an HTTP session the browser abandoned, delivering the reason to a late read', async () => {
    const records: SessionRecord[] = [];
    const { base, tunnel } = await serve({ browserTimeoutMs: 600, onSessionEnd: (r) => { records.push(r); } });
    const res = await fetch(`${base}/tunnel?connect`, { method: 'POST', body: `token=${encodeURIComponent(sshToken())}` });
    const uuid = await res.text();
    const token = res.headers.get('Guacamole-Tunnel-Token') as string;
    await waitFor(() => records.length === 1, { timeoutMs: 5000, what: 'session end' });
    assert.equal(records[0].status, STATUS.CLIENT_TIMEOUT);
    assert.equal(tunnel.sessions.size, 0);
    const late = await fetch(`${base}/tunnel?read:${uuid}:0`, { headers: { 'Guacamole-Tunnel-Token': token } });
    assert.equal(late.status, 200);
    const text = await late.text();
    assert.ok(text.endsWith(`5.error,31.The browser stopped responding.,3.776;0.;`), text.slice(-120));
  });
});

describe('unmodified guacamole-common-js 1.5 in Chromium', { timeout: 120_000, skip: !existsSync(CHROMIUM_PATH) && 'no Chromium' }, () => {
  for (const kind of ['websocket', 'http'] as const) {
    it(`${kind} tunnel: connects, draws and types`, async () => {
      const { base } = await serve();
      const browser = await launchBrowser();
      cleanups.push(() => browser.close());
      const page = await browser.newPage();
      await page.goto(`${base}/`);
      await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
      await page.evaluate(([k, d]) => (window as unknown as { start(k: string, d: string): void }).start(k, d), [kind, `token=${encodeURIComponent(sshToken())}`]);
      // Guacamole.Client state 3 = CONNECTED (after the first sync).
      await page.waitForFunction(() => (window as unknown as { log: { states: number[] } }).log.states.includes(3), undefined, { timeout: 15_000 });
      const marker = markerPath();
      await page.evaluate((t) => (window as unknown as { type(t: string): void }).type(t), `touch ${marker}\n`);
      await waitFor(() => existsSync(marker), { timeoutMs: 15_000, what: marker });
      const log = await page.evaluate(() => (window as unknown as { log: { errors: unknown[]; instructions: number } }).log);
      assert.deepEqual(log.errors, []);
      assert.ok(log.instructions > 5);
    });

    it(`${kind} tunnel: an expired link reaches onerror as 776`, async () => {
      const { base } = await serve();
      const browser = await launchBrowser();
      cleanups.push(() => browser.close());
      const page = await browser.newPage();
      await page.goto(`${base}/`);
      await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
      const past = Math.floor(Date.now() / 1000) - 5;
      await page.evaluate(([k, d]) => (window as unknown as { start(k: string, d: string): void }).start(k, d), [kind, `token=${encodeURIComponent(sshToken({}, past))}`]);
      await page.waitForFunction(() => (window as unknown as { log: { errors: unknown[] } }).log.errors.length > 0, undefined, { timeout: 15_000 });
      const log = await page.evaluate(() => (window as unknown as { log: { errors: [number, string][] } }).log);
      assert.equal(log.errors[0][0], 0x0308);
    });
  }
});
});
