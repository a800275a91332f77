/**
 * Who may open what: grants, token minting, single-use tokens and
 * revocation. The rule (src/registry/README.md): a registry token opens a
 * connection only while its user holds a grant on it, their own or the
 * wildcard `*`; a read-only grant makes every session read-only. Minting
 * checks the same so no token is handed out that would be refused.
 */
import { randomUUID } from 'node:crypto';
import { GuacError } from '../protocol/errors.js';
import { REGISTRY } from './errors.js';
import type { Logger } from '../logger.js';
import { sealToken, TOKEN_SKEW_SECONDS } from '../tunnel/token.js';
import type { ConnectionStore } from './connections.js';
import { notFound } from './connections.js';
import { num, type Db, type Row } from './db.js';
import { WriteBatch } from './write-batch.js';
import type { Grant, MintedToken, MintOptions, RevokeTarget } from './types.js';
import { checkBool, checkTtl, checkUserName, isUuid } from './validate.js';
import { checkRules, tokenRules } from './file-rules.js';

const PRUNE_GRACE_MS = 10 * 60_000;
/** How far past its receipt a user or connection revocation reaches: the `iat` skew tokens are accepted with. */
const REVOKE_AHEAD_MS = TOKEN_SKEW_SECONDS * 1000;
/** Longest a mint right after a revocation waits for its token to become acceptable (the rest of a second, and some clock drift). */
const MAX_MINT_WAIT_MS = 2000;

function toGrant(r: Row): Grant {
  return { connectionId: String(r.connection_id), user: String(r.user_name), readOnly: num(r.read_only) !== 0, createdAt: num(r.created_at) };
}

/** Grants, tokens, revocations. */
export class AccessStore {
  private lastPrune = 0;
  /** Spent single-use token ids, written in batches (write-batch.ts). */
  private readonly spent: WriteBatch;

  constructor(
    private readonly db: Db,
    private readonly connections: ConnectionStore,
    private readonly secret: string | Uint8Array,
    private readonly log: Logger,
  ) {
    this.spent = new WriteBatch(db, 'INSERT INTO used_tokens (jti, used_at, expires_at) VALUES (?, ?, ?) ON CONFLICT (jti) DO NOTHING');
  }

  /** Writes the spent token ids queued so far. */
  flush(): Promise<void> {
    return this.spent.flush();
  }

  async grant(connection: string, user: string, opts: { readOnly?: boolean } = {}): Promise<Grant> {
    const name = checkUserName(user, true);
    const readOnly = checkBool('readOnly', opts.readOnly);
    const row = await this.connections.require(connection);
    const now = Date.now();
    await this.db.run(
      'INSERT INTO grants (connection_id, user_name, read_only, created_at) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT (connection_id, user_name) DO UPDATE SET read_only = excluded.read_only',
      [row.id, name, readOnly ? 1 : 0, now],
    );
    this.log.info({ connectionId: row.id, user: name, readOnly }, 'registry: grant set');
    const stored = await this.db.get('SELECT * FROM grants WHERE connection_id = ? AND user_name = ?', [row.id, name]);
    return toGrant(stored!);
  }

  /** Removes a grant; returns the connection's id, or undefined when there was no such grant. */
  async ungrant(connection: string, user: string): Promise<string | undefined> {
    const row = await this.connections.require(connection);
    const n = await this.db.run('DELETE FROM grants WHERE connection_id = ? AND user_name = ?', [row.id, checkUserName(user, true)]);
    if (n) this.log.info({ connectionId: row.id, user }, 'registry: grant removed');
    return n > 0 ? row.id : undefined;
  }

  async listGrants(connection?: string): Promise<Grant[]> {
    if (connection === undefined) return (await this.db.all('SELECT * FROM grants ORDER BY connection_id, user_name')).map(toGrant);
    const row = await this.connections.require(connection);
    return (await this.db.all('SELECT * FROM grants WHERE connection_id = ? ORDER BY user_name', [row.id])).map(toGrant);
  }

  async findGrant(connectionId: string, user: string | undefined): Promise<Grant | undefined> {
    const row = await this.db.get(
      "SELECT * FROM grants WHERE connection_id = ? AND (user_name = ? OR user_name = '*') ORDER BY CASE WHEN user_name = '*' THEN 1 ELSE 0 END LIMIT 1",
      [connectionId, user === undefined || user === '*' ? null : user],
    );
    return row ? toGrant(row) : undefined;
  }

