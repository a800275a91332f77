/**
 * The registry end to end, once on SQLite (the default, in the data folder)
 * and once on the test environment's PostgreSQL: the real
 * `guacamole-gateway serve` process, connections and tokens made with the
 * real CLI, Chromium on the gateway's page, the real guacd and sshd.
 * Effects are checked where they land: files on disk, the page's status,
 * the history, the database files and every line the processes printed.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { displayVariety, launchBrowser, openClient, pageState, ROOT, waitForPageState, type TestBrowser } from '../helpers/browser.js';
import { loadTestEnv, waitFor } from '../helpers/env.js';
import { postgresFixture, sqliteFixture, type FixtureFactory, type RegistryFixture } from '../helpers/registry.js';

const env = loadTestEnv();
const CLI = join(ROOT, 'bin/guacamole-gateway.js');
const GUACD = `${env.guacd.host}:${env.guacd.port}`;
/** The secret the whole run must keep out of the database and the logs. */
const PASSWORD = env.ssh.password;

let browser: TestBrowser;
const created: string[] = [];

before(async () => {
  browser = await launchBrowser({ width: 900, height: 560 });
});
after(async () => {
  await browser?.close();
  await Promise.all(created.map((path) => rm(path, { force: true })));
});

/** A `serve` child process. */
interface Served {
  readonly base: string;
  readonly child: ChildProcess;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Everything one scenario's processes printed, line by line. */
type Lines = string[];

function processEnv(dataDir: string, backend: RegistryFixture): NodeJS.ProcessEnv {
  // Nothing inherited decides for the test: secret and admin key come from the data folder.
  return {
    ...process.env,
    GATEWAY_DATA_DIR: dataDir,
    GATEWAY_SECRET: '',
    GATEWAY_ADMIN_KEY: '',
    GATEWAY_GUACAMOLE_LITE_KEY: '',
    DATABASE_URL: backend.url ?? '',
    GATEWAY_LOG_LEVEL: 'debug',
  };
}

async function serve(dataDir: string, backend: RegistryFixture, lines: Lines): Promise<Served> {
  const args = [CLI, 'serve', '--port', '0', '--guacd', GUACD, ...(backend.url ? ['--db', backend.url] : [])];
  // DATABASE_URL is cleared for serve so that --db is what picks the database.
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...processEnv(dataDir, backend), DATABASE_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  let base: string | undefined;
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (l) => {
      lines.push(l);
      base ??= /listening on (http:\/\/\S+?)\/?$/.exec(l)?.[1];
    });
  }
  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    }
    return child.exitCode;
  };
  try {
    await waitFor(() => base ?? (child.exitCode !== null ? Promise.reject(new Error('exited')) : undefined), {
      timeoutMs: 20_000,
      what: 'serve to print its URL',
    });
  } catch (err) {
    await stop();
    throw new Error(`serve did not start:\n${lines.join('\n')}`, { cause: err });
  }
  return { base: base!, child, stop };
}

/** Runs the CLI; resolves with its output whatever the exit code. */
function cli(dataDir: string, backend: RegistryFixture, lines: Lines, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, env: processEnv(dataDir, backend), timeout: 30_000 }, (error, out, err) => {
      lines.push(...out.split('\n'), ...err.split('\n'));
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out, err });
    });
  });
}

function tmpFile(label: string): { path: string; word: string } {
  const word = `${label}${randomBytes(6).toString('hex')}`;
  const path = `/tmp/gg-e2e-reg-${word}`;
  created.push(path);
  return { path, word };
}

const readIfExists = (path: string): Promise<string | undefined> => readFile(path, 'utf8').catch(() => undefined);

async function openTerminal(page: Page, base: string, token: string): Promise<void> {
  const { state, code } = await openClient(page, base, token);
  assert.equal(state, 'connected', `expected connected, got ${state} ${code ?? ''}`);
  await waitFor(async () => (await displayVariety(page)).colours >= 2, { what: 'the terminal to draw', timeoutMs: 15_000 });
}

async function type(page: Page, command: string): Promise<void> {
  await page.bringToFront();
  await page.keyboard.type(command);
  await page.keyboard.press('Enter');
}

/** Opens a token that must be refused; returns what the page shows. */
async function refused(base: string, token: string): Promise<{ code: string | null; title: string; message: string; status: string }> {
  const page = await browser.newPage();
  try {
    const { state, code } = await openClient(page, base, token);
    assert.equal(state, 'error', `expected a refusal, got ${state} ${code ?? ''}`);
    const text = async (sel: string) => ((await page.locator(sel).textContent()) ?? '').trim();
    assert.ok(await page.locator('.gg-server-message').isVisible(), 'the server\'s message is shown');
    return { code, title: await text('.gg-title'), message: await text('.gg-server-message'), status: await text('.gg-code') };
  } finally {
    await page.close();
  }
}

