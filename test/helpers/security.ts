/**
 * Shared pieces of the security tests (test/security) and the soak run:
 * cleanup lists, an in-process gateway on the real guacd, typing into a
 * terminal, marker files on the SSH target, and the one assertion every
 * refusal and failure makes (error instruction, close reason, close code).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { STATUS, statusFromCode, type StatusInfo } from '../../src/protocol/status.js';
import { testLogger } from './log.js';
import { createGatewayServer, type GatewayServerOptions } from '../../src/server/app.js';
import { createTunnel } from '../../src/tunnel/tunnel.js';
import type { TunnelOptions } from '../../src/tunnel/types.js';
import { after, before } from 'node:test';
import { listenOnLoopback, loadTestEnv, waitFor, type GuacdInstance } from './env.js';
import { startOwnGuacd, type OwnGuacd } from './faults.js';
import { sqliteFixture, type RegistryFixture } from './registry.js';
import type { Registry } from '../../src/registry/types.js';
import { startTestGateway, TunnelClient, uncapped, type CloseInfo, type TestGateway, type TunnelClientOptions } from './ws-client.js';

/** Callbacks run in reverse order by {@link Cleanups.run} (call it from `afterEach`/`after`). */
export class Cleanups {
  private readonly list: (() => unknown)[] = [];
  add<T extends () => unknown>(fn: T): void {
    this.list.push(fn);
  }
  async run(): Promise<void> {
    while (this.list.length) {
      try {
        await this.list.pop()?.();
      } catch {
        // a cleanup that fails must not hide the test's own result
      }
    }
  }
}

/** The guacds started by {@link useOwnGuacd}, innermost suite's last. */
const ownGuacds: OwnGuacd[] = [];

/**
 * The real guacd the tests of this file use: their own (see
 * {@link useOwnGuacd}; the innermost suite's) once started, else the test
 * environment's shared 1.3.0.
 */
export function realGuacd(): { host: string; port: number } {
  const own = ownGuacds[ownGuacds.length - 1];
  if (own) return { host: own.host, port: own.port };
  const env = loadTestEnv();
  return { host: env.guacd.host, port: env.guacd.port };
}

/**
 * Gives the calling test file (hooks at its top level) or suite (hooks in
 * its `describe`) a guacd of its own, 1.3.0 or `version`'s, which
 * {@link realGuacd} then returns. The shared guacd is then spared this
 * file's connection churn, which in guacd 1.3.0 makes other connections'
 * handshakes hang now and then (see {@link guacdHandshakeFailed}), and
 * sockets to it are this file's alone.
 */
export function useOwnGuacd(version?: GuacdInstance): void {
  let mine: OwnGuacd | undefined;
  before(async () => {
    mine = await startOwnGuacd(version?.wrapper);
    ownGuacds.push(mine);
  });
  after(async () => {
    if (!mine) return;
    ownGuacds.splice(ownGuacds.indexOf(mine), 1);
    await mine.kill();
  });
}

/** SSH parameters of the test environment's sshd, with overrides. */
export function sshParams(overrides: Record<string, string> = {}): Record<string, string> {
  return { ...loadTestEnv().ssh.params, ...overrides };
}

/** Starts an in-process gateway (real guacd unless `options.guacd` says otherwise), closed by `cleanups`. */
export async function gatewayFor(cleanups: Cleanups, options: Partial<TunnelOptions> & Pick<TunnelOptions, 'resolve'>): Promise<TestGateway> {
  const g = await startTestGateway({ guacd: realGuacd(), ...options });
  cleanups.add(() => g.close());
  return g;
}

/**
 * Starts the real server app (`createGatewayServer`) with a tunnel on 127.0.0.1:0, closed by `cleanups`.
 * @returns its port
 */
export async function startAppServer(cleanups: Cleanups, tunnelOptions: TunnelOptions, serverOptions: Omit<GatewayServerOptions, 'tunnel'>): Promise<number> {
  const tunnel = createTunnel({ logger: testLogger, ...uncapped(tunnelOptions) });
  const listening = await listenOnLoopback(createGatewayServer({ tunnel, logger: testLogger, ...serverOptions }), tunnel);
  cleanups.add(() => listening.close());
  return listening.port;
}

