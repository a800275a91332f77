/**
 * One browser ↔ guacd session, whatever the transport: the state machine
 * (resolving → handshaking → open → closed; the table is session-state.ts),
 * the relay in both directions with backpressure, the read-only filter, the
 * timers, and the one `close()` that ends both sides exactly once and
 * reports history once.
 *
 * Browser → guacd: fully parsed (guacd's limits), internal instructions
 * answered here and never forwarded, the rest re-encoded and written in one
 * piece per browser chunk. guacd → browser: raw bytes cut at instruction ends
 * by the splitter, sent in messages of whole instructions, each flushed once
 * it reaches 8192 bytes or at the end of the current read from guacd (what
 * the Java endpoint does); only `error` is decoded, for its status.
 *
 * Backpressure: while more than `highWaterBytes` wait for the browser, the
 * session reads neither guacd nor the browser (whose pings and input would
 * otherwise keep adding output) until the backlog is down to `lowWaterBytes`;
 * a browser that reads nothing of it for `browserTimeoutMs` is cut. While
 * guacd does not drain what the session writes to it, the browser is not
 * read either. The two reasons to hold the browser's input are kept apart,
 * so that one clearing never resumes input the other still holds.
 *
 * guacd is reached through the host's `connect` (a {@link GuacdConnector}):
 * the session only needs a stream, so its unit tests run without sockets.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { GuacError, toGuacError } from '../protocol/errors.js';
import { TUNNEL } from './errors.js';
import { GUACD } from '../guacd/errors.js';
import { encode } from '../protocol/encoder.js';
import { INTERNAL_OPCODE } from '../protocol/constants.js';
import { Parser } from '../protocol/parser.js';
import { InstructionSplitter } from '../protocol/splitter.js';
import { STATUS, statusFromCode, type StatusInfo } from '../protocol/status.js';
import type { HandshakeOptions } from '../guacd/index.js';
import { handshakeFor } from './connect-data.js';
import { publish } from '../diagnostics.js';
import { LazyChildLogger, type Logger } from '../logger.js';
import { isActivity, viewerMaySend } from './read-only.js';
import type { Target, TunnelRequest } from './resolver.js';
import type { SessionHandle, SessionInfo, SessionRecord, SessionState, SessionStats } from './types.js';
import type { GuacdConnection } from './connector.js';
import { Lifecycle, type Phase } from './session-state.js';
import type { ResolvedOptions } from './options.js';
import type { Claimant } from './admission.js';
import { pingEcho, sendInMessages } from './wire.js';
import type { SessionRecorder } from './recording/recorder.js';
import { startRecording } from './recording/start.js';
import { attachStreams, sendKept, type StreamInterceptor } from './streams/index.js';
import { filePolicy, offersFiles, type FilePolicy } from './streams/policy.js';
import { callHook } from './hooks.js';

/** How long a socket closed with `flush` may take to hand guacd its last bytes. */
const FLUSH_GRACE_MS = 2000;
/** How long guacd may take to read the `disconnect` a session that ends on its own sends it. */
const LEAVE_GRACE_MS = 250;
const DISCONNECT = encode('disconnect');

/** The browser side of a session, as a transport implements it. */
export interface BrowserPort {
  readonly transport: 'websocket' | 'http';
  /** Answer internal pings (the WebSocket tunnel; the HTTP one uses `nop`). */
  readonly echoPings: boolean;
  /** Sends whole instructions. */
  send(data: Buffer | string): void;
  /** Bytes handed to `send` and not yet written to the kernel. */
  readonly bufferedAmount: number;
  /** Stops reading from the browser until `resumeInput`. */
  pauseInput(): void;
  resumeInput(): void;
  /** Keeps the browser connection provably alive (WebSocket ping frame); optional. */
  keepalive?(): void;
  /** Ends the browser side: an `error` instruction first when `sendError`, then the close. */
  end(status: StatusInfo, message: string, sendError: boolean): void;
}

