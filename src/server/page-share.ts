/**
 * `POST /share`: the page's Share control. The page proves it holds the
 * session with the credential it opened it with, its own token, and names
 * the session by its tunnel UUID: the UUID alone (which the page's own
 * scripts, logs or a proxy may see) is never enough. The token must carry
 * the `share` claim (`token --share`, `mintToken({ share: true })`), be
 * neither expired nor revoked, and be the token that session was opened
 * with (its history row's token id); then the registry's rule applies (a
 * read-only session hands out watching only).
 *
 * Body `{token, session, readOnly?, ttl?, once?}` → 201 `{id, url, token,
 * readOnly, once, expiresAt}`; `{token, session, check: true}` → 200
 * `{share: true}` without making a link (the page asks this to decide
 * whether to show the control). Refusals are `{"error": {code, message,
 * status}}`, one message for every reason a token may not share this
 * session, so the answer tells nothing about other people's sessions.
 * Each token makes at most {@link SHARE_LINKS_PER_MINUTE} links (every link
 * is a registry row; a looping page must not fill the database); checks are
 * not counted.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GuacError, isGuacError } from '../protocol/errors.js';
import { REGISTRY } from '../registry/errors.js';
import { SERVER } from './errors.js';
import type { Registry } from '../registry/types.js';
import { openToken } from '../tunnel/token.js';
import { readJsonBody, sendJson, type JsonObject } from './json-http.js';
import { shareAnswer } from './share-link.js';
import { RateBuckets } from '../tunnel/rate-buckets.js';

/** Path of the page's share endpoint. */
export const SHARE_PATH = '/share';

/** Share links one token may make per minute (a bucket of this many, refilled evenly). */
export const SHARE_LINKS_PER_MINUTE = 10;

/** Bodies are small: a token and a few fields. */
const BODY_LIMIT = 32 * 1024;

const notAllowed = (): GuacError =>
  SERVER.GUAC_SHARE_NOT_ALLOWED();

const bad = (message: string): GuacError => REGISTRY.GUAC_REQUEST_INVALID({ message: message });

/** Builds the handler; it answers every method on {@link SHARE_PATH}. */
export function pageShareHandler(registry: Registry, secret: string): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const links = new RateBuckets(SHARE_LINKS_PER_MINUTE, 60_000);
  return async (req, res) => {
    try {
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        throw Object.assign(SERVER.GUAC_METHOD_NOT_ALLOWED({ message: 'Method not allowed here; use POST.' }), { http: 405 });
      }
      const body = await readJsonBody(req, BODY_LIMIT);
      for (const k of Object.keys(body)) {
        if (!['token', 'session', 'readOnly', 'ttl', 'once', 'check'].includes(k)) throw bad(`Unknown field ${JSON.stringify(k)}.`);
      }
      const { user: creator, jti } = await holder(registry, secret, body);
      if (body.check === true) {
        sendJson(res, 200, { share: true });
        return;
      }
      if (!links.take(jti)) throw SERVER.GUAC_SHARE_RATE();
      const share = await registry.createShare({
        session: body.session as string,
        readOnly: body.readOnly as boolean | undefined,
        ttlSeconds: body.ttl as number | undefined,
        once: body.once as boolean | undefined,
        ...(creator === undefined ? {} : { creator }),
      });
      sendJson(res, 201, shareAnswer(share));
    } catch (err) {
      const e = isGuacError(err) ? err : REGISTRY.GUAC_REGISTRY_UNAVAILABLE({ message: 'The connection registry is unavailable; try again later.', cause: err });
      const status = (e as { http?: number }).http ?? e.status.http;
      if (status === 413) res.setHeader('Connection', 'close');
      sendJson(res, status, { error: { code: e.code, message: e.message, status } });
    }
  };
}

/**
 * Checks that `body.token` may share `body.session`; returns the token's user and id.
 * @throws GuacError `GUAC_SHARE_NOT_ALLOWED` (CLIENT_FORBIDDEN), `GUAC_TOKEN_INVALID`, `GUAC_TOKEN_EXPIRED`, `GUAC_REQUEST_INVALID`
 */
async function holder(registry: Registry, secret: string, body: JsonObject): Promise<{ user: string | undefined; jti: string }> {
  if (typeof body.token !== 'string' || body.token === '') throw bad('"token" (the page\'s access token) is required.');
  if (typeof body.session !== 'string' || body.session === '' || body.session.length > 200) throw bad('"session" (the tunnel UUID) is required.');
  const p = openToken(body.token, secret);
  if ((p.aud !== undefined && p.aud !== 'tunnel') || p.share !== true) throw notAllowed();
  if (await registry.isRevoked({ jti: p.jti, issuedAt: p.iat * 1000, user: p.user, connection: p.connection })) throw notAllowed();
  const session = await registry.getSession(body.session);
  if (!session || session.tokenId !== p.jti) throw notAllowed();
  return { user: p.user, jti: p.jti };
}
