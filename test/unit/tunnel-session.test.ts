/**
 * The session core without sockets: guacd is an in-memory stream handed over
 * by an injected connector, the browser a recording port. Shows the lifecycle
 * table and what the session does in each phase, which the integration tests
 * can only reach through real guacd and real browsers: an invalid transition,
 * close-once with its timers, the read-only filter, ping echoes,
 * backpressure both ways, guacd's `error` and `disconnect`, a lost guacd.
 */
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { Duplex } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { CHANNELS } from '../../src/diagnostics.js';
import type { HandshakeOptions } from '../../src/guacd/index.js';
import { GuacError } from '../../src/protocol/errors.js';
import { STATUS, type StatusInfo } from '../../src/protocol/status.js';
import type { GuacdConnection } from '../../src/tunnel/connector.js';
import { resolveOptions } from '../../src/tunnel/options.js';
import type { Target } from '../../src/tunnel/resolver.js';
import { Lifecycle, TRANSITIONS, mayMove, type Phase } from '../../src/tunnel/session-state.js';
import { TunnelSession, type BrowserPort, type SessionHost } from '../../src/tunnel/session.js';
import type { SessionRecord, TunnelOptions } from '../../src/tunnel/types.js';
import { SessionRecorder } from '../../src/tunnel/recording/index.js';
import { startCapture, testLogger } from '../helpers/log.js';
import { slowDisk } from '../helpers/fifo.js';

const PHASES: Phase[] = ['resolving', 'handshaking', 'open', 'closed'];
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** guacd's end of the connection: what the session writes is kept; writes can be held (guacd not reading). */
class FakeGuacd extends Duplex {
  readonly written: Buffer[] = [];
  hold = false;
  private held: (() => void)[] = [];

  constructor() {
    super({ writableHighWaterMark: 64 });
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.written.push(chunk);
    if (this.hold) this.held.push(() => done());
    else done();
  }

  /** guacd reads again: held writes complete ('drain' follows). */
  release(): void {
    this.hold = false;
    for (const done of this.held.splice(0)) done();
  }

  /** Sends to the session. */
  send(text: string): void {
    this.push(Buffer.from(text));
  }

  text(): string {
    return Buffer.concat(this.written).toString();
  }
}

/** The browser: records what it is sent and how it was ended; its backlog is set by the test. */
class FakePort implements BrowserPort {
  readonly transport = 'websocket' as const;
  readonly sent: string[] = [];
  readonly ends: { status: StatusInfo; message: string; sendError: boolean }[] = [];
  bufferedAmount = 0;
  paused = false;
  keepalives = 0;

  constructor(readonly echoPings = true) {}

  send(data: Buffer | string): void {
    this.sent.push(data.toString());
  }

  pauseInput(): void {
    assert.equal(this.paused, false, 'paused twice');
    this.paused = true;
  }

  resumeInput(): void {
    assert.equal(this.paused, true, 'resumed while not paused');
    this.paused = false;
  }

  keepalive(): void {
    this.keepalives++;
  }

  end(status: StatusInfo, message: string, sendError: boolean): void {
    this.ends.push({ status, message, sendError });
  }
}

interface Rig {
  session: TunnelSession;
  port: FakePort;
  guacd: FakeGuacd;
  host: SessionHost;
  handshakes: HandshakeOptions[];
  signals: AbortSignal[];
  records: SessionRecord[];
  starts: number;
  unregistered: number;
}

function rig(opts: {
  target?: Partial<Target>;
  options?: Partial<TunnelOptions>;
  port?: FakePort;
  connect?: (handshake: HandshakeOptions, signal: AbortSignal) => Promise<GuacdConnection>;
  resolve?: TunnelOptions['resolve'];
  pending?: string;
  ended?: boolean;
} = {}): Rig {
  const guacd = new FakeGuacd();
  const r = { guacd, port: opts.port ?? new FakePort(), handshakes: [], signals: [], records: [], starts: 0, unregistered: 0 } as unknown as Rig;
  const options = resolveOptions({
    guacd: { port: 1 },
    resolve: opts.resolve ?? (async () => ({ protocol: 'ssh', params: { hostname: 'target' }, user: 'alice', ...opts.target })),
    handshakeTimeoutMs: 0,
    firstFrameTimeoutMs: 0,
    browserTimeoutMs: 0,
    onSessionStart: () => { r.starts++; },
    onSessionEnd: (record) => { r.records.push(record); },
    logger: testLogger,
    ...opts.options,
  });
  r.host = {
    options,
    connect: opts.connect ?? (async (handshake, signal) => {
      r.handshakes.push(handshake);
      r.signals.push(signal);
      return { socket: guacd, pending: Buffer.from(opts.pending ?? ''), ended: opts.ended ?? false, connectionId: '$conn' };
    }),
    admitTarget: () => undefined,
    unregister: () => { r.unregistered++; },
  };
  r.session = new TunnelSession(r.host, r.port, { query: new URLSearchParams('width=800&height=600'), headers: {} });
  return r;
}

