/**
 * The admin HTTP API under `/api/`: connections, grants, tokens, sessions.
 * JSON in and out, `Authorization: Bearer <admin key>` compared in constant
 * time, bodies capped (64 KiB by default), every refusal a 4xx
 * `{"error": {"code", "message", "status"}}` before anything changes.
 * Secret parameters come back as `"[set]"`; tokens are never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GuacError, isGuacError } from '../protocol/errors.js';
import { STATUS } from '../protocol/status.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Registry, SessionControl, SessionQuery } from '../registry/types.js';

/** Options of {@link createAdminApi}. */
export interface AdminApiOptions {
  registry: Registry;
  /** The bearer key (see `loadAdminKey`). */
  adminKey: string;
  /** Closes live sessions of this process (the tunnel). */
  sessions?: SessionControl;
  /** Largest accepted body in bytes (default 64 KiB). */
  bodyLimit?: number;
  /** Where requests and failures are reported. Default: nowhere. */
  logger?: Logger;
}

/** Handles a request; resolves true when the path was the API's (`/api` or under `/api/`). */
export type AdminApiHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

const DEFAULT_BODY_LIMIT = 64 * 1024;

/** Codes only the API raises, with their HTTP status (registry codes keep their status table mapping). */
export const ADMIN_API_ERRORS = Object.freeze({
  GUAC_ADMIN_UNAUTHORIZED: 401,
  GUAC_API_NOT_FOUND: 404,
  GUAC_METHOD_NOT_ALLOWED: 405,
  GUAC_BODY_TOO_LARGE: 413,
  GUAC_CONTENT_TYPE: 415,
  GUAC_JSON_INVALID: 400,
  GUAC_GRANT_NOT_FOUND: 404,
  GUAC_SESSION_NOT_FOUND: 404,
  GUAC_SESSION_ENDED: 409,
  GUAC_INTERNAL: 500,
} as const);

type JsonObject = Record<string, unknown>;

/** HTTP statuses that differ from the status table's mapping. */
const HTTP_OVERRIDES: Record<string, number> = { GUAC_METHOD_NOT_ALLOWED: 405, GUAC_BODY_TOO_LARGE: 413 };

function sendJson(res: ServerResponse, status: number, payload: unknown): void {
  if (res.headersSent) return;
  const body = payload === undefined ? '' : JSON.stringify(payload);
  res.statusCode = status;
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (body !== '') res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message, status } });
}

/**
 * Reads a JSON object body of at most `limit` bytes. An empty body is `{}`.
 * @throws GuacError `GUAC_BODY_TOO_LARGE` (413), `GUAC_CONTENT_TYPE` (415), `GUAC_JSON_INVALID` (400)
 */
async function readJsonBody(req: IncomingMessage, limit: number): Promise<JsonObject> {
  const tooLarge = (): GuacError => new GuacError('GUAC_BODY_TOO_LARGE', 'CLIENT_OVERRUN', `The request body exceeds ${limit} bytes.`);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  await new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limit) {
        cleanup();
        // Stop reading; the answer goes out with Connection: close, which drops the rest.
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    };
    const onEnd = (): void => {
      cleanup();
      resolve();
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
  if (size === 0) return {};
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new GuacError('GUAC_CONTENT_TYPE', 'CLIENT_BAD_TYPE', 'The request body must be JSON (Content-Type: application/json).');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)));
  } catch {
    throw new GuacError('GUAC_JSON_INVALID', 'CLIENT_BAD_REQUEST', 'The request body is not valid UTF-8 JSON.');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new GuacError('GUAC_JSON_INVALID', 'CLIENT_BAD_REQUEST', 'The request body must be a JSON object.');
  }
  return parsed as JsonObject;
}

function bad(message: string, code = 'GUAC_REQUEST_INVALID'): GuacError {
  return new GuacError(code, 'CLIENT_BAD_REQUEST', message);
}

/** Refuses fields the endpoint does not know, naming the first. */
function only(body: JsonObject, allowed: readonly string[]): JsonObject {
  for (const k of Object.keys(body)) if (!allowed.includes(k)) throw bad(`Unknown field ${JSON.stringify(k)}; expected ${allowed.join(', ')}.`);
  return body;
}

