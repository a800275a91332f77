/**
 * The gateway's HTTP server: the tunnel at `/tunnel` (WebSocket upgrade and
 * HTTP tunnel on the same path), `/healthz`, the admin API at `/api/` when
 * given one, and the client page at `/`.
 */
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { TUNNEL } from '../tunnel/errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { GuacdPool } from '../guacd/pool.js';
import type { GuacdAddress } from '../guacd/socket.js';
import { sendHttpError } from '../tunnel/http.js';
import { STREAMS_SEGMENT } from '../tunnel/streams/routes.js';
import type { Tunnel } from '../tunnel/tunnel.js';
import type { AdminApiHandler } from './admin-api.js';
import { healthAnswer, healthPool } from './health.js';
import { sendJson } from './json-http.js';
import { METRICS_PATH } from './metrics-http.js';
import { SHARE_PATH } from './page-share.js';
import { PAGE_HEADERS, staticFiles } from './static.js';

/** Path of the tunnel endpoints. */
export const TUNNEL_PATH = '/tunnel';
/** Path of the file stream routes (downloads and uploads over HTTP). */
const STREAMS_PATH = `${TUNNEL_PATH}${STREAMS_SEGMENT}`;

/** What the server serves. */
export interface GatewayServerOptions {
  tunnel: Tunnel;
  /** Folder of the built client page (dist/web). */
  webRoot: string;
  /** The guacd pool (or a single guacd's current address) `/healthz` reports (health.ts). */
  guacd: GuacdPool | (() => GuacdAddress);
  /** A client must send its request headers (a WebSocket upgrade included) within this. Default 10 000 ms. */
  headersTimeoutMs?: number;
  /** A client must send its whole request (headers and body) within this. Default 30 000 ms. */
  requestTimeoutMs?: number;
  /** The admin API (`createAdminApi`), served under `/api/`. */
  api?: AdminApiHandler;
  /** Where failures are reported. Default: nowhere. */
  logger?: Logger;
  /** The page's share endpoint (`pageShareHandler`), served at `/share`. */
  share?: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
  /** With workers: passes another worker's HTTP tunnel reads and writes to it (true: passed on). */
  relayHttpTunnel?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
  /** `/metrics` on this port (`mainPortMetrics`: behind the admin key); absent: not served here. */
  metrics?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** The playback page's endpoints (`playbackHandler`), under `/recording/`: answers false for other paths. */
  recordings?: (req: http.IncomingMessage, res: http.ServerResponse, path: string) => boolean;
}

/**
 * The status line for a request Node's parser refused, as Node's own default answer picks it (replacing
 * that answer, to keep the preconnect rule below, must not lose it): headers over the limit (`maxHeaderSize`,
 * 16 KiB, the URL and its token included) are 431, a request that took too long 408, anything else 400.
 */
function clientErrorStatus(code: string | undefined): string {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return '431 Request Header Fields Too Large';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return '408 Request Timeout';
    default:
      return '400 Bad Request';
  }
}

function pathOf(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
}

function notFound(res: http.ServerResponse): void {
  res.writeHead(404, { ...PAGE_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('Not found\n');
}

/**
 * Creates (does not start) the HTTP server.
 * @returns the server, with the upgrade handler attached
 */
export function createGatewayServer(options: GatewayServerOptions): http.Server {
  const { tunnel } = options;
  const log = options.logger ?? silentLogger;
  const files = staticFiles(options.webRoot);
  const pool = healthPool(options.guacd);

  // Slow clients (slowloris) are cut: headers within 10 s, the whole request within 30 s.
  // Upgraded WebSockets and streaming tunnel reads are not requests in progress.
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  const server = http.createServer({
    headersTimeout,
    requestTimeout: Math.max(headersTimeout, options.requestTimeoutMs ?? 30_000),
    connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(headersTimeout / 4))),
  }, (req, res) => {
    const path = pathOf(req.url);
    if (path === TUNNEL_PATH) {
      if (options.relayHttpTunnel?.(req, res)) return;
      if (!tunnel.handleHttp(req, res)) {
        sendHttpError(res, TUNNEL.GUAC_TUNNEL_BAD_OPERATION());
      }
      return;
    }
    if (path.startsWith(STREAMS_PATH)) {
      tunnel.handleStream(req, res, path.slice(STREAMS_PATH.length));
      return;
    }
    if (options.api && (path === '/api' || path.startsWith('/api/'))) {
      options.api(req, res).catch((err: unknown) => {
        log.error({ error: err }, 'admin api failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
      return;
    }
    if (options.share && path === SHARE_PATH) {
      options.share(req, res).catch((err: unknown) => {
        log.error({ error: err }, 'share endpoint failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
      return;
    }
    if (options.metrics && path === METRICS_PATH) {
      options.metrics(req, res);
      return;
    }
    if (options.recordings?.(req, res, path)) return;
    if (path === '/healthz') {
      void healthAnswer(pool, tunnel).then(({ status, body }) => sendJson(res, status, body));
      return;
    }
    files(req, res).then(
      (served) => { if (!served) notFound(res); },
      (err: unknown) => {
        log.error({ error: err }, 'static file failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      },
    );
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(req.url) === TUNNEL_PATH) {
      tunnel.handleUpgrade(req, socket, head);
      return;
    }
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  server.on('clientError', (err: Error & { code?: string }, socket) => {
    // A connection that never sent a byte (a browser's preconnect) is closed without an answer: a browser
    // picking it up just as a 400 arrived would take that as the answer to its request (Chromium shows
    // ERR_HTTP_RESPONSE_CODE_FAILURE), while a silent close makes it retry on a new connection.
    if (socket.writable && (socket as net.Socket).bytesRead > 0) socket.end(`HTTP/1.1 ${clientErrorStatus(err.code)}\r\nConnection: close\r\n\r\n`);
    else socket.destroy();
  });
  return server;
}
