/**
 * A `ws` client speaking the tunnel protocol as guacamole-common-js does:
 * subprotocol `guacamole`, connect data in the query string, internal pings,
 * `sync` echoed. Every message is parsed on its own, so a message that does
 * not hold whole instructions is counted (`partialMessages`). Also starts
 * the in-process gateway such a client talks to (`startTestGateway`).
 */
import { testLogger } from './log.js';
import http from 'node:http';
import { listenOnLoopback } from './env.js';
import { WebSocket } from 'ws';
import { createTunnel, type Tunnel } from '../../src/tunnel/tunnel.js';
import type { TunnelOptions } from '../../src/tunnel/types.js';
import { encode } from '../../src/protocol/encoder.js';
import { Parser } from '../../src/protocol/parser.js';

/** One received instruction. */
export interface Received {
  opcode: string;
  args: string[];
  /** Index of the websocket message it came in. */
  message: number;
}

/** Options of {@link TunnelClient.connect}. */
export interface TunnelClientOptions {
  /** Subprotocols to offer (default `['guacamole']`). */
  protocols?: string[];
  /** Echo `sync` instructions as a browser does (default true). */
  autoSync?: boolean;
  /** Send `0.,4.ping,<ts>;` this often once the UUID arrived; 0 = never (default 500). */
  pingMs?: number;
  /** Open timeout (default 5000 ms). */
  timeoutMs?: number;
  /** Extra request headers of the upgrade (e.g. `X-Forwarded-For`). */
  headers?: Record<string, string>;
  /** Local address to connect from (another loopback address looks like another client to a balancer). */
  localAddress?: string;
}

/** The close the server sent. */
export interface CloseInfo {
  code: number;
  reason: string;
}

export class TunnelClient {
  readonly received: Received[] = [];
  /** Sizes of the websocket messages, in bytes. */
  readonly messageSizes: number[] = [];
  partialMessages = 0;
  uuid: string | undefined;
  readonly closed: Promise<CloseInfo>;
  private waiters = new Set<() => void>();
  private pinger: NodeJS.Timeout | undefined;

