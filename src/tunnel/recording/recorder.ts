/**
 * A session recording in the format guacenc and guacamole-common-js's
 * `SessionRecording` play: the instructions guacd sent the browser, byte for
 * byte, in order. Their `sync` instructions carry guacd's clock (ms since the
 * epoch) and are the recording's only time base: a player's duration is the
 * last `sync` minus the first, and it seeks to frames between them.
 *
 * Two things are added to what guacd sent, both on guacd's clock (estimated
 * from the newest `sync`: guacd's clock need not be the epoch, guacd 1.3.0
 * counts from its host's boot, and need not agree with the gateway's):
 * - with `keys`, the browser's key events as `key,<keysym>,<pressed>,<time>`,
 *   the shape guacd's own recordings use (a player ignores them when drawing,
 *   key-log tools read them);
 * - at the end, one `sync` at the moment the session ended, so that a quiet
 *   tail (guacd sends no frame while nothing changes) still counts in the
 *   duration.
 */
import { EventEmitter } from 'node:events';
import type { GuacError } from '../../protocol/errors.js';
import { encode } from '../../protocol/encoder.js';
import { RecordingWriter, type WriteSummary } from './writer.js';

/** What a session does when its recording cannot be written. */
export type RecordPolicy = 'required' | 'best-effort';

/** The policies, for validation. */
export const RECORD_POLICIES: readonly RecordPolicy[] = Object.freeze(['required', 'best-effort']);

/** How a target asks to be recorded (`Target.record`). */
export interface RecordSpec {
  /** Record the browser's key events too (they may include passwords typed). */
  keys?: boolean;
  /** `required` ends the session on a fault; `best-effort` (default) keeps it and marks the recording incomplete. */
  policy?: RecordPolicy;
}

/** Options of {@link SessionRecorder}. */
export interface SessionRecorderOptions extends RecordSpec {
  /** The file to create. */
  path: string;
  /** Bytes that may wait for the disk (the writer's bound). */
  maxBufferBytes?: number;
  /** The clock (ms since the epoch); tests replace it. */
  now?: () => number;
  /** The file's `open` flags (the writer's `flags`). */
  flags?: string;
  /** Longest wait for a backlogged disk (the writer's `maxStallMs`). */
  maxStallMs?: number;
}

/** What {@link SessionRecorder.finish} answers. */
export interface RecordingResult extends WriteSummary {
  /** From the first `sync` to the last, the one written at the end included (what a player shows). */
  durationMs: number;
  /**
   * When the first frame arrived, on the gateway's clock (ms since the
   * epoch), when there was one. guacd's own clock need not be the epoch
   * (guacd 1.3.0 counts from boot), so this is what relates the recording's
   * times to the wall clock: time t of the recording is firstFrame + t.
   */
  firstFrame: number | undefined;
}

const KEYSYM = /^\d{1,10}$/;

/**
 * One session's recording. Events: `fault` (GuacError), once, when the
 * recording stops being complete; `finish` ({@link RecordingResult}), once,
 * when its file is closed.
 */
export class SessionRecorder extends EventEmitter {
  readonly policy: RecordPolicy;
  readonly keys: boolean;
  private readonly writer: RecordingWriter;
  private readonly now: () => number;
  /** guacd's clock minus ours, from the newest `sync`. */
  private offset = 0;
  private firstSync: number | undefined;
  private firstWall: number | undefined;
  private lastSync: number | undefined;
  private result: Promise<RecordingResult> | undefined;

  constructor(opts: SessionRecorderOptions) {
    super();
    this.policy = opts.policy ?? 'best-effort';
    this.keys = opts.keys === true;
    this.now = opts.now ?? Date.now;
    this.writer = new RecordingWriter({
      path: opts.path,
      ...(opts.maxBufferBytes === undefined ? {} : { maxBufferBytes: opts.maxBufferBytes }),
      ...(opts.flags === undefined ? {} : { flags: opts.flags }),
      ...(opts.maxStallMs === undefined ? {} : { maxStallMs: opts.maxStallMs }),
    });
    this.writer.once('fault', (err: GuacError) => this.emit('fault', err));
  }

