/**
 * JSON over the server's HTTP endpoints (the admin API, `/healthz`): an
 * answer that is never cached or sniffed, and a request body read with a
 * size cap before it is parsed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SERVER } from './errors.js';
import { readBody } from '../tunnel/body.js';

/** A parsed JSON object body. */
export type JsonObject = Record<string, unknown>;

/** Answers `payload` as JSON (nothing for undefined), never cached, never sniffed. */
export function sendJson(res: ServerResponse, status: number, payload: unknown): void {
  if (res.headersSent) return;
  const body = payload === undefined ? '' : JSON.stringify(payload);
  res.statusCode = status;
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (body !== '') res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

/**
 * Reads a JSON object body of at most `limit` bytes. An empty body is `{}`.
 * @throws GuacError `GUAC_BODY_TOO_LARGE` (413), `GUAC_CONTENT_TYPE` (415), `GUAC_JSON_INVALID` (400)
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<JsonObject> {
  const body = await readBody(req, limit, {
    tooLarge: () => SERVER.GUAC_BODY_TOO_LARGE({ message: `The request body exceeds ${limit} bytes.` }),
    unreadable: (cause) => SERVER.GUAC_BODY_UNREADABLE({ cause }),
  });
  if (body.length === 0) return {};
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw SERVER.GUAC_CONTENT_TYPE();
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw SERVER.GUAC_JSON_INVALID({ message: 'The request body is not valid UTF-8 JSON.' });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw SERVER.GUAC_JSON_INVALID({ message: 'The request body must be a JSON object.' });
  }
  return parsed as JsonObject;
}
