/**
 * The gateway's recordings: the folder they go to, the recorder each
 * recorded session gets (its metadata written to the registry as it starts
 * and ends), retention by age and total size, integrity checks, and the
 * signed playback links (audience `recording`).
 *
 * Files are named `<recording id>.guac` by the gateway itself; ids from
 * outside are checked as UUIDs before any path is made from them. In a
 * fleet, the folder is shared by every gateway and the metadata sits in the
 * shared PostgreSQL registry, so any gateway can play, verify or delete any
 * recording (docs/recordings.md).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { GuacError } from '../protocol/errors.js';
import { InstructionSplitter } from '../protocol/splitter.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Recording, RecordingQuery } from '../registry/recordings.js';
import { checkRecordingId } from '../registry/recordings.js';
import type { Registry } from '../registry/types.js';
import { checkTtl } from '../registry/validate.js';
import { SessionRecorder, syncTime, type RecordingResult } from '../tunnel/recording/recorder.js';
import type { RecorderFactory } from '../tunnel/recording/start.js';
import { openToken, sealToken } from '../tunnel/token.js';
import { TUNNEL } from '../tunnel/errors.js';

/** The token audience of playback links: the tunnel and share resolvers refuse it. */
export const RECORDING_AUDIENCE = 'recording';

/** How long after its session ended an open recording counts as its gateway's orphan. */
const ORPHAN_GRACE_MS = 60_000;

/** Extension of recording files. */
export const RECORDING_EXT = '.guac';

/** The playback page. */
export const PLAYER_PAGE = '/recording.html';

/** Options of {@link Recordings}. */
export interface RecordingsOptions {
  /** The recordings folder (made at start, mode 0700, if missing). */
  dir: string;
  registry: Registry;
  /** The gateway secret: seals playback links. */
  secret: string;
  /** Recordings that started longer ago are deleted (0: kept however old). */
  maxAgeMs?: number;
  /** Oldest recordings are deleted while all together take more (0: no cap). */
  maxTotalBytes?: number;
  /** Bytes a recording may queue for a slow disk before it gives up (default 8 MiB). */
  maxBufferBytes?: number;
  /** How long a session waits for a disk that fell behind, ms (the writer's `maxStallMs`; 0: never). */
  maxStallMs?: number;
  logger?: Logger;
}

/** How a recording's file stands. */
export type Integrity = 'intact' | 'incomplete' | 'damaged' | 'missing' | 'recording';

/** What {@link Recordings.verify} finds. */
export interface Verification {
  id: string;
  state: Integrity;
  /** One sentence for people (the CLI, the page). */
  message: string;
  /** What the file holds now (null: no file). */
  size: number | null;
  sha256: string | null;
  /** What the gateway wrote. */
  expectedSize: number;
  expectedSha256: string | null;
}

/** A playback link as handed out. */
export interface PlaybackLink {
  id: string;
  token: string;
  /** The page's address relative to the gateway's (behind a proxy only the caller knows its own). */
  url: string;
  /** ms since the epoch. */
  expiresAt: number;
}

/** The gateway's recordings. */
export class Recordings {
  readonly dir: string;
  private readonly registry: Registry;
  private readonly secret: string;
  private readonly log: Logger;
  private readonly maxAgeMs: number;
  private readonly maxTotalBytes: number;
  private readonly maxBufferBytes: number | undefined;
  private readonly maxStallMs: number | undefined;
  /** Metadata writes under way; {@link settle} waits for them. */
  private readonly writes = new Set<Promise<void>>();

  constructor(opts: RecordingsOptions) {
    this.dir = opts.dir;
    this.registry = opts.registry;
    this.secret = opts.secret;
    this.log = opts.logger ?? silentLogger;
    this.maxAgeMs = opts.maxAgeMs ?? 0;
    this.maxTotalBytes = opts.maxTotalBytes ?? 0;
    this.maxBufferBytes = opts.maxBufferBytes;
    this.maxStallMs = opts.maxStallMs;
  }

