/**
 * The WebSocket tunnel (guacamole-common-js `Guacamole.WebSocketTunnel`,
 * Java `GuacamoleWebSocketTunnelEndpoint`): the `ws` side of a session.
 *
 * The UUID goes out as soon as the socket is open, before the guacd
 * handshake, so that the browser's tunnel opens and its pings keep a slow
 * handshake alive; failures then arrive as `error` plus a close. (An
 * instruction also makes `Guacamole.ChainedTunnel` commit to this tunnel, so
 * a refused token is not retried over HTTP.)
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { GuacError } from '../protocol/errors.js';
import { STATUS, type StatusInfo } from '../protocol/status.js';
import type { TunnelSession } from './session.js';
import type { SessionPort, TunnelHost } from './host.js';
import { SUBPROTOCOL, closeReason, errorInstruction, uuidInstruction } from './wire.js';

/** After our close frame, how long a browser gets to answer before the socket is cut. */
const CLOSE_GRACE_MS = 5000;

/** The browser side of a WebSocket session. */
export class WebSocketPort implements SessionPort {
  readonly transport = 'websocket';
  readonly echoPings = true;
  session: TunnelSession | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private corked = false;

  /**
   * @param ws the open websocket
   * @param socket the connection under it: corked from the first message of
   *   a turn of the event loop to the end of that turn, so that the messages
   *   one read from guacd is cut into leave in one write (one system call, not
   *   one each), and none waits longer than the turn
   */
  constructor(private readonly ws: WebSocket, private readonly socket: Duplex) {
    ws.once('close', () => clearTimeout(this.closeTimer));
  }

  send(data: Buffer | string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.ws.send(data, { binary: false }, this.onSent);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  private readonly onSent = (err?: Error): void => {
    if (!err) this.session?.browserDrained();
  };

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  pauseInput(): void {
    this.ws.pause();
  }

  resumeInput(): void {
    this.ws.resume();
  }

  keepalive(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  end(status: StatusInfo, message: string, sendError: boolean): void {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) {
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      return;
    }
    if (sendError) ws.send(errorInstruction(status, message), { binary: false });
    ws.close(status.ws, closeReason(status));
    // A browser that stopped reading never answers the close; do not hold its buffers for ws's 30 s.
    this.closeTimer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
    this.closeTimer.unref?.();
  }
}

/** The status of the browser's fault behind each close code ws sends on its own. */
const REFUSED_FRAME_STATUS: ReadonlyMap<number, StatusInfo> = new Map([
  [1002, STATUS.CLIENT_BAD_REQUEST], // protocol error (bad framing)
  [1007, STATUS.CLIENT_BAD_REQUEST], // invalid UTF-8 in a text message
  [1009, STATUS.CLIENT_OVERRUN], // message over maxPayload
]);

/** Accepts WebSocket upgrades and runs a session on each. */
export class WebSocketTunnel {
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<WebSocket>();

  constructor(private readonly host: TunnelHost) {
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: host.options.limits.maxMessageBytes,
      handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
  }

  /** Completes the upgrade and starts a session. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    // ws writes its 101 and the session its first message (the tunnel's UUID)
    // in this same call: corked, they leave in one write instead of two, a
    // syscall less per session (writes were the upgrade's largest cost).
    socket.cork();
    try {
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req, socket));
    } finally {
      if (!socket.destroyed) socket.uncork();
    }
  }

  private accept(ws: WebSocket, req: IncomingMessage, socket: Duplex): void {
    // ws answers a frame it refuses (over maxPayload, invalid UTF-8, broken framing) with a close of its own
    // and no reason; guacamole-common-js takes the reason as the Guacamole status and, without one, would
    // say "server error". Only ws's own closes lack a reason: ours always carry one.
    const close = ws.close.bind(ws);
    ws.close = (code?: number, reason?: string | Buffer): void => {
      const refused = code === undefined ? undefined : REFUSED_FRAME_STATUS.get(code);
      close(code, reason === undefined && refused ? closeReason(refused) : reason);
    };
    this.sockets.add(ws);
    ws.once('close', () => this.sockets.delete(ws));
    const port = new WebSocketPort(ws, socket);
    const url = new URL(req.url ?? '/', 'http://gateway.invalid');
    const session = this.host.start(req, port, url.searchParams);
    if (session instanceof GuacError) {
      port.end(session.status, session.message, true);
      return;
    }

    ws.on('message', (data: RawData) => session.input(toBuffer(data)));
    ws.on('pong', () => session.heard());
    ws.on('close', () => session.browserGone());
    ws.on('error', (err: Error & { code?: string }) => {
      session.log.debug({ error: err }, 'tunnel: websocket error');
      // ws has already answered with its own close (e.g. 1009 for a message over maxPayload).
      const status = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? STATUS.CLIENT_OVERRUN : STATUS.CLIENT_BAD_REQUEST;
      session.close(status, 'The browser connection failed.', { browserGone: true });
    });

    session.sendInternal(uuidInstruction(session.id));
    session.open().catch((err: unknown) => {
      if (!(err instanceof GuacError)) session.log.error({ error: err }, 'tunnel: session failed');
    });
  }

  /** Waits up to `graceMs` for open sockets to finish closing, then cuts the rest. */
  async close(graceMs = 2000): Promise<void> {
    const pending = [...this.sockets].map((ws) => new Promise<void>((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) resolve();
      else ws.once('close', () => resolve());
    }));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(pending), new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); })]);
    clearTimeout(timer);
    for (const ws of this.sockets) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