/** What the tunnel gives each session. */
export interface SessionHost {
  readonly options: ResolvedOptions;
  /** Connects to guacd and completes the handshake (a {@link GuacdConnector}), reporting through `logger`. */
  connect(handshake: HandshakeOptions, signal: AbortSignal, logger: Logger, guacd?: string): Promise<GuacdConnection>;
  /** Counts the session against its token and user (per-client caps); the refusal if one is at its cap. */
  admitTarget(session: TunnelSession, who: Claimant): GuacError | undefined;
  unregister(session: TunnelSession): void;
}

/** Options of {@link TunnelSession.close}. */
export interface CloseOptions {
  /** The browser already left: do not write to it. */
  browserGone?: boolean;
  /** guacd's own `error` instruction already reached the browser. */
  relayed?: boolean;
  /** guacd still gets what was written to it (the browser's `disconnect`) before its socket closes. */
  flush?: boolean;
  /** The error code behind the close, for the log. */
  code?: string;
}

/** Why the browser's input is not being read. */
const enum Hold {
  /** guacd's socket does not drain what the session writes to it. */
  Guacd = 1,
  /** More than the high-water mark waits for the browser. */
  Backlog = 2,
}

/** Why guacd's socket is not being read. */
const enum GuacdHold {
  /** More than the high-water mark waits for the browser. */
  Backlog = 1,
  /** The recording's disk is behind (recording/writer.ts: a short, bounded wait). */
  Recording = 2,
}

/**
 * The session signal's reason once it ended. One value for every session: it
 * is read, never changed, and a fresh error per close (its stack captured)
 * cost more than the rest of the close.
 */
const SESSION_ENDED = GUACD.GUAC_ABORTED({ message: 'The session ended.' });

/**
 * A session. Created by a transport, which feeds it the browser's bytes
 * (`input`), tells it when the browser drained (`browserDrained`), showed life
 * (`heard`) or left (`browserGone`).
 */
export class TunnelSession implements SessionHandle {
  readonly id = randomUUID();
  readonly info: SessionInfo;
  /** The tunnel's logger, every line carrying this session's id (the child is made at the first line). */
  readonly log: Logger;
  readonly stats: SessionStats = {
    bytesFromBrowser: 0, bytesToBrowser: 0, guacdPauses: 0, browserPauses: 0,
    browserBuffered: 0, maxBrowserBuffered: 0, guacdPaused: false,
  };

  private readonly life = new Lifecycle((from, to) => this.invalidTransition(from, to));
  private readonly abort = new AbortController();
  private readonly parser: Parser;
  private readonly splitter: InstructionSplitter;
  private socket: Duplex | undefined;
  private readOnly = false;
  private resolved = false;
  private pending: string[] = [];
  private pendingBytes = 0;
  private out: string[] = [];
  /** Ping echoes of the current browser chunk: sent as one message, not one each. */
  private echoes = '';
  private readonly ends: number[] = [];
  /** Reasons ({@link Hold}) the browser's input is paused; paused while any. */
  private inputHolds = 0;
  /** Why guacd is not read ({@link GuacdHold} bits): its socket is paused while any is set. */
  private guacdHolds = 0;
  /** The smallest backlog seen since it went over the mark: only going below it is the browser taking bytes. */
  private backlogLow = 0;
  /** The browser sent at least one instruction (pings included). */
  private inputSeen = false;
  /** The browser asked to leave (`disconnect`): guacd closing is then no failure. */
  private browserLeaving = false;
  /** guacd sent its `disconnect`: the user's connection is over. */
  private guacdDone = false;
  private lastActivity = Date.now();
  private lastHeard = Date.now();
  private maxDurationMs = 0;
  private connectTimer: NodeJS.Timeout | undefined;
  /** Runs from guacd's `ready` to its first frame (`sync`): the remote desktop answered. */
  private frameTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private endStatus: StatusInfo = STATUS.SUCCESS;
  private endMessage = '';
  private endCode = 'GUAC_TUNNEL_CLOSED';
  /** Writes the session's recording, when its target asked for one (src/tunnel/recording/). */
  private recorder: SessionRecorder | undefined;
  /** File transfer (streams/): set once open. */
  streams: StreamInterceptor | undefined;
  private secret: string | undefined;
  private files: FilePolicy = filePolicy(true);
  private announceFiles = false;
  /** Where dropped guacd instructions lie in the current piece (as `ends`). */
  private readonly drops: number[] = [];

