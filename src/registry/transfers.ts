/**
 * Transfer history: one row per file moved (or refused) in a session, from
 * the tunnel's `onTransfer`.
 */
import { randomUUID } from 'node:crypto';
import { num, strOrNull, type Db, type Row } from './db.js';
import { REGISTRY } from './errors.js';

/** A transfer as recorded. */
export interface TransferEntry {
  id: string;
  sessionId: string;
  direction: 'upload' | 'download';
  /** The file name or path the stream gave. */
  name: string;
  bytes: number;
  /** `http` (the stream routes) or `tunnel`. */
  via: string;
  /** Guacamole status: 0 for success. */
  status: number;
  message: string | null;
  startedAt: number;
  endedAt: number;
}

/** Input of {@link TransferStore.record}. */
export type TransferInput = Omit<TransferEntry, 'id'>;

/** Which transfers to list. */
export interface TransferQuery {
  session?: string;
  /** At most this many, newest first (default 100, at most 1000). */
  limit?: number;
}

/** Names are the target's and may be anything: kept bounded. */
const MAX_NAME = 4096;

function toEntry(r: Row): TransferEntry {
  return {
    id: String(r.id),
    sessionId: String(r.session_id),
    direction: String(r.direction) === 'upload' ? 'upload' : 'download',
    name: String(r.name),
    bytes: num(r.bytes),
    via: String(r.via),
    status: num(r.status),
    message: strOrNull(r.message),
    startedAt: num(r.started_at),
    endedAt: num(r.ended_at),
  };
}

export class TransferStore {
  constructor(private readonly db: Db) {}

  async record(t: TransferInput): Promise<TransferEntry> {
    const entry: TransferEntry = { ...t, id: randomUUID(), name: t.name.slice(0, MAX_NAME) };
    await this.db.run(
      'INSERT INTO transfers (id, session_id, direction, name, bytes, via, status, message, started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [entry.id, entry.sessionId, entry.direction, entry.name, entry.bytes, entry.via, entry.status, entry.message, entry.startedAt, entry.endedAt],
    );
    return entry;
  }

  async list(q: TransferQuery = {}): Promise<TransferEntry[]> {
    const limit = q.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) {
      throw REGISTRY.GUAC_REQUEST_INVALID({ message: '"limit" must be a whole number from 1 to 1000.' });
    }
    const rows = q.session === undefined
      ? await this.db.all('SELECT * FROM transfers ORDER BY started_at DESC, id LIMIT ?', [limit])
      : await this.db.all('SELECT * FROM transfers WHERE session_id = ? ORDER BY started_at DESC, id LIMIT ?', [q.session, limit]);
    return rows.map(toEntry);
  }
}
