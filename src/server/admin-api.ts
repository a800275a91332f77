/**
 * The admin HTTP API under `/api/`: connections, grants, tokens, sessions.
 * JSON in and out, `Authorization: Bearer <admin key>` compared in constant
 * time, bodies capped (64 KiB by default), every refusal a 4xx
 * `{"error": {"code", "message", "status"}}` before anything changes.
 * Secret parameters come back as `"[set]"`; tokens are never logged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GuacError, isGuacError } from '../protocol/errors.js';
import { REGISTRY } from '../registry/errors.js';
import { bearerCheck, sendUnauthorized } from './bearer.js';
import { SERVER } from './errors.js';
import { STATUS } from '../protocol/status.js';
import { silentLogger, type Logger } from '../logger.js';
import type { ConnectionInput, ConnectionPatch, MintOptions, Registry, RevokeTarget, SessionControl, SessionQuery, TransferQuery } from '../registry/types.js';
import { shareAnswer } from './share-link.js';
import { readJsonBody, sendJson, type JsonObject } from './json-http.js';

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
  /** More endpoints (e.g. recordingRoutes), tried after the built-in ones. */
  routes?: readonly Route[];
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
  GUAC_SHARE_NOT_FOUND: 404,
  GUAC_INTERNAL: 500,
} as const);

/** HTTP statuses that differ from the status table's mapping. */
const HTTP_OVERRIDES: Record<string, number> = { GUAC_METHOD_NOT_ALLOWED: 405, GUAC_BODY_TOO_LARGE: 413 };

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message, status } });
}

function bad(message: string): GuacError {
  return REGISTRY.GUAC_REQUEST_INVALID({ message });
}

/**
 * The body as the registry's input `T`, once it holds only `allowed` fields
 * (the first unknown one is named). Types and values are not checked here:
 * the registry checks every field of every caller (registry/validate.ts), with
 * the codes the API answers.
 */
export function fields<T>(body: JsonObject, allowed: readonly (keyof T & string)[]): T {
  for (const k of Object.keys(body)) if (!(allowed as readonly string[]).includes(k)) throw bad(`Unknown field ${JSON.stringify(k)}; expected ${allowed.join(', ')}.`);
  return body as T;
}

function str(body: JsonObject, field: string): string {
  const v = body[field];
  if (typeof v !== 'string' || v === '') throw bad(`"${field}" must be a non-empty string.`);
  return v;
}