  /**
   * @param host the tunnel
   * @param port the browser side
   * @param request the connect request (its `signal` is the session's own)
   */
  constructor(
    private readonly host: SessionHost,
    private readonly port: BrowserPort,
    private readonly request: Omit<TunnelRequest, 'signal'>,
  ) {
    const { limits } = host.options;
    this.parser = new Parser(limits.parser);
    this.splitter = new InstructionSplitter(limits.parser);
    this.log = new LazyChildLogger(host.options.logger, { session: this.id });
    this.info = { id: this.id, transport: port.transport, readOnly: false, start: new Date() };
    if (request.remoteAddress !== undefined) this.info.remoteAddress = request.remoteAddress;
    publish('sessionOpen', () => ({ session: this.id, transport: port.transport, remoteAddress: request.remoteAddress }));
    this.startHeartbeat();
  }

  /** Proves a stream route request comes from this session's page (given to it alone); drawn when first asked for. */
  get streamSecret(): string {
    return this.secret ??= randomBytes(32).toString('base64url');
  }

  /** Where the session stands. */
  get state(): SessionState {
    return this.life.state;
  }

  /**
   * Resolves the request, connects to guacd and starts relaying.
   * @throws GuacError why the session could not open (it is closed by then,
   *   and the browser told, unless it left first)
   */
  async open(): Promise<void> {
    const { options } = this.host;
    const signal = this.abort.signal;
    if (options.handshakeTimeoutMs > 0) {
      this.connectTimer = setTimeout(() => {
        // A resolver that hangs (its database stopped answering) is the gateway's problem, not the desktop's.
        this.fail(this.life.phase === 'resolving'
          ? TUNNEL.GUAC_TUNNEL_RESOLVE_TIMEOUT()
          : TUNNEL.GUAC_TUNNEL_CONNECT_TIMEOUT());
      }, options.handshakeTimeoutMs);
    }
    try {
      const claim = (who: Claimant): void => {
        // A resolver still running after the session ended must not count it again.
        this.assertLive();
        const refused = this.host.admitTarget(this, who);
        if (refused) throw refused;
      };
      const target = await options.resolve({ ...this.request, signal, claim });
      this.assertLive();
      claim({ tokenId: target.tokenId, user: target.user });
      const handshake = this.applyTarget(target);
      await this.startRecorder(target);
      if (!this.transition('handshaking')) this.assertLive();
      const connection = await this.host.connect(handshake, signal, this.log, target.guacd);
      if (this.life.phase === 'closed') {
        connection.socket.destroy();
        this.assertLive();
      }
      this.attach(connection);
    } catch (err) {
      if (this.life.phase !== 'closed') {
        const e = toGuacError(err);
        if (e.status.guac === STATUS.SERVER_ERROR.guac && !(err instanceof GuacError)) this.log.error({ error: err }, 'tunnel: connect failed');
        this.fail(e);
      }
      throw new GuacError(this.endCode, this.endStatus, this.endMessage);
    }
  }

  /** Bytes from the browser. */
  input(chunk: Buffer): void {
    if (this.life.phase === 'closed') return;
    this.stats.bytesFromBrowser += chunk.length;
    this.inputSeen = true;
    if (!this.backlogged) this.lastHeard = Date.now();
    const err = this.parser.push(chunk, this.onBrowserInstruction);
    if (err) {
      this.fail(err.status.guac === STATUS.SERVER_ERROR.guac ? err : new GuacError(err.code, 'CLIENT_BAD_REQUEST', err.message));
      return;
    }
    // The handler may have closed the session (`state` is re-read: TS narrowed `life.phase`).
    if (this.state === 'closed') return;
    if (this.echoes !== '') {
      this.sendBrowser(this.echoes);
      this.echoes = '';
      // The browser's own pings add to its backlog as guacd's output does.
      this.checkBacklog();
    }
    if (this.out.length === 0) return;
    const data = this.out.length === 1 ? this.out[0] : this.out.join('');
    this.out = [];
    if (this.life.phase === 'open') {
      this.writeGuacd(data);
      if (this.browserLeaving) this.leave();
    } else if (this.browserLeaving) {
      this.close(STATUS.SUCCESS, 'The browser disconnected.');
    } else {
      this.pendingBytes += Buffer.byteLength(data);
      if (this.pendingBytes > this.host.options.limits.maxPendingInputBytes) {
        this.fail(TUNNEL.GUAC_TUNNEL_INPUT_OVERRUN());
        return;
      }
      this.pending.push(data);
    }
  }

