/**
 * One connection to guacd: connect, handshake, then instructions both ways,
 * the way PyGuacamole's `GuacamoleClient` is used (`handshake`, `receive`,
 * `send`, `close`), or hand the raw socket to a relay (`detach`).
 *
 * `sync`: guacd ends every frame with `sync,<timestamp>` and expects the
 * client to echo the timestamp once the frame is handled. guacd 1.3.0 does not
 * stop sending when echoes are missing, but it measures lag from them (VNC
 * and RDP pace frames by it), and it drops a user that sends nothing at all
 * for 15 s ("User is not responding", `GUACD_TIMEOUT`). A relay leaves the
 * echo to the browser, so the default is to send nothing on the caller's
 * behalf; with `autoSync` the client echoes each `sync` as `receive()` hands
 * it over, i.e. when the caller has consumed the frame.
 *
 * After `ready` the stream belongs to whoever uses the connection next:
 * what guacd sent with or right after `ready` (its `error`, a `required`
 * prompt, garbage, its hang-up) is acted on only once `receive()` is called,
 * and a relay that calls `detach()` instead gets it untouched.
 */
import type net from 'node:net';
import { encode, codePointLength } from '../protocol/encoder.js';
import { GuacError, toGuacError } from '../protocol/errors.js';
import { GUACD_LIMITS } from '../protocol/constants.js';
import { InstructionSplitter } from '../protocol/splitter.js';
import { publish } from '../diagnostics.js';
import { silentLogger, type Logger } from '../logger.js';
import { encodeArgvStream, StreamPool } from './argv.js';
import { errorFromInstruction, guacdError } from './errors.js';
import { runHandshake, type HandshakeIO, type HandshakeOptions, type HandshakeResult } from './handshake.js';
import { InstructionReader, type Instruction, type RawInstruction } from './reader.js';
import { describeAddress, openSocket, type GuacdAddress, type OpenOptions } from './socket.js';
import type { ProtocolVersion } from './versions.js';

/** Options of {@link GuacdClient.connect}. */
export interface ClientOptions extends OpenOptions {
  /** Echo guacd's `sync` instructions as `receive()` returns them (see the module notes). Default false. */
  autoSync?: boolean;
  /** Instructions queued unread before guacd is paused (TCP backpressure). Default 1024. */
  highWaterMark?: number;
  /** Where the client reports (a pino logger fits). Default: nowhere. */
  logger?: Logger;
}

/** Where a client stands. */
export type ClientState = 'open' | 'handshaking' | 'ready' | 'closing' | 'closed' | 'detached';

/** What {@link GuacdClient.detach} hands over. */
export interface Detached {
  /** The socket, paused and without listeners: attach `data` and `error` handlers, then `resume()`. */
  socket: net.Socket;
  /** Bytes already read from guacd and not yet consumed, to be relayed before anything else. */
  pending: Buffer;
  /** guacd already ended the stream (or it failed): after `pending` nothing more will come. */
  ended: boolean;
}

/** Failures before `args` that say guacd did not start the connection (not that it refused it). */
const UNSTARTED = new Set(['GUAC_GUACD_NOT_STARTED', 'GUAC_PROTOCOL_UNSUPPORTED', 'GUAC_GUACD_PROTOCOL', 'GUAC_GUACD_IO', 'GUAC_GUACD_CLOSED']);

/**
 * A connection to guacd.
 *
 * @example
 * const client = await GuacdClient.connect({ host: '127.0.0.1', port: 4822 }, { autoSync: true });
 * const { connectionId } = await client.handshake({ protocol: 'ssh', params: { hostname, username, password } });
 * for await (const { opcode, args } of client) if (opcode === 'error') break;
 * await client.close();
 */
export class GuacdClient implements AsyncIterable<Instruction> {
  /** Echo `sync` instructions as they are received (can be switched at any time). */
  autoSync: boolean;
  /** Set by a successful handshake. */
  connectionId: string | undefined;
  /** The negotiated protocol version, set by a successful handshake. */
  version: ProtocolVersion | undefined;
  /**
   * Resolves once the client has let go of the socket (closed or detached),
   * with why it ended: guacd's `error`, a local failure, or `undefined` for a
   * clean end.
   */
  readonly closed: Promise<GuacError | undefined>;