  async mint(opts: MintOptions): Promise<MintedToken> {
    const o = (opts ?? {}) as unknown as Record<string, unknown>;
    if (typeof o.connection !== 'string' || o.connection === '') {
      throw REGISTRY.GUAC_REQUEST_INVALID({ message: '"connection" (a connection name or id) is required.' });
    }
    const user = checkUserName(o.user);
    const ttl = checkTtl(o.ttlSeconds);
    let readOnly = checkBool('readOnly', o.readOnly);
    const once = checkBool('once', o.once);
    const share = checkBool('share', o.share);
    // The token may only restrict transfers further than its connection does (checkRules validates).
    const files = checkRules({
      ...(o.noUpload === undefined ? {} : { noUpload: o.noUpload }),
      ...(o.noDownload === undefined ? {} : { noDownload: o.noDownload }),
      ...(o.maxUploadBytes === undefined ? {} : { maxUploadBytes: o.maxUploadBytes }),
    });
    const conn = await this.connections.require(o.connection);
    const grant = await this.findGrant(conn.id, user);
    if (!grant) {
      throw REGISTRY.GUAC_GRANT_MISSING({ message: `User ${JSON.stringify(user)} has no grant on connection ${JSON.stringify(conn.name)}; grant access first.` });
    }
    readOnly ||= grant.readOnly;
    const iat = await this.issueTime(conn.id, user);
    // The lifetime counts from now, not from an `iat` pushed past a revocation (exp must still follow iat).
    const exp = Math.max(Math.floor(Date.now() / 1000) + ttl, iat + 1);
    const jti = randomUUID();
    const token = sealToken({ v: 1, iat, exp, jti, connection: conn.id, user, readOnly, once, ...(share ? { share } : {}), ...tokenRules(files) }, this.secret);
    this.log.info({ connectionId: conn.id, user, readOnly, once, ttl, jti }, 'registry: token minted');
    return { token, jti, connectionId: conn.id, expiresAt: exp * 1000 };
  }