  /**
   * Sends one whole instruction the gateway makes itself to the browser: the
   * tunnel-internal UUID, or a join notice (`msg`) where guacd sends none.
   * guacd's output is relayed in whole instructions, so this never lands inside one.
   */
  sendInternal(instruction: string): void {
    if (this.life.phase !== 'closed') this.sendBrowser(instruction);
  }

  /**
   * The browser showed life without sending instructions (a pong, an HTTP
   * request). Counts only once it has sent an instruction: every Guacamole
   * client pings (WebSocket) or sends `nop` (HTTP) at once, so a peer that
   * merely answers pings is not one, and is cut like a silent one. Nor does
   * it count while the browser is backlogged: a client that keeps asking
   * and never reads is not alive.
   */
  heard(): void {
    if (this.inputSeen && !this.backlogged) this.lastHeard = Date.now();
  }

  /**
   * Bytes for the browser may have left the gateway (a WebSocket message
   * written, an HTTP read drained, ended or started). Once the backlog is
   * down to the low-water mark, guacd and the browser are read again.
   */
  browserDrained(): void {
    if (!this.backlogged || this.life.phase === 'closed') return;
    const buffered = this.port.bufferedAmount;
    this.stats.browserBuffered = buffered;
    if (buffered < this.backlogLow) {
      // The browser took bytes we held: it reads, so its silence meanwhile is
      // ours. A new HTTP read alone takes nothing, and so does not count.
      this.backlogLow = buffered;
      this.lastHeard = Date.now();
    }
    if (buffered <= this.host.options.limits.lowWaterBytes) {
      this.stats.guacdPaused = false;
      this.releaseGuacd(GuacdHold.Backlog);
      this.releaseInput(Hold.Backlog);
    }
  }

  /** The browser closed or dropped its connection. */
  browserGone(message = 'The browser closed the tunnel.'): void {
    this.close(STATUS.SUCCESS, message, { browserGone: true });
  }

  /**
   * Ends the session: both sides, every timer, history. Only the first call
   * does anything.
   * @param status why (SESSION_CLOSED by default)
   * @param message human reason, free of secrets
   * @param opts what the browser already knows
   */
  close(status: StatusInfo = STATUS.SESSION_CLOSED, message: string = status.message, opts: CloseOptions = {}): void {
    if (this.life.phase === 'closed') return;
    // Reached guacd's `ready`: decides between `handshake:failed` and a plain `session:close`.
    const opened = this.life.phase === 'open';
    this.life.to('closed');
    this.endStatus = status;
    this.endMessage = message;
    clearTimeout(this.connectTimer);
    clearTimeout(this.frameTimer);
    clearTimeout(this.idleTimer);
    clearTimeout(this.maxTimer);
    clearInterval(this.heartbeat);
    this.streams?.close();
    this.abort.abort(SESSION_ENDED);
    const socket = this.socket;
    if (socket) {
      socket.removeAllListeners('data');
      socket.removeAllListeners('drain');
      socket.on('error', () => undefined);
      if (opts.flush) {
        // FIN after the queued bytes, then let go (net.Socket's destroySoon); a guacd that stops reading cannot keep the socket.
        socket.once('finish', () => socket.destroy());
        socket.end();
        setTimeout(() => socket.destroy(), FLUSH_GRACE_MS).unref();
      } else if (!this.guacdDone && !opts.relayed && socket.writable) {
        // guacd (1.3 to 1.6) notices a closed socket only when its 15 s read
        // timeout runs out: until then the user stays in the connection (its
        // owner hears of the leave, guacd 1.5+ `msg`, that late). Say so,
        // unless guacd ended the connection itself (its `disconnect` or `error`).
        socket.once('finish', () => socket.destroy());
        socket.end(DISCONNECT);
        setTimeout(() => socket.destroy(), LEAVE_GRACE_MS).unref();
      } else {
        socket.destroy();
      }
    }
    this.pending = [];
    this.out = [];
    this.echoes = '';
    void this.recorder?.finish();
    if (!opts.browserGone) {
      try {
        this.port.end(status, message, status.guac !== STATUS.SUCCESS.guac && !opts.relayed);
      } catch (err) {
        this.log.warn({ error: err }, 'tunnel: closing the browser side failed');
      }
    }
    this.host.unregister(this);
    const fields = {
      transport: this.info.transport, status: status.guac, statusName: status.name, code: opts.code,
      user: this.info.user, connectionId: this.info.connectionId, guacdConnectionId: this.info.guacdConnectionId,
      bytesFromBrowser: this.stats.bytesFromBrowser, bytesToBrowser: this.stats.bytesToBrowser,
    };
    if (status.guac === STATUS.SUCCESS.guac) this.log.info(fields, 'tunnel: session ended');
    else this.log.info({ ...fields, message }, 'tunnel: session ended with an error');
    this.report(opened, status, message, opts.code);
    if (this.resolved) {
      const record: SessionRecord = {
        ...this.info, end: new Date(), status, message,
        bytesFromBrowser: this.stats.bytesFromBrowser, bytesToBrowser: this.stats.bytesToBrowser,
      };
      callHook(this.log, 'onSessionEnd', this.host.options.onSessionEnd, record);
    }
  }