async function opened(opts: Parameters<typeof rig>[0] = {}): Promise<Rig> {
  const r = rig(opts);
  await r.session.open();
  assert.equal(r.session.state, 'open');
  return r;
}

/**
 * A session that ended on its own (not on guacd's `disconnect`) tells guacd
 * the user left, then lets the socket go after a short grace (guacd notices
 * a closed socket only after its 15 s read timeout).
 */
async function toldGuacdAndLetGo(r: Rig): Promise<void> {
  assert.equal(r.guacd.text(), '10.disconnect;', 'guacd told the user left');
  assert.equal(r.guacd.writableEnded, true, 'nothing more written to guacd');
  if (r.guacd.destroyed) return;
  // The grace timer is unref'd: this one keeps the test alive, and fails it if the socket is never let go.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the guacd socket was not let go')), 5000);
    r.guacd.once('close', () => { clearTimeout(timer); resolve(); });
  });
}

/** The one way the session ended, as the browser and history saw it. */
function endedWith(r: Rig, status: StatusInfo, message: string, sendError: boolean): void {
  assert.equal(r.session.state, 'closed');
  assert.deepEqual(r.port.ends, [{ status, message, sendError }]);
  assert.equal(r.unregistered, 1);
  assert.equal(r.records.length, 1);
  assert.equal(r.records[0].status, status);
  assert.equal(r.records[0].message, message);
}

