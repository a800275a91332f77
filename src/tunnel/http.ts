/**
 * The HTTP tunnel (guacamole-common-js 1.5 `Guacamole.HTTPTunnel`, Java
 * `GuacamoleHTTPTunnelServlet`), over the same session core.
 *
 * - `?connect` (POST, body = connect data): resolves and completes the guacd
 *   handshake first, then answers the UUID with `Guacamole-Tunnel-Token`;
 *   failures are HTTP errors with `Guacamole-Status-Code` and
 *   `Guacamole-Error-Message`, as the servlet sends them.
 * - `?read:UUID:N` (the token header names the tunnel): the browser asks for
 *   the next read as soon as the current one has a status, so at most one
 *   read streams ("active") and one waits. The active read gets whatever
 *   guacd sends; once it has carried something and the next read is waiting,
 *   it ends with `0.;` and the waiting one takes over (the servlet's rule).
 *   guacd output with no read open is queued. What waits for the browser,
 *   the queue and every read it has not yet taken in full (ended ones
 *   included), is its backlog, bounded by the backpressure high-water mark:
 *   a client that opens reads and never takes them gains nothing.
 * - `?write:UUID`: the body is browser input, streamed into the session.
 * - A session's last words (`error`, `0.;`) wait for the next read for a
 *   while; after that, and for tokens never issued, 404 RESOURCE_NOT_FOUND,
 *   which the browser takes as the end of the stream once connected.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GuacError, toGuacError } from '../protocol/errors.js';
import { TUNNEL } from './errors.js';
import type { StatusInfo } from '../protocol/status.js';
import { readBody } from './body.js';
import type { SessionPort, TunnelHost } from './host.js';
import type { TunnelSession } from './session.js';
import {
  END_OF_RESPONSE, ERROR_MESSAGE_HEADER, STATUS_CODE_HEADER, TUNNEL_TOKEN_HEADER,
  errorInstruction, headerSafe, parseHttpOperation,
} from './wire.js';

/** How long a closed session's final instructions wait for a read. */
const FINAL_READ_GRACE_MS = 15_000;

/** After the session ended, how long a read the browser is not taking may hold its bytes. */
const UNREAD_GRACE_MS = 5000;