  /** Settles once the file exists (or could not be made: then `failed` says why). */
  get opened(): Promise<void> {
    return this.writer.opened;
  }

  /** The fault that stopped the recording, if any. */
  get failed(): GuacError | undefined {
    return this.writer.failed;
  }

  /** Bytes waiting for the disk. */
  get pending(): number {
    return this.writer.pending;
  }

  /** Most bytes that waited for the disk at once. */
  get maxPending(): number {
    return this.writer.maxQueued;
  }

  /** The disk is behind: stop reading guacd until {@link whenDrained} calls back. */
  get backlogged(): boolean {
    return this.writer.backlogged;
  }

  /** Times the session waited for the disk, and for how long in all (ms). */
  get stalls(): number {
    return this.writer.stalls;
  }
  get stalledMs(): number {
    return this.writer.stalledMs;
  }

  /** Calls `resume` once the disk caught up, or the recording gave up (at most the writer's `maxStallMs`). */
  whenDrained(resume: () => void): void {
    this.writer.whenDrained(resume);
  }

  /** Whole instructions guacd sent the browser. */
  output(bytes: Buffer): void {
    this.writer.write(bytes);
  }

  /**
   * One whole `sync` instruction (`bytes[start, end)`) among what {@link output}
   * got: its timestamp sets the clock offset and the recording's time span.
   */
  sync(bytes: Buffer, start = 0, end = bytes.length): void {
    const ts = syncTime(bytes, start, end);
    if (ts === undefined) return;
    const now = this.now();
    this.offset = ts - now;
    this.firstSync ??= ts;
    this.firstWall ??= now;
    if (this.lastSync === undefined || ts > this.lastSync) this.lastSync = ts;
  }

  /** A key event the browser sent guacd (after any read-only filter); kept only with `keys`. */
  key(args: readonly string[]): void {
    if (!this.keys || this.result !== undefined) return;
    const [keysym, pressed] = args;
    if (keysym === undefined || !KEYSYM.test(keysym) || (pressed !== '0' && pressed !== '1')) return;
    this.writer.write(encode('key', keysym, pressed, this.guacdNow()));
  }

  /** Closes the recording at the session's end. Idempotent. */
  finish(): Promise<RecordingResult> {
    this.result ??= (async () => {
      if (this.lastSync !== undefined) {
        const end = this.guacdNow();
        if (end > this.lastSync) {
          this.writer.write(encode('sync', end));
          this.lastSync = end;
        }
      }
      const summary = await this.writer.end();
      const first = this.firstSync;
      const result: RecordingResult = { ...summary, durationMs: first === undefined ? 0 : this.lastSync! - first, firstFrame: this.firstWall };
      this.emit('finish', result);
      return result;
    })();
    return this.result;
  }

  private guacdNow(): number {
    return this.now() + this.offset;
  }
}

/**
 * The timestamp of a `sync` instruction (`4.sync,13.1733…,…;`) in
 * `bytes[start, end)`, or undefined. Read digit by digit: the relay calls
 * this for every frame, and a string per call showed in its profile.
 */
export function syncTime(bytes: Uint8Array, start = 0, end = bytes.length): number | undefined {
  let i = start;
  // Past the opcode element, then the first argument's length, its dot, its digits.
  while (i < end && bytes[i] !== 0x2c) i++;
  let len = 0;
  for (i++; i < end && bytes[i] !== 0x2e; i++) {
    const d = bytes[i]! - 0x30;
    if (d < 0 || d > 9 || (len = len * 10 + d) > 16) return undefined;
  }
  if (len < 1 || ++i + len > end) return undefined;
  let ts = 0;
  for (const stop = i + len; i < stop; i++) {
    const d = bytes[i]! - 0x30;
    if (d < 0 || d > 9) return undefined;
    ts = ts * 10 + d;
  }
  return Number.isSafeInteger(ts) ? ts : undefined;
}