  private readonly socket: net.Socket;
  private readonly log: Logger;
  private readonly reader: InstructionReader;
  private readonly pool = new StreamPool();
  private readonly outbound = new InstructionSplitter();
  private outboundPending = 0;
  private deferred: string[] = [];
  private current: ClientState = 'open';
  private reason: GuacError | undefined;
  private onRequired: HandshakeOptions['onRequired'];
  private readySeen = false;
  /** guacd answered `select` with `args`: from then on the remote desktop may have been contacted. */
  private argsSeen = false;
  private sessionOver = false;
  private abortHandshake: ((err: GuacError) => void) | undefined;
  private resolveClosed!: (reason: GuacError | undefined) => void;
  private closeTimer: NodeJS.Timeout | undefined;
  /** The caller asked to close: a later `detach()` is refused. */
  private closeRequested = false;
  private readonly onClose = () => this.finish();

  /**
   * Connects to guacd.
   * @param address `{ host, port }`, `{ path }`, optionally with `tls`
   * @param opts timeout (default 10 s), signal, `autoSync`
   * @throws GuacError `GUAC_GUACD_UNREACHABLE` (status UPSTREAM_NOT_FOUND),
   *   `GUAC_GUACD_TIMEOUT` (UPSTREAM_TIMEOUT), `GUAC_GUACD_IO` (UPSTREAM_ERROR), `GUAC_ABORTED`
   */
  static async connect(address: GuacdAddress, opts: ClientOptions = {}): Promise<GuacdClient> {
    const socket = await openSocket(address, opts);
    return new GuacdClient(socket, describeAddress(address), opts);
  }

  /**
   * Connects and performs the handshake: the usual way in. When guacd fails to
   * start the connection (no `args` after `select`; or it hangs up, resets,
   * or sends something else first: guacd 1.3.0 under connection churn now and
   * then writes the one-byte message that hands a new connection's socket to
   * its connection process, or another connection's bytes, to ours) it is tried again
   * on a fresh connection, up to `attempts` times in all: until `args`
   * nothing has reached the remote desktop, so a retry cannot log in twice.
   * Later failures, and guacd's own `error`, are never retried.
   * @param address as for {@link connect}
   * @param handshake as for {@link handshake}
   * @param opts as for {@link connect}, plus `attempts` (default 2)
   * @throws GuacError as {@link connect} and {@link handshake} do
   */
  static async open(address: GuacdAddress, handshake: HandshakeOptions, opts: ClientOptions & { attempts?: number } = {}): Promise<{ client: GuacdClient } & HandshakeResult> {
    const attempts = Math.max(1, opts.attempts ?? 2);
    for (let attempt = 1; ; attempt++) {
      const client = await GuacdClient.connect(address, { ...opts, signal: opts.signal ?? handshake.signal });
      try {
        return { client, ...(await client.handshake(handshake)) };
      } catch (err) {
        const e = toGuacError(err);
        const unstarted = !client.argsSeen && UNSTARTED.has(e.code) && (e.code !== 'GUAC_PROTOCOL_UNSUPPORTED' || handshake.protocol !== undefined);
        if (!unstarted || attempt >= attempts || handshake.signal?.aborted || opts.signal?.aborted) throw e;
        (opts.logger ?? silentLogger).warn({ code: e.code, attempt }, 'guacd did not start the connection; trying a fresh one');
        publish('guacdRetry', () => ({ code: e.code, attempt, guacd: describeAddress(address) }));
      }
    }
  }

  /**
   * Wraps a socket that is already connected to guacd.
   * @param socket the connected socket
   * @param where its address, for messages
   */
  constructor(socket: net.Socket, where = 'guacd', opts: Pick<ClientOptions, 'autoSync' | 'highWaterMark' | 'logger'> = {}) {
    this.socket = socket;
    this.log = opts.logger ?? silentLogger;
    this.autoSync = opts.autoSync ?? false;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.reader = new InstructionReader(socket, where, (i) => this.intercept(i), opts.highWaterMark, (err) => this.fail(err));
    socket.once('close', this.onClose);
  }

  /** Instructions received from guacd and not yet returned by `receive()`. */
  get queued(): number {
    return this.reader.size;
  }

  /** Where the client stands: `open` → `handshaking` → `ready` → `closing` → `closed` (or `detached`). */
  get state(): ClientState {
    return this.current;
  }