  /** The diagnostics of the end: the handshake's failure if it never got to `ready`, then the close. */
  private report(opened: boolean, status: StatusInfo, message: string, code = this.endCode): void {
    const durationMs = Date.now() - this.info.start.getTime();
    const about = { session: this.id, code, status: status.guac, statusName: status.name, message, durationMs };
    if (!opened) publish('handshakeFailed', () => about);
    publish('sessionClose', () => ({
      ...about, transport: this.info.transport, opened, guacd: this.info.guacd,
      bytesFromBrowser: this.stats.bytesFromBrowser, bytesToBrowser: this.stats.bytesToBrowser,
    }));
  }

  private fail(err: GuacError): void {
    if (this.life.phase === 'closed') return;
    this.endCode = err.code;
    this.close(err.status, err.message, { code: err.code });
  }

  /** Throws why the session ended, once it has (its close outran the step that awaited). */
  private assertLive(): void {
    if (this.life.phase === 'closed') throw new GuacError(this.endCode, this.endStatus, this.endMessage);
  }

  /** Moves through the lifecycle table; false if it refused (the session is then closed). */
  private transition(to: Phase): boolean {
    return this.life.to(to);
  }

  /** A transition the table does not allow: a bug here, never the peer's doing. */
  private invalidTransition(from: Phase, to: Phase): void {
    this.log.error({ from, to }, 'tunnel: invalid session transition');
    if (from !== 'closed') {
      this.fail(TUNNEL.GUAC_TUNNEL_BAD_TRANSITION());
    }
  }

  /**
   * Starts the recording the target asks for. A `required` one must have its
   * file before guacd is contacted; its faults end the session.
   */
  private async startRecorder(target: Target): Promise<void> {
    this.recorder = startRecording(this.host.options.recorder, this.info, target, (err) => this.fail(err));
    if (this.recorder?.policy !== 'required') return;
    await this.recorder.opened;
    this.assertLive();
  }

  /** Records the target and builds the handshake; validates parameters before guacd is contacted. */
  private applyTarget(target: Target): HandshakeOptions {
    // Recorded first: a target guacd would refuse still makes a history record.
    this.resolved = true;
    const info = this.info;
    if (target.user !== undefined) info.user = target.user;
    if (target.connectionId !== undefined) info.connectionId = target.connectionId;
    if (target.tokenId !== undefined) info.tokenId = target.tokenId;
    if (target.protocol !== undefined) info.protocol = target.protocol;
    if (target.join !== undefined) info.join = target.join;
    if (target.maxDurationMs !== undefined && target.maxDurationMs > 0) this.maxDurationMs = target.maxDurationMs;
    const { handshake, readOnly } = handshakeFor(target, this.request.query);
    this.readOnly = readOnly;
    info.readOnly = readOnly;
    this.files = filePolicy(readOnly, target.files);
    this.announceFiles = offersFiles(target);
    return handshake;
  }

