/**
 * Appends a recording to its file without ever making the relay wait: bytes
 * are copied into a queue bounded by `maxBufferBytes` and written by one
 * `writev` at a time. A running sha256 covers exactly the bytes that reached
 * the file, so the digest of an incomplete recording still matches what is
 * on disk. The first fault (disk full, folder missing, permission denied,
 * queue overrun) stops the writer for good: it drops what is queued, emits
 * `fault` once and answers every later write with false.
 */
import { createHash, type Hash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import type { GuacError } from '../../protocol/errors.js';
import { TUNNEL } from '../errors.js';

/** Options of {@link RecordingWriter}. */
export interface RecordingWriterOptions {
  /** The file to create; it must not exist (opened with `wx`). */
  path: string;
  /** Bytes that may wait for the disk before the recording gives up (default 8 MiB). */
  maxBufferBytes?: number;
  /** `open` flags (default `wx`: never over an existing file); the bench writes into a FIFO with `w`. */
  flags?: string;
}

/** What {@link RecordingWriter.end} answers. */
export interface WriteSummary {
  /** Bytes on disk. */
  size: number;
  /** Hex sha256 of those bytes. */
  sha256: string;
  /** Every byte handed to `write` reached the file. */
  complete: boolean;
  /** The fault that stopped the writer, if any. */
  fault?: GuacError;
}

/** `writev` takes at most IOV_MAX (1024 on Linux) pieces per call. */
const MAX_PIECES = 1024;
/**
 * Small writes are copied into slabs of this size: one allocation per slab,
 * not per relayed piece, and a write in flight leaves the next one a single
 * large piece. Larger writes are copied on their own.
 */
const SLAB_BYTES = 256 * 1024;

/** Maps a file-system error to the recording code an operator can act on. */
export function recordingFault(err: unknown): GuacError {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ENOSPC': case 'EDQUOT': case 'EFBIG':
      return TUNNEL.GUAC_RECORDING_DISK_FULL({ cause: err });
    case 'ENOENT':
      return TUNNEL.GUAC_RECORDING_FOLDER_MISSING({ cause: err });
    case 'EACCES': case 'EPERM': case 'EROFS': case 'ENOTDIR':
      return TUNNEL.GUAC_RECORDING_DENIED({ cause: err });
    default:
      return TUNNEL.GUAC_RECORDING_IO({ cause: err });
  }
}

/**
 * One recording file being written.
 * Events: `fault` (GuacError), once, when the recording stops being complete.
 */
export class RecordingWriter extends EventEmitter {
  /** Settles once the file is open (never rejects: a failure is a fault). */
  readonly opened: Promise<void>;
  private readonly maxBufferBytes: number;
  private readonly hash: Hash = createHash('sha256');
  private file: FileHandle | undefined;
  private queue: Buffer[] = [];
  private queued = 0;
  /** The slab being filled: `[sealed, used)` is queued-to-be, not yet in `queue`. */
  private slab: Buffer = Buffer.alloc(0);
  private used = 0;
  private sealed = 0;
  private size = 0;
  private writing = false;
  private ending = false;
  private fault: GuacError | undefined;
  private drained: (() => void) | undefined;
  private summary: Promise<WriteSummary> | undefined;
  /** Most bytes that waited at once (benchmarks, tests). */
  maxQueued = 0;

  constructor(opts: RecordingWriterOptions) {
    super();
    this.maxBufferBytes = opts.maxBufferBytes ?? 8 << 20;
    this.opened = open(opts.path, opts.flags ?? 'wx', 0o600).then(
      (file) => {
        this.file = file;
        this.pump();
      },
      (err: unknown) => this.stop(recordingFault(err)),
    );
  }

  /** The fault that stopped the writer, if any. */
  get failed(): GuacError | undefined {
    return this.fault;
  }

  /** Bytes waiting for the disk. */
  get pending(): number {
    return this.queued;
  }

