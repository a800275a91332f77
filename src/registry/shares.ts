/**
 * Share links: a signed token (audience `share`) bound to one live session,
 * and its row here, which is what makes it count. A join through one asks
 * guacd to join the session's live connection (`$id`), never to log in to
 * the target again. The rule: a share never gives more than the session it
 * joins (a read-only session hands out only read-only links), and it works
 * only while its row says so (not revoked), its token has not expired, and
 * the session is still open in history.
 */
import { randomUUID } from 'node:crypto';
import { GuacError } from '../protocol/errors.js';
import { REGISTRY } from './errors.js';
import { STATUS } from '../protocol/status.js';
import { sealToken, type TokenPayload } from '../tunnel/token.js';
import type { Target, TunnelRequest } from '../tunnel/resolver.js';
import { num, numOrNull, strOrNull, type Db, type Row } from './db.js';
import type { CreatedShare, HistoryEntry, Registry, Share, ShareOptions } from './types.js';
import { checkBool, checkTtl, checkUserName } from './validate.js';

/** The token audience of share links: the ordinary resolver refuses it, the share resolver wants it. */
export const SHARE_AUDIENCE = 'share';

/**
 * How the sessions that joined through share links end when the owner's
 * session ends: guacd (1.3 to 1.6) would keep them going, but a link lends
 * the owner's access, which has just ended.
 */
export const OWNER_LEFT = Object.freeze({ status: STATUS.RESOURCE_CLOSED, message: 'The owner left the shared session.' });

/** How sessions opened through a revoked share end: the browser and history both get it. */
export const SHARE_REVOKED = Object.freeze({ status: STATUS.CLIENT_FORBIDDEN, message: 'The share link was revoked.' });

function toShare(r: Row): Share {
  return {
    id: String(r.id),
    sessionId: String(r.session_id),
    creator: strOrNull(r.creator),
    readOnly: num(r.read_only) !== 0,
    once: num(r.once) !== 0,
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

const sessionNotFound = (id: string): GuacError =>
  REGISTRY.GUAC_SESSION_NOT_FOUND({ message: `No session has the id ${JSON.stringify(id)}.` });

/** The `shares` table. */
export class ShareStore {
  constructor(
    private readonly db: Db,
    private readonly secret: string | Uint8Array,
    private readonly session: (id: string) => Promise<HistoryEntry | undefined>,
  ) {}

  async create(opts: ShareOptions): Promise<CreatedShare> {
    const o = (opts ?? {}) as unknown as Record<string, unknown>;
    if (typeof o.session !== 'string' || o.session === '' || o.session.length > 200) {
      throw REGISTRY.GUAC_REQUEST_INVALID({ message: '"session" (a session id) is required.' });
    }
    const creator = o.creator === undefined ? null : checkUserName(o.creator);
    const readOnly = checkBool('readOnly', o.readOnly);
    const once = checkBool('once', o.once);
    const ttl = checkTtl(o.ttlSeconds);
    const from = await this.session(o.session);
    if (!from) throw sessionNotFound(o.session);
    // A participant's link joins the owner's session; its own rights still bound what it hands out.
    const root = from.joinedSession === null ? from : await this.session(from.joinedSession);
    if (!root || root.endedAt !== null || from.endedAt !== null) {
      throw REGISTRY.GUAC_SESSION_ENDED();
    }
    if (root.guacdId === null) throw REGISTRY.GUAC_SHARE_NOT_READY();
    if (!readOnly && (from.readOnly === true || root.readOnly === true)) {
      throw REGISTRY.GUAC_SHARE_FORBIDDEN();
    }
    const id = randomUUID();
    const now = Date.now();
    const exp = Math.floor(now / 1000) + ttl;
    const token = sealToken({ aud: SHARE_AUDIENCE, exp, jti: id, session: root.id, readOnly, once }, this.secret);
    await this.db.run(
      'INSERT INTO shares (id, session_id, creator, read_only, once, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)',
      [id, root.id, creator, readOnly ? 1 : 0, once ? 1 : 0, now, exp * 1000],
    );
    return { id, sessionId: root.id, creator, readOnly, once, createdAt: now, expiresAt: exp * 1000, revokedAt: null, token };
  }

  async get(id: string): Promise<Share | undefined> {
    const row = await this.db.get('SELECT * FROM shares WHERE id = ?', [id]);
    return row ? toShare(row) : undefined;
  }

  async list(session: string): Promise<Share[]> {
    const from = await this.session(session);
    if (!from) throw sessionNotFound(session);
    const rows = await this.db.all('SELECT * FROM shares WHERE session_id = ? ORDER BY created_at DESC, id', [from.joinedSession ?? from.id]);
    return rows.map(toShare);
  }

  /** Marks a share revoked; returns it, or undefined when there is none. */
  async revoke(id: string): Promise<Share | undefined> {
    if (typeof id !== 'string' || id === '' || id.length > 200) return undefined;
    await this.db.run('UPDATE shares SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [Date.now(), id]);
    return this.get(id);
  }
}

/** Codes of refused share joins (documented in docs/sharing.md and errors.md through REGISTRY_ERRORS). */
const refused = {
  unknown: () => REGISTRY.GUAC_SHARE_NOT_FOUND(),
  revoked: () => REGISTRY.GUAC_SHARE_REVOKED(),
  ended: () => REGISTRY.GUAC_SHARE_SESSION_ENDED(),
  used: () => REGISTRY.GUAC_SHARE_USED(),
};

/** Longest display name a joiner may give (`name` in the connect data). */
const MAX_NAME = 64;

/**
 * Marks a joiner's self-declared name: it is no identity, so it must never
 * pass for a registry user's (history, per-user session caps, notices).
 */
const GUEST_SUFFIX = ' (guest)';

/**
 * The target of an opened share token (audience `share`, signature and
 * expiry already checked by `openToken`): the owner's live guacd connection,
 * read-only as the share says. The joiner's `name` in the connect data, if
 * any, is who the history and the join notices name, marked ` (guest)`: anyone
 * holding the link may type any name.
 */
export async function resolveShare(registry: Registry, p: TokenPayload, req: TunnelRequest): Promise<Target> {
  const share = await registry.getShare(p.jti);
  if (!share || share.sessionId !== p.session) throw refused.unknown();
  if (share.revokedAt !== null) throw refused.revoked();
  const session = await registry.getSession(share.sessionId);
  if (!session || session.endedAt !== null || session.guacdId === null) throw refused.ended();
  const name = req.query.get('name');
  const given = name !== null && name.length <= MAX_NAME && !/[\p{Cc}]/u.test(name) ? name.trim() : '';
  const user = given === '' ? undefined : given + GUEST_SUFFIX;
  req.claim?.({ tokenId: share.id, user });
  if (share.once && !(await registry.consumeToken(share.id, share.expiresAt))) throw refused.used();
  const target: Target = { join: session.guacdId, params: {}, readOnly: share.readOnly || p.readOnly === true, tokenId: share.id };
  if (user !== undefined) target.user = user;
  // The live-session directory: the join must reach the guacd holding the connection, whichever gateway opened it.
  if (session.guacd !== null) target.guacd = session.guacd;
  return target;
}
