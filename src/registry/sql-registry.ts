/**
 * The one {@link Registry} implementation, over either driver: the stores do
 * the work, this class wires them, checks the gateway secret against the
 * database and carries session-end requests between gateways.
 */
import { randomUUID } from 'node:crypto';
import { REGISTRY } from './errors.js';
import { STATUS, statusFromCode, type StatusInfo } from '../protocol/status.js';
import { silentLogger, type Logger } from '../logger.js';
import { AccessStore } from './access.js';
import { ConnectionStore } from './connections.js';
import { num, type Db } from './db.js';
import { HistoryStore } from './history.js';
import { TransferStore, type TransferEntry, type TransferInput, type TransferQuery } from './transfers.js';
import type { PgDb } from './postgres.js';
import { migrate } from './schema.js';
import { SecretBox } from './secret-box.js';
import { SHARE_REVOKED, ShareStore } from './shares.js';
import { RecordingStore } from './recordings.js';
import type {
  Connection,
  ConnectionInput,
  ConnectionPatch,
  CreatedShare,
  Grant,
  MintedToken,
  MintOptions,
  Registry,
  ResolvedConnection,
  RevokeTarget,
  SessionEnd,
  SessionQuery,
  HistoryEntry,
  SessionStart,
  Share,
  ShareOptions,
} from './types.js';
import { ACCESS_REVOKED } from './types.js';

/** NOTIFY channel of session-end requests. */
const END_CHANNEL = 'guacamole_gateway_session_end';

type EndHandler = (sessionId: string, status: StatusInfo, message?: string) => void;

/** Longest message carried with a session-end request (it goes to the browser). */
const MAX_END_MESSAGE = 200;

const endMessage = (m: unknown): string | undefined => (typeof m === 'string' && m !== '' ? m.slice(0, MAX_END_MESSAGE) : undefined);

/** How often a gateway on SQLite looks for requests to end its sessions (a cheap local query). */
export const END_POLL_MS = 1000;

/** How often a gateway that records sessions says it is alive. */
export const HEARTBEAT_MS = 30_000;
/** Silence after which a gateway's open sessions count as orphans. */
export const ORPHAN_AFTER_MS = 3 * HEARTBEAT_MS;