const STREAM_HEADERS = { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-cache' } as const;

/** The browser side of an HTTP tunnel session. */
export class HttpPort implements SessionPort {
  readonly transport = 'http';
  readonly echoPings = false;
  /** The `Guacamole-Tunnel-Token` value (the tunnel's `httpTokenPrefix`, then 33 random bytes, as the servlet's). */
  readonly token: string;
  session: TunnelSession | undefined;
  private queue: Buffer[] = [];
  private queued = 0;
  private active: ServerResponse | undefined;
  private activeSent = false;
  /** Reads ended (replaced by the next, or the last) whose bytes the browser has not taken yet. */
  private readonly retired = new Set<ServerResponse>();
  private waiting: ServerResponse | undefined;
  private readonly writes = new Set<IncomingMessage>();
  private inputPaused = false;
  /** Set once the session ended: what the next read still gets. */
  private finalTail: string | undefined;
  private forgetTimer: NodeJS.Timeout | undefined;

  constructor(private readonly forget: (port: HttpPort) => void, tokenPrefix = '') {
    this.token = tokenPrefix + randomBytes(33).toString('base64');
  }

  send(data: Buffer | string): void {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (this.active) {
      this.activeSent = true;
      this.active.write(buf);
      if (this.waiting) this.rotate();
    } else {
      this.queue.push(buf);
      this.queued += buf.length;
    }
  }

  get bufferedAmount(): number {
    let n = this.queued + (this.active ? this.active.writableLength : 0);
    for (const res of this.retired) n += res.writableLength;
    return n;
  }

  pauseInput(): void {
    this.inputPaused = true;
    for (const req of this.writes) req.pause();
  }

  resumeInput(): void {
    this.inputPaused = false;
    for (const req of this.writes) req.resume();
  }

  end(status: StatusInfo, message: string, sendError: boolean): void {
    this.finalTail = (sendError ? errorInstruction(status, message) : '') + END_OF_RESPONSE;
    for (const req of this.writes) req.resume();
    if (this.waiting) {
      endResponse(this.waiting, END_OF_RESPONSE);
      this.waiting = undefined;
    }
    if (this.active) {
      this.deliverFinal(this.active);
      this.active = undefined;
    } else {
      this.forgetTimer = setTimeout(() => this.forget(this), FINAL_READ_GRACE_MS);
      this.forgetTimer.unref?.();
      this.dropUnreadLater();
    }
  }

  /** A `?read` request. */
  read(res: ServerResponse): void {
    this.session?.heard();
    if (this.finalTail !== undefined) {
      clearTimeout(this.forgetTimer);
      this.deliverFinal(res);
      return;
    }
    res.on('close', () => {
      if (this.retired.delete(res)) this.session?.browserDrained();
      if (res.writableFinished) return;
      if (res === this.waiting) this.waiting = undefined;
      // An active read cut short loses what was written to it: the stream is broken.
      if (res === this.active) {
        this.active = undefined;
        this.session?.browserGone('The browser abandoned a read of the HTTP tunnel.');
        // A session the browser left never gets `end()`: nothing waits for a last read.
        this.forget(this);
      }
    });
    if (!this.active) {
      this.activate(res);
    } else if (this.activeSent) {
      this.retire(this.active, END_OF_RESPONSE);
      this.activate(res);
    } else {
      if (this.waiting) endResponse(this.waiting, END_OF_RESPONSE);
      this.waiting = res;
    }
  }

  /** A `?write` request: its body is browser input. */
  write(req: IncomingMessage, res: ServerResponse): void {
    const session = this.session;
    session?.heard();
    this.writes.add(req);
    if (this.inputPaused) req.pause();
    req.on('data', (chunk: Buffer) => session?.input(chunk));
    const done = (): void => {
      this.writes.delete(req);
    };
    req.on('end', () => {
      done();
      session?.heard();
      res.writeHead(200, { ...STREAM_HEADERS, 'Content-Length': '0' });
      res.end();
    });
    req.on('close', done);
  }

  private activate(res: ServerResponse): void {
    this.active = res;
    this.activeSent = false;
    res.writeHead(200, STREAM_HEADERS);
    res.flushHeaders();
    res.on('drain', () => this.session?.browserDrained());
    if (this.queue.length > 0) {
      const data = this.queue.length === 1 ? this.queue[0] : Buffer.concat(this.queue, this.queued);
      this.queue = [];
      this.queued = 0;
      this.activeSent = true;
      res.write(data);
    }
    this.session?.browserDrained();
  }

  private rotate(): void {
    const next = this.waiting as ServerResponse;
    this.waiting = undefined;
    this.retire(this.active as ServerResponse, END_OF_RESPONSE);
    this.activate(next);
  }

  /** Ends a read; until the browser has taken all of it, it stays part of the backlog. */
  private retire(res: ServerResponse, tail: string): void {
    endResponse(res, tail);
    if (res.writableFinished) return;
    this.retired.add(res);
    res.once('finish', () => {
      if (this.retired.delete(res)) this.session?.browserDrained();
    });
  }

  private deliverFinal(res: ServerResponse): void {
    if (!res.headersSent) res.writeHead(200, STREAM_HEADERS);
    for (const buf of this.queue) res.write(buf);
    this.queue = [];
    this.queued = 0;
    this.retire(res, this.finalTail as string);
    this.forget(this);
    this.dropUnreadLater();
  }

  /** Once the session is over: a browser that reads still gets its last bytes, one that does not loses its connections. */
  private dropUnreadLater(): void {
    if (this.retired.size === 0) return;
    const reads = [...this.retired];
    setTimeout(() => { for (const res of reads) if (!res.writableFinished) res.destroy(); }, UNREAD_GRACE_MS).unref();
  }
}

function endResponse(res: ServerResponse, tail: string): void {
  if (res.writableEnded) return;
  if (!res.headersSent) res.writeHead(200, STREAM_HEADERS);
  res.end(tail);
}

/** Sends an error the way the servlet does: HTTP status plus the Guacamole headers. */
export function sendHttpError(res: ServerResponse, err: GuacError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${err.message}\n`;
  res.writeHead(err.status.http, {
    [STATUS_CODE_HEADER]: String(err.status.guac),
    [ERROR_MESSAGE_HEADER]: headerSafe(err.message),
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': 'no-cache',
  });
  res.end(body);
}

/** Routes `?connect`, `?read:…`, `?write:…`. */
export class HttpTunnel {
  private readonly ports = new Map<string, HttpPort>();
  private readonly forget = (port: HttpPort): void => {
    if (this.ports.get(port.token) === port) this.ports.delete(port.token);
  };

  constructor(private readonly host: TunnelHost) {}

  /**
   * Handles a request if its query string is an HTTP tunnel operation.
   * @returns false when it is not one (the caller answers it)
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const op = q < 0 ? undefined : parseHttpOperation(url.slice(q + 1));
    if (!op) return false;
    this.cors(req, res);
    if (req.method === 'OPTIONS') {
      res.writeHead(204);
      res.end();
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'POST') {
      res.setHeader('Allow', 'GET, POST, OPTIONS');
      sendHttpError(res, TUNNEL.GUAC_TUNNEL_BAD_METHOD());
      return true;
    }
    if (op.op === 'connect') {
      void this.connect(req, res);
      return true;
    }
    const token = req.headers[TUNNEL_TOKEN_HEADER.toLowerCase()];
    if (typeof token !== 'string' || token === '') {
      sendHttpError(res, TUNNEL.GUAC_TUNNEL_TOKEN_MISSING());
      return true;
    }
    const port = this.ports.get(token);
    if (!port) {
      sendHttpError(res, TUNNEL.GUAC_TUNNEL_NOT_FOUND());
      return true;
    }
    if (op.op === 'read') port.read(res);
    else port.write(req, res);
    return true;
  }

  /** Ends every HTTP session's bookkeeping (sessions are closed by the tunnel). */
  clear(): void {
    this.ports.clear();
  }

  /**
   * CORS for the origins of `allowedOrigins`; by default none: same origin
   * only. An unlisted origin gets no CORS headers, so its browser shows the
   * page no answer, and never sends the reads and writes at all: their
   * `Guacamole-Tunnel-Token` header needs a preflight that is not granted.
   * Requests are not refused by their Origin: the token is the credential
   * here as on the WebSocket tunnel, and behind a proxy that rewrites Host
   * the page's own origin cannot be told from a foreign one.
   */
  private cors(req: IncomingMessage, res: ServerResponse): void {
    const origin = req.headers.origin;
    if (typeof origin !== 'string' || !this.host.options.allowedOrigins(origin)) return;
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Access-Control-Expose-Headers', [TUNNEL_TOKEN_HEADER, STATUS_CODE_HEADER, ERROR_MESSAGE_HEADER].join(', '));
    res.setHeader('Vary', 'Origin');
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST');
      res.setHeader('Access-Control-Allow-Headers', `Content-Type, ${TUNNEL_TOKEN_HEADER}`);
      res.setHeader('Access-Control-Max-Age', '600');
    }
  }

  private async connect(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: string;
    try {
      body = req.method === 'POST' ? (await readBody(req, this.host.options.limits.maxConnectBodyBytes)).toString('utf8') : '';
    } catch (err) {
      sendHttpError(res, toGuacError(err, 'GUAC_TUNNEL_BAD_BODY', 'CLIENT_BAD_REQUEST'));
      return;
    }
    const port = new HttpPort(this.forget, this.host.options.httpTokenPrefix);
    const session = this.host.start(req, port, new URLSearchParams(body));
    if (session instanceof GuacError) {
      sendHttpError(res, session);
      return;
    }
    const abandon = (): void => {
      if (!res.writableFinished) session.browserGone('The browser abandoned the connect request.');
    };
    res.once('close', abandon);
    try {
      await session.open();
    } catch (err) {
      res.removeListener('close', abandon);
      if (!res.destroyed) sendHttpError(res, toGuacError(err));
      return;
    }
    res.removeListener('close', abandon);
    if (session.state !== 'open' || res.destroyed) {
      session.browserGone('The browser abandoned the connect request.');
      return;
    }
    this.ports.set(port.token, port);
    session.heard();
    res.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Cache-Control': 'no-cache',
      [TUNNEL_TOKEN_HEADER]: port.token,
    });
    res.end(session.id);
    session.log.debug({}, 'tunnel: http session open');
  }
}
