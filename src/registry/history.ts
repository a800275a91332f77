/**
 * Session history: one row per tunnel session, written at start and
 * completed at end (or written whole at end if the start was missed). The
 * row keeps the connection's name and protocol of the day, so history
 * outlives renames and removals.
 *
 * Starts and ends are written in batches (write-batch.ts). A caller's
 * promise resolves once its row is committed, so whoever awaits it (the
 * re-check of access after a session start, a closing gateway) still finds
 * it written.
 */
import { num, numOrNull, strOrNull, type Db, type Row, type SqlValue } from './db.js';
import type { SessionEnd, SessionQuery, HistoryEntry, SessionStart } from './types.js';
import { REGISTRY } from './errors.js';
import { WriteBatch } from './write-batch.js';

const MAX_LIMIT = 1000;
/**
 * How long a history row waits for others to share its commit. No session
 * waits on it to open (the start hook runs beside the relay), and sessions
 * of a burst arrive over many turns of the event loop: at 0 a burst still
 * made about one commit per session.
 */
const HISTORY_BATCH_MS = 10;

/** A session's end message is kept to this many characters (guacd's own error texts are short). */
const MAX_MESSAGE = 500;

function ms(v: number | Date | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  return typeof v === 'number' ? Math.trunc(v) : v.getTime();
}

function text(v: string | undefined): string | null {
  return v === undefined || v === '' ? null : v;
}

function toRecord(r: Row): HistoryEntry {
  return {
    id: String(r.id),
    user: strOrNull(r.user_name),
    connectionId: strOrNull(r.connection_id),
    connectionName: strOrNull(r.connection_name),
    protocol: strOrNull(r.protocol),
    guacdId: strOrNull(r.guacd_id),
    guacd: strOrNull(r.guacd),
    tokenId: strOrNull(r.token_id),
    remoteAddress: strOrNull(r.remote_address),
    gateway: strOrNull(r.gateway),
    startedAt: num(r.started_at),
    endedAt: numOrNull(r.ended_at),
    bytesFromBrowser: num(r.bytes_from_browser),
    bytesToBrowser: num(r.bytes_to_browser),
    status: numOrNull(r.status),
    message: strOrNull(r.message),
    readOnly: r.read_only === null || r.read_only === undefined ? null : num(r.read_only) !== 0,
    shareId: strOrNull(r.share_id),
    joinedSession: strOrNull(r.joined_session),
  };
}

// Later information wins, but never erases what an earlier call recorded.
const UPSERT =
  'INSERT INTO sessions (id, user_name, connection_id, connection_name, protocol, guacd_id, remote_address, gateway, started_at, ended_at, bytes_from_browser, bytes_to_browser, status, token_id, read_only, share_id, guacd, joined_session, message) ' +
  'VALUES (?, ?, ?, (SELECT name FROM connections WHERE id = ?), COALESCE(?, (SELECT protocol FROM connections WHERE id = ?)), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ' +
  '(SELECT session_id FROM shares WHERE id = ?), ?) ' +
  'ON CONFLICT (id) DO UPDATE SET ' +
  'user_name = COALESCE(excluded.user_name, sessions.user_name), ' +
  'connection_id = COALESCE(excluded.connection_id, sessions.connection_id), ' +
  'connection_name = COALESCE(sessions.connection_name, excluded.connection_name), ' +
  'protocol = COALESCE(sessions.protocol, excluded.protocol), ' +
  'guacd_id = COALESCE(excluded.guacd_id, sessions.guacd_id), ' +
  'remote_address = COALESCE(excluded.remote_address, sessions.remote_address), ' +
  'token_id = COALESCE(excluded.token_id, sessions.token_id), ' +
  'read_only = COALESCE(excluded.read_only, sessions.read_only), ' +
  'share_id = COALESCE(excluded.share_id, sessions.share_id), ' +
  'guacd = COALESCE(excluded.guacd, sessions.guacd), ' +
  'joined_session = COALESCE(excluded.joined_session, sessions.joined_session), ' +
  'started_at = sessions.started_at, ' +
  'ended_at = COALESCE(excluded.ended_at, sessions.ended_at), ' +
  'bytes_from_browser = CASE WHEN excluded.ended_at IS NULL THEN sessions.bytes_from_browser ELSE excluded.bytes_from_browser END, ' +
  'bytes_to_browser = CASE WHEN excluded.ended_at IS NULL THEN sessions.bytes_to_browser ELSE excluded.bytes_to_browser END, ' +
  'status = COALESCE(excluded.status, sessions.status), ' +
  'message = COALESCE(excluded.message, sessions.message)';

/** The WHERE terms (joined with AND) and their parameters of a session query. */
function filter(q: Pick<SessionQuery, 'active' | 'user' | 'connectionId' | 'joinedSession'> & { tokenId?: string }): { where: string[]; params: SqlValue[] } {
  const where: string[] = [];
  const params: SqlValue[] = [];
  if (q.active) where.push('ended_at IS NULL');
  if (q.user !== undefined) {
    where.push('user_name = ?');
    params.push(q.user);
  }
  if (q.connectionId !== undefined) {
    where.push('connection_id = ?');
    params.push(q.connectionId);
  }
  if (q.joinedSession !== undefined) {
    where.push('joined_session = ?');
    params.push(q.joinedSession);
  }
  if (q.tokenId !== undefined) {
    where.push('token_id = ?');
    params.push(q.tokenId);
  }
  return { where, params };
}