/** A registry fixture and the registry opened on it. */
export interface OpenRegistry {
  fx: RegistryFixture;
  reg: Registry;
}

/**
 * A SQLite registry holding one connection, `ssh` (the test environment's
 * sshd), granted to `user`: opened in `before`, closed in `after` of the
 * calling suite. Read `fx` and `reg` from the returned object inside tests.
 */
export function sshRegistry(user: string): OpenRegistry {
  const state = {} as OpenRegistry;
  before(async () => {
    state.fx = await sqliteFixture();
    state.reg = await state.fx.open();
    await state.reg.createConnection({ name: 'ssh', protocol: 'ssh', params: sshParams() });
    await state.reg.grant('ssh', user);
  });
  after(async () => {
    await state.reg?.close();
    await state.fx?.cleanup();
  });
  return state;
}

/** Opens a WebSocket tunnel client, terminated by `cleanups`. */
export async function clientFor(cleanups: Cleanups, g: Pick<TestGateway, 'wsUrl'>, query = '', opts: TunnelClientOptions = {}): Promise<TunnelClient> {
  const c = await TunnelClient.connect(`${g.wsUrl}${query ? `?${query}` : ''}`, { timeoutMs: 15_000, ...opts });
  cleanups.add(() => c.terminate());
  return c;
}

/** Sessions {@link openSession} (and the cycles) opened again because guacd failed its handshake (see there). */
export const guacdRetries = {
  count: 0,
  /** Why, by the close's status and guacd's or the gateway's message. */
  reasons: new Map<string, number>(),
  note(reason: string): void {
    this.count++;
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
  },
};

/**
 * True when a session that never got a frame ended because guacd failed to
 * start it: guacd 1.3.0 forks a process per connection from a multithreaded
 * daemon, and under connection churn a child now and then hangs before it
 * answers (it never logs; a thread waits on a futex forever), or the daemon
 * fails to hand it the user ("Unable to add user") and hangs up; on a loaded
 * machine the first frame may also miss its deadline. The gateway then ends
 * the session at its handshake or first-frame timeout (UPSTREAM_TIMEOUT), or
 * when guacd hangs up (UPSTREAM_ERROR; UNSUPPORTED right after `select`), as
 * it should.
 */
export function guacdHandshakeFailed(status: number): boolean {
  // UNSUPPORTED: guacd hung up right after `select` (GUAC_PROTOCOL_UNSUPPORTED) for a protocol it serves.
  return status === STATUS.UPSTREAM_TIMEOUT.guac || status === STATUS.UPSTREAM_ERROR.guac || status === STATUS.UNSUPPORTED.guac;
}

/** Statuses of a session that ended before its first frame for guacd's reasons (retried by {@link openSession}). */
function guacdGaveUp(status: number): boolean {
  // guacd's own `disconnect` before any frame: it dropped the connection it was starting.
  return guacdHandshakeFailed(status) || status === STATUS.SUCCESS.guac;
}

/** Thrown by {@link openSession} when guacd (or the target behind it) failed a session three times in a row. */
export class GuacdGaveUp extends Error {
  override readonly name = 'GuacdGaveUp';
}

/**
 * Opens a session and waits for its first frame (`sync`). A session guacd
 * failed to start ({@link guacdHandshakeFailed}, or ended with its own
 * `disconnect` before a frame, seen once in 1,000 cycles on a machine at load
 * 26) is opened again, at most twice, and counted in {@link guacdRetries}.
 */
