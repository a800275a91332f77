/**
 * Appends a recording to its file without the relay ever waiting on a write: the
 * relay's thread copies bytes into slabs (pooled, one per 1 MiB at most,
 * never one per relayed piece) and moves each slab, when it is full or on a
 * shared tick, to the recordings' I/O thread (io-worker.ts) without a copy
 * (transferred), which writes it, keeps a running sha256 of exactly the
 * bytes that reached the file (the digest of an incomplete recording still
 * matches what is on disk) and gives the slab back. What waits is bounded
 * by `maxBufferBytes`. The first fault (disk
 * full, folder missing, permission denied, queue overrun) stops the writer
 * for good: it emits `fault` once and answers every later write with false.
 *
 * Past a high-water mark (half the bound) the writer says it is
 * `backlogged`, and the session stops reading guacd until the I/O thread is
 * back down to a low-water mark ({@link RecordingWriter.whenDrained}), the
 * way it waits for a slow browser. That wait is short and bounded: a disk
 * that does not get the queue down within `maxStallMs` stops the recording
 * (overrun) and the session goes on at full speed; one that does (2 of 8 MiB
 * within 2 s by default) keeps it whole, the session moving at the disk's
 * pace while it is behind. Without it, a busy moment of the machine
 * (the I/O thread off the CPU for a few milliseconds while guacd streams at
 * hundreds of MB/s) cut recordings short: three of five runs in the bench.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { GuacError } from '../../protocol/errors.js';
import { TUNNEL } from '../errors.js';
import type { IoReply, IoRequest } from './io-worker.js';

/** Options of {@link RecordingWriter}. */
export interface RecordingWriterOptions {
  /** The file to create; it must not exist (opened with `wx`). */
  path: string;
  /** Bytes that may wait for the disk before the recording gives up (default 8 MiB). */
  maxBufferBytes?: number;
  /** `open` flags (default `wx`: never over an existing file); the bench writes into a FIFO with `w`. */
  flags?: string;
  /**
   * Longest wait for the disk to drain the queue once backlogged before the recording gives up (default
   * {@link DEFAULT_MAX_STALL_MS}); 0: never backlogged, the recording stops once `maxBufferBytes` wait.
   */
  maxStallMs?: number;
}

/** How long a session waits, by default, for a recording's disk that fell behind. */
export const DEFAULT_MAX_STALL_MS = 2000;

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

/**
 * Writes are copied into slabs of at most this size (1 MiB: at 500 MB/s a session fills one every 2 ms,
 * and each slab is one message to the I/O thread; 256 KiB slabs made that hand-over 15 ms of the relay's
 * CPU per 100 MB, 1 MiB ones 6.5). A slab is sized to what its session writes in a hand-over tick (from
 * MIN_SLAB_BYTES), and leaves with the tick: an idle recorded session holds no slab between its frames.
 *
 * Slabs are plain memory moved between the threads, not shared memory: V8
 * copies into a SharedArrayBuffer with relaxed atomics, byte by byte when
 * the two sides are not equally aligned (a relayed piece starts anywhere),
 * 10 times slower than the plain copy (22 against 2 ms per 100 MB); that
 * copy was the largest part of what recording cost the relay's thread.
 */
const SLAB_BYTES = 1024 * 1024;
const MIN_SLAB_BYTES = 16 * 1024;

const EMPTY = Buffer.alloc(0);

/**
 * Slabs the I/O thread gave back, by size, for the next ones: fresh memory
 * is zeroed and page-faulted in, which cost about three times the copy
 * itself (75 against 20 ms per 100 MB here). At most this many bytes wait.
 */
const POOL_MAX_BYTES = 8 << 20;
const pool = new Map<number, ArrayBuffer[]>();
let pooledBytes = 0;

function takeSlab(size: number): Buffer {
  const slab = pool.get(size)?.pop();
  if (slab === undefined) return Buffer.from(new ArrayBuffer(size));
  pooledBytes -= size;
  return Buffer.from(slab);
}

