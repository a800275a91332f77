/**
 * A recording "disk" the test controls: a FIFO whose reader takes nothing
 * until told to. The recordings' I/O thread blocks in its write once the
 * pipe's buffer (64 KiB) is full, as it would on a disk that stopped
 * answering, so the writer's queue grows on the relay's side.
 */
import { execFileSync } from 'node:child_process';
import { open, type FileHandle } from 'node:fs/promises';

export interface SlowDisk {
  path: string;
  /** Bytes read so far. */
  read: number;
  /** Starts reading, as fast as the pipe gives. */
  drain(): void;
  /** Stops reading for now (the disk stalls); `resume` goes on. */
  pause(): void;
  resume(): void;
  /** Stops reading (drops the reader: a write blocked on the pipe then fails with EPIPE). */
  close(): Promise<void>;
}

/** Makes the FIFO at `path` and opens its reader (without reading). */
export function slowDisk(path: string): SlowDisk {
  execFileSync('mkfifo', [path]);
  // Opening a FIFO's read end waits for a writer: on the thread pool, so the test goes on.
  const handle: Promise<FileHandle> = open(path, 'r');
  let draining: Promise<void> | undefined;
  let closed = false;
  let stalled: { until: Promise<void>; release: () => void } | undefined;
  const disk: SlowDisk = {
    path,
    read: 0,
    drain() {
      draining ??= (async () => {
        const fh = await handle;
        const buf = Buffer.alloc(1 << 16);
        for (;;) {
          if (stalled) await stalled.until;
          if (closed) return;
          const { bytesRead } = await fh.read(buf, 0, buf.length, null);
          if (bytesRead === 0) return;
          disk.read += bytesRead;
        }
      })();
    },
    pause() {
      if (stalled) return;
      let release!: () => void;
      const until = new Promise<void>((resolve) => { release = resolve; });
      stalled = { until, release };
    },
    resume() {
      const s = stalled;
      stalled = undefined;
      s?.release();
    },
    async close() {
      closed = true;
      disk.resume();
      await (await handle).close();
      await draining?.catch(() => undefined);
    },
  };
  return disk;
}