  /**
   * Performs the handshake (select, args, size/audio/video/image/timezone/name,
   * connect, ready). Any failure closes the client.
   * @throws GuacError (see {@link runHandshake}); `GUAC_CLIENT_STATE` when not `open`
   */
  async handshake(opts: HandshakeOptions): Promise<HandshakeResult> {
    if (this.current !== 'open') {
      throw guacdError('GUAC_CLIENT_STATE', `handshake() needs a fresh client; this one is ${this.current}.`);
    }
    this.current = 'handshaking';
    this.onRequired = opts.onRequired;
    const timeoutMs = opts.timeoutMs ?? 15_000;
    const controller = new AbortController();
    const abort = (err: GuacError) => {
      if (controller.signal.aborted) return;
      controller.abort(err);
      this.fail(err);
    };
    this.abortHandshake = abort;
    // The instructions the handshake writes in one go (size … connect) leave in one segment, not one write each.
    let corked = false;
    const io: HandshakeIO = {
      log: this.log,
      write: (opcode: string, ...args: string[]) => {
        if (!corked) {
          corked = true;
          this.socket.cork();
          process.nextTick(() => {
            corked = false;
            this.socket.uncork();
          });
        }
        return this.write(opcode, args);
      },
      next: async () => {
        const raw = await this.reader.next();
        const instruction = raw && this.reader.decode(raw);
        if (io.waiting === 'args') {
          clearTimeout(selectTimer);
          // Anything else first (guacd 1.3.0 under churn has sent another connection's bytes) is not a start.
          this.argsSeen = instruction?.opcode === 'args';
        }
        return instruction;
      },
    };
    // Before `select` is answered (or even sent): guacd has not started the connection.
    const selecting = () => io.waiting === 'args' || io.waiting === undefined;
    const notStarted = (ms: number) =>
      guacdError('GUAC_GUACD_NOT_STARTED', `guacd did not answer "select" within ${ms} ms: ` +
        (opts.protocol ? `is its ${opts.protocol} plugin installed? ` : '') + 'Otherwise its connection process hung (see guacd\'s log).');
    const timer = setTimeout(() => {
      // guacd 1.3.0 never answers `select` for a protocol whose plugin is not installed.
      if (selecting()) abort(notStarted(timeoutMs));
      else abort(guacdError('GUAC_GUACD_TIMEOUT', `guacd did not complete the handshake within ${timeoutMs} ms (waiting for "${io.waiting}").`));
    }, timeoutMs);
    // guacd 1.3.0 forks each new connection's process from a threaded daemon without
    // closing or resetting anything; now and then (more under churn) the child starts
    // with a lock held (syslog's) or never gets the connection's socket, and stays
    // silent. Until `args` nothing has reached the remote desktop, so that wait gets its own,
    // shorter limit: callers can then retry on a fresh connection instead of waiting it all out.
    const selectMs = Math.min(opts.selectTimeoutMs ?? 5_000, timeoutMs);
    const selectTimer = selectMs > 0 && selectMs < timeoutMs
      ? setTimeout(() => { if (selecting()) abort(notStarted(selectMs)); }, selectMs)
      : undefined;
    const onCallerAbort = () => abort(guacdError('GUAC_ABORTED', 'The guacd handshake was aborted.', opts.signal?.reason));
    if (opts.signal?.aborted) onCallerAbort();
    else opts.signal?.addEventListener('abort', onCallerAbort, { once: true });

    try {
      const result = await runHandshake(io, opts, controller.signal);
      if (controller.signal.aborted) throw controller.signal.reason as GuacError;
      this.current = 'ready';
      this.connectionId = result.connectionId;
      this.version = result.version;
      if (this.sessionOver) void this.close();
      return result;
    } catch (err) {
      const failure = controller.signal.aborted ? (controller.signal.reason as GuacError) : toGuacError(err);
      this.fail(failure);
      throw failure;
    } finally {
      clearTimeout(timer);
      clearTimeout(selectTimer);
      opts.signal?.removeEventListener('abort', onCallerAbort);
      this.abortHandshake = undefined;
    }
  }

  /**
   * The next instruction from guacd, `null` once guacd has closed the
   * connection (or the client was closed) and everything before was read.
   * guacd's own `error` instruction arrives as an instruction (and is the
   * `closed` reason); local failures reject.
   * @throws GuacError `GUAC_GUACD_PROTOCOL`, `GUAC_GUACD_IO`,
   *   `GUAC_CREDENTIALS_REQUIRED`, `GUAC_CLIENT_STATE` during the handshake,
   *   `GUAC_CLIENT_CLOSED` after `detach()`
   */
  async receive(): Promise<Instruction | null> {
    if (this.current === 'handshaking') throw guacdError('GUAC_CLIENT_STATE', 'receive() cannot run during the handshake.');
    if (this.current === 'detached') throw guacdError('GUAC_CLIENT_CLOSED', 'The client was detached.');
    this.reader.release();
    const raw = await this.reader.next();
    if (raw === null) return null;
    const instruction = this.reader.decode(raw);
    if (this.autoSync && instruction.opcode === 'sync' && this.current === 'ready' && instruction.args.length > 0) {
      this.writeControl(encode('sync', instruction.args[0]));
    }
    return instruction;
  }

