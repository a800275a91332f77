/**
 * `createTunnel`: the WebSocket and HTTP tunnels over one set of sessions,
 * mountable on any `http.Server` (or Express, Fastify, …).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS } from '../protocol/status.js';
import { TunnelHost } from './host.js';
import { HttpTunnel } from './http.js';
import { resolveOptions } from './options.js';
import type { SessionHandle, TunnelOptions } from './types.js';
import { WebSocketTunnel } from './websocket.js';
import { handleStreamRequest } from './streams/routes.js';

/** A tunnel endpoint. */
export interface Tunnel {
  /**
   * Takes over an HTTP upgrade (call it from `server.on('upgrade')` for the
   * tunnel's path) and runs a WebSocket session on it.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /**
   * Serves an HTTP tunnel request (`?connect`, `?read:…`, `?write:…`).
   * @returns false when the request is not one (nothing was written)
   */
  handleHttp(req: IncomingMessage, res: ServerResponse): boolean;
  /**
   * Serves a file stream route (download `GET`, upload `POST`/`PUT`; see
   * docs/file-transfer.md), mounted at `<tunnel path>/streams/`.
   * @param rest the path after `<tunnel path>/streams/`
   */
  handleStream(req: IncomingMessage, res: ServerResponse, rest: string): void;
  /**
   * Refuses new sessions, closes every live one with SESSION_CLOSED, and
   * waits (briefly) for the WebSockets to finish closing.
   */
  close(): Promise<void>;
  /**
   * Starts no new session from now on (they are refused with SERVER_BUSY,
   * `GUAC_TUNNEL_DRAINING`) and lets the live ones run.
   * @returns resolves once the last live session has ended (then call `close()`)
   */
  drain(): Promise<void>;
  /** `drain()` was called. */
  readonly draining: boolean;
  /** Live sessions by id (the tunnel UUID). */
  readonly sessions: ReadonlyMap<string, SessionHandle>;
}

/**
 * Creates a tunnel endpoint.
 * @param options guacd address, resolver, timeouts, limits, hooks
 * @throws GuacError `GUAC_TUNNEL_BAD_OPTION` for invalid options
 * @example
 * const tunnel = createTunnel({ guacd: { port: 4822 }, resolve: tokenResolver({ secret }) });
 * server.on('upgrade', (req, socket, head) => tunnel.handleUpgrade(req, socket, head));
 * server.on('request', (req, res) => { if (!tunnel.handleHttp(req, res)) notFound(res); });
 */
export function createTunnel(options: TunnelOptions): Tunnel {
  const host = new TunnelHost(resolveOptions(options));
  const ws = new WebSocketTunnel(host);
  const http = new HttpTunnel(host);
  let closed: Promise<void> | undefined;
  return {
    handleUpgrade: (req, socket, head) => ws.handleUpgrade(req, socket, head),
    handleHttp: (req, res) => http.handle(req, res),
    handleStream: (req, res, rest) => handleStreamRequest(host, rest, req, res),
    sessions: host.sessions,
    drain: () => host.drain(),
    get draining() {
      return host.draining;
    },
    close() {
      if (!closed) {
        host.closing = true;
        for (const session of [...host.sessions.values()]) session.close(STATUS.SESSION_CLOSED, 'The gateway is shutting down.');
        closed = ws.close().then(() => http.clear());
      }
      return closed;
    },
  };
}
