/**
 * The tunnel's side of the registry: a {@link Resolver} that opens the
 * gateway token, applies revocation, the grant rule and single use, and
 * hands back the connection with its secrets decrypted; and the session
 * hooks that write history. Checks run in that order; a single-use token is
 * marked used last, so a refused attempt does not burn it.
 */
import { GuacError, isGuacError } from '../protocol/errors.js';
import { REGISTRY } from './errors.js';
import { TUNNEL } from '../tunnel/errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { openToken, type TokenPayload } from '../tunnel/token.js';
import { mergeFiles, type Resolver, type Target, type TunnelRequest } from '../tunnel/resolver.js';
import type { SessionInfo, SessionRecord } from '../tunnel/types.js';
import type { TransferRecord } from '../tunnel/streams/interceptor.js';
import type { StatusInfo } from '../protocol/status.js';
import { OWNER_LEFT, resolveShare, SHARE_AUDIENCE } from './shares.js';
import { ACCESS_REVOKED, type Registry, type SessionControl } from './types.js';
import { CONNECT_DATA } from '../protocol/constants.js';

/** Options of {@link registryResolver}. */
export interface RegistryResolverOptions {
  /** Query parameter carrying the token (default `token`). */
  param?: string;
  /** Where refusals are reported. Default: the registry's `logger`, else nowhere. */
  logger?: Logger;
  /**
   * Resolves tokens that carry no `connection` (an inline `target`, e.g. the
   * tunnel's `tokenResolver`), after revocation and single use were checked
   * here against the database. Without it such tokens are refused.
   */
  fallback?: Resolver;
}

/**
 * Builds the resolver.
 * Refusals: GUAC_TOKEN_MISSING / GUAC_TOKEN_INVALID (CLIENT_UNAUTHORIZED), GUAC_TOKEN_EXPIRED (CLIENT_TIMEOUT),
 * GUAC_TOKEN_REVOKED (CLIENT_FORBIDDEN), GUAC_CONNECTION_NOT_FOUND (RESOURCE_NOT_FOUND),
 * GUAC_GRANT_MISSING (CLIENT_FORBIDDEN), GUAC_TOKEN_USED (RESOURCE_CONFLICT); share links (audience `share`,
 * src/registry/shares.ts): GUAC_SHARE_NOT_FOUND (RESOURCE_NOT_FOUND), GUAC_SHARE_REVOKED (CLIENT_FORBIDDEN),
 * GUAC_SHARE_SESSION_ENDED (RESOURCE_CLOSED), GUAC_SHARE_USED (RESOURCE_CONFLICT).
 */
export function registryResolver(registry: Registry, secret: string | Uint8Array, opts: RegistryResolverOptions = {}): Resolver {
  const param = opts.param ?? CONNECT_DATA.token;
  const log = opts.logger ?? registry.logger ?? silentLogger;
  return async (req) => {
    const token = req.query.get(param);
    try {
      if (!token) throw TUNNEL.GUAC_TOKEN_MISSING({ message: `The "${param}" query parameter is missing.` });
      const p = openToken(token, secret);
      if (p.aud === SHARE_AUDIENCE) return await resolveShare(registry, p, req);
      if (p.aud !== undefined && p.aud !== 'tunnel') throw TUNNEL.GUAC_TOKEN_INVALID();
      if (p.connection === undefined) {
        if (!opts.fallback) throw TUNNEL.GUAC_TOKEN_INVALID({ message: 'The access token names no registry connection.' });
        await checkRevoked(registry, p);
        req.claim?.({ tokenId: p.jti, user: p.user });
        await consumeOnce(registry, p);
        return await opts.fallback(req);
      }
      return await resolvePayload(registry, p, req);
    } catch (err) {
      if (err instanceof GuacError) {
        log.info({ error: err, remoteAddress: req.remoteAddress }, 'registry: token refused');
        throw err;
      }
      // The database failed (down, cut, closed): say so, without its driver's details.
      log.warn({ error: err, remoteAddress: req.remoteAddress }, 'registry: database unavailable while resolving a token');
      throw REGISTRY.GUAC_REGISTRY_UNAVAILABLE({ message: 'The connection registry is unavailable; try again later.', cause: err });
    }
  };
}

/**
 * For the tunnel's `tokenResolver({ resolveConnection })`: resolves an opened
 * token that names a registry connection (revocation, grant, single use
 * across gateways, decryption).
 */
export function registryConnectionResolver(registry: Registry): (payload: TokenPayload, request: TunnelRequest) => Promise<Target> {
  return (payload, request) => resolvePayload(registry, payload, request);
}

async function resolvePayload(registry: Registry, p: TokenPayload, req: TunnelRequest): Promise<Target> {
  if (typeof p.connection !== 'string') throw TUNNEL.GUAC_TOKEN_INVALID({ message: 'The access token names no registry connection.' });
  await checkRevoked(registry, p);
  const conn = await registry.resolveParams(p.connection);
  const grant = await registry.findGrant(conn.id, p.user);
  if (!grant) throw REGISTRY.GUAC_GRANT_MISSING({ message: "The token's user has no access to this connection." });
  // The per-token and per-user caps before single use: a refused attempt does not burn the token.
  req.claim?.({ tokenId: p.jti, user: p.user });
  await consumeOnce(registry, p);
  const target: Target = {
    protocol: conn.protocol as Target['protocol'],
    params: conn.params,
    readOnly: p.readOnly === true || grant.readOnly,
    connectionId: conn.id,
    tokenId: p.jti,
  };
  const files = mergeFiles(conn.files, p);
  if (files) target.files = files;
  if (p.user !== undefined) target.user = p.user;
  if (conn.record !== undefined) target.record = conn.record;
  return target;
}