  /** Iterates {@link receive} until it returns null. */
  async *[Symbol.asyncIterator](): AsyncIterator<Instruction> {
    for (;;) {
      const instruction = await this.receive();
      if (instruction === null) return;
      yield instruction;
    }
  }

  /**
   * Sends one instruction.
   * @returns false when the socket's buffer is full: wait for {@link drain}
   * @throws GuacError `GUAC_INSTRUCTION_TOO_LARGE` (beyond guacd's limits,
   *   which would make guacd drop the connection), `GUAC_CLIENT_CLOSED`,
   *   `GUAC_CLIENT_STATE` (during the handshake)
   */
  send(opcode: string, ...args: (string | number)[]): boolean {
    this.assertWritable();
    const strings = args.map(String);
    return this.write(opcode, strings);
  }

  /**
   * Sends bytes as they are. They must be protocol (instructions may be split
   * across calls); they are checked against guacd's limits on the way.
   * @returns false when the socket's buffer is full: wait for {@link drain}
   * @throws GuacError `GUAC_INSTRUCTION_INVALID` (the outgoing stream is then
   *   unusable), `GUAC_CLIENT_CLOSED`, `GUAC_CLIENT_STATE`
   */
  sendRaw(data: string | Buffer): boolean {
    this.assertWritable();
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const out = this.outbound.push(bytes);
    if (out instanceof GuacError) {
      throw guacdError('GUAC_INSTRUCTION_INVALID', `Refusing to send invalid protocol data: ${out.message}.`, out);
    }
    this.outboundPending += bytes.length - out.length;
    const ok = this.socket.write(bytes);
    if (this.outboundPending === 0 && this.deferred.length > 0) {
      this.socket.write(this.deferred.join(''));
      this.deferred = [];
    }
    return ok;
  }

  /** Resolves when the socket can take more data (at once if it can now). */
  drain(): Promise<void> {
    if (!this.socket.writableNeedDrain || this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.removeListener('drain', done);
        this.socket.removeListener('close', done);
        resolve();
      };
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }

  /**
   * Ends the connection: `disconnect` to guacd when connected, then closes
   * the socket (forcibly after 1 s). Idempotent; resolves once closed.
   */
  async close(): Promise<void> {
    if (this.current === 'detached' || this.current === 'closed') return;
    this.closeRequested = true;
    if (this.current !== 'closing') {
      if (this.current === 'handshaking') {
        this.abortHandshake?.(guacdError('GUAC_ABORTED', 'The client was closed during the handshake.'));
      } else if (this.current === 'ready' && this.socket.writable && this.outboundPending === 0) {
        this.socket.write(encode('disconnect'));
      }
      this.current = 'closing';
      this.socket.end();
      this.closeTimer = setTimeout(() => this.socket.destroy(), 1000);
    }
    await this.closed;
  }

  /**
   * Stops reading and hands the socket over, for a relay that wants raw
   * bytes. Allowed before the handshake (a caller doing its own) or after it,
   * also when what guacd sent right after `ready` (its `error`, garbage, the
   * end of the stream) already ended the connection: the relay gets it all.
   * @throws GuacError `GUAC_CLIENT_STATE` during the handshake, after
   *   `close()`, or once `receive()` took over
   */
  detach(): Detached {
    const allowed = this.current === 'open' || this.current === 'ready'
      || ((this.current === 'closing' || this.current === 'closed') && this.reader.holding && !this.closeRequested);
    if (!allowed) {
      throw guacdError('GUAC_CLIENT_STATE', `detach() needs a ready or fresh client; this one is ${this.current}.`);
    }
    const ended = this.reader.over || this.socket.destroyed;
    const pending = this.reader.detach();
    clearTimeout(this.closeTimer);
    this.current = 'detached';
    this.socket.removeListener('close', this.onClose);
    this.resolveClosed(undefined);
    return { socket: this.socket, pending, ended };
  }

  private assertWritable(): void {
    if (this.current === 'handshaking') throw guacdError('GUAC_CLIENT_STATE', 'send() cannot run during the handshake.');
    if (this.current !== 'open' && this.current !== 'ready') {
      throw guacdError('GUAC_CLIENT_CLOSED', `The client is ${this.current}.`);
    }
  }

