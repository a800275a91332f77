/**
 * A scriptable fake guacd on 127.0.0.1:0, for what the real guacd 1.3.0
 * cannot show: protocol 1.5.0, `required` prompts, and faults (garbage, a
 * close mid-handshake, silence, floods).
 *
 * Each accepted connection runs the script with a {@link FakeConnection}.
 * The default script plays guacd's side of a normal handshake
 * (`conn.handshake()`) and then hands the connection to `afterReady`, so a
 * relay test can flood or fault a session that is already up:
 *
 * @example
 * const fake = await startFakeGuacd({ version: 'VERSION_1_5_0', afterReady: async (conn) => {
 *   conn.send('sync', 1);
 *   await conn.waitFor('disconnect');
 * } });
 * // ... connect to fake.port ...
 * await fake.close();
 */
import net from 'node:net';
import tls from 'node:tls';
import { encode } from '../../src/protocol/encoder.js';
import { Parser } from '../../src/protocol/parser.js';

/** An instruction as the fake received it. */
export interface FakeInstruction {
  opcode: string;
  args: string[];
}

/** guacd's side of the handshake. */
export interface FakeHandshakeOptions {
  /** First element of `args`; `null` announces none (guacd 1.0.0). Default `VERSION_1_3_0`. */
  version?: string | null;
  /** Parameter names to ask for. Default `['hostname', 'port', 'username', 'password']`. */
  args?: string[];
  /** Id sent in `ready`. Default `$fake-<n>`. */
  connectionId?: string;
  /** Answer `connect` with `error,<message>,<status>` instead of `ready`. */
  error?: { message: string; status: number };
}

/** What the fake saw during a handshake. */
export interface FakeHandshake {
  select: string;
  /** Instructions between `args` and `connect` (size, audio, …), in order. */
  capabilities: FakeInstruction[];
  /** The arguments of `connect`. */
  connect: string[];
  connectionId: string;
}

/** One accepted connection, as the script drives it. */
export interface FakeConnection {
  readonly socket: net.Socket;
  /** Every instruction received on this connection, in order. */
  readonly received: FakeInstruction[];
  /** Resolves when the peer has closed (or the socket is destroyed). */
  readonly closed: Promise<void>;
  /**
   * The next instruction not yet taken by next/expect/waitFor; `null` if the
   * peer closed. Concurrent waiters share one cursor: each instruction goes
   * to one of them.
   */
  next(timeoutMs?: number): Promise<FakeInstruction | null>;
  /** The next instruction, which must have this opcode. */
  expect(opcode: string, timeoutMs?: number): Promise<FakeInstruction>;
  /** Skips instructions until one with this opcode arrives. */
  waitFor(opcode: string, timeoutMs?: number): Promise<FakeInstruction>;
  send(opcode: string, ...args: (string | number)[]): void;
  sendRaw(data: string | Buffer): void;
  /** Plays guacd's side of the handshake. */
  handshake(opts?: FakeHandshakeOptions): Promise<FakeHandshake>;
  /** Ends the connection (FIN), or `destroy` for a reset-like close. */
  end(): void;
}

/** A script for one connection. Errors it throws are kept in `fake.errors`. */
export type FakeScript = (conn: FakeConnection) => Promise<void> | void;

/** Options: the default handshake, then `afterReady`; or a `script` for everything. */
export interface FakeGuacdOptions extends FakeHandshakeOptions {
  /** Runs after `ready` was sent. Default: wait until the peer closes. */
  afterReady?: FakeScript;
  /** Replaces the default script entirely. */
  script?: FakeScript;
  /** Listen on this Unix socket path instead of 127.0.0.1:0. */
  path?: string;
  /** Speak TLS (guacd's `-C`/`-K`), with these server options (`key`, `cert`). */
  tls?: tls.TlsOptions;
}