/** The sessions' log lines (the server's logger, at debug) of the current test. */
let capture: ReturnType<typeof startCapture>;
beforeEach(() => { capture = startCapture(); });
afterEach(() => capture.stop());
function readLog(): Record<string, unknown>[] {
  return capture.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('session lifecycle table', () => {
  it('allows resolving → handshaking → open, closed from every live phase, and nothing out of closed', () => {
    const allowed = PHASES.flatMap((from) => PHASES.filter((to) => mayMove(from, to)).map((to) => `${from}→${to}`));
    assert.deepEqual(allowed, ['resolving→handshaking', 'resolving→closed', 'handshaking→open', 'handshaking→closed', 'open→closed']);
    for (const from of PHASES) assert.deepEqual(PHASES.filter((to) => mayMove(from, to)), [...TRANSITIONS[from]]);
  });

  it('refuses a transition the table does not allow, keeps its phase and tells its owner', () => {
    const refused: string[] = [];
    const life = new Lifecycle((from, to) => refused.push(`${from}→${to}`));
    assert.equal(life.phase, 'resolving');
    assert.equal(life.state, 'connecting');
    assert.equal(life.to('open'), false);
    assert.equal(life.phase, 'resolving');
    assert.equal(life.to('handshaking'), true);
    assert.equal(life.state, 'connecting');
    assert.equal(life.to('open'), true);
    assert.equal(life.to('handshaking'), false);
    assert.equal(life.to('closed'), true);
    assert.equal(life.state, 'closed');
    assert.equal(life.to('closed'), false);
    assert.deepEqual(refused, ['resolving→open', 'open→handshaking', 'closed→closed']);
  });
});

describe('tunnel session', () => {
  it('opens through the injected connector, relays what guacd sent first and what the browser sent meanwhile', async () => {
    const r = rig({ pending: '4.sync,1.0;' });
    const opening = r.session.open();
    assert.equal(r.session.state, 'connecting');
    r.session.input(Buffer.from('3.key,2.65,1.1;'));
    await opening;
    assert.equal(r.session.state, 'open');
    assert.equal(r.handshakes.length, 1);
    const h = r.handshakes[0];
    assert.deepEqual([h.protocol, h.name, h.width, h.height, h.params], ['ssh', 'alice', 800, 600, { hostname: 'target' }]);
    assert.equal(r.session.info.guacdConnectionId, '$conn');
    assert.equal(r.starts, 1);
    assert.deepEqual(r.port.sent, ['4.sync,1.0;']);
    assert.equal(r.guacd.text(), '3.key,2.65,1.1;');
    r.session.input(Buffer.from('5.mouse,1.1,1.2,1.0;'));
    assert.equal(r.guacd.text(), '3.key,2.65,1.1;5.mouse,1.1,1.2,1.0;');
    r.guacd.send('4.size,1.0,2.80,2.24;');
    await tick();
    assert.deepEqual(r.port.sent, ['4.sync,1.0;', '4.size,1.0,2.80,2.24;']);
    assert.equal(r.session.stats.bytesToBrowser, '4.sync,1.0;4.size,1.0,2.80,2.24;'.length);
  });

  it('treats an invalid transition as a bug: logs it and closes with SERVER_ERROR', async () => {
    const r = await opened();
    const life = (r.session as unknown as { life: Lifecycle }).life;
    assert.equal(life.to('handshaking'), false);
    endedWith(r, STATUS.SERVER_ERROR, 'The gateway hit an internal error.', true);
    await toldGuacdAndLetGo(r);
    const log = readLog();
    const line = log.find((l) => l.msg === 'tunnel: invalid session transition');
    assert.ok(line, 'logged');
    assert.deepEqual([line.level, line.session, line.from, line.to], ['error', r.session.id, 'open', 'handshaking']);
    assert.ok(log.some((l) => l.msg === 'tunnel: session ended with an error' && l.code === 'GUAC_TUNNEL_BAD_TRANSITION'));
  });

  it('closes once: one end, one history record, one unregister, its guacd aborted, and no timer left', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
    const r = await opened({ options: { browserTimeoutMs: 60_000, idleTimeoutMs: 60_000, maxSessionMs: 600_000, firstFrameTimeoutMs: 60_000 } });
    r.session.input(Buffer.from('0.,4.ping,1.1;'));
    t.mock.timers.tick(25_000);
    assert.equal(r.port.keepalives, 1, 'the heartbeat runs while open');
    r.session.close(STATUS.SESSION_CLOSED, 'Closed by the admin.');
    r.session.close(STATUS.SERVER_ERROR, 'again');
    r.session.browserGone();
    r.guacd.send('10.disconnect;');
    r.guacd.destroy();
    await tick();
    t.mock.timers.tick(10 * 600_000);
    assert.equal(r.port.keepalives, 1, 'no heartbeat after close');
    endedWith(r, STATUS.SESSION_CLOSED, 'Closed by the admin.', true);
    assert.equal(r.signals[0].aborted, true);
    assert.equal((r.signals[0].reason as GuacError).code, 'GUAC_ABORTED');
    r.session.input(Buffer.from('3.key,2.65,1.1;'));
    assert.equal(r.guacd.text(), '10.disconnect;', 'the close\'s own disconnect, nothing after it');
  });

  it('ends an open session that reaches its time limits, each once', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
    const idle = await opened({ options: { idleTimeoutMs: 1000 } });
    t.mock.timers.tick(1000);
    endedWith(idle, STATUS.SESSION_TIMEOUT, 'The session was idle for too long.', true);
    const frame = await opened({ options: { firstFrameTimeoutMs: 500 } });
    t.mock.timers.tick(500);
    endedWith(frame, STATUS.UPSTREAM_TIMEOUT, 'The remote desktop did not answer in time.', true);
  });

  it('drops a read-only viewer\'s input except acknowledgements, and tells guacd it is read-only', async () => {
    const r = await opened({ target: { readOnly: true } });
    assert.equal(r.handshakes[0].readOnly, true);
    assert.equal(r.session.info.readOnly, true);
    r.session.input(Buffer.from('3.key,2.65,1.1;5.mouse,1.1,1.1,1.1;9.clipboard,1.0,10.text/plain;4.sync,1.5;3.ack,1.1,2.OK,1.0;'));
    assert.equal(r.guacd.text(), '4.sync,1.5;3.ack,1.1,2.OK,1.0;');
    assert.equal(r.session.state, 'open');
  });

  it('echoes pings on the WebSocket tunnel, in one message per chunk, never to guacd; ignores them on HTTP', async () => {
    const ws = await opened();
    ws.session.input(Buffer.from('0.,4.ping,3.123;0.,4.ping,3.124;4.sync,1.1;'));
    assert.deepEqual(ws.port.sent, ['0.,4.ping,3.123;0.,4.ping,3.124;']);
    assert.equal(ws.guacd.text(), '4.sync,1.1;');
    const http = await opened({ port: new FakePort(false) });
    http.session.input(Buffer.from('0.,4.ping,3.123;'));
    assert.deepEqual(http.port.sent, []);
    assert.equal(http.guacd.text(), '');
  });

  it('closes on an internal instruction that is no ping: CLIENT_BAD_REQUEST', async () => {
    const r = await opened();
    r.session.input(Buffer.from('0.,4.size,1.1;'));
    endedWith(r, STATUS.CLIENT_BAD_REQUEST, 'The browser sent an invalid tunnel instruction.', true);
    assert.equal(r.guacd.text(), '10.disconnect;', 'the instruction never reached guacd, the leave did');
    assert.ok(readLog().some((l) => l.code === 'GUAC_TUNNEL_BAD_INTERNAL'));
  });

  it('stops reading guacd and the browser while the browser is backlogged, and resumes both once it drained', async () => {
    const r = await opened({ options: { limits: { highWaterBytes: 1024, lowWaterBytes: 256 } } });
    r.port.bufferedAmount = 2000;
    r.guacd.send('4.sync,1.0;');
    await tick();
    assert.equal(r.guacd.isPaused(), true, 'guacd not read');
    assert.equal(r.port.paused, true, 'browser not read');
    assert.deepEqual([r.session.stats.guacdPaused, r.session.stats.guacdPauses, r.session.stats.maxBrowserBuffered], [true, 1, 2000]);
    r.port.bufferedAmount = 600;
    r.session.browserDrained();
    assert.equal(r.guacd.isPaused(), true, 'above the low-water mark');
    r.port.bufferedAmount = 256;
    r.session.browserDrained();
    assert.equal(r.guacd.isPaused(), false);
    assert.equal(r.port.paused, false);
    assert.equal(r.session.stats.guacdPaused, false);
    assert.equal(r.session.state, 'open');
  });

  it('stops reading the browser while guacd does not drain, and keeps it paused until both holds clear', async () => {
    const r = await opened({ options: { limits: { highWaterBytes: 1024, lowWaterBytes: 256 } } });
    r.guacd.hold = true;
    r.session.input(Buffer.from(`3.key,${'1'.repeat(100).length}.${'1'.repeat(100)},1.1;`));
    assert.equal(r.port.paused, true);
    assert.equal(r.session.stats.browserPauses, 1);
    r.port.bufferedAmount = 2000;
    r.guacd.send('4.sync,1.0;');
    await tick();
    assert.equal(r.guacd.isPaused(), true, 'backlogged as well');
    r.guacd.release();
    await tick();
    assert.equal(r.port.paused, true, 'the backlog still holds the browser');
    r.port.bufferedAmount = 0;
    r.session.browserDrained();
    assert.equal(r.port.paused, false);
    assert.equal(r.guacd.isPaused(), false);
  });

  it('cuts a backlogged browser that reads nothing for browserTimeoutMs: CLIENT_TIMEOUT', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
    const r = await opened({ options: { browserTimeoutMs: 3000, limits: { highWaterBytes: 1024, lowWaterBytes: 256 } } });
    r.session.input(Buffer.from('0.,4.ping,1.1;'));
    r.port.bufferedAmount = 2000;
    r.guacd.send('4.sync,1.0;');
    await tick();
    t.mock.timers.tick(2000);
    r.session.heard();
    r.session.browserDrained();
    assert.equal(r.session.state, 'open', 'pongs and reads that take nothing do not count, yet it is not over');
    t.mock.timers.tick(1000);
    endedWith(r, STATUS.CLIENT_TIMEOUT, 'The browser stopped reading what the gateway sent.', true);
  });

  it('ends with guacd\'s status on its error, relayed to the browser once and not repeated', async () => {
    const r = await opened();
    r.guacd.send('4.sync,1.0;5.error,13.Access denied,3.769;');
    await tick();
    assert.deepEqual(r.port.sent, ['4.sync,1.0;5.error,13.Access denied,3.769;']);
    endedWith(r, STATUS.CLIENT_UNAUTHORIZED, 'Access denied', false);
    assert.ok(r.guacd.destroyed);
    assert.equal(r.guacd.text(), '', 'guacd ended it: no disconnect sent back');
  });

  it('ends with SUCCESS on guacd\'s disconnect, and with UPSTREAM_ERROR when guacd ends without one', async () => {
    const done = await opened();
    done.guacd.send('10.disconnect;');
    await tick();
    endedWith(done, STATUS.SUCCESS, 'The remote desktop server ended the connection.', false);
    const lost = await opened();
    lost.guacd.push(null);
    await tick();
    endedWith(lost, STATUS.UPSTREAM_ERROR, 'The connection to the remote desktop server was lost.', true);
    // guacd hung up right after `ready`: what it sent is relayed, then the same loss.
    const hungUp = rig({ pending: '4.sync,1.0;', ended: true });
    await hungUp.session.open();
    assert.deepEqual(hungUp.port.sent, ['4.sync,1.0;']);
    endedWith(hungUp, STATUS.UPSTREAM_ERROR, 'The connection to the remote desktop server was lost.', true);
  });

  it('hands guacd the browser\'s disconnect, then ends with SUCCESS and lets guacd\'s socket finish', async () => {
    const r = await opened();
    r.session.input(Buffer.from('4.sync,1.1;10.disconnect;'));
    endedWith(r, STATUS.SUCCESS, 'The browser disconnected.', false);
    await tick();
    assert.equal(r.guacd.text(), '4.sync,1.1;10.disconnect;');
    assert.equal(r.guacd.writableEnded, true, 'FIN after the last bytes');
    assert.equal(r.guacd.destroyed, true);
  });

  it('ends with SUCCESS when the browser disconnects while resolving; guacd is never contacted', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const r = rig({ resolve: async () => { await gate; return { protocol: 'ssh', params: { hostname: 'h' } }; } });
    const opening = r.session.open();
    r.session.input(Buffer.from('10.disconnect;'));
    assert.equal(r.session.state, 'closed');
    release();
    await assert.rejects(opening, (err: GuacError) => err.code === 'GUAC_TUNNEL_CLOSED' && err.status.guac === STATUS.SUCCESS.guac && err.message === 'The browser disconnected.');
    assert.equal(r.handshakes.length, 0);
    assert.deepEqual(r.port.ends, [{ status: STATUS.SUCCESS, message: 'The browser disconnected.', sendError: false }]);
    assert.equal(r.records.length, 0, 'never resolved: no history');
  });

  it('reports a failed guacd connect with its code and status, to the browser and to history', async () => {
    const refused = new GuacError('GUAC_GUACD_UNREACHABLE', 'UPSTREAM_NOT_FOUND', 'guacd could not be reached.');
    const r = rig({ connect: async () => { throw refused; } });
    await assert.rejects(r.session.open(), (err: GuacError) => err.code === refused.code && err.status.guac === STATUS.UPSTREAM_NOT_FOUND.guac && err.message === refused.message);
    endedWith(r, STATUS.UPSTREAM_NOT_FOUND, 'guacd could not be reached.', true);
  });

  it('lets go of a guacd connection that arrives after the session closed', async () => {
    let arrive!: () => void;
    const r = rig();
    r.host.connect = () => new Promise((resolve) => {
      arrive = () => resolve({ socket: r.guacd, pending: Buffer.alloc(0), ended: false, connectionId: '$late' });
    });
    const opening = r.session.open();
    await tick();
    r.session.browserGone();
    arrive();
    await assert.rejects(opening, (err: GuacError) => err.code === 'GUAC_TUNNEL_CLOSED' && err.status.guac === STATUS.SUCCESS.guac);
    assert.equal(r.guacd.destroyed, true);
    assert.equal(r.starts, 0);
    assert.deepEqual(r.port.ends, [], 'the browser left: nothing written to it');
    assert.equal(r.records.length, 1);
  });

  it('refuses more than maxPendingInputBytes of input before guacd is ready: CLIENT_OVERRUN', async () => {
    const r = rig({ options: { limits: { maxPendingInputBytes: 1024 } }, connect: () => new Promise(() => undefined) });
    void r.session.open().catch(() => undefined);
    await tick();
    r.session.input(Buffer.from(`3.key,600.${'x'.repeat(600)},1.1;`));
    assert.equal(r.session.state, 'connecting');
    r.session.input(Buffer.from(`3.key,600.${'x'.repeat(600)},1.1;`));
    endedWith(r, STATUS.CLIENT_OVERRUN, 'The browser sent too much before the connection was ready.', true);
  });
});