async function checkRevoked(registry: Registry, p: TokenPayload): Promise<void> {
  if (await registry.isRevoked({ jti: p.jti, issuedAt: p.iat * 1000, user: p.user, connection: p.connection })) {
    throw REGISTRY.GUAC_TOKEN_REVOKED();
  }
}

async function consumeOnce(registry: Registry, p: TokenPayload): Promise<void> {
  if (p.once !== true) return;
  if (!(await registry.consumeToken(p.jti, p.exp * 1000))) {
    throw TUNNEL.GUAC_TOKEN_USED();
  }
}

/** Pauses between attempts to record a session end the database refused (about 4 minutes in all). */
const END_RETRY_MS = [1000, 2000, 4000, 8000, 15_000, 30_000, 60_000, 120_000];
/** Ends waiting for a retry, at most; more are dropped (logged) so a long outage cannot grow memory. */
const MAX_PENDING_ENDS = 10_000;

/**
 * The tunnel's `onSessionStart` / `onSessionEnd` writing history. Failures
 * are logged, never thrown: history must not break a session. A session end
 * the database refused (it went away mid-session) is retried with backoff,
 * so its row does not stay open once the database is back; the upsert makes
 * a late or repeated write harmless.
 */
export function registrySessionHooks(registry: Registry): {
  onSessionStart: (info: SessionInfo) => Promise<void>;
  onSessionEnd: (record: SessionRecord) => Promise<void>;
  onTransfer: (record: TransferRecord, info: SessionInfo) => Promise<void>;
} {
  const log = registry.logger ?? silentLogger;
  const base = (i: SessionInfo) => ({
    id: i.id,
    user: i.user,
    connectionId: i.connectionId,
    protocol: i.protocol,
    guacdId: i.guacdConnectionId ?? i.join,
    guacd: i.guacd,
    tokenId: i.tokenId,
    remoteAddress: i.remoteAddress,
    startedAt: i.start,
    readOnly: i.readOnly,
    // A join's token is its share link (registry connections are opened, not joined).
    shareId: i.join !== undefined ? i.tokenId : undefined,
  });
  return {
    onSessionStart: async (info) => {
      try {
        await registry.sessionStarted(base(info));
      } catch (err) {
        log.warn({ session: info.id, error: err }, 'registry: could not record a session start');
        return;
      }
      // Taking access away ends the sessions found in history; one that was still connecting then had no row
      // yet. Its row exists now: look again.
      try {
        if (await registry.accessWithdrawn({ user: info.user, connectionId: info.connectionId, tokenId: info.tokenId, startedAt: info.start.getTime() })) {
          await registry.requestSessionEnd(info.id, ACCESS_REVOKED.status, ACCESS_REVOKED.message);
        }
      } catch (err) {
        log.warn({ session: info.id, error: err }, 'registry: could not check a new session\'s access again');
      }
    },
    onTransfer: async (t, info) => {
      try {
        await registry.transferRecorded({
          sessionId: info.id, direction: t.direction, name: t.name, bytes: t.bytes, via: t.via,
          status: t.status.guac, message: t.message, startedAt: t.start.getTime(), endedAt: t.end.getTime(),
        });
      } catch (err) {
        log.warn({ session: info.id, error: err }, 'registry: could not record a file transfer');
      }
    },
    onSessionEnd: async (r) => {
      if (r.join === undefined) void endParticipants(registry, r.id);
      const end = { ...base(r), endedAt: r.end, bytesFromBrowser: r.bytesFromBrowser, bytesToBrowser: r.bytesToBrowser, status: r.status, message: r.message };
      try {
        await registry.sessionEnded(end);
      } catch (err) {
        log.warn({ session: r.id, error: err }, 'registry: could not record a session end; retrying');
        retryEnd(registry, log, end, 0);
      }
    },
  };
}

/** Ends the sessions that joined `owner` through share links (see {@link OWNER_LEFT}). */
async function endParticipants(registry: Registry, owner: string): Promise<void> {
  try {
    for (const s of await registry.listSessions({ active: true, joinedSession: owner })) {
      await registry.requestSessionEnd(s.id, OWNER_LEFT.status, OWNER_LEFT.message);
    }
  } catch (err) {
    (registry.logger ?? silentLogger).warn({ id: owner, error: err }, 'registry: could not end the participants of a shared session');
  }
}

let pendingEnds = 0;

function retryEnd(registry: Registry, log: Logger, end: Parameters<Registry['sessionEnded']>[0], attempt: number): void {
  if (attempt >= END_RETRY_MS.length || pendingEnds >= MAX_PENDING_ENDS) {
    log.error({ session: end.id, attempts: attempt }, 'registry: gave up recording a session end');
    return;
  }
  pendingEnds++;
  const timer = setTimeout(() => {
    registry.sessionEnded(end).then(
      () => {
        pendingEnds--;
        log.info({ session: end.id, attempts: attempt + 1 }, 'registry: recorded a session end after a retry');
      },
      (err: unknown) => {
        pendingEnds--;
        if (isGuacError(err, 'GUAC_REGISTRY_CLOSED')) return;
        retryEnd(registry, log, end, attempt + 1);
      },
    );
  }, END_RETRY_MS[attempt]);
  timer.unref();
}

/**
 * A {@link SessionControl} over the tunnel's live sessions: `find` returns
 * the live session with that id (e.g. from `tunnel.sessions`), if any.
 */
export function sessionControl(find: (id: string) => { close(status?: StatusInfo): void } | undefined): SessionControl {
  return {
    close(id, status) {
      const s = find(id);
      if (!s) return false;
      s.close(status);
      return true;
    },
  };
}
