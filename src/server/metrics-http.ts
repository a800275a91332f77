/**
 * `/metrics` over HTTP, only where configured (`--metrics-listen`): on a
 * listener of its own (no key: bind it where only Prometheus reaches), or on
 * the main port behind the admin key. GET and HEAD only; errors answer as
 * the admin API's do (JSON with a code).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import client from 'prom-client';
import type { GuacError } from '../protocol/errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { bearerCheck, sendUnauthorized } from './bearer.js';
import { SERVER } from './errors.js';
import { sendJson } from './json-http.js';

/** The path Prometheus scrapes. */
export const METRICS_PATH = '/metrics';

/** The metrics text of this gateway (one process's registry, or the sum over the workers). */
export type MetricsSource = () => Promise<string>;

function sendError(res: ServerResponse, http: number, err: GuacError): void {
  sendJson(res, http, { error: { code: err.code, message: err.message, status: http } });
}

/** Answers one scrape (the path is already known to be /metrics). */
async function scrape(req: IncomingMessage, res: ServerResponse, source: MetricsSource, log: Logger): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    sendError(res, 405, SERVER.GUAC_METHOD_NOT_ALLOWED({ message: 'Method not allowed here; use GET or HEAD.' }));
    return;
  }
  let text: string;
  try {
    text = await source();
  } catch (err) {
    log.warn({ error: err }, 'metrics: gathering failed');
    sendError(res, 503, SERVER.GUAC_METRICS_UNAVAILABLE());
    return;
  }
  res.writeHead(200, {
    'Content-Type': client.Registry.PROMETHEUS_CONTENT_TYPE,
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : text);
}

/**
 * `/metrics` on the main port: the app calls it for that path.
 * @param adminKey the admin API's key, required as `Authorization: Bearer <key>`
 */
export function mainPortMetrics(source: MetricsSource, adminKey: string, logger: Logger = silentLogger): (req: IncomingMessage, res: ServerResponse) => void {
  const authorized = bearerCheck(adminKey);
  return (req, res) => {
    if (!authorized(req)) {
      sendUnauthorized(res);
      return;
    }
    void scrape(req, res, source, logger);
  };
}

/** A server answering only `/metrics` (not yet listening). */
export function metricsServer(source: MetricsSource, logger: Logger = silentLogger): http.Server {
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    const url = req.url ?? '/';
    const end = url.search(/[?#]/);
    if ((end === -1 ? url : url.slice(0, end)) !== METRICS_PATH) {
      sendError(res, 404, SERVER.GUAC_METRICS_NOT_FOUND());
      return;
    }
    void scrape(req, res, source, logger);
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return server;
}

/** Listens on `host:port`; rejects on failure (EADDRINUSE, …). */
export function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
}