/** The diagnostics_channel messages of sessions, in order: [channel key, message]. */
function watchChannels(t: { after(fn: () => void): void }): [string, Record<string, unknown>][] {
  const seen: [string, Record<string, unknown>][] = [];
  for (const [key, name] of Object.entries(CHANNELS)) {
    const listener = (message: unknown): void => { seen.push([key, message as Record<string, unknown>]); };
    diagnostics_channel.subscribe(name, listener);
    t.after(() => diagnostics_channel.unsubscribe(name, listener));
  }
  return seen;
}

/** The channel keys one session published, in order. */
const keysOf = (seen: [string, Record<string, unknown>][], id: string): string[] => seen.filter(([, m]) => m.session === id).map(([k]) => k);

describe('session diagnostics through the lifecycle', () => {
  it('publishes session:open at construction, handshake:done on entering open, and one session:close that says it opened', async (t) => {
    const seen = watchChannels(t);
    const r = rig({ pending: '4.sync,1.0;' });
    assert.deepEqual(keysOf(seen, r.session.id), ['sessionOpen']);
    await r.session.open();
    assert.deepEqual(keysOf(seen, r.session.id), ['sessionOpen', 'handshakeDone']);
    const done = seen.find(([k]) => k === 'handshakeDone')![1];
    assert.deepEqual([done.protocol, done.user, done.guacdConnectionId, done.readOnly], ['ssh', 'alice', '$conn', false]);
    r.session.close(STATUS.SESSION_CLOSED, 'Closed by the admin.');
    r.session.close(STATUS.SERVER_ERROR, 'again');
    r.session.browserGone();
    assert.deepEqual(keysOf(seen, r.session.id), ['sessionOpen', 'handshakeDone', 'sessionClose']);
    const close = seen.at(-1)![1];
    assert.deepEqual([close.opened, close.status, close.statusName, close.message], [true, STATUS.SESSION_CLOSED.guac, 'SESSION_CLOSED', 'Closed by the admin.']);
  });

  it('publishes handshake:failed, then one session:close, when a session closes while resolving or handshaking', async (t) => {
    const seen = watchChannels(t);
    const refused = new GuacError('GUAC_GUACD_UNREACHABLE', 'UPSTREAM_NOT_FOUND', 'guacd could not be reached.');
    const handshaking = rig({ connect: async () => { throw refused; } });
    await assert.rejects(handshaking.session.open());
    assert.deepEqual(keysOf(seen, handshaking.session.id), ['sessionOpen', 'handshakeFailed', 'sessionClose']);
    const failed = seen.find(([k, m]) => k === 'handshakeFailed' && m.session === handshaking.session.id)![1];
    assert.deepEqual([failed.code, failed.status, failed.statusName, failed.message],
      ['GUAC_GUACD_UNREACHABLE', STATUS.UPSTREAM_NOT_FOUND.guac, 'UPSTREAM_NOT_FOUND', 'guacd could not be reached.']);

    const resolving = rig({ resolve: ({ signal }) => new Promise((_, reject) => signal!.addEventListener('abort', () => reject(signal!.reason as Error))) });
    const opening = resolving.session.open();
    resolving.session.browserGone();
    await assert.rejects(opening);
    assert.deepEqual(keysOf(seen, resolving.session.id), ['sessionOpen', 'handshakeFailed', 'sessionClose']);
    const close = seen.filter(([k, m]) => k === 'sessionClose' && m.session === resolving.session.id)[0]![1];
    assert.deepEqual([close.opened, close.code, close.statusName], [false, 'GUAC_TUNNEL_CLOSED', 'SUCCESS']);
  });

  it('an invalid transition out of open ends with one session:close (opened, the transition\'s code) and no handshake:failed', async (t) => {
    const seen = watchChannels(t);
    const r = await opened();
    assert.equal((r.session as unknown as { life: Lifecycle }).life.to('handshaking'), false);
    assert.deepEqual(keysOf(seen, r.session.id), ['sessionOpen', 'handshakeDone', 'sessionClose']);
    const close = seen.at(-1)![1];
    assert.deepEqual([close.opened, close.code, close.statusName], [true, 'GUAC_TUNNEL_BAD_TRANSITION', 'SERVER_ERROR']);
  });
});