interface HistoryRow {
  id: string;
  user: string | null;
  connectionName: string | null;
  endedAt: number | null;
  bytesFromBrowser: number;
  bytesToBrowser: number;
  status: number | null;
}

function scenario(label: string, makeBackend: FixtureFactory): void {
  describe(`registry through the browser: ${label}`, { timeout: 150_000 }, () => {
    /** The database, and the data folder (secret, admin key, and the SQLite file by default). */
    let backend: RegistryFixture;
    let dataDir: string;
    let gateway: Served | undefined;
    const lines: Lines = [];
    const run = (args: string[]) => cli(dataDir, backend, lines, args);
    const api = async (method: string, path: string): Promise<{ status: number; json: any }> => {
      const key = (await readFile(join(dataDir, 'admin-key'), 'utf8')).trim();
      const res = await fetch(`${gateway!.base}/api/${path}`, { method, headers: { authorization: `Bearer ${key}` } });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    };
    const mint = async (args: string[]): Promise<string> => {
      const r = await run(['token', ...args]);
      assert.equal(r.code, 0, r.err);
      return r.out.trim();
    };
    const ssh = env.ssh.params;
    const name = `box ${label}`;
    /** The writer's and the viewer's tunnel session ids, for the history checks after the restart. */
    const ended: { writer?: string; viewer?: string } = {};
    let inlineOnce = '';

    before(async () => {
      backend = await makeBackend();
      dataDir = backend.dataDir;
      gateway = await serve(dataDir, backend, lines);
    });
    after(async () => {
      await gateway?.stop();
      await backend?.cleanup();
    });

    test('a CLI connection opens from a token, read-only cannot type, refusals each show their status, history records the end', async () => {
      const base = gateway!.base;
      const added = await run([
        'connection', 'add', '--name', name, '--protocol', 'ssh',
        '--param', `hostname=${ssh.hostname}`, '--param', `port=${ssh.port}`, '--param', `username=${ssh.username}`, '--param', `password=${PASSWORD}`,
        '--grant', 'alice', '--grant', 'carol', '--grant', 'bob',
      ]);
      assert.equal(added.code, 0, added.err);
      assert.match(added.out.trim(), /^[0-9a-f-]{36}$/, 'prints the new id');
      const [writer, viewer, expired, bobs] = await Promise.all([
        mint(['--connection', name, '--user', 'alice', '--once']),
        mint(['--connection', name, '--user', 'carol', '--read-only']),
        mint(['--connection', name, '--user', 'alice', '--ttl', '1']),
        mint(['--connection', name, '--user', 'bob']),
      ]);
      // The one-second token was minted before now, so it is past its exp (whole seconds) one second from now.
      const expiredBy = Date.now() + 1000;
      const revoke = await run(['token', 'revoke', '--user', 'bob']);
      assert.equal(revoke.code, 0, revoke.err);

      // Read-only first: its keys are typed before the writer's, so they had every chance to run.
      const viewerPage = await browser.newPage();
      const writerPage = await browser.newPage();
      try {
        await openTerminal(viewerPage, base, viewer);
        const ignored = tmpFile('ro');
        await type(viewerPage, `echo ${ignored.word} > ${ignored.path}`);
        await openTerminal(writerPage, base, writer);
        const done = tmpFile('rw');
        await type(writerPage, `echo ${done.word} > ${done.path}`);
        assert.equal((await waitFor(() => readIfExists(done.path), { what: 'the file the shell writes' })).trim(), done.word);
        assert.equal(await readIfExists(ignored.path), undefined, 'the read-only session ran a command');
        assert.equal((await pageState(viewerPage)).state, 'connected', 'the viewer is still watching');

        const active = (await api('GET', 'sessions?active=true')).json.sessions as HistoryRow[];
        const mine = (user: string) => active.find((s) => s.user === user && s.connectionName === name);
        ended.writer = mine('alice')?.id;
        ended.viewer = mine('carol')?.id;
        assert.ok(ended.writer && ended.viewer, `both sessions listed as active: ${JSON.stringify(active)}`);

        // The admin ends the writer's session; the viewer leaves by closing the tab.
        const end = await api('POST', `sessions/${ended.writer}/end`);
        assert.deepEqual([end.status, end.json.ended], [200, true]);
        await waitForPageState(writerPage, ['error'], 10_000);
        assert.equal((await pageState(writerPage)).code, '0x020B');
        await viewerPage.close();
      } finally {
        if (!viewerPage.isClosed()) await viewerPage.close();
        await writerPage.close();
      }

      // Refusals, each with its own status code and message on the page.
      await waitFor(() => Date.now() > expiredBy, { what: 'the one-second token to expire', timeoutMs: 5000 });
      const i = Math.floor(viewer.length / 2);
      const tampered = viewer.slice(0, i) + (viewer[i] === 'A' ? 'B' : 'A') + viewer.slice(i + 1);
      const seen = {
        expired: await refused(base, expired),
        tampered: await refused(base, tampered),
        revoked: await refused(base, bobs),
        used: await refused(base, writer),
      };
      assert.deepEqual(Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, [v.code, v.status, v.message]])), {
        expired: ['0x0308', 'Status 0x0308', 'Server said: The access token has expired.'],
        tampered: ['0x0301', 'Status 0x0301', 'Server said: The access token is invalid.'],
        revoked: ['0x0303', 'Status 0x0303', 'Server said: The access token has been revoked.'],
        used: ['0x0205', 'Status 0x0205', 'Server said: The single-use access token was already used.'],
      });
      assert.equal(seen.expired.title, 'This link has expired');
      assert.equal(seen.used.title, 'Already in use');

      // History: both sessions ended, with bytes each way and their end status.
      const history = await waitFor(async () => {
        const rows = await Promise.all([ended.writer, ended.viewer].map(async (id) => (await api('GET', `sessions/${id}`)).json as HistoryRow));
        return rows.every((r) => r.endedAt !== null) ? rows : undefined;
      }, { what: 'both sessions to be recorded as ended' });
      const [w, v] = history as [HistoryRow, HistoryRow];
      assert.deepEqual([w.user, w.connectionName, w.status], ['alice', name, 0x020b]);
      assert.deepEqual([v.user, v.status], ['carol', 0x0000]);
      for (const r of [w, v]) assert.ok(r.bytesFromBrowser > 0 && r.bytesToBrowser > 0, `byte counts of ${JSON.stringify(r)}`);
      const listed = await run(['connection', 'sessions', '--limit', '10']);
      assert.equal(listed.code, 0, listed.err);
      const line = listed.out.split('\n').find((l) => l.startsWith(ended.writer!));
      assert.ok(line, listed.out);
      assert.match(line, new RegExp(`status 523 +alice +${name} +in ${w.bytesFromBrowser} out ${w.bytesToBrowser}  "The session was forcibly closed\\."$`));
    });

    test('a self-contained --once token is spent in the database', async () => {
      inlineOnce = await mint([
        '--protocol', 'ssh', ...Object.entries(ssh).flatMap(([k, v]) => ['--param', `${k}=${v}`]), '--user', 'dave', '--once',
      ]);
      const page = await browser.newPage();
      try {
        await openTerminal(page, gateway!.base, inlineOnce);
      } finally {
        await page.close();
      }
      assert.equal((await refused(gateway!.base, inlineOnce)).code, '0x0205');
    });

    test('a restart loses nothing; the password is nowhere in clear', async () => {
      const running = await backend.dump();
      assert.equal(await gateway!.stop(), 0, 'SIGTERM stops serve cleanly');
      assert.ok(lines.includes('guacamole-gateway stopped'));
      const stopped = await backend.dump();
      gateway = await serve(dataDir, backend, lines);

      const list = await run(['connection', 'list']);
      assert.match(list.out, new RegExp(`ssh +${name}$`, 'm'));
      const conns = (await api('GET', 'connections')).json.connections as { name: string; params: Record<string, string> }[];
      assert.equal(conns.find((c) => c.name === name)?.params.password, '[set]');
      const w = (await api('GET', `sessions/${ended.writer}`)).json as HistoryRow;
      assert.deepEqual([w.status, w.bytesFromBrowser > 0, w.endedAt !== null], [0x020b, true, true]);
      // The spent token stays spent: the database remembers it, not the process.
      assert.equal((await refused(gateway.base, inlineOnce)).code, '0x0205');
      const page = await browser.newPage();
      try {
        await openTerminal(page, gateway.base, await mint(['--connection', name, '--user', 'alice']));
      } finally {
        await page.close();
      }

      for (const [what, bytes] of [['while serving', running], ['after stopping', stopped], ['after the restart', await backend.dump()]] as const) {
        assert.ok(bytes.length > 0);
        assert.equal(bytes.indexOf(Buffer.from(PASSWORD)), -1, `the database holds the password in clear (${what})`);
      }
      assert.ok(lines.some((l) => l.includes('tunnel: session ended')), 'the server logged the sessions');
      assert.ok(lines.length > 20, `${lines.length} lines captured`);
      const leaks = lines.filter((l) => l.includes(PASSWORD));
      assert.deepEqual(leaks, [], 'no log line holds the password');
    });
  });
}

scenario('SQLite', sqliteFixture);
scenario('PostgreSQL', postgresFixture);