  /**
   * Writes what the client sends on its own (sync echoes, argv answers); while
   * a caller's raw instruction is half sent, it waits for the rest.
   */
  private writeControl(data: string): void {
    if (this.socket.destroyed) return;
    if (this.outboundPending > 0) this.deferred.push(data);
    else this.socket.write(data);
  }

  /** Encodes, checks guacd's limits, writes. */
  private write(opcode: string, args: readonly string[]): boolean {
    if (this.socket.destroyed) throw guacdError('GUAC_CLIENT_CLOSED', 'The connection to guacd is closed.');
    if (this.outboundPending > 0) {
      throw guacdError('GUAC_CLIENT_STATE', 'An incomplete instruction sent with sendRaw() must be finished first.');
    }
    const limits = GUACD_LIMITS;
    if (args.length + 1 > limits.maxElements) {
      throw guacdError('GUAC_INSTRUCTION_TOO_LARGE', `"${opcode}" has ${args.length + 1} elements; guacd accepts ${limits.maxElements}.`);
    }
    for (const value of [opcode, ...args]) {
      if (codePointLength(value) > limits.maxElementLength) {
        throw guacdError('GUAC_INSTRUCTION_TOO_LARGE', `An element of "${opcode}" is longer than guacd accepts (${limits.maxElementLength} characters).`);
      }
    }
    const wire = encode(opcode, ...args);
    if (Buffer.byteLength(wire) > limits.maxInstructionBytes) {
      throw guacdError('GUAC_INSTRUCTION_TOO_LARGE', `"${opcode}" is longer than guacd accepts (${limits.maxInstructionBytes} bytes).`);
    }
    return this.socket.write(wire);
  }

  /** Handles what the client answers itself; true keeps it from `receive()`. */
  private intercept(raw: RawInstruction): boolean {
    switch (raw.opcode) {
      case 'required': {
        this.answerRequired(this.reader.decode(raw).args);
        return true;
      }
      case 'ack': {
        const [stream, message, status] = this.reader.decode(raw).args;
        const index = Number(stream);
        if (!this.pool.has(index)) return false;
        this.pool.release(index);
        if (status !== '0') this.log.warn({ status, guacdMessage: message }, 'guacd refused a credential value');
        return true;
      }
      case 'ready':
        this.readySeen = true;
        // What follows is the session's: a relay gets it untouched, `receive()` releases it.
        this.reader.hold();
        return false;
      case 'error':
        // Before `ready` the handshake's own failure is the reason.
        if (this.readySeen || this.current !== 'handshaking') {
          this.reason ??= errorFromInstruction(this.reader.decode(raw).args);
          this.peerEnded();
        }
        return false;
      case 'disconnect':
        if (this.readySeen || this.current !== 'handshaking') this.peerEnded();
        return false;
      default:
        return false;
    }
  }

  /**
   * guacd sent `error` or `disconnect`: the session is over, but guacd 1.3.0
   * keeps its socket open until its input thread notices (up to 15 s, or
   * forever while we keep answering syncs). Like guacamole-common-js, we end
   * the connection ourselves; what was read stays readable.
   */
  private peerEnded(): void {
    this.sessionOver = true;
    if (this.current === 'ready') void this.close();
  }

  private answerRequired(names: string[]): void {
    const callback = this.onRequired;
    if (!callback) {
      this.fail(guacdError('GUAC_CREDENTIALS_REQUIRED', `guacd asked for ${names.join(', ') || 'credentials'} and no onRequired callback was given.`));
      return;
    }
    Promise.resolve()
      .then(() => callback(names))
      .then((values) => {
        if (this.current !== 'ready' && this.current !== 'handshaking') return;
        for (const name of names) {
          const stream = this.pool.take();
          if (stream === undefined) throw guacdError('GUAC_CLIENT_STATE', 'No free stream to answer guacd with.');
          this.writeControl(encodeArgvStream(stream, name, values?.[name] ?? ''));
        }
      })
      .catch((err: unknown) => {
        this.fail(toGuacError(err, 'GUAC_CREDENTIALS_REQUIRED', 'CLIENT_UNAUTHORIZED'));
      });
  }

  /** The one failure path: remember why, stop reading, drop the socket. */
  private fail(err: GuacError): void {
    if (this.current === 'detached' || this.current === 'closed') return;
    this.reason ??= err;
    this.reader.fail(err);
    this.socket.destroy();
  }

  private finish(): void {
    clearTimeout(this.closeTimer);
    if (this.current === 'detached') return;
    this.current = 'closed';
    this.resolveClosed(this.reason);
  }
}