export function intParam(q: URLSearchParams, name: string): number | undefined {
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
  if (opts.adminKey.length < 16) throw REGISTRY.GUAC_CONFIG_INVALID({ message: 'The admin key must be at least 16 characters long.' });

  const routes = [...adminRoutes(registry, opts.sessions), ...(opts.routes ?? [])];

  const authorized = bearerCheck(opts.adminKey);

  return async (req, res) => {
    const rawUrl = req.url ?? '/';
    const pathEnd = rawUrl.search(/[?#]/);
    const path = pathEnd === -1 ? rawUrl : rawUrl.slice(0, pathEnd);
    if (path !== '/api' && !path.startsWith('/api/')) return false;
    const method = req.method ?? 'GET';
    let status = 500;
    try {
      if (!authorized(req)) {
        status = 401;
        sendUnauthorized(res);
        return true;
      }
      let parts: string[];
      try {
        parts = path.slice('/api/'.length).split('/').filter((p, i, a) => p !== '' || i < a.length - 1).map(decodeURIComponent);
      } catch {
        throw bad('The path is not valid percent-encoding.');
      }
      const query = new URL(rawUrl, 'http://localhost').searchParams;
      const [code, payload] = await dispatch(routes, method, parts, { query, body: () => readJsonBody(req, limit) });
      status = code;
      if (payload instanceof RawBody) payload.send(res, code);
      else sendJson(res, code, payload);
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

/** What a route handler gets: the path's named segments, the query, and the body (read on demand). */
export interface RouteRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  body(): Promise<JsonObject>;
}
export type Handler = (r: RouteRequest) => Promise<[status: number, payload: unknown]>;
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A payload that is not JSON (a file download): it writes its own answer. */
export class RawBody {
  constructor(readonly send: (res: ServerResponse, status: number) => void) {}
}

/** A path under /api/ (`:name` segments are parameters) and its handler per method. */
export interface Route {
  path: string;
  methods: Partial<Record<Method, Handler>>;
}

/**
 * Runs the route whose path matches `parts`: 404 when none does, 405 (with
 * `Allow`) when it has no handler for the method.
 */
async function dispatch(routes: readonly Route[], method: string, parts: string[], r: Omit<RouteRequest, 'params'>): Promise<[number, unknown]> {
  for (const route of routes) {
    const pattern = route.path.split('/');
    if (pattern.length !== parts.length || !pattern.every((p, i) => p.startsWith(':') || p === parts[i])) continue;
    const handler = Object.hasOwn(route.methods, method) ? route.methods[method as Method] : undefined;
    if (!handler) notAllowed(Object.keys(route.methods).join(', '));
    const params = Object.fromEntries(pattern.flatMap((p, i) => (p.startsWith(':') ? [[p.slice(1), parts[i]!]] : [])));
    return handler({ ...r, params });
  }
  notFound();
}

/** The API: every endpoint, its methods and what each does. */
function adminRoutes(registry: Registry, sessions: SessionControl | undefined): readonly Route[] {
  const session = async (id: string) => {
    const rec = await registry.getSession(id);
    if (!rec) throw REGISTRY.GUAC_SESSION_NOT_FOUND({ message: `No session has the id ${JSON.stringify(id)}.` });
    return rec;
  };
  return [
    { path: 'connections', methods: {
      GET: async () => [200, { connections: await registry.listConnections() }],
      POST: async (r) => [201, await registry.createConnection(fields<ConnectionInput>(await r.body(), ['name', 'protocol', 'params', 'record', 'files']))],
    } },
    { path: 'connections/:ref', methods: {
      GET: async ({ params }) => {
        const c = await registry.getConnection(params.ref!);
        if (!c) throw connNotFound(params.ref!);
        return [200, c];
      },
      PATCH: async (r) => [200, await registry.updateConnection(r.params.ref!, fields<ConnectionPatch>(await r.body(), ['name', 'protocol', 'params', 'replaceParams', 'record', 'files']))],
      DELETE: async ({ params }) => {
        await registry.removeConnection(params.ref!);
        return [204, undefined];
      },
    } },
    { path: 'connections/:ref/grants', methods: {
      GET: async ({ params }) => [200, { grants: await registry.listGrants(params.ref!) }],
    } },
    { path: 'connections/:ref/grants/:user', methods: {
      PUT: async (r) => [200, await registry.grant(r.params.ref!, r.params.user!, fields<{ readOnly?: boolean }>(await r.body(), ['readOnly']))],
      DELETE: async ({ params }) => {
        if (!(await registry.ungrant(params.ref!, params.user!))) {
          throw SERVER.GUAC_GRANT_NOT_FOUND({ message: `User ${JSON.stringify(params.user)} has no grant on this connection.` });
        }
        return [204, undefined];
      },
    } },
    { path: 'tokens', methods: {
      POST: async (r) => [201, await registry.mintToken(fields<MintOptions>(await r.body(), ['connection', 'user', 'readOnly', 'ttlSeconds', 'once', 'share', 'noUpload', 'noDownload', 'maxUploadBytes']))],
    } },
    { path: 'tokens/revoke', methods: {
      POST: async (r) => {
        const b = fields<Record<'jti' | 'user' | 'connection', unknown>>(await r.body(), ['jti', 'user', 'connection']);
        const keys = Object.keys(b) as (keyof typeof b)[];
        if (keys.length !== 1) throw bad('Give exactly one of "jti", "user" or "connection".');
        const field = keys[0]!;
        const value = str(b, field);
        const target: RevokeTarget = field === 'jti' ? { jti: value } : field === 'user' ? { user: value } : { connection: value };
        await registry.revoke(target);
        return [200, { revoked: { [field]: value } }];
      },
    } },
    { path: 'transfers', methods: {
      GET: async ({ query }) => [200, { transfers: await registry.listTransfers(transferQuery(query)) }],
    } },
    { path: 'sessions', methods: {
      GET: async ({ query }) => [200, { sessions: await registry.listSessions(await sessionQuery(registry, query)) }],
    } },
    { path: 'sessions/:id', methods: {
      GET: async ({ params }) => [200, await session(params.id!)],
    } },
    { path: 'sessions/:id/shares', methods: {
      GET: async ({ params }) => [200, { shares: await registry.listShares(params.id!) }],
      POST: async (r) => {
        const b = fields<{ readOnly?: boolean; ttl?: number; once?: boolean }>(await r.body(), ['readOnly', 'ttl', 'once']);
        return [201, shareAnswer(await registry.createShare({ session: r.params.id!, readOnly: b.readOnly, ttlSeconds: b.ttl, once: b.once }))];
      },
    } },
    { path: 'sessions/:id/watch', methods: {
      // An administrator watches any live session: a read-only link, without a body.
      POST: async ({ params }) => [201, shareAnswer(await registry.createShare({ session: params.id!, readOnly: true }))],
    } },
    { path: 'shares/:id', methods: {
      GET: async ({ params }) => {
        const s = await registry.getShare(params.id!);
        if (!s) throw shareNotFound(params.id!);
        return [200, s];
      },
      DELETE: async ({ params }) => {
        if (!(await registry.revokeShare(params.id!))) throw shareNotFound(params.id!);
        return [204, undefined];
      },
    } },
    { path: 'sessions/:id/end', methods: {
      POST: async ({ params }) => {
        const rec = await session(params.id!);
        if (rec.endedAt !== null) throw REGISTRY.GUAC_SESSION_ENDED();
        if (sessions && (await sessions.close(rec.id, STATUS.SESSION_CLOSED))) return [200, { id: rec.id, ended: true }];
        // Not live here: ask the gateway that hosts it (PostgreSQL NOTIFY reaches every gateway).
        await registry.requestSessionEnd(rec.id, STATUS.SESSION_CLOSED);
        return [202, { id: rec.id, ended: false, requested: true }];
      },
    } },
  ];
}

/** `GET /api/sessions`' filters, checked. */
async function sessionQuery(registry: Registry, query: URLSearchParams): Promise<SessionQuery> {
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
  return q;
}

function notFound(): never {
  throw SERVER.GUAC_API_NOT_FOUND();
}

function notAllowed(allow: string): never {
  throw Object.assign(SERVER.GUAC_METHOD_NOT_ALLOWED({ message: `Method not allowed here; use ${allow}.` }), { allow });
}

function shareNotFound(id: string): GuacError {
  return REGISTRY.GUAC_SHARE_NOT_FOUND({ message: `No share has the id ${JSON.stringify(id)}.` });
}

function connNotFound(ref: string): GuacError {
  return REGISTRY.GUAC_CONNECTION_NOT_FOUND({ message: `No connection is named or numbered ${JSON.stringify(ref)}.` });
}

/** `GET /api/transfers`' filters, checked: `session`, `limit`. */
function transferQuery(query: URLSearchParams): TransferQuery {
  for (const k of query.keys()) {
    if (!['session', 'limit'].includes(k)) throw bad(`Unknown query parameter ${JSON.stringify(k)}.`);
  }
  const q: TransferQuery = {};
  const session = query.get('session');
  if (session !== null) q.session = session;
  const lim = intParam(query, 'limit');
  if (lim !== undefined) q.limit = lim;
  return q;
}