  /**
   * Queues a copy of `bytes` (the caller's buffer may be reused at once).
   * @returns false when the writer has stopped (now or earlier): the bytes are lost
   */
  write(bytes: Buffer | string): boolean {
    if (this.fault !== undefined || this.ending) return false;
    const length = typeof bytes === 'string' ? Buffer.byteLength(bytes, 'utf8') : bytes.length;
    if (this.queued + length > this.maxBufferBytes) {
      this.stop(TUNNEL.GUAC_RECORDING_OVERRUN());
      return false;
    }
    if (length > SLAB_BYTES / 4) {
      this.seal();
      this.queue.push(typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes));
    } else {
      if (this.slab.length - this.used < length) {
        this.seal();
        this.slab = Buffer.allocUnsafe(SLAB_BYTES);
        this.used = 0;
        this.sealed = 0;
      }
      this.used += typeof bytes === 'string' ? this.slab.write(bytes, this.used, 'utf8') : bytes.copy(this.slab, this.used);
    }
    this.queued += length;
    if (this.queued > this.maxQueued) this.maxQueued = this.queued;
    this.pump();
    return true;
  }

  /** Writes what is queued, closes the file and reports. Idempotent. */
  end(): Promise<WriteSummary> {
    this.ending = true;
    this.summary ??= (async () => {
      await this.opened;
      if (this.writing || this.queue.length > 0 || this.used > this.sealed) {
        const drained = new Promise<void>((done) => { this.drained = done; });
        this.pump();
        await drained;
      }
      if (this.file) {
        await this.file.sync().catch((err: unknown) => this.stop(recordingFault(err)));
        await this.file.close().catch(() => undefined);
      }
      const out: WriteSummary = { size: this.size, sha256: this.hash.digest('hex'), complete: this.fault === undefined };
      if (this.fault) out.fault = this.fault;
      return out;
    })();
    return this.summary;
  }

  /** Moves the slab's unqueued bytes into the queue (a view: the slab fills on after them). */
  private seal(): void {
    if (this.used === this.sealed) return;
    this.queue.push(this.slab.subarray(this.sealed, this.used));
    this.sealed = this.used;
  }

  private pump(): void {
    if (this.writing || !this.file) return;
    this.seal();
    if (this.queue.length === 0) {
      this.drained?.();
      return;
    }
    const batch = this.queue.length <= MAX_PIECES ? this.queue : this.queue.slice(0, MAX_PIECES);
    this.queue = this.queue.length <= MAX_PIECES ? [] : this.queue.slice(MAX_PIECES);
    this.writing = true;
    void this.writeAll(this.file, batch).then(() => {
      this.writing = false;
      this.pump();
    });
  }

  /** Writes `batch` in full (a short write is resumed), hashing only what the file took. */
  private async writeAll(file: FileHandle, batch: Buffer[]): Promise<void> {
    const total = batch.reduce((n, b) => n + b.length, 0);
    let pieces = batch;
    try {
      while (pieces.length > 0) {
        const { bytesWritten } = await file.writev(pieces);
        if (bytesWritten === 0) throw Object.assign(new Error('the file took no bytes'), { code: 'EIO' });
        pieces = this.took(pieces, bytesWritten);
      }
    } catch (err) {
      this.stop(recordingFault(err));
    }
    this.queued = Math.max(0, this.queued - total);
  }

  /** Hashes the first `n` bytes of `pieces`; answers what remains. */
  private took(pieces: Buffer[], n: number): Buffer[] {
    this.size += n;
    let i = 0;
    for (; i < pieces.length && n > 0; i++) {
      const p = pieces[i]!;
      if (p.length > n) {
        this.hash.update(p.subarray(0, n));
        return [p.subarray(n), ...pieces.slice(i + 1)];
      }
      this.hash.update(p);
      n -= p.length;
    }
    return pieces.slice(i);
  }

  private stop(fault: GuacError): void {
    if (this.fault !== undefined) return;
    this.fault = fault;
    this.queue = [];
    this.queued = 0;
    this.slab = Buffer.alloc(0);
    this.used = 0;
    this.sealed = 0;
    this.emit('fault', fault);
    if (!this.writing) this.drained?.();
  }
}