/** Only the slab sizes `write` asks for are kept (a buffer of a larger write's own size would not be asked for again). */
function giveSlab(slab: ArrayBuffer): void {
  const size = slab.byteLength;
  if (size < MIN_SLAB_BYTES || size > SLAB_BYTES || (size & (size - 1)) !== 0 || pooledBytes + size > POOL_MAX_BYTES) return;
  pooledBytes += size;
  let free = pool.get(size);
  if (free === undefined) pool.set(size, (free = []));
  free.push(slab);
}

/**
 * Slab bytes go to the I/O thread on a shared tick, at most every
 * HAND_OVER_MS, not once per event-loop turn: each hand-over wakes that
 * thread and is answered, and at full speed a turn carries only one socket
 * read (64 KiB), so per-turn hand-overs cost the recording about a quarter
 * more CPU (measured with 64 KiB pieces: 171 against about 130 ms per 100 MB). A
 * full slab goes at once; the tick only bounds how long bytes sit in one.
 */
const HAND_OVER_MS = 5;
const handOver = {
  writers: new Set<RecordingWriter>(),
  timer: undefined as NodeJS.Timeout | undefined,
  add(w: RecordingWriter): void {
    this.writers.add(w);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      const due = [...this.writers];
      this.writers.clear();
      for (const writer of due) writer.flush();
    }, HAND_OVER_MS);
  },
};

/**
 * The one I/O thread of the process, started with the first recording. It
 * holds the process open only while a request waits for its answer (each
 * gets one: opened, written, ended). Replies go to the writer they name.
 */
