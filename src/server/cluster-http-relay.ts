/**
 * The HTTP tunnel across workers. Its reads and writes are separate requests,
 * and the shared port gives each connection to any worker; a session lives
 * in the worker that took its `?connect`. Each worker starts its sessions'
 * `Guacamole-Tunnel-Token` with its name (`w<N>.`) and also listens on a
 * loopback port of its own; a worker that gets a read or write for another
 * worker's session passes the request there and streams the answer back.
 * Only ports the primary announced are ever dialled: the token names a
 * worker, never an address.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import { TUNNEL } from '../tunnel/errors.js';
import { sendHttpError } from '../tunnel/http.js';
import { TUNNEL_TOKEN_HEADER } from '../tunnel/wire.js';
import type { Logger } from '../logger.js';

/** The token prefix of worker `id`'s HTTP tunnel sessions. */
export function httpTokenPrefix(id: number): string {
  return `w${id}.`;
}

const TOKEN = TUNNEL_TOKEN_HEADER.toLowerCase();

/** Passes other workers' HTTP tunnel requests to them. */
export class HttpTunnelRelay {
  /** Worker id → its loopback port, as the primary last announced. */
  private peers = new Map<number, number>();
  private listener: net.Server | undefined;

  constructor(private readonly self: number, private readonly logger: Logger) {}

  /** The primary's list of live workers and their ports. */
  setPeers(peers: readonly [number, number][]): void {
    this.peers = new Map(peers);
  }

  /**
   * Listens on a loopback port of this worker alone (not the cluster's shared
   * handle) and serves it with `server`, the worker's own gateway.
   * @returns the port
   */
  async listen(server: http.Server): Promise<number> {
    const listener = net.createServer((socket) => server.emit('connection', socket));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve());
    });
    this.listener = listener;
    return (listener.address() as net.AddressInfo).port;
  }

  close(): void {
    this.listener?.close();
  }

  /**
   * Passes the request on when it is a read or write of another live worker's session.
   * @returns false when this worker answers it (its own session, a connect, or a worker that is gone)
   */
  route(req: IncomingMessage, res: ServerResponse): boolean {
    const token = req.headers[TOKEN];
    const m = typeof token === 'string' ? /^w(\d{1,6})\./.exec(token) : null;
    if (!m) return false;
    const owner = Number(m[1]);
    const port = owner === this.self ? undefined : this.peers.get(owner);
    if (port === undefined) return false;
    // A connection per request (loopback: cheap): a kept-alive one the other worker has just timed out would
    // fail the request, and the browser takes that failure for the end of its session.
    const upstream = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers, agent: false });
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (err) => {
      this.logger.debug({ error: err, worker: owner }, 'HTTP tunnel request to another worker failed');
      // The owner is gone (or going): its session with it. The browser takes 404 as the end of the stream.
      if (!res.headersSent) sendHttpError(res, TUNNEL.GUAC_TUNNEL_NOT_FOUND());
      else res.destroy();
    });
    res.on('close', () => { if (!res.writableFinished) upstream.destroy(); });
    req.pipe(upstream);
    return true;
  }
}