describe('a recording disk that falls behind', () => {
  const dir = mkdtempSync(join(tmpdir(), 'session-rec-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;

  /** A session recorded into a FIFO the test reads (or not); guacd's output is 1 MiB of `blob`s. */
  async function recordedSession(maxStallMs: number) {
    const disk = slowDisk(join(dir, `disk${++n}`));
    let recorder: SessionRecorder | undefined;
    const r = await opened({
      target: { record: { keys: true } },
      options: {
        recorder: (_info, spec) => (recorder = new SessionRecorder({ path: disk.path, flags: 'w', maxBufferBytes: 256 << 10, maxStallMs, ...spec })),
      },
    });
    await recorder!.opened;
    const blob = `4.blob,1.1,8192.${'A'.repeat(8192)};`;
    const total = blob.length * 128;
    for (let i = 0; i < 128; i++) r.guacd.send(blob);
    return { r, disk, recorder: recorder!, total, received: () => r.port.sent.reduce((a, s) => a + s.length, 0) };
  }

  it('holds guacd, not the browser, until the disk catches up: the recording stays whole', async () => {
    const { r, disk, recorder, total, received } = await recordedSession(10_000);
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(r.guacd.isPaused(), true, 'guacd is not read while the disk is behind');
      assert.ok(received() < total, `the browser has not had everything yet (${received()} of ${total})`);
      assert.equal(r.port.paused, false, 'the browser is still read');
      // Its keys still reach guacd meanwhile.
      r.session.input(Buffer.from('3.key,2.97,1.1;'));
      assert.equal(r.guacd.text(), '3.key,2.97,1.1;');
      disk.drain();
      await waitUntil(() => received() === total, 'the browser got all of guacd\'s output');
      // The last pieces may have put the session on hold again: it ends once the disk has caught up.
      await waitUntil(() => !r.guacd.isPaused(), 'guacd read again');
      assert.equal(recorder.failed, undefined);
      assert.ok(recorder.stalls >= 1);
      r.session.browserGone();
      const result = await recorder.finish();
      assert.equal(result.complete, true);
      assert.ok(result.size >= total, `every byte guacd sent is in the recording (${result.size} of ${total})`);
      assert.equal(r.session.state, 'closed');
    } finally {
      await disk.close();
    }
  });

  it('gives the recording up after maxStallMs (best-effort): the session goes on at full speed, the recording incomplete', async () => {
    const { r, disk, recorder, total, received } = await recordedSession(300);
    try {
      await waitUntil(() => received() === total, 'the browser got all of guacd\'s output');
      assert.equal(recorder.failed?.code, 'GUAC_RECORDING_OVERRUN');
      assert.equal(r.session.state, 'open', 'best-effort: the session goes on');
      assert.equal(r.guacd.isPaused(), false);
      r.guacd.send('4.sync,3.123;');
      assert.ok(r.port.sent.at(-1)!.endsWith('4.sync,3.123;'), 'and guacd is relayed at once after');
    } finally {
      await disk.close();
    }
    r.session.browserGone();
    assert.equal((await recorder.finish()).complete, false);
  });

  it('required: the session ends with the overrun when the disk stays behind', async () => {
    const disk = slowDisk(join(dir, `disk${++n}`));
    try {
      let recorder: SessionRecorder | undefined;
      const r = await opened({
        target: { record: { policy: 'required' } },
        options: { recorder: (_info, spec) => (recorder = new SessionRecorder({ path: disk.path, flags: 'w', maxBufferBytes: 256 << 10, maxStallMs: 300, ...spec })) },
      });
      for (let i = 0; i < 128; i++) r.guacd.send(`4.blob,1.1,8192.${'A'.repeat(8192)};`);
      await waitUntil(() => r.session.state === 'closed', 'the session ended');
      endedWith(r, STATUS.SERVER_ERROR, 'The session recording could not keep up: the disk was too slow.', true);
      assert.equal(recorder!.failed?.code, 'GUAC_RECORDING_OVERRUN');
    } finally {
      await disk.close();
    }
  });
});

async function waitUntil(ok: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