  private attach({ socket, pending, ended, connectionId, version, guacd }: GuacdConnection): void {
    if (!this.transition('open')) {
      socket.destroy();
      this.assertLive();
      return;
    }
    clearTimeout(this.connectTimer);
    this.info.guacdConnectionId = connectionId;
    if (version !== undefined) this.info.guacdProtocol = version;
    if (guacd !== undefined) this.info.guacd = guacd;
    this.socket = socket;
    this.streams = attachStreams(this, this.files, this.announceFiles, this.host.options.onTransfer, (d) => this.writeGuacd(d), (d) => this.sendBrowser(d));
    // Before anything guacd already sent is relayed: it may end the session at once, and `session:close` comes after.
    publish('handshakeDone', () => ({
      session: this.id, protocol: this.info.protocol, join: this.info.join, readOnly: this.info.readOnly, user: this.info.user,
      connectionId: this.info.connectionId, guacdConnectionId: this.info.guacdConnectionId, guacd: this.info.guacd,
      durationMs: Date.now() - this.info.start.getTime(),
    }));
    this.lastHeard = Date.now();
    const { firstFrameTimeoutMs } = this.host.options;
    if (firstFrameTimeoutMs > 0) {
      this.frameTimer = setTimeout(() => {
        this.fail(TUNNEL.GUAC_TUNNEL_TARGET_TIMEOUT());
      }, firstFrameTimeoutMs);
    }
    socket.on('data', (chunk: Buffer) => this.fromGuacd(chunk));
    socket.on('drain', () => this.releaseInput(Hold.Guacd));
    socket.on('error', (err) => {
      this.log.debug({ error: err }, 'tunnel: guacd socket error');
      this.guacdGone();
    });
    socket.on('end', () => this.guacdGone());
    socket.on('close', () => this.guacdGone());
    if (pending.length > 0) this.fromGuacd(pending);
    // guacd already hung up (right after `ready`): its socket has no end left to report.
    if (ended) this.guacdGone();
    if (this.life.phase !== 'open') return;
    // A browser already backlogged (pings while connecting) keeps guacd paused until it drains.
    if (this.guacdHolds !== 0) socket.pause();
    else socket.resume();

    const { idleTimeoutMs, maxSessionMs } = this.host.options;
    this.lastActivity = Date.now();
    if (idleTimeoutMs > 0) this.armIdle(idleTimeoutMs);
    const max = minPositive(maxSessionMs, this.maxDurationMs);
    if (max > 0) {
      const left = Math.max(0, this.info.start.getTime() + max - Date.now());
      this.maxTimer = setTimeout(() => this.close(STATUS.SESSION_CLOSED, 'The session reached its maximum length.'), left);
    }
    callHook(this.log, 'onSessionStart', this.host.options.onSessionStart, { ...this.info });

    const queued = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (queued.length > 0) this.writeGuacd(queued.join(''));
  }

  /**
   * The browser sent `disconnect`: guacd gets it, and the session ends now.
   * guacamole-common-js closes its tunnel right after; a browser that does
   * not is not kept open on guacd's answer, which guacd 1.3.0 may be slow to
   * give.
   */
  private leave(): void {
    this.close(STATUS.SUCCESS, 'The browser disconnected.', { flush: true });
  }

  private readonly onBrowserInstruction = (opcode: string, args: string[]): void => {
    if (opcode === INTERNAL_OPCODE) {
      const echo = pingEcho(args);
      if (echo === undefined) {
        // guacamole-common-js sends nothing internal but its short pings; anything else only makes output to buffer.
        this.fail(TUNNEL.GUAC_TUNNEL_BAD_INTERNAL());
      } else if (this.port.echoPings) {
        this.echoes += echo;
      }
      return;
    }
    if (isActivity(opcode)) this.lastActivity = Date.now();
    if (this.streams?.fromBrowser(opcode, args)) return;
    if (this.readOnly && !viewerMaySend(opcode)) return;
    if (opcode === 'disconnect') this.browserLeaving = true;
    else if (opcode === 'key') this.recorder?.key(args);
    this.out.push(encode(opcode, ...args));
  };