function str(body: JsonObject, field: string): string {
  const v = body[field];
  if (typeof v !== 'string' || v === '') throw bad(`"${field}" must be a non-empty string.`);
  return v;
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (!/^\d{1,9}$/.test(v)) throw bad(`Query parameter "${name}" must be a non-negative integer.`);
  return Number(v);
}

function boolParam(q: URLSearchParams, name: string): boolean | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw bad(`Query parameter "${name}" must be true or false.`);
}

/**
 * Builds the API handler.
 * @param opts registry, admin key, optional live-session control and body limit
 */
export function createAdminApi(opts: AdminApiOptions): AdminApiHandler {
  const { registry } = opts;
  const log = opts.logger ?? silentLogger;
  const limit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const keyHash = createHash('sha256').update(opts.adminKey, 'utf8').digest();
  if (opts.adminKey.length < 16) throw new GuacError('GUAC_CONFIG_INVALID', 'SERVER_ERROR', 'The admin key must be at least 16 characters long.');

  function authorized(req: IncomingMessage): boolean {
    const m = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
    // Hashing first makes both sides 32 bytes, so timingSafeEqual never leaks the key's length either.
    const given = createHash('sha256').update(m ? m[1]! : '', 'utf8').digest();
    return timingSafeEqual(given, keyHash) && m !== null;
  }

  async function route(method: string, parts: string[], query: URLSearchParams, req: IncomingMessage): Promise<[number, unknown]> {
    const body = (): Promise<JsonObject> => readJsonBody(req, limit);
    const [top, ref, sub, subRef, extra] = parts;
    if (extra !== undefined) return notFound();

    if (top === 'connections') {
      if (ref === undefined) {
        if (method === 'GET') return [200, { connections: await registry.listConnections() }];
        if (method === 'POST') {
          const b = only(await body(), ['name', 'protocol', 'params']);
          return [201, await registry.createConnection(b as never)];
        }
        return notAllowed('GET, POST');
      }
      if (sub === undefined) {
        if (method === 'GET') {
          const c = await registry.getConnection(ref);
          if (!c) throw connNotFound(ref);
          return [200, c];
        }
        if (method === 'PATCH') {
          const b = only(await body(), ['name', 'protocol', 'params', 'replaceParams']);
          return [200, await registry.updateConnection(ref, b as never)];
        }
        if (method === 'DELETE') {
          await registry.removeConnection(ref);
          return [204, undefined];
        }
        return notAllowed('GET, PATCH, DELETE');
      }
      if (sub === 'grants') {
        if (subRef === undefined) {
          if (method === 'GET') return [200, { grants: await registry.listGrants(ref) }];
          return notAllowed('GET');
        }
        if (method === 'PUT') {
          const b = only(await body(), ['readOnly']);
          return [200, await registry.grant(ref, subRef, b as { readOnly?: boolean })];
        }
        if (method === 'DELETE') {
          if (!(await registry.ungrant(ref, subRef))) {
            throw new GuacError('GUAC_GRANT_NOT_FOUND', 'RESOURCE_NOT_FOUND', `User ${JSON.stringify(subRef)} has no grant on this connection.`);
          }
          return [204, undefined];
        }
        return notAllowed('PUT, DELETE');
      }
      return notFound();
    }

    if (top === 'tokens') {
      if (ref === undefined && method === 'POST') {
        const b = only(await body(), ['connection', 'user', 'readOnly', 'ttlSeconds', 'once']);
        return [201, await registry.mintToken(b as never)];
      }
      if (ref === 'revoke' && sub === undefined && method === 'POST') {
        const b = only(await body(), ['jti', 'user', 'connection']);
        const keys = Object.keys(b);
        if (keys.length !== 1) throw bad('Give exactly one of "jti", "user" or "connection".');
        const field = keys[0]!;
        await registry.revoke({ [field]: str(b, field) } as never);
        return [200, { revoked: { [field]: b[field] } }];
      }
      return ref === undefined || ref === 'revoke' ? notAllowed('POST') : notFound();
    }

    if (top === 'sessions') {
      if (ref === undefined) {
        if (method !== 'GET') return notAllowed('GET');
        for (const k of query.keys()) {
          if (!['active', 'user', 'connection', 'limit', 'offset'].includes(k)) throw bad(`Unknown query parameter ${JSON.stringify(k)}.`);
        }
        const q: SessionQuery = {};
        const active = boolParam(query, 'active');
        if (active !== undefined) q.active = active;
        const user = query.get('user');
        if (user !== null) q.user = user;
        const conn = query.get('connection');
        if (conn !== null) {
          const c = await registry.getConnection(conn);
          // A removed connection's history is still reachable by its id.
          q.connectionId = c ? c.id : conn;
        }
        const lim = intParam(query, 'limit');
        if (lim !== undefined) q.limit = lim;
        const off = intParam(query, 'offset');
        if (off !== undefined) q.offset = off;
        return [200, { sessions: await registry.listSessions(q) }];
      }
      const rec = await registry.getSession(ref);
      if (!rec) throw new GuacError('GUAC_SESSION_NOT_FOUND', 'RESOURCE_NOT_FOUND', `No session has the id ${JSON.stringify(ref)}.`);
      if (sub === undefined) return method === 'GET' ? [200, rec] : notAllowed('GET');
      if (sub === 'end' && subRef === undefined) {
        if (method !== 'POST') return notAllowed('POST');
        if (rec.endedAt !== null) throw new GuacError('GUAC_SESSION_ENDED', 'RESOURCE_CONFLICT', 'The session has already ended.');
        if (opts.sessions && (await opts.sessions.close(rec.id, STATUS.SESSION_CLOSED))) return [200, { id: rec.id, ended: true }];
        // Not live here: ask the gateway that hosts it (PostgreSQL NOTIFY reaches every gateway).
        await registry.requestSessionEnd(rec.id, STATUS.SESSION_CLOSED);
        return [202, { id: rec.id, ended: false, requested: true }];
      }
      return notFound();
    }
    return notFound();
  }

  return async (req, res) => {
    const rawUrl = req.url ?? '/';
    const pathEnd = rawUrl.search(/[?#]/);
    const path = pathEnd === -1 ? rawUrl : rawUrl.slice(0, pathEnd);
    if (path !== '/api' && !path.startsWith('/api/')) return false;
    const method = req.method ?? 'GET';
    let status = 500;
    try {
      if (!authorized(req)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="guacamole-gateway"');
        status = 401;
        sendError(res, 401, 'GUAC_ADMIN_UNAUTHORIZED', 'A valid admin key is required: Authorization: Bearer <key>.');
        return true;
      }
      let parts: string[];
      try {
        parts = path.slice('/api/'.length).split('/').filter((p, i, a) => p !== '' || i < a.length - 1).map(decodeURIComponent);
      } catch {
        throw bad('The path is not valid percent-encoding.');
      }
      const query = new URL(rawUrl, 'http://localhost').searchParams;
      const [code, payload] = await route(method, parts, query, req);
      status = code;
      sendJson(res, code, payload);
    } catch (err) {
      if (isGuacError(err)) {
        status = HTTP_OVERRIDES[err.code] ?? err.status.http;
        if (status === 413) res.setHeader('Connection', 'close');
        const allow = (err as { allow?: unknown }).allow;
        if (typeof allow === 'string') res.setHeader('Allow', allow);
        sendError(res, status, err.code, err.message);
      } else {
        log.error({ error: err, method, path }, 'admin api: internal error');
        sendError(res, 500, 'GUAC_INTERNAL', STATUS.SERVER_ERROR.message);
      }
    } finally {
      log.info({ method, path, status }, 'admin api');
    }
    return true;
  };
}

function notFound(): never {
  throw new GuacError('GUAC_API_NOT_FOUND', 'RESOURCE_NOT_FOUND', 'No such API endpoint.');
}

function notAllowed(allow: string): never {
  throw Object.assign(new GuacError('GUAC_METHOD_NOT_ALLOWED', 'UNSUPPORTED', `Method not allowed here; use ${allow}.`), { allow });
}

function connNotFound(ref: string): GuacError {
  return new GuacError('GUAC_CONNECTION_NOT_FOUND', 'RESOURCE_NOT_FOUND', `No connection is named or numbered ${JSON.stringify(ref)}.`);
}