/** A registry over an opened, migrated database. */
export class SqlRegistry implements Registry {
  readonly kind: 'sqlite' | 'postgres';
  readonly gatewayId: string;
  private readonly conns: ConnectionStore;
  private readonly access: AccessStore;
  private readonly history: HistoryStore;
  private readonly shares: ShareStore;
  readonly recordings: RecordingStore;
  private readonly transfers: TransferStore;
  private readonly localHandlers = new Set<EndHandler>();
  private beating: Promise<void> | undefined;
  private endPoll: NodeJS.Timeout | undefined;
  private polling = false;
  private beatTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly db: Db,
    secret: string | Uint8Array,
    box: SecretBox,
    readonly logger: Logger,
    gatewayId: string,
  ) {
    this.kind = db.dialect;
    this.gatewayId = gatewayId;
    this.conns = new ConnectionStore(db, box, logger);
    this.access = new AccessStore(db, this.conns, secret, logger);
    this.history = new HistoryStore(db, this.gatewayId);
    this.shares = new ShareStore(db, secret, (id) => this.history.get(id));
    this.recordings = new RecordingStore(db);
    this.transfers = new TransferStore(db);
  }

  /**
   * Migrates `db`, checks the secret and returns the registry. Closes `db` on failure.
   * @throws GuacError `GUAC_REGISTRY_KEY_MISMATCH` when the database was created with another gateway secret
   */
  static async open(db: Db, secret: string | Uint8Array, logger: Logger = silentLogger, gatewayId: string = randomUUID()): Promise<SqlRegistry> {
    try {
      const box = new SecretBox(secret);
      const applied = await migrate(db);
      if (applied.length) logger.info({ kind: db.dialect, versions: applied }, 'registry: schema migrated');
      await db.run('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING', ['key_fingerprint', box.fingerprint]);
      const row = await db.get('SELECT value FROM meta WHERE key = ?', ['key_fingerprint']);
      if (row?.value !== box.fingerprint) {
        throw REGISTRY.GUAC_REGISTRY_KEY_MISMATCH();
      }
      const reg = new SqlRegistry(db, secret, box, logger, gatewayId);
      await reg.access.prune();
      return reg;
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
  }

  createConnection(input: ConnectionInput): Promise<Connection> {
    return this.conns.create(input);
  }
  listConnections(): Promise<Connection[]> {
    return this.conns.list();
  }
  getConnection(idOrName: string): Promise<Connection | undefined> {
    return this.conns.get(idOrName);
  }
  updateConnection(idOrName: string, patch: ConnectionPatch): Promise<Connection> {
    return this.conns.update(idOrName, patch);
  }
  async removeConnection(idOrName: string): Promise<void> {
    const id = await this.conns.remove(idOrName);
    await this.endRevoked(await this.history.active({ connectionId: id }));
  }
  resolveParams(idOrName: string): Promise<ResolvedConnection> {
    return this.conns.resolve(idOrName);
  }

  grant(connection: string, user: string, opts?: { readOnly?: boolean }): Promise<Grant> {
    return this.access.grant(connection, user, opts);
  }
  async ungrant(connection: string, user: string): Promise<boolean> {
    const id = await this.access.ungrant(connection, user);
    if (id === undefined) return false;
    // Their sessions on it end, unless another grant (their own or `*`) still lets them in.
    const sessions = await this.history.active({ connectionId: id, ...(user === '*' ? {} : { user }) });
    const allowed = new Map<string | null, boolean>();
    const cut: string[] = [];
    for (const s of sessions) {
      if (!allowed.has(s.user)) allowed.set(s.user, (await this.access.findGrant(id, s.user ?? undefined)) !== undefined);
      if (!allowed.get(s.user)) cut.push(s.id);
    }
    await this.endRevoked(cut.map((sid) => ({ id: sid })));
    return true;
  }
  listGrants(connection?: string): Promise<Grant[]> {
    return this.access.listGrants(connection);
  }
  findGrant(connectionId: string, user: string | undefined): Promise<Grant | undefined> {
    return this.access.findGrant(connectionId, user);
  }
  mintToken(opts: MintOptions): Promise<MintedToken> {
    return this.access.mint(opts);
  }
  consumeToken(jti: string, expiresAt: number): Promise<boolean> {
    return this.access.consume(jti, expiresAt);
  }
  async revoke(target: RevokeTarget): Promise<void> {
    const { kind, subject } = await this.access.revoke(target);
    await this.endRevoked(await this.history.active(kind === 'jti' ? { tokenId: subject } : kind === 'user' ? { user: subject } : { connectionId: subject }));
  }

  /**
   * Asks whichever gateways host these live sessions to end them with
   * {@link ACCESS_REVOKED}: a revocation, a withdrawn grant or a removed
   * connection cuts the sessions it opened, not just future ones.
   */
  private async endRevoked(sessions: readonly { id: string }[]): Promise<void> {
    for (const s of sessions) await this.requestSessionEnd(s.id, ACCESS_REVOKED.status, ACCESS_REVOKED.message);
    if (sessions.length > 0) this.logger.info({ sessions: sessions.length }, 'registry: asked to end sessions whose access was revoked');
  }
  isRevoked(token: { jti: string; issuedAt: number; user?: string | undefined; connection?: string | undefined }): Promise<boolean> {
    return this.access.isRevoked(token);
  }
  async accessWithdrawn(s: { user?: string | undefined; connectionId?: string | undefined; tokenId?: string | undefined; startedAt: number }): Promise<boolean> {
    if (await this.access.revokedSince({ jti: s.tokenId, user: s.user, connection: s.connectionId }, s.startedAt)) return true;
    if (s.connectionId === undefined) return false;
    // A connection that is not (or no longer) in the registry: a label, or removed; only a grant withdrawn counts here.
    if (!(await this.conns.get(s.connectionId))) return false;
    return (await this.access.findGrant(s.connectionId, s.user)) === undefined;
  }
  pruneTokens(now?: number): Promise<number> {
    return this.access.prune(now);
  }

  createShare(opts: ShareOptions): Promise<CreatedShare> {
    return this.shares.create(opts);
  }
  getShare(id: string): Promise<Share | undefined> {
    return this.shares.get(id);
  }
  listShares(session: string): Promise<Share[]> {
    return this.shares.list(session);
  }
  async revokeShare(id: string): Promise<boolean> {
    const share = await this.shares.revoke(id);
    if (!share) return false;
    // Also by jti: a join still connecting now finds it in accessWithdrawn once its history row exists.
    await this.access.revoke({ jti: share.id, expiresAt: share.expiresAt });
    for (const s of await this.history.active({ tokenId: share.id })) await this.requestSessionEnd(s.id, SHARE_REVOKED.status, SHARE_REVOKED.message);
    return true;
  }

  async sessionStarted(s: SessionStart): Promise<void> {
    // Beat before the first row: another gateway's sweep must never see a
    // live session of a gateway it has not heard of.
    await this.startHeartbeat();
    return this.history.started(s);
  }

  /**
   * Starts this gateway's heartbeat (first beat awaited, then every
   * {@link HEARTBEAT_MS}, unref'd). Idempotent; `close()` stops it.
   */
  startHeartbeat(): Promise<void> {
    this.beating ??= this.history.heartbeat().then(() => {
      if (this.closed) return;
      this.beatTimer = setInterval(() => {
        this.history.heartbeat().catch((err: unknown) => this.logger.warn({ error: err }, 'registry: heartbeat failed'));
      }, HEARTBEAT_MS);
      this.beatTimer.unref();
    }, (err: unknown) => {
      this.beating = undefined; // try again at the next session
      throw err;
    });
    return this.beating;
  }

  endOrphanedSessions(opts: { staleMs?: number; now?: number; gateway?: string } = {}): Promise<number> {
    if (opts.gateway !== undefined) return this.history.endGatewaySessions(opts.gateway, STATUS.SERVER_ERROR.guac, opts.now);
    return this.history.endOrphans(opts.staleMs ?? ORPHAN_AFTER_MS, STATUS.SERVER_ERROR.guac, opts.now);
  }
  sessionEnded(s: SessionEnd): Promise<void> {
    return this.history.ended(s);
  }
  listSessions(q?: SessionQuery): Promise<HistoryEntry[]> {
    return this.history.list(q);
  }
  getSession(id: string): Promise<HistoryEntry | undefined> {
    return this.history.get(id);
  }
  transferRecorded(t: TransferInput): Promise<TransferEntry> {
    return this.transfers.record(t);
  }
  listTransfers(q?: TransferQuery): Promise<TransferEntry[]> {
    return this.transfers.list(q);
  }

  async requestSessionEnd(sessionId: string, status: StatusInfo, message?: string): Promise<void> {
    const text = endMessage(message);
    if (this.db.dialect === 'postgres') {
      await (this.db as PgDb).notify(END_CHANNEL, JSON.stringify({ id: sessionId, status: status.guac, ...(text ? { message: text } : {}) }));
      return;
    }
    if (this.localHandlers.size > 0) {
      // Several processes may serve on one file (--workers): straight to this one's handlers only what it
      // recorded itself (or nobody did); another's session is asked for through the table it polls.
      const row = await this.db.get('SELECT gateway FROM sessions WHERE id = ?', [sessionId]);
      if (!row || row.gateway === null || row.gateway === this.gatewayId) {
        for (const h of this.localHandlers) h(sessionId, status, text);
        return;
      }
    }
    // Another process (the CLI, another worker): leave the request for the gateway's poll.
    await this.db.run(
      'INSERT INTO session_end_requests (session_id, status, requested_at, message) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT (session_id) DO UPDATE SET status = excluded.status, requested_at = excluded.requested_at, message = excluded.message',
      [sessionId, status.guac, Date.now(), text ?? null],
    );
  }

  /** SQLite: hands the rows other processes left to the local handlers, and deletes them. */
  private async pollEndRequests(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      await this.takeEndRequests();
    } finally {
      this.polling = false;
    }
  }

  private async takeEndRequests(): Promise<void> {
    // Several processes (--workers) poll one file: each takes the requests for the sessions it recorded
    // (and those of sessions not recorded at all), leaving the others' to them.
    const rows = await this.db.all(
      'SELECT r.session_id, r.status, r.message FROM session_end_requests r LEFT JOIN sessions s ON s.id = r.session_id ' +
        'WHERE s.id IS NULL OR s.gateway = ? OR s.ended_at IS NOT NULL',
      [this.gatewayId],
    );
    for (const r of rows) {
      const id = String(r.session_id);
      await this.db.run('DELETE FROM session_end_requests WHERE session_id = ?', [id]);
      for (const h of this.localHandlers) h(id, statusFromCode(num(r.status)), endMessage(r.message));
    }
  }

  async onSessionEndRequest(handler: EndHandler): Promise<() => void> {
    if (this.db.dialect === 'postgres') {
      return (this.db as PgDb).listen(END_CHANNEL, (payload) => {
        let msg: { id?: unknown; status?: unknown; message?: unknown };
        try {
          msg = JSON.parse(payload) as typeof msg;
        } catch {
          return;
        }
        if (typeof msg.id === 'string' && typeof msg.status === 'number') handler(msg.id, statusFromCode(msg.status), endMessage(msg.message));
      });
    }
    this.localHandlers.add(handler);
    this.endPoll ??= setInterval(() => {
      this.pollEndRequests().catch((err: unknown) => this.logger.warn({ error: err }, 'registry: reading session end requests failed'));
    }, END_POLL_MS);
    this.endPoll.unref();
    return () => {
      this.localHandlers.delete(handler);
      if (this.localHandlers.size === 0) this.stopEndPoll();
    };
  }

  private stopEndPoll(): void {
    clearInterval(this.endPoll);
    this.endPoll = undefined;
  }

  close(): Promise<void> {
    this.closed = true;
    clearInterval(this.beatTimer);
    this.localHandlers.clear();
    this.stopEndPoll();
    // Session rows still queued are written before the database goes.
    return Promise.all([this.history.flush(), this.access.flush()]).then(() => this.db.close(), () => this.db.close());
  }
}