  private writeGuacd(data: string): void {
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    if (!socket.write(data) && (this.inputHolds & Hold.Guacd) === 0) {
      this.stats.browserPauses++;
      this.holdInput(Hold.Guacd);
    }
  }

  /**
   * More than `highWaterBytes` wait for the browser: guacd and the browser
   * are not read until it is down to `lowWaterBytes`; until then only the
   * browser reading (a drain) shows it alive.
   */
  private get backlogged(): boolean {
    return (this.guacdHolds & GuacdHold.Backlog) !== 0;
  }

  private holdGuacd(reason: GuacdHold): void {
    if (this.guacdHolds === 0) this.socket?.pause();
    this.guacdHolds |= reason;
  }

  private releaseGuacd(reason: GuacdHold): void {
    if ((this.guacdHolds & reason) === 0) return;
    this.guacdHolds &= ~reason;
    if (this.guacdHolds === 0 && this.life.phase !== 'closed') this.socket?.resume();
  }

  private holdInput(reason: Hold): void {
    if (this.inputHolds === 0) this.port.pauseInput();
    this.inputHolds |= reason;
  }

  private releaseInput(reason: Hold): void {
    if ((this.inputHolds & reason) === 0) return;
    this.inputHolds &= ~reason;
    if (this.inputHolds === 0 && this.life.phase !== 'closed') this.port.resumeInput();
  }

  /**
   * Over the high-water mark, stops reading guacd and the browser until
   * {@link browserDrained} sees the backlog down to the low-water mark.
   */
  private checkBacklog(): void {
    const buffered = this.port.bufferedAmount;
    this.stats.browserBuffered = buffered;
    if (buffered > this.stats.maxBrowserBuffered) this.stats.maxBrowserBuffered = buffered;
    if (buffered <= this.host.options.limits.highWaterBytes || this.backlogged) return;
    this.backlogLow = buffered;
    this.stats.guacdPaused = true;
    this.stats.guacdPauses++;
    this.holdGuacd(GuacdHold.Backlog);
    this.holdInput(Hold.Backlog);
    this.log.debug({ buffered }, 'tunnel: browser backlogged, reading paused');
  }

  private fromGuacd(chunk: Buffer): void {
    if (this.life.phase === 'closed') return;
    const ends = this.ends;
    ends.length = 0;
    let error: Buffer | undefined;
    // Pieces go out as they complete: the instruction that crossed reads
    // (joined), then a view of the rest of the read; nothing else is copied.
    const recorder = this.recorder;
    const send = recorder === undefined ? this.sendBytes : this.sendRecorded;
    const drops = this.drops;
    drops.length = 0;
    const err = this.splitter.pushViews(chunk, (bytes) => {
      if (drops.length === 0) sendInMessages(bytes, ends, send);
      else sendKept(bytes, ends, drops, send);
      ends.length = 0;
      drops.length = 0;
    }, (opcode, bytes, start, end) => {
      if (this.streams?.fromGuacd(opcode, bytes, start, end)) {
        drops.push(bytes.byteOffset + start, bytes.byteOffset + end);
        return;
      }
      ends.push(bytes.byteOffset + end);
      if (recorder !== undefined && opcode === 'sync') recorder.sync(bytes, start, end);
      if (opcode === 'error' && error === undefined) error = bytes.subarray(start, end);
      else if (opcode === 'disconnect') this.guacdDone = true;
      // The first frame, or guacd asking the user for credentials (then the frame waits on them).
      else if (this.frameTimer !== undefined && (opcode === 'sync' || opcode === 'required')) {
        clearTimeout(this.frameTimer);
        this.frameTimer = undefined;
      }
    });
    if (err) {
      this.fail(TUNNEL.GUAC_TUNNEL_UPSTREAM_PROTOCOL({ message: `The remote desktop server sent invalid data: ${err.message}` }));
      return;
    }
    if (error !== undefined) {
      // guacd's error is final: it closes the connection right after. End now
      // with its status, without a second error instruction.
      const { status, message } = decodeError(error);
      this.close(status, message, { relayed: true });
      return;
    }
    if (this.guacdDone) {
      // So is its `disconnect` (and guacd 1.3.0 may hold the socket open long after it).
      this.close(STATUS.SUCCESS, 'The remote desktop server ended the connection.');
      return;
    }
    this.checkBacklog();
    if (recorder !== undefined && (this.guacdHolds & GuacdHold.Recording) === 0 && recorder.backlogged) this.waitForRecording(recorder);
  }

