/**
 * The `recordings` table: what the gateway knows of each recording file
 * (who, when, how long, how big, its sha256, complete or not). Files live in
 * the recordings folder, named by the recording's id; this store never
 * touches them (src/server/recordings.ts does). Ids are UUIDs, checked before
 * any query, so a hostile id never reaches a path or a statement.
 */
import { REGISTRY } from './errors.js';
import { num, numOrNull, strOrNull, type Db, type Row } from './db.js';
import { isUuid } from './validate.js';
import { RECORD_POLICIES, type RecordPolicy, type RecordSpec } from '../tunnel/recording/recorder.js';

/** A recording as stored. Times are ms since the epoch. */
export interface Recording {
  /** UUID; the file is `<id>.guac`. Equal to the session id. */
  id: string;
  sessionId: string;
  connectionId: string | null;
  connectionName: string | null;
  user: string | null;
  /** The gateway that wrote it. */
  gateway: string | null;
  /** File name in the recordings folder. */
  file: string;
  /** Key events are in it. */
  keys: boolean;
  policy: RecordPolicy;
  startedAt: number;
  /** Null while being written. */
  endedAt: number | null;
  /** As a player counts it: first frame to last. */
  durationMs: number | null;
  /** When the first frame came, on the gateway's clock: the recording's time 0. */
  firstFrame: number | null;
  size: number;
  sha256: string | null;
  /** Null while being written; false when bytes were lost (the error says why). */
  complete: boolean | null;
  error: string | null;
}

/** Input of {@link RecordingStore.started}. */
export interface RecordingStart {
  id: string;
  sessionId: string;
  connectionId?: string | undefined;
  user?: string | undefined;
  gateway?: string | undefined;
  file: string;
  keys: boolean;
  policy: RecordPolicy;
  startedAt: number;
}

/** Input of {@link RecordingStore.finished}. */
export interface RecordingEnd {
  endedAt: number;
  durationMs: number;
  firstFrame: number | undefined;
  size: number;
  sha256: string;
  complete: boolean;
  error?: string | undefined;
}

/** Filter of {@link RecordingStore.list}. */
export interface RecordingQuery {
  connectionId?: string;
  user?: string;
  /** Newest first; default 100, at most 1000. */
  limit?: number;
  offset?: number;
}

/**
 * A record spec as given by a caller: `true` is best-effort without keys,
 * `false`/`null` none, undefined unchanged.
 * @throws GuacError `GUAC_REQUEST_INVALID` for anything else
 */
export function checkRecordSpec(value: unknown): RecordSpec | null | undefined {
  if (value === undefined) return undefined;
  if (value === null || value === false) return null;
  if (value === true) return { keys: false, policy: 'best-effort' };
  const bad = (): never => {
    throw REGISTRY.GUAC_REQUEST_INVALID({ message: `"record" must be true, false, or { "keys": boolean, "policy": ${RECORD_POLICIES.map((p) => `"${p}"`).join(' or ')} }.` });
  };
  if (typeof value !== 'object' || Array.isArray(value)) return bad();
  const v = value as Record<string, unknown>;
  if (Object.keys(v).some((k) => k !== 'keys' && k !== 'policy')) return bad();
  if (v.keys !== undefined && typeof v.keys !== 'boolean') return bad();
  if (v.policy !== undefined && !(RECORD_POLICIES as readonly unknown[]).includes(v.policy)) return bad();
  return { keys: v.keys === true, policy: (v.policy as RecordPolicy | undefined) ?? 'best-effort' };
}

/**
 * A recording id from outside, checked.
 * @throws GuacError `GUAC_RECORDING_ID_INVALID` (CLIENT_BAD_REQUEST)
 */
export function checkRecordingId(id: unknown): string {
  if (typeof id !== 'string' || !isUuid(id)) throw REGISTRY.GUAC_RECORDING_ID_INVALID();
  return id.toLowerCase();
}

