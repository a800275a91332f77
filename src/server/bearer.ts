/**
 * The admin key check shared by the admin API and `/metrics` on the main
 * port: `Authorization: Bearer <key>` compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './json-http.js';

/** A check of requests against `key`. */
export function bearerCheck(key: string): (req: IncomingMessage) => boolean {
  const keyHash = createHash('sha256').update(key, 'utf8').digest();
  return (req) => {
    const m = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
    // Hashing first makes both sides 32 bytes, so timingSafeEqual never leaks the key's length either.
    const given = createHash('sha256').update(m ? m[1]! : '', 'utf8').digest();
    return timingSafeEqual(given, keyHash) && m !== null;
  };
}

/** The answer to a request without the key (admin API and `/metrics` alike). */
export function sendUnauthorized(res: ServerResponse): void {
  res.setHeader('WWW-Authenticate', 'Bearer realm="guacamole-gateway"');
  sendJson(res, 401, { error: { code: 'GUAC_ADMIN_UNAUTHORIZED', message: 'A valid admin key is required: Authorization: Bearer <key>.', status: 401 } });
}