  /**
   * The recording's disk is behind: guacd is not read until it catches up,
   * as for a slow browser, but the browser's input still flows. The writer
   * bounds the wait (`maxStallMs`), then gives the recording up (its policy
   * decides: the session goes on, or ends).
   */
  private waitForRecording(recorder: SessionRecorder): void {
    this.holdGuacd(GuacdHold.Recording);
    recorder.whenDrained(() => this.releaseGuacd(GuacdHold.Recording));
  }

  private readonly sendBytes = (data: Buffer): void => this.sendBrowser(data);

  /** What reaches the browser is what the recording keeps (not the file blocks the stream routes took). */
  private readonly sendRecorded = (data: Buffer): void => {
    this.recorder?.output(data);
    this.sendBrowser(data);
  };

  private sendBrowser(data: Buffer | string): void {
    this.stats.bytesToBrowser += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.port.send(data);
  }

  /**
   * guacd's socket ended or failed. guacd ends every user's connection with
   * `disconnect` (libguac `guac_user_start`), or with `error` (handled as it
   * arrives); a socket that ends without either lost guacd (killed, crashed,
   * network cut): UPSTREAM_ERROR, never a silent success.
   */
  private guacdGone(): void {
    if (this.life.phase === 'closed') return;
    if (this.guacdDone || this.browserLeaving) {
      this.close(STATUS.SUCCESS, 'The remote desktop server ended the connection.');
      return;
    }
    this.fail(TUNNEL.GUAC_TUNNEL_UPSTREAM_LOST());
  }

  private armIdle(idleMs: number): void {
    const due = this.lastActivity + idleMs - Date.now();
    this.idleTimer = setTimeout(() => {
      if (this.life.phase === 'closed') return;
      if (Date.now() - this.lastActivity >= idleMs) this.close(STATUS.SESSION_TIMEOUT, 'The session was idle for too long.');
      else this.armIdle(idleMs);
    }, Math.max(0, due));
  }

  private startHeartbeat(): void {
    const timeoutMs = this.host.options.browserTimeoutMs;
    if (!(timeoutMs > 0)) return;
    const every = Math.max(50, Math.floor(timeoutMs / 3));
    this.heartbeat = setInterval(() => {
      // While guacd holds the browser back, its silence is ours; while
      // connecting, the handshake timeout applies instead. A backlogged
      // browser is alive only while it reads (see browserDrained), whatever
      // guacd does: guacd may well stop reading while we do not read it.
      if (!this.backlogged && ((this.inputHolds & Hold.Guacd) !== 0 || this.life.phase !== 'open')) this.lastHeard = Date.now();
      if (Date.now() - this.lastHeard >= timeoutMs) {
        if (this.backlogged) this.fail(TUNNEL.GUAC_TUNNEL_BROWSER_STALLED());
        else this.close(STATUS.CLIENT_TIMEOUT, 'The browser stopped responding.');
        return;
      }
      this.port.keepalive?.();
    }, every);
    this.heartbeat.unref?.();
  }
}

function decodeError(raw: Buffer): { status: StatusInfo; message: string } {
  let status: StatusInfo = STATUS.SERVER_ERROR;
  let message = 'The remote desktop server reported an error.';
  new Parser().push(raw, (_opcode, args) => {
    if (/^\d{1,5}$/.test(args[1] ?? '')) status = statusFromCode(Number(args[1]));
    if (args[0]) message = args[0];
  });
  return { status, message };
}

function minPositive(a: number, b: number): number {
  if (a > 0 && b > 0) return Math.min(a, b);
  return a > 0 ? a : b > 0 ? b : 0;
}
