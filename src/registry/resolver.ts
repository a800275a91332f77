/**
 * The tunnel's side of the registry: a {@link Resolver} that opens the
 * gateway token, applies revocation, the grant rule and single use, and
 * hands back the connection with its secrets decrypted; and the session
 * hooks that write history. Checks run in that order; a single-use token is
 * marked used last, so a refused attempt does not burn it.
 */
import { GuacError } from '../protocol/errors.js';
import { log } from '../log.js';
import { openToken, type TokenPayload } from '../tunnel/token.js';
import type { Resolver, Target, TunnelRequest } from '../tunnel/resolver.js';
import type { SessionInfo, SessionRecord } from '../tunnel/types.js';
import type { StatusInfo } from '../protocol/status.js';
import type { Registry, SessionControl } from './types.js';

/** Options of {@link registryResolver}. */
export interface RegistryResolverOptions {
  /** Query parameter carrying the token (default `token`). */
  param?: string;
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
 * GUAC_GRANT_MISSING (CLIENT_FORBIDDEN), GUAC_TOKEN_USED (RESOURCE_CONFLICT).
 */
export function registryResolver(registry: Registry, secret: string | Uint8Array, opts: RegistryResolverOptions = {}): Resolver {
  const param = opts.param ?? 'token';
  return async (req) => {
    const token = req.query.get(param);
    try {
      if (!token) throw new GuacError('GUAC_TOKEN_MISSING', 'CLIENT_UNAUTHORIZED', `The "${param}" query parameter is missing.`);
      const p = openToken(token, secret);
      if (p.aud !== undefined && p.aud !== 'tunnel') throw new GuacError('GUAC_TOKEN_INVALID', 'CLIENT_UNAUTHORIZED', 'The access token is invalid.');
      if (p.connection === undefined) {
        if (!opts.fallback) throw new GuacError('GUAC_TOKEN_INVALID', 'CLIENT_UNAUTHORIZED', 'The access token names no registry connection.');
        await checkRevoked(registry, p);
        await consumeOnce(registry, p);
        return await opts.fallback(req);
      }
      return await resolvePayload(registry, p);
    } catch (err) {
      log.info('registry: token refused', { error: err, remoteAddress: req.remoteAddress });
      throw err;
    }
  };
}

/**
 * For the tunnel's `tokenResolver({ resolveConnection })`: resolves an opened
 * token that names a registry connection (revocation, grant, single use
 * across gateways, decryption).
 */
export function registryConnectionResolver(registry: Registry): (payload: TokenPayload, request: TunnelRequest) => Promise<Target> {
  return (payload) => resolvePayload(registry, payload);
}

async function resolvePayload(registry: Registry, p: TokenPayload): Promise<Target> {
  if (typeof p.connection !== 'string') throw new GuacError('GUAC_TOKEN_INVALID', 'CLIENT_UNAUTHORIZED', 'The access token names no registry connection.');
  await checkRevoked(registry, p);
  const conn = await registry.resolveParams(p.connection);
  const grant = await registry.findGrant(conn.id, p.user);
  if (!grant) throw new GuacError('GUAC_GRANT_MISSING', 'CLIENT_FORBIDDEN', "The token's user has no access to this connection.");
  await consumeOnce(registry, p);
  const target: Target = {
    protocol: conn.protocol as Target['protocol'],
    params: conn.params,
    readOnly: p.readOnly === true || grant.readOnly,
    connectionId: conn.id,
  };
  if (p.user !== undefined) target.user = p.user;
  return target;
}

async function checkRevoked(registry: Registry, p: TokenPayload): Promise<void> {
  if (await registry.isRevoked({ jti: p.jti, issuedAt: p.iat * 1000, user: p.user, connection: p.connection })) {
    throw new GuacError('GUAC_TOKEN_REVOKED', 'CLIENT_FORBIDDEN', 'The access token has been revoked.');
  }
}

async function consumeOnce(registry: Registry, p: TokenPayload): Promise<void> {
  if (p.once !== true) return;
  if (!(await registry.consumeToken(p.jti, p.exp * 1000))) {
    throw new GuacError('GUAC_TOKEN_USED', 'RESOURCE_CONFLICT', 'The single-use access token was already used.');
  }
}

/**
 * The tunnel's `onSessionStart` / `onSessionEnd` writing history. Failures
 * are logged, never thrown: history must not break a session.
 */
export function registrySessionHooks(registry: Registry): {
  onSessionStart: (info: SessionInfo) => Promise<void>;
  onSessionEnd: (record: SessionRecord) => Promise<void>;
} {
  const base = (i: SessionInfo) => ({
    id: i.id,
    user: i.user,
    connectionId: i.connectionId,
    protocol: i.protocol,
    guacdId: i.guacdConnectionId ?? i.join,
    remoteAddress: i.remoteAddress,
    startedAt: i.start,
  });
  return {
    onSessionStart: async (info) => {
      await registry.sessionStarted(base(info)).catch((err: unknown) => log.warn('registry: could not record a session start', { id: info.id, error: err }));
    },
    onSessionEnd: async (r) => {
      await registry
        .sessionEnded({ ...base(r), endedAt: r.end, bytesFromBrowser: r.bytesFromBrowser, bytesToBrowser: r.bytesToBrowser, status: r.status })
        .catch((err: unknown) => log.warn('registry: could not record a session end', { id: r.id, error: err }));
    },
  };
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