  /** Makes the folder if it is missing. */
  async prepare(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  /** The tunnel's `recorder` option. */
  readonly factory: RecorderFactory = (info, spec) => {
    const id = info.id;
    const file = id + RECORDING_EXT;
    const recorder = new SessionRecorder({
      path: join(this.dir, file), keys: spec.keys === true, policy: spec.policy ?? 'best-effort',
      ...(this.maxBufferBytes === undefined ? {} : { maxBufferBytes: this.maxBufferBytes }),
      ...(this.maxStallMs === undefined ? {} : { maxStallMs: this.maxStallMs }),
    });
    const startedAt = Date.now();
    const started = this.track(this.registry.recordings.started({
      id, sessionId: id, connectionId: info.connectionId, user: info.user, gateway: this.registry.gatewayId,
      file, keys: recorder.keys, policy: recorder.policy, startedAt,
    }));
    recorder.once('fault', (err: GuacError) => this.log.warn({ session: id, code: err.code, policy: recorder.policy }, 'recording: fault, recording incomplete'));
    const finished = new Promise<RecordingResult>((resolve) => recorder.once('finish', resolve));
    // Tracked until its row is complete: a gateway shutting down waits for the recordings its sessions were writing.
    void this.track(started.then(async () => {
      const r = await finished;
      await this.registry.recordings.finished(id, {
        endedAt: Date.now(), durationMs: r.durationMs, firstFrame: r.firstFrame, size: r.size, sha256: r.sha256,
        complete: r.complete, error: r.fault?.message,
      });
    }));
    return recorder;
  };

  /** The recordings' rows, newest first. */
  registryList(q: RecordingQuery): Promise<Recording[]> {
    return this.registry.recordings.list(q);
  }

  /** Waits for the metadata writes under way (at shutdown). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.writes]);
  }

  /** A recording's file path (the id checked first). */
  async pathOf(id: unknown): Promise<{ rec: Recording; path: string }> {
    const rec = await this.registry.recordings.get(checkRecordingId(id));
    return { rec, path: join(this.dir, rec.file) };
  }

  /**
   * Deletes a finished recording, its row first (what makes it exist), then its file.
   * @throws GuacError `GUAC_RECORDING_ID_INVALID`, `GUAC_RECORDING_NOT_FOUND`, `GUAC_RECORDING_IN_PROGRESS`
   */
  async delete(id: unknown): Promise<Recording> {
    const rec = await this.registry.recordings.remove(checkRecordingId(id));
    await unlink(join(this.dir, rec.file)).catch((err: unknown) => {
      if ((err as { code?: unknown }).code !== 'ENOENT') this.log.warn({ recording: rec.id, error: err }, 'recording: file not deleted');
    });
    return rec;
  }

  /**
   * Deletes what retention says must go: finished recordings older than
   * `maxAgeMs`, then the oldest while the rest take more than
   * `maxTotalBytes`. Recordings being written are never touched. In a fleet
   * every gateway may run it: a row another gateway deleted first is skipped.
   * @returns the ids deleted
   */
  async enforceRetention(now = Date.now()): Promise<string[]> {
    await this.closeOrphans(now);
    if (this.maxAgeMs <= 0 && this.maxTotalBytes <= 0) return [];
    const all = await this.registry.recordings.finishedOldestFirst();
    const doomed = new Set<string>();
    if (this.maxAgeMs > 0) for (const r of all) if (r.startedAt < now - this.maxAgeMs) doomed.add(r.id);
    if (this.maxTotalBytes > 0) {
      let total = all.reduce((n, r) => n + (doomed.has(r.id) ? 0 : r.size), 0);
      for (const r of all) {
        if (total <= this.maxTotalBytes) break;
        if (doomed.has(r.id)) continue;
        doomed.add(r.id);
        total -= r.size;
      }
    }
    const deleted: string[] = [];
    for (const id of doomed) {
      try {
        await this.delete(id);
        deleted.push(id);
      } catch (err) {
        if (!(err instanceof GuacError && err.code === 'GUAC_RECORDING_NOT_FOUND')) throw err;
      }
    }
    if (deleted.length > 0) this.log.info({ deleted: deleted.length }, 'recording: retention deleted recordings');
    return deleted;
  }

  /**
   * Completes the rows of recordings whose gateway stopped before their
   * session ended (history says the session ended over a minute ago): what
   * the file holds is measured, and the recording is marked incomplete.
   * @returns the ids completed
   */
  async closeOrphans(now = Date.now()): Promise<string[]> {
    const closed: string[] = [];
    for (const rec of await this.registry.recordings.orphaned(now - ORPHAN_GRACE_MS)) {
      const read = await readBack(join(this.dir, rec.file));
      await this.registry.recordings.finished(rec.id, {
        endedAt: now, durationMs: read?.durationMs ?? 0, firstFrame: undefined, size: read?.size ?? 0, sha256: read?.sha256 ?? '',
        complete: false, error: 'The gateway writing it stopped before the session ended.',
      });
      closed.push(rec.id);
    }
    if (closed.length > 0) this.log.warn({ recordings: closed.length }, 'recording: completed recordings whose gateway stopped');
    return closed;
  }

  /**
   * Reads the file back: the size and sha256 the gateway wrote, and whole
   * instructions to the last byte.
   * @throws GuacError `GUAC_RECORDING_ID_INVALID`, `GUAC_RECORDING_NOT_FOUND`
   */
  async verify(id: unknown): Promise<Verification> {
    const { rec, path } = await this.pathOf(id);
    const base = { id: rec.id, expectedSize: rec.size, expectedSha256: rec.sha256 };
    if (rec.endedAt === null) return { ...base, state: 'recording', message: 'The recording is still being written.', size: null, sha256: null };
    const read = await readBack(path);
    if (read === undefined) return { ...base, state: 'missing', message: 'The recording file is missing.', size: null, sha256: null };
    const found = { ...base, size: read.size, sha256: read.sha256 };
    if (read.size !== rec.size || read.sha256 !== rec.sha256) {
      const how = read.size < rec.size ? `it is ${rec.size - read.size} bytes shorter than written (truncated)` : read.size > rec.size ? 'it is longer than written' : 'its content differs from what was written';
      return { ...found, state: 'damaged', message: `The recording file is damaged: ${how}.` };
    }
    if (rec.complete === false) {
      return { ...found, state: 'incomplete', message: `The recording is incomplete: ${rec.error ?? 'part of the session was not written.'}` };
    }
    if (read.problem !== undefined) return { ...found, state: 'damaged', message: `The recording file is damaged: ${read.problem}.` };
    return { ...found, state: 'intact', message: 'The recording is intact.' };
  }

  /**
   * A signed playback link.
   * @throws GuacError `GUAC_RECORDING_*` for a bad or unknown id, `GUAC_TTL_INVALID`
   */
  async link(id: unknown, ttlSeconds?: unknown): Promise<PlaybackLink> {
    const rec = await this.registry.recordings.get(checkRecordingId(id));
    const ttl = checkTtl(ttlSeconds);
    const exp = Math.floor(Date.now() / 1000) + ttl;
    const token = sealToken({ aud: RECORDING_AUDIENCE, exp, recording: rec.id }, this.secret);
    return { id: rec.id, token, url: `${PLAYER_PAGE}#token=${encodeURIComponent(token)}`, expiresAt: exp * 1000 };
  }

  /**
   * The recording a playback token opens.
   * @throws GuacError `GUAC_TOKEN_INVALID` (forged, another audience), `GUAC_TOKEN_EXPIRED`, `GUAC_RECORDING_NOT_FOUND`
   */
  async open(token: unknown): Promise<{ rec: Recording; path: string }> {
    if (typeof token !== 'string' || token === '') throw TUNNEL.GUAC_TOKEN_MISSING();
    const p = openToken(token, this.secret);
    if (p.aud !== RECORDING_AUDIENCE || typeof p.recording !== 'string') throw TUNNEL.GUAC_TOKEN_INVALID();
    return this.pathOf(p.recording);
  }

  private track(p: Promise<void>): Promise<void> {
    const q = p.catch((err: unknown) => this.log.warn({ error: err }, 'recording: metadata not written'));
    this.writes.add(q);
    void q.finally(() => this.writes.delete(q));
    return q;
  }
}

/** A file's size, sha256 and, if it does not parse to the end, why; undefined when it does not exist. */
async function readBack(path: string): Promise<{ size: number; sha256: string; durationMs: number; problem?: string } | undefined> {
  const hash = createHash('sha256');
  // Recordings hold guacd's output, within guacd's own limits; the splitter says where whole instructions end.
  const splitter = new InstructionSplitter();
  let size = 0;
  let whole = 0;
  let syncs = 0;
  let first: number | undefined;
  let last = 0;
  let problem: string | undefined;
  try {
    for await (const chunk of createReadStream(path)) {
      const buf = chunk as Buffer;
      hash.update(buf);
      size += buf.length;
      if (problem !== undefined) continue;
      const done = splitter.push(buf, (op, raw) => {
        if (op !== 'sync') return;
        syncs++;
        const t = syncTime(raw);
        if (t === undefined) return;
        first ??= t;
        last = Math.max(last, t);
      });
      if (done instanceof Error) problem = `it is not valid Guacamole protocol after byte ${whole} (${done.message})`;
      else whole += done.length;
    }
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return undefined;
    throw err;
  }
  if (problem === undefined && whole < size) problem = `its last instruction is cut short after byte ${whole}`;
  if (problem === undefined && size > 0 && syncs === 0) problem = 'it holds no frame';
  const out: { size: number; sha256: string; durationMs: number; problem?: string } = { size, sha256: hash.digest('hex'), durationMs: first === undefined ? 0 : last - first };
  if (problem !== undefined) out.problem = problem;
  return out;
}
