/**
 * The HTTP stream routes, beside the tunnel:
 * `GET  <tunnel>/streams/<session>/<secret>/<index>/<name>` downloads guacd
 * stream `index`; `POST` (or `PUT`) to the same path uploads the body into
 * the browser's stream `index`. `<secret>` is the session's own stream
 * secret, given only to that session's browser (the `gateway-streams`
 * instruction); a wrong session, secret or index is the same 404, so a
 * probe learns nothing. `<name>` is for the browser's download manager only:
 * the file name used is the stream's own.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { TUNNEL } from '../errors.js';
import { sendHttpError } from '../http.js';
import type { StreamInterceptor } from './interceptor.js';

/** The path segment after the tunnel's path. */
export const STREAMS_SEGMENT = '/streams/';

/** What the routes need of a session. */
export interface StreamOwner {
  readonly streamSecret: string;
  readonly streams: StreamInterceptor | undefined;
}

/** What the routes need of the tunnel. */
export interface StreamRoutesHost {
  readonly sessions: ReadonlyMap<string, StreamOwner>;
  /** Cross-origin pages allowed to upload (the tunnel's `allowedOrigins`). */
  allowedOrigin(origin: string): boolean;
}

const PATH = /^([0-9a-f-]{36})\/([A-Za-z0-9_-]{43})\/(\d{1,5})(?:\/[^/]*)?$/;

/** True when the two secrets are equal, in time independent of where they differ. */
function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The request's `Origin` is absent (a navigation), the gateway's own, or allowed. */
function originAllowed(req: IncomingMessage, host: StreamRoutesHost): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    if (new URL(origin).host === req.headers.host) return true;
  } catch {
    return false;
  }
  return host.allowedOrigin(origin);
}

/**
 * Serves a stream route request.
 * @param rest the path after `<tunnel>/streams/`
 */
export function handleStreamRequest(host: StreamRoutesHost, rest: string, req: IncomingMessage, res: ServerResponse): void {
  const m = PATH.exec(rest);
  const method = req.method ?? 'GET';
  if (!m || !['GET', 'POST', 'PUT'].includes(method)) {
    req.resume();
    sendHttpError(res, TUNNEL.GUAC_STREAM_BAD_REQUEST({ message: 'Not a stream route request.' }));
    return;
  }
  const owner = host.sessions.get(m[1]);
  const streams = owner?.streams;
  if (!owner || !streams || !sameSecret(owner.streamSecret, m[2])) {
    req.resume();
    sendHttpError(res, TUNNEL.GUAC_STREAM_NOT_FOUND());
    return;
  }
  const index = Number(m[3]);
  if (method === 'GET') {
    streams.download(index, res);
    return;
  }
  if (!originAllowed(req, host)) {
    req.resume();
    sendHttpError(res, TUNNEL.GUAC_STREAM_FORBIDDEN_ORIGIN());
    return;
  }
  void streams.upload(index, req, res);
}