/** Reads and writes the `sessions` table. */
export class HistoryStore {
  private readonly writes: WriteBatch;

  constructor(
    private readonly db: Db,
    private readonly gatewayId: string,
  ) {
    this.writes = new WriteBatch(db, UPSERT, HISTORY_BATCH_MS);
  }

  private checkId(id: unknown): string {
    if (typeof id !== 'string' || id === '' || id.length > 200) throw REGISTRY.GUAC_REQUEST_INVALID({ message: 'A session id is required.' });
    return id;
  }

  private upsert(s: SessionEnd, ended: boolean): Promise<void> {
    let params: SqlValue[];
    try {
      params = this.rowParams(s, ended);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.writes.run(params).then(() => undefined);
  }

  /** Writes the rows queued so far (see the module notes). */
  flush(): Promise<void> {
    return this.writes.flush();
  }

  private rowParams(s: SessionEnd, ended: boolean): SqlValue[] {
    const id = this.checkId(s.id);
    const now = Date.now();
    const conn = text(s.connectionId);
    const status = s.status === undefined ? null : typeof s.status === 'number' ? s.status : s.status.guac;
    return [
      id,
      text(s.user),
      conn,
      conn,
      text(s.protocol),
      conn,
      text(s.guacdId),
      text(s.remoteAddress),
      this.gatewayId,
      ms(s.startedAt, now),
      ended ? ms(s.endedAt, now) : null,
      ended ? Math.max(0, Math.trunc(s.bytesFromBrowser ?? 0)) : 0,
      ended ? Math.max(0, Math.trunc(s.bytesToBrowser ?? 0)) : 0,
      ended ? status : null,
      text(s.tokenId),
      s.readOnly === undefined ? null : s.readOnly ? 1 : 0,
      text(s.shareId),
      text(s.guacd),
      text(s.shareId),
      ended ? text(s.message?.slice(0, MAX_MESSAGE)) : null,
    ];
  }

  started(s: SessionStart): Promise<void> {
    return this.upsert(s, false);
  }

  ended(s: SessionEnd): Promise<void> {
    return this.upsert(s, true);
  }

  async list(q: SessionQuery = {}): Promise<HistoryEntry[]> {
    const { where, params } = filter(q);
    const limit = Math.min(MAX_LIMIT, Math.max(1, Math.trunc(q.limit ?? 100)));
    const offset = Math.max(0, Math.trunc(q.offset ?? 0));
    params.push(limit, offset);
    const rows = await this.db.all(
      `SELECT * FROM sessions ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY started_at DESC, id LIMIT ? OFFSET ?`,
      params,
    );
    return rows.map(toRecord);
  }

  /** Sessions not ended yet (of any gateway) of `user`, on `connectionId` and/or opened with `tokenId`. */
  async active(f: { user?: string; connectionId?: string; tokenId?: string }): Promise<{ id: string; user: string | null }[]> {
    const { where, params } = filter({ ...f, active: true });
    const rows = await this.db.all(`SELECT id, user_name FROM sessions WHERE ${where.join(' AND ')}`, params);
    return rows.map((r) => ({ id: String(r.id), user: strOrNull(r.user_name) }));
  }

  /** Records that this gateway is alive (its sessions are not orphans). */
  async heartbeat(now = Date.now()): Promise<void> {
    await this.db.run(
      'INSERT INTO gateways (id, started_at, last_seen) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen',
      [this.gatewayId, now, now],
    );
  }

  /**
   * Ends the open sessions of gateways not seen since `now - staleMs` (or
   * never seen: a gateway that died before its first beat), with `status`
   * and the time they were found; forgets those gateways.
   * @returns how many sessions were ended
   */
  async endOrphans(staleMs: number, status: number, now = Date.now()): Promise<number> {
    const cutoff = now - staleMs;
    return this.db.transaction(async (tx) => {
      const orphans = await tx.all(
        'SELECT id FROM sessions WHERE ended_at IS NULL AND (gateway IS NULL OR gateway <> ?) ' +
          'AND NOT EXISTS (SELECT 1 FROM gateways g WHERE g.id = sessions.gateway AND g.last_seen >= ?)',
        [this.gatewayId, cutoff],
      );
      for (const row of orphans) {
        await tx.run('UPDATE sessions SET ended_at = ?, status = ? WHERE id = ? AND ended_at IS NULL', [now, status, String(row.id)]);
      }
      await tx.run('DELETE FROM gateways WHERE last_seen < ? AND id <> ?', [cutoff, this.gatewayId]);
      return orphans.length;
    });
  }

  /**
   * Ends the open sessions recorded by `gatewayId` (a worker process that died:
   * it cannot end them itself) with `status`, now; forgets that gateway.
   * @returns how many were ended
   */
  async endGatewaySessions(gatewayId: string, status: number, now = Date.now()): Promise<number> {
    return this.db.transaction(async (tx) => {
      const n = await tx.run('UPDATE sessions SET ended_at = ?, status = ? WHERE gateway = ? AND ended_at IS NULL', [now, status, gatewayId]);
      await tx.run('DELETE FROM gateways WHERE id = ?', [gatewayId]);
      return n;
    });
  }

  async get(id: string): Promise<HistoryEntry | undefined> {
    const row = await this.db.get('SELECT * FROM sessions WHERE id = ?', [id]);
    return row ? toRecord(row) : undefined;
  }
}
