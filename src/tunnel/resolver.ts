/**
 * Resolvers turn a browser's connect request into what to open at guacd.
 * The tunnel awaits one before it sends anything to guacd; a rejection (a
 * GuacError) goes to the browser as its status. `tokenResolver` is the
 * built-in one; the registry plugs its own in through the same type.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { TUNNEL } from './errors.js';
import { GUACD } from '../guacd/errors.js';
import { PROTOCOLS, type Protocol } from '../guacd/params.js';
import { openToken, type TokenPayload } from './token.js';
import { CONNECT_DATA } from '../protocol/constants.js';
import type { RecordSpec } from './recording/recorder.js';
import type { FilePolicyInput } from './streams/policy.js';

/** What a resolver sees of the browser's request. */
export interface TunnelRequest {
  /** The connect data: the WebSocket URL's query string, or the HTTP tunnel's `?connect` body. */
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  remoteAddress?: string;
  /** Aborted when the browser goes away or the connect phase times out. */
  signal?: AbortSignal;
  /**
   * Counts the session against a token and user (the tunnel's per-token and
   * per-user caps); throws a GuacError (CLIENT_TOO_MANY) when one is at its
   * cap. Resolvers call it before spending a single-use token, so a refusal
   * does not burn it; the tunnel calls it again with the target (idempotent).
   */
  claim?: (who: { tokenId?: string | undefined; user?: string | undefined }) => void;
}

/** What to open at guacd. */
export interface Target {
  /** Start a new connection with this protocol (exactly one of `protocol` and `join`). */
  protocol?: Protocol;
  /** Join a live guacd connection (`$id`). */
  join?: string;
  /**
   * The guacd that holds the connection to join, by its name in the tunnel's
   * `GuacdPool` (a registry's live-session directory knows it). Without it a
   * join goes where a new session would, which is right only with one guacd.
   */
  guacd?: string;
  /** Connection parameters, camelCase or guacd names. */
  params: Record<string, string | number | boolean>;
  /** The browser may only watch: guacd's `read-only` is set and the tunnel drops input. */
  readOnly?: boolean;
  /** Who connects (history, guacd's `name`). */
  user?: string;
  /** Registry id of the connection (history). */
  connectionId?: string;
  /** Longest the session may last; the tunnel's `maxSessionMs` still applies if shorter. */
  maxDurationMs?: number;
  /** File transfer restrictions (connection and token); a read-only session transfers nothing anyway. */
  files?: FilePolicyInput;
  /** The credential the session was opened with (a token's `jti`): the per-token session cap counts under it. */
  tokenId?: string;
  /** Record the session (the tunnel's `recorder` writes it); absent: not recorded. */
  record?: RecordSpec;
}

/** Resolves a connect request; rejects with a GuacError to refuse it. */
export type Resolver = (request: TunnelRequest) => Promise<Target>;

/** Options of {@link tokenResolver}. */
export interface TokenResolverOptions {
  /** The secret tokens are sealed with (at least 16 bytes). */
  secret: string | Uint8Array;
  /** Query parameter carrying the token, default `token`. */
  param?: string;
  /**
   * Resolves tokens naming a registry `connection` instead of an inline
   * `target`. Without it such tokens are refused (`GUAC_TOKEN_NO_TARGET`).
   */
  resolveConnection?: (payload: TokenPayload, request: TunnelRequest) => Promise<Target>;
  /** Clock in unix seconds (tests). */
  now?: () => number;
}

/**
 * The built-in resolver: reads a sealed token (see `sealToken`) from the
 * query string and opens the inline target it carries.
 *
 * Refusals, all GuacErrors: `GUAC_TOKEN_MISSING`, `GUAC_TOKEN_INVALID` (also
 * for an audience other than `tunnel`) with status CLIENT_UNAUTHORIZED;
 * `GUAC_TOKEN_EXPIRED` with CLIENT_TIMEOUT; `GUAC_TOKEN_USED` (a `once`
 * token seen before by this process) with RESOURCE_CONFLICT;
 * `GUAC_TOKEN_NO_TARGET` and `GUAC_PROTOCOL_UNKNOWN` with CLIENT_BAD_REQUEST.
 */
export function tokenResolver(options: TokenResolverOptions): Resolver {
  const { secret } = options;
  const param = options.param ?? CONNECT_DATA.token;
  const now = options.now ?? (() => Date.now() / 1000);
  /** jti → exp of single-use tokens already spent. */
  const spent = new Map<string, number>();

  return async (request) => {
    const token = request.query.get(param);
    if (!token) throw TUNNEL.GUAC_TOKEN_MISSING();
    const t = now();
    const payload = openToken(token, secret, t);
    if (payload.aud !== undefined && payload.aud !== 'tunnel') throw TUNNEL.GUAC_TOKEN_INVALID();

    let target: Target;
    if (payload.target) {
      const { protocol, params, readOnly } = payload.target;
      if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
        throw GUACD.GUAC_PROTOCOL_UNKNOWN({ message: 'The access token names an unknown protocol.' });
      }
      target = { protocol: protocol as Protocol, params: { ...params } };
      if (payload.readOnly === true || readOnly === true) target.readOnly = true;
      if (payload.user !== undefined) target.user = payload.user;
      if (payload.connection !== undefined) target.connectionId = payload.connection;
      if (payload.target.record !== undefined) target.record = { ...payload.target.record };
    } else if (payload.connection !== undefined && options.resolveConnection) {
      target = await options.resolveConnection(payload, request);
      if (payload.readOnly === true) target = { ...target, readOnly: true };
    } else {
      throw TUNNEL.GUAC_TOKEN_NO_TARGET();
    }

    target.tokenId = payload.jti;
    const files = mergeFiles(target.files, payload);
    if (files) target.files = files;
    else delete target.files;
    request.claim?.({ tokenId: payload.jti, user: target.user });
    if (payload.once === true) {
      for (const [jti, exp] of spent) if (exp <= t) spent.delete(jti);
      if (spent.has(payload.jti)) throw TUNNEL.GUAC_TOKEN_USED();
      spent.set(payload.jti, payload.exp);
    }
    return target;
  };
}

/**
 * The target's transfer restrictions with the token's added (each
 * restriction of either applies, the smaller maximum); undefined when
 * neither restricts anything.
 */
export function mergeFiles(files: FilePolicyInput | undefined, p: Pick<TokenPayload, 'noUpload' | 'noDownload' | 'maxUploadBytes'>): FilePolicyInput | undefined {
  const max = [files?.maxUploadBytes, p.maxUploadBytes].filter((m): m is number => typeof m === 'number' && m > 0);
  const noUpload = files?.noUpload === true || p.noUpload === true;
  const noDownload = files?.noDownload === true || p.noDownload === true;
  if (!noUpload && !noDownload && max.length === 0) return undefined;
  return { noUpload, noDownload, maxUploadBytes: max.length > 0 ? Math.min(...max) : 0 };
}