  private constructor(readonly ws: WebSocket, private readonly opts: Required<Omit<TunnelClientOptions, 'protocols' | 'timeoutMs' | 'headers' | 'localAddress'>>) {
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        clearInterval(this.pinger);
        resolve({ code, reason: reason.toString('utf8') });
        this.wake();
      });
    });
    ws.on('error', () => undefined);
    ws.on('message', (data: Buffer) => this.onMessage(data));
  }

  /**
   * Opens a tunnel.
   * @param url `ws://host:port/tunnel?token=…`
   */
  static connect(url: string, options: TunnelClientOptions = {}): Promise<TunnelClient> {
    const ws = new WebSocket(url, options.protocols ?? ['guacamole'], {
      ...(options.headers ? { headers: options.headers } : {}), ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    const client = new TunnelClient(ws, { autoSync: options.autoSync ?? true, pingMs: options.pingMs ?? 500 });
    const timeoutMs = options.timeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`websocket did not open within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve(client);
      });
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`upgrade refused: HTTP ${res.statusCode}`));
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Instructions that are not internal. */
  get instructions(): Received[] {
    return this.received.filter((r) => r.opcode !== '');
  }

  send(opcode: string, ...args: (string | number)[]): void {
    this.sendRaw(encode(opcode, ...args));
  }

  sendRaw(data: string | Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data);
  }

  /** Sends one internal ping. */
  ping(timestamp: number | string = Date.now()): void {
    this.send('', 'ping', timestamp);
  }

  /**
   * Resolves with the first instruction (from `from` on) matching `predicate`.
   * @throws when `timeoutMs` passes or the socket closes first
   */
  waitFor(predicate: (r: Received) => boolean, timeoutMs = 5000, what = 'instruction', from = 0): Promise<Received> {
    return new Promise((resolve, reject) => {
      let scanned = from;
      const check = (): boolean => {
        for (; scanned < this.received.length; scanned++) {
          const r = this.received[scanned];
          if (predicate(r)) {
            done();
            resolve(r);
            return true;
          }
        }
        if (this.ws.readyState === WebSocket.CLOSED) {
          done();
          reject(new Error(`socket closed before ${what} arrived`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${what} did not arrive within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      if (!check()) this.waiters.add(waiter);
    });
  }

  /** The first instruction with this opcode. */
  waitForOpcode(opcode: string, timeoutMs = 5000, from = 0): Promise<Received> {
    return this.waitFor((r) => r.opcode === opcode, timeoutMs, `"${opcode}"`, from);
  }

  /**
   * Waits until a terminal's prompt is drawn: glyphs (an `img` on a visible
   * layer, index 0 or more; guacd draws its mouse cursor into a buffer, index
   * below 0, before anything else), then the end of that frame. Keys typed
   * earlier may reach guacd before the SSH channel exists, and be lost.
   * Glyphs may come in the very first frame: a loaded guacd flushes its
   * first frame late, after the shell has already printed its prompt.
   */
  async waitForPrompt(timeoutMs = 10_000): Promise<void> {
    const glyphs = await this.waitFor((r) => r.opcode === 'img' && Number(r.args[2]) >= 0, timeoutMs, 'glyphs on a visible layer');
    await this.waitFor((r) => r.opcode === 'sync', timeoutMs, 'end of the prompt frame', this.received.indexOf(glyphs) + 1);
  }

  /** Resolves with the close, or rejects after `timeoutMs`. */
  waitClosed(timeoutMs = 5000): Promise<CloseInfo> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      this.closed.finally(() => clearTimeout(timer)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`socket did not close within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  }

  /** Closes from the browser side. */
  close(): void {
    clearInterval(this.pinger);
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
  }

  /** Drops the connection without a close frame. */
  terminate(): void {
    clearInterval(this.pinger);
    this.ws.terminate();
  }

  private onMessage(data: Buffer): void {
    const index = this.messageSizes.length;
    this.messageSizes.push(data.length);
    const parser = new Parser();
    const err = parser.push(data, (opcode, args) => {
      this.received.push({ opcode, args, message: index });
      if (opcode === '' && this.uuid === undefined && args.length === 1) {
        this.uuid = args[0];
        if (this.opts.pingMs > 0) this.pinger = setInterval(() => this.ping(), this.opts.pingMs);
      }
      if (opcode === 'sync' && this.opts.autoSync) this.send('sync', args[0]);
    });
    if (err || parser.buffered > 0) this.partialMessages++;
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** An in-process gateway for tunnel tests: an HTTP server with the tunnel mounted at `/tunnel`. */
export interface TestGateway {
  readonly tunnel: Tunnel;
  readonly server: http.Server;
  readonly port: number;
  /** `ws://127.0.0.1:PORT/tunnel` */
  readonly wsUrl: string;
  /** `http://127.0.0.1:PORT/tunnel` */
  readonly httpUrl: string;
  /** Closes the tunnel (every session) and the server. */
  close(): Promise<void>;
}

/**
 * The per-client limits switched off. Every test client comes from
 * 127.0.0.1, and most tests open many sessions with one token: the tests
 * of those limits set them on purpose.
 */
export const NO_CLIENT_LIMITS = Object.freeze({ maxSessionsPerToken: 0, maxSessionsPerUser: 0, maxSessionsPerAddress: 0, handshakesPerAddress: 0 });

/** `options` with {@link NO_CLIENT_LIMITS} under the limits it sets. */
export function uncapped(options: TunnelOptions): TunnelOptions {
  return { ...options, limits: { ...NO_CLIENT_LIMITS, ...options.limits } };
}

/** Starts {@link TestGateway} on 127.0.0.1:0 (per-client limits off unless `options.limits` sets them). */
export async function startTestGateway(options: TunnelOptions): Promise<TestGateway> {
  const tunnel = createTunnel({ logger: testLogger, ...uncapped(options) });
  const server = http.createServer((req, res) => {
    const streams = '/tunnel/streams/';
    if (req.url?.startsWith(streams)) {
      tunnel.handleStream(req, res, req.url.slice(streams.length).split('?')[0]);
      return;
    }
    if (!tunnel.handleHttp(req, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  server.on('upgrade', (req, socket, head) => tunnel.handleUpgrade(req, socket, head));
  const { port, close } = await listenOnLoopback(server, tunnel);
  return {
    tunnel, server, port,
    wsUrl: `ws://127.0.0.1:${port}/tunnel`,
    httpUrl: `http://127.0.0.1:${port}/tunnel`,
    close,
  };
}