const io = {
  worker: undefined as Worker | undefined,
  writers: new Map<number, RecordingWriter>(),
  next: 1,
  inflight: 0,
  post(m: IoRequest, transfer?: ArrayBuffer[]): void {
    if (this.inflight++ === 0) this.worker!.ref();
    this.worker!.postMessage(m, transfer);
  },
  answered(): void {
    if (--this.inflight === 0) this.worker?.unref();
  },
  attach(w: RecordingWriter): number {
    if (!this.worker) {
      const worker = new Worker(new URL('./io-worker.js', import.meta.url));
      worker.on('message', (r: IoReply) => {
        if (r.op !== 'fault') this.answered();
        this.writers.get(r.id)?.reply(r);
      });
      worker.on('error', (err) => {
        for (const writer of this.writers.values()) writer.lost(err);
      });
      worker.on('exit', () => {
        if (this.worker === worker) this.worker = undefined;
        this.inflight = 0;
        for (const writer of this.writers.values()) writer.lost(new Error('the recording I/O thread exited'));
      });
      this.worker = worker;
    }
    const id = this.next++;
    this.writers.set(id, w);
    return id;
  },
  detach(id: number): void {
    this.writers.delete(id);
  },
};


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
  private readonly id: number;
  /** Bytes taken by `write` so far. */
  private handed = 0;
  /** The I/O thread's count of bytes it is done with (io-worker.ts), shared. */
  private readonly done = new BigInt64Array(new SharedArrayBuffer(8));
  /** The last value read from `done`. */
  private doneSeen = 0;
  /** The slab being filled, `used` bytes of it so far; it leaves whole (transferred) when handed over. */
  private slab: Buffer = EMPTY;
  private used = 0;
  private flushing = false;
  /** Bytes written since the last hand-over tick, and in the last tick that had any. */
  private tickBytes = 0;
  private lastTickBytes = 0;
  private ending = false;
  private fault: GuacError | undefined;
  private openedDone!: () => void;
  private ended: ((r: { size: number; sha256: string }) => void) | undefined;
  private summary: Promise<WriteSummary> | undefined;
  /** Most bytes that waited at once (benchmarks, tests). */
  maxQueued = 0;
  /** Over this many waiting bytes the writer is backlogged; under `lowWater` it has drained. */
  private readonly highWater: number;
  private readonly lowWater: number;
  private readonly maxStallMs: number;
  /** Called once the queue drained (or the writer stopped); set by {@link whenDrained}. */
  private drainWaiter: (() => void) | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  /** Times a caller waited for the queue to drain, and for how long in all (benchmarks, tests). */
  stalls = 0;
  stalledMs = 0;
  private stallStart = 0;

  constructor(opts: RecordingWriterOptions) {
    super();
    this.maxBufferBytes = opts.maxBufferBytes ?? 8 << 20;
    this.highWater = Math.floor(this.maxBufferBytes / 2);
    // Half the high mark, not less: while the session waits, its thread idles and only the I/O thread works,
    // so the shorter the drain the less the wait costs (bench, 5 runs each: on/off 0.75-0.88 against
    // 0.68-0.77 resuming at a quarter).
    this.lowWater = Math.floor(this.highWater / 2);
    this.maxStallMs = opts.maxStallMs ?? DEFAULT_MAX_STALL_MS;
    if (!Number.isSafeInteger(this.maxStallMs) || this.maxStallMs < 0) throw new RangeError('maxStallMs must be a whole number of ms, 0 or more');
    this.opened = new Promise((resolve) => { this.openedDone = resolve; });
    this.id = io.attach(this);
    io.post({ op: 'open', id: this.id, path: opts.path, flags: opts.flags ?? 'wx', counter: this.done.buffer as SharedArrayBuffer });
  }

  /** The fault that stopped the writer, if any. */
  get failed(): GuacError | undefined {
    return this.fault;
  }

  /** Bytes waiting for the disk. */
  get pending(): number {
    return this.handed - this.readDone();
  }

  /** More than half the bound waits for the disk: the caller should stop feeding it ({@link whenDrained}). */
  get backlogged(): boolean {
    return this.maxStallMs > 0 && this.fault === undefined && !this.ending && this.handed - this.readDone() > this.highWater;
  }

  /**
   * Calls `resume` once, when the queue is down to half the high-water
   * mark, or when the writer stopped. A queue that does not get there within
   * `maxStallMs` stops the writer (`GUAC_RECORDING_OVERRUN`), then `resume`
   * runs: the session is never held longer than that.
   */
  whenDrained(resume: () => void): void {
    if (this.drainWaiter !== undefined) throw new Error('whenDrained: a caller already waits');
    if (!this.backlogged) {
      resume();
      return;
    }
    this.stalls++;
    this.stallStart = performance.now();
    this.drainWaiter = resume;
    this.stallTimer = setTimeout(() => {
      this.stop(TUNNEL.GUAC_RECORDING_OVERRUN());
    }, this.maxStallMs);
  }

  /** The waiter of {@link whenDrained}, called at most once. */
  private drained(): void {
    const resume = this.drainWaiter;
    if (resume === undefined) return;
    this.drainWaiter = undefined;
    this.stalledMs += performance.now() - this.stallStart;
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    resume();
  }

  private readDone(): number {
    this.doneSeen = Number(Atomics.load(this.done, 0));
    return this.doneSeen;
  }

  /**
   * Queues a copy of `bytes` (the caller's buffer may be reused at once).
   * @returns false when the writer has stopped (now or earlier): the bytes are lost
   */
  write(bytes: Buffer | string): boolean {
    if (this.fault !== undefined || this.ending) return false;
    const length = typeof bytes === 'string' ? Buffer.byteLength(bytes, 'utf8') : bytes.length;
    let waiting = this.handed - this.doneSeen + length;
    // The I/O thread's replies reach this thread late when the relay keeps it
    // busy: before giving up, read its shared count of what it has written.
    if (waiting > this.maxBufferBytes && (waiting = this.handed - this.readDone() + length) > this.maxBufferBytes) {
      this.stop(TUNNEL.GUAC_RECORDING_OVERRUN());
      return false;
    }
    if (length > SLAB_BYTES / 4) {
      // Alone in a slab (or a buffer) of its own, handed over at once.
      this.seal();
      this.slab = length <= SLAB_BYTES ? takeSlab(SLAB_BYTES) : Buffer.from(new ArrayBuffer(length));
      this.used = typeof bytes === 'string' ? this.slab.write(bytes, 0, 'utf8') : bytes.copy(this.slab, 0);
      this.seal();
    } else {
      if (this.slab.length - this.used < length) {
        this.seal();
        let size = MIN_SLAB_BYTES;
        const need = (Math.max(this.tickBytes, this.lastTickBytes) + length) * 4;
        while (size < SLAB_BYTES && size < need) size *= 2;
        this.slab = takeSlab(size);
      }
      this.used += typeof bytes === 'string' ? this.slab.write(bytes, this.used, 'utf8') : bytes.copy(this.slab, this.used);
      if (!this.flushing) {
        this.flushing = true;
        handOver.add(this);
      }
    }
    this.handed += length;
    this.tickBytes += length;
    // A new high only from the I/O thread's own count (the replies' may be stale).
    if (waiting > this.maxQueued && (waiting = this.handed - this.readDone()) > this.maxQueued) this.maxQueued = waiting;
    return true;
  }

  /** The hand-over tick: the slab goes to the I/O thread with what it took since the last one. */
  flush(): void {
    this.flushing = false;
    this.seal();
    this.lastTickBytes = this.tickBytes;
    this.tickBytes = 0;
  }

  /** Writes what is queued, closes the file and reports. Idempotent. */
  end(): Promise<WriteSummary> {
    this.ending = true;
    this.drained();
    this.summary ??= (async () => {
      this.seal();
      const done = await new Promise<{ size: number; sha256: string }>((resolve) => {
        this.ended = resolve;
        io.post({ op: 'end', id: this.id });
      });
      io.detach(this.id);
      this.openedDone();
      const out: WriteSummary = { size: done.size, sha256: done.sha256, complete: this.fault === undefined };
      if (this.fault) out.fault = this.fault;
      return out;
    })();
    return this.summary;
  }

  /** A reply of the I/O thread (io-worker.ts). */
  reply(r: IoReply): void {
    switch (r.op) {
      case 'opened':
        this.openedDone();
        break;
      case 'written': {
        this.readDone();
        giveSlab(r.slab);
        if (this.drainWaiter !== undefined && this.handed - this.doneSeen <= this.lowWater) this.drained();
        break;
      }
      case 'fault':
        this.stop(recordingFault(r));
        break;
      case 'ended':
        this.ended?.(r);
        break;
    }
  }

  /** The I/O thread failed or exited: nothing more reaches the file. */
  lost(err: Error): void {
    this.stop(TUNNEL.GUAC_RECORDING_IO({ cause: err }));
    this.openedDone();
    this.ended?.({ size: 0, sha256: '' });
  }

  /**
   * Moves the slab, with the bytes it took, to the I/O thread (transferred: this thread no longer sees it).
   * An empty slab, or any once the writer has stopped, goes back to the pool instead.
   */
  private seal(): void {
    const slab = this.slab;
    if (slab === EMPTY) return;
    this.slab = EMPTY;
    const used = this.used;
    this.used = 0;
    if (used === 0 || this.fault !== undefined) {
      giveSlab(slab.buffer as ArrayBuffer);
      return;
    }
    const ab = slab.buffer as ArrayBuffer;
    io.post({ op: 'write', id: this.id, bytes: new Uint8Array(ab, slab.byteOffset, used) }, [ab]);
  }

  private stop(fault: GuacError): void {
    if (this.fault !== undefined) return;
    this.fault = fault;
    this.seal();
    this.emit('fault', fault);
    this.drained();
  }
}