function toRecording(r: Row): Recording {
  const complete = numOrNull(r.complete);
  return {
    id: String(r.id),
    sessionId: String(r.session_id),
    connectionId: strOrNull(r.connection_id),
    connectionName: strOrNull(r.connection_name),
    user: strOrNull(r.user_name),
    gateway: strOrNull(r.gateway),
    file: String(r.file),
    keys: num(r.keys) !== 0,
    policy: String(r.policy) as RecordPolicy,
    startedAt: num(r.started_at),
    endedAt: numOrNull(r.ended_at),
    durationMs: numOrNull(r.duration_ms),
    firstFrame: numOrNull(r.first_frame),
    size: num(r.size),
    sha256: strOrNull(r.sha256),
    complete: complete === null ? null : complete !== 0,
    error: strOrNull(r.error),
  };
}

/** CRUD on `recordings`. */
export class RecordingStore {
  constructor(private readonly db: Db) {}

  /** A recording began (its file exists or is being made). */
  async started(s: RecordingStart): Promise<void> {
    const conn = s.connectionId === undefined ? undefined : await this.db.get('SELECT name FROM connections WHERE id = ?', [s.connectionId]);
    await this.db.run(
      `INSERT INTO recordings (id, session_id, connection_id, connection_name, user_name, gateway, file, keys, policy, started_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [s.id, s.sessionId, s.connectionId ?? null, conn ? String(conn.name) : null, s.user ?? null, s.gateway ?? null, s.file, s.keys ? 1 : 0, s.policy, s.startedAt],
    );
  }

  /** A recording ended: its file is closed. */
  async finished(id: string, e: RecordingEnd): Promise<void> {
    await this.db.run(
      'UPDATE recordings SET ended_at = ?, duration_ms = ?, first_frame = ?, size = ?, sha256 = ?, complete = ?, error = ? WHERE id = ?',
      [e.endedAt, e.durationMs, e.firstFrame ?? null, e.size, e.sha256, e.complete ? 1 : 0, e.error ?? null, id],
    );
  }

  /**
   * By id.
   * @throws GuacError `GUAC_RECORDING_ID_INVALID`, `GUAC_RECORDING_NOT_FOUND`
   */
  async get(id: unknown): Promise<Recording> {
    const row = await this.db.get('SELECT * FROM recordings WHERE id = ?', [checkRecordingId(id)]);
    if (!row) throw REGISTRY.GUAC_RECORDING_NOT_FOUND();
    return toRecording(row);
  }

  async list(q: RecordingQuery = {}): Promise<Recording[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.connectionId !== undefined) { where.push('connection_id = ?'); params.push(q.connectionId); }
    if (q.user !== undefined) { where.push('user_name = ?'); params.push(q.user); }
    const limit = Math.min(Math.max(1, Math.floor(q.limit ?? 100)), 1000);
    const offset = Math.max(0, Math.floor(q.offset ?? 0));
    const rows = await this.db.all(
      `SELECT * FROM recordings ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id LIMIT ? OFFSET ?`,
      [...params, limit, offset],
    );
    return rows.map(toRecording);
  }

  /**
   * Recordings still open whose session ended before `before` in history:
   * the gateway writing them stopped (killed, crashed) and another ended its
   * sessions as orphans.
   */
  async orphaned(before: number): Promise<Recording[]> {
    const rows = await this.db.all(
      `SELECT r.* FROM recordings r JOIN sessions s ON s.id = r.session_id
       WHERE r.ended_at IS NULL AND s.ended_at IS NOT NULL AND s.ended_at < ? ORDER BY r.started_at, r.id`,
      [before],
    );
    return rows.map(toRecording);
  }

  /** Finished recordings, oldest first (what retention looks at). */
  async finishedOldestFirst(): Promise<Recording[]> {
    const rows = await this.db.all('SELECT * FROM recordings WHERE ended_at IS NOT NULL ORDER BY started_at, id');
    return rows.map(toRecording);
  }

  /**
   * Deletes a row; answers it (the caller removes its file).
   * @throws GuacError `GUAC_RECORDING_ID_INVALID`, `GUAC_RECORDING_NOT_FOUND`, `GUAC_RECORDING_IN_PROGRESS`
   */
  async remove(id: unknown): Promise<Recording> {
    const rec = await this.get(id);
    if (rec.endedAt === null) throw REGISTRY.GUAC_RECORDING_IN_PROGRESS();
    await this.db.run('DELETE FROM recordings WHERE id = ?', [rec.id]);
    return rec;
  }
}