  /**
   * The `iat` of a token minted now: past every revocation of its user or
   * connection, which reach {@link REVOKE_AHEAD_MS} beyond their receipt
   * (see {@link revoke}). Such an `iat` lies up to the tolerated skew ahead,
   * which `openToken` accepts from the next whole second after the
   * revocation on: a mint within that second waits for it (under 1 s), so
   * the token it returns works at once.
   * @throws GuacError `GUAC_REVOCATION_AHEAD` when the cutoff lies further
   *   ahead than that (the clock of the process that revoked runs ahead of
   *   this one's): any token minted now would be refused
   */
  private async issueTime(connectionId: string, user: string): Promise<number> {
    const row = await this.db.get(
      "SELECT MAX(before_ms) AS cutoff FROM revocations WHERE (kind = 'user' AND subject = ?) OR (kind = 'connection' AND subject = ?)",
      [user, connectionId],
    );
    const cutoff = row?.cutoff === null || row?.cutoff === undefined ? undefined : num(row.cutoff);
    const iat = Math.max(Math.floor(Date.now() / 1000), cutoff === undefined ? 0 : Math.floor(cutoff / 1000) + 1);
    const early = iat * 1000 - REVOKE_AHEAD_MS - Date.now();
    if (early > MAX_MINT_WAIT_MS) {
      throw REGISTRY.GUAC_REVOCATION_AHEAD({ message: `Tokens of this user or connection are revoked until ${Math.ceil(early / 1000)} s from now, by this gateway's clock ` +
        '(the clock of the gateway that revoked them runs ahead); mint again then, or correct the clocks.' });
    }
    // Until openToken accepts it (timers may fire a little early, hence the loop).
    while (Date.now() < iat * 1000 - REVOKE_AHEAD_MS) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, iat * 1000 - REVOKE_AHEAD_MS - Date.now())));
    }
    return iat;
  }

  async consume(jti: string, expiresAt: number): Promise<boolean> {
    const now = Date.now();
    if (now - this.lastPrune > 3_600_000) {
      this.lastPrune = now;
      await this.prune(now);
    }
    // Batched with the other sessions' of this turn; the primary key still lets exactly one insert of a jti through.
    return (await this.spent.run([jti, now, expiresAt])) === 1;
  }

  /** Stores a revocation; returns what it applies to (a connection by id). */
  async revoke(target: RevokeTarget): Promise<{ kind: 'jti' | 'user' | 'connection'; subject: string }> {
    const t = (target ?? {}) as Record<string, unknown>;
    const now = Date.now();
    if (typeof t.jti === 'string' && t.jti !== '') {
      const exp = typeof t.expiresAt === 'number' && Number.isFinite(t.expiresAt) ? Math.trunc(t.expiresAt) : null;
      await this.db.run(
        'INSERT INTO revoked_tokens (jti, revoked_at, expires_at) VALUES (?, ?, ?) ON CONFLICT (jti) DO UPDATE SET revoked_at = excluded.revoked_at',
        [t.jti, now, exp],
      );
      this.log.info({ jti: t.jti }, 'registry: token revoked');
      return { kind: 'jti', subject: t.jti };
    }
    let kind: 'user' | 'connection';
    let subject: string;
    if (typeof t.user === 'string') {
      kind = 'user';
      subject = checkUserName(t.user);
    } else if (typeof t.connection === 'string' && t.connection !== '') {
      kind = 'connection';
      const row = await this.connections.require(t.connection).catch((err: unknown) => {
        // A removed connection's id can still be revoked; a name must exist.
        if (isUuid(t.connection as string)) return { id: (t.connection as string).toLowerCase() };
        throw err instanceof GuacError ? err : notFound(t.connection as string);
      });
      subject = row.id;
    } else {
      throw REGISTRY.GUAC_REQUEST_INVALID({ message: 'Revoke what? Give "jti", "user" or "connection".' });
    }
    // Every token issued before now, whatever its `iat` says: a back end whose clock
    // runs ahead issues tokens up to the tolerated skew "in the future" (openToken
    // accepts them), so the cutoff reaches that far. A later cutoff is never moved back.
    await this.db.run(
      'INSERT INTO revocations (kind, subject, before_ms) VALUES (?, ?, ?) ' +
        'ON CONFLICT (kind, subject) DO UPDATE SET before_ms = CASE WHEN excluded.before_ms > revocations.before_ms THEN excluded.before_ms ELSE revocations.before_ms END',
      [kind, subject, now + REVOKE_AHEAD_MS],
    );
    this.log.info({ kind, subject }, 'registry: tokens revoked');
    return { kind, subject };
  }

  async isRevoked(tok: { jti: string; issuedAt: number; user?: string | undefined; connection?: string | undefined }): Promise<boolean> {
    const row = await this.db.get(
      'SELECT 1 AS hit FROM revoked_tokens WHERE jti = ? ' +
        "UNION ALL SELECT 1 FROM revocations WHERE kind = 'user' AND subject = ? AND before_ms >= ? " +
        "UNION ALL SELECT 1 FROM revocations WHERE kind = 'connection' AND subject = ? AND before_ms >= ?",
      [tok.jti, tok.user ?? null, tok.issuedAt, tok.connection ?? null, tok.issuedAt],
    );
    return row !== undefined;
  }

  /**
   * True when the token (by jti), user or connection was revoked at or after
   * `sinceMs` (a user or connection revocation's receipt is its cutoff less
   * the skew it reaches ahead).
   */
  async revokedSince(s: { jti?: string | undefined; user?: string | undefined; connection?: string | undefined }, sinceMs: number): Promise<boolean> {
    const row = await this.db.get(
      "SELECT 1 AS hit FROM revocations WHERE ((kind = 'user' AND subject = ?) OR (kind = 'connection' AND subject = ?)) AND before_ms >= ? " +
        'UNION ALL SELECT 1 FROM revoked_tokens WHERE jti = ? AND revoked_at >= ?',
      [s.user ?? null, s.connection ?? null, sinceMs + REVOKE_AHEAD_MS, s.jti ?? null, sinceMs],
    );
    return row !== undefined;
  }

  async prune(now = Date.now()): Promise<number> {
    // A grace period covers clocks that differ between gateways: openToken on a slow clock still accepts the token.
    const before = now - PRUNE_GRACE_MS;
    const a = await this.db.run('DELETE FROM used_tokens WHERE expires_at < ?', [before]);
    const b = await this.db.run('DELETE FROM revoked_tokens WHERE expires_at IS NOT NULL AND expires_at < ?', [before]);
    return a + b;
  }
}