/** A running fake guacd. */
export interface FakeGuacd {
  readonly host: string;
  /** The TCP port (0 when listening on a Unix socket). */
  readonly port: number;
  /** The Unix socket path, when listening on one. */
  readonly path?: string;
  /** Every instruction received, across connections. */
  readonly received: FakeInstruction[];
  /** Every connection accepted so far. */
  readonly connections: FakeConnection[];
  /** Errors thrown by scripts. */
  readonly errors: unknown[];
  /** Resolves with the next connection accepted (or one accepted earlier and not yet taken). */
  nextConnection(timeoutMs?: number): Promise<FakeConnection>;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`fake guacd: timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

let ids = 0;

function makeConnection(socket: net.Socket, all: FakeInstruction[]): FakeConnection {
  const received: FakeInstruction[] = [];
  const parser = new Parser();
  let cursor = 0;
  let ended = false;
  const wakers = new Set<() => void>();
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const notify = () => {
    for (const w of [...wakers]) w();
  };
  socket.on('data', (chunk: Buffer) => {
    const err = parser.push(chunk, (opcode, args) => {
      const instruction = { opcode, args };
      received.push(instruction);
      all.push(instruction);
    });
    if (err) socket.destroy();
    notify();
  });
  socket.on('close', () => {
    ended = true;
    notify();
  });
  socket.on('error', () => {});

  function next(timeoutMs = 5000): Promise<FakeInstruction | null> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (cursor < received.length) resolve(received[cursor++]);
        else if (ended) resolve(null);
        else return;
        clearTimeout(timer);
        wakers.delete(check);
      };
      const timer = setTimeout(() => {
        wakers.delete(check);
        reject(new Error(`fake guacd: timed out after ${timeoutMs} ms waiting for an instruction`));
      }, timeoutMs);
      wakers.add(check);
      check();
    });
  }

  const conn: FakeConnection = {
    socket,
    received,
    closed,
    next,
    async expect(opcode, timeoutMs) {
      const got = await next(timeoutMs);
      if (got?.opcode !== opcode) throw new Error(`fake guacd: expected "${opcode}", got ${got ? `"${got.opcode}"` : 'end of stream'}`);
      return got;
    },
    async waitFor(opcode, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const got = await next(Math.max(1, deadline - Date.now()));
        if (got === null) throw new Error(`fake guacd: end of stream while waiting for "${opcode}"`);
        if (got.opcode === opcode) return got;
      }
    },
    send(opcode, ...args) {
      if (!socket.destroyed) socket.write(encode(opcode, ...args));
    },
    sendRaw(data) {
      if (!socket.destroyed) socket.write(data);
    },
    async handshake(opts = {}) {
      const select = await conn.expect('select');
      const version = opts.version === undefined ? 'VERSION_1_3_0' : opts.version;
      const names = opts.args ?? ['hostname', 'port', 'username', 'password'];
      conn.send('args', ...(version === null ? names : [version, ...names]));
      const capabilities: FakeInstruction[] = [];
      for (;;) {
        const got = await next();
        if (got === null) throw new Error('fake guacd: end of stream during the handshake');
        if (got.opcode === 'connect') {
          const connectionId = opts.connectionId ?? `$fake-${++ids}`;
          if (opts.error) conn.send('error', opts.error.message, opts.error.status);
          else conn.send('ready', connectionId);
          return { select: select.args[0], capabilities, connect: got.args, connectionId };
        }
        capabilities.push(got);
      }
    },
    end() {
      socket.end();
    },
  };
  return conn;
}

/**
 * Starts a fake guacd.
 * @param options handshake options and `afterReady`, or a script for each connection
 */
export async function startFakeGuacd(options: FakeGuacdOptions | FakeScript = {}): Promise<FakeGuacd> {
  const opts: FakeGuacdOptions = typeof options === 'function' ? { script: options } : options;
  const script: FakeScript = opts.script ?? (async (conn) => {
    await conn.handshake(opts);
    if (opts.error) return conn.end();
    if (opts.afterReady) await opts.afterReady(conn);
    else await conn.closed;
  });
  const received: FakeInstruction[] = [];
  const connections: FakeConnection[] = [];
  const errors: unknown[] = [];
  const sockets = new Set<net.Socket>();
  let taken = 0;
  let onConnection: (() => void) | undefined;

  const accept = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const conn = makeConnection(socket, received);
    connections.push(conn);
    onConnection?.();
    Promise.resolve()
      .then(() => script(conn))
      .catch((err: unknown) => {
        errors.push(err);
        socket.destroy();
      });
  };
  const server = opts.tls ? tls.createServer(opts.tls, accept) : net.createServer(accept);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (opts.path) server.listen(opts.path, () => resolve());
    else server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    host: '127.0.0.1',
    port,
    ...(opts.path ? { path: opts.path } : {}),
    received,
    connections,
    errors,
    nextConnection(timeoutMs = 5000) {
      const wait = async () => {
        while (taken >= connections.length) await new Promise<void>((resolve) => (onConnection = resolve));
        return connections[taken++];
      };
      return withTimeout(wait(), timeoutMs, 'a connection');
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