export async function openSession(cleanups: Cleanups, g: Pick<TestGateway, 'wsUrl'>, query = '', opts: TunnelClientOptions = {}, timeoutMs = 30_000): Promise<TunnelClient> {
  for (let attempt = 0; ; attempt++) {
    const c = await clientFor(cleanups, g, query, opts);
    try {
      await c.waitForOpcode('sync', timeoutMs);
      return c;
    } catch (err) {
      const closed = c.ws.readyState === c.ws.CLOSED ? await c.closed : undefined;
      const error = c.instructions.find((r) => r.opcode === 'error');
      const noFrame = !c.instructions.some((r) => r.opcode === 'sync');
      const gaveUp = closed !== undefined && noFrame && guacdGaveUp(Number(closed.reason));
      if (!gaveUp || attempt >= 2) {
        const message = `${(err as Error).message}${closed ? ` (closed ${closed.code} ${closed.reason}${error ? `: ${error.args[0]}` : ''})` : ''}`;
        throw gaveUp ? new GuacdGaveUp(message, { cause: err }) : new Error(message, { cause: err });
      }
      guacdRetries.note(`${closed.reason}${error ? ` ${error.args[0]}` : ''}`);
    }
  }
}

/** X11 keysym of Enter. */
const ENTER = 0xff0d;

/** Types text as key presses and releases (`\n` is Enter). */
export function typeText(c: TunnelClient, text: string): void {
  for (const ch of text) {
    const keysym = ch === '\n' ? ENTER : (ch.codePointAt(0) as number);
    c.send('key', keysym, 1);
    c.send('key', keysym, 0);
  }
}

/**
 * Types `command` (which must create `marker`) until the marker exists:
 * keys typed before the remote shell is ready are lost, and no frame tells
 * when it is, so a command that can run twice is typed again every 2 s.
 * @throws Error when the marker does not appear within `timeoutMs`
 */
export async function runInShell(c: TunnelClient, command: string, marker: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    typeText(c, `${command}\n`);
    const found = await waitFor(() => existsSync(marker), { timeoutMs: Math.min(2000, Math.max(1, deadline - Date.now())), intervalMs: 50, what: marker }).then(() => true, () => false);
    if (found) return;
    if (Date.now() >= deadline || c.ws.readyState !== c.ws.OPEN) throw new Error(`the shell did not run "${command}" within ${timeoutMs} ms`);
  }
}

/** Waits until the session's remote shell runs what is typed (see {@link runInShell}). */
export async function shellReady(cleanups: Cleanups, c: TunnelClient, timeoutMs = 30_000): Promise<void> {
  const marker = markerPath(cleanups, 'ready');
  await runInShell(c, `touch ${marker}`, marker, timeoutMs);
}

/** A fresh path under /tmp on the SSH target (the same machine), removed by `cleanups`. */
export function markerPath(cleanups: Cleanups, tag = 'sec'): string {
  const path = `/tmp/gg-${tag}-${randomBytes(6).toString('hex')}`;
  cleanups.add(() => rmSync(path, { force: true, recursive: true }));
  return path;
}

/**
 * Waits for the close and checks what the browser was told: the close
 * reason is the decimal status, the close code its websocket mapping, and
 * (unless `error: false`) exactly one `error` instruction carrying the same
 * status came first.
 * @returns the close, and the error instruction's message
 */
export async function expectClosedWith(
  c: TunnelClient,
  status: StatusInfo,
  { timeoutMs = 20_000, error = true }: { timeoutMs?: number; error?: boolean } = {},
): Promise<CloseInfo & { message: string | undefined }> {
  const closed = await c.waitClosed(timeoutMs);
  const errors = c.instructions.filter((r) => r.opcode === 'error');
  const got = statusFromCode(Number.parseInt(closed.reason, 10));
  assert.equal(closed.reason, String(status.guac), `close reason ${closed.reason} (${got.name}), expected ${status.guac} (${status.name}); errors: ${JSON.stringify(errors.map((e) => e.args))}`);
  assert.equal(closed.code, status.ws, 'websocket close code');
  if (error) {
    assert.equal(errors.length, 1, `error instructions: ${JSON.stringify(errors.map((e) => e.args))}`);
    assert.equal(errors[0].args[1], String(status.guac));
    assert.ok(errors[0].args[0].length > 0, 'the error has a message');
  }
  return { ...closed, message: errors[0]?.args[0] };
}

/** Resolves after `ms` (only where a test must let time pass on purpose: a deadline that must not fire). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
