/**
 * The recordings' file I/O and hashing, on a thread of its own so the
 * relay's thread only copies bytes into slabs, which it moves here. One worker serves
 * every recording of the process; messages name the recording by a number.
 * Writes are synchronous here (this thread does nothing else), in the
 * order they were sent. What is done is added to a counter the writer
 * shares (its bound reads it at once); each write is also acknowledged,
 * moving its slab back for the writer's next ones. After a fault a
 * recording's writes are dropped (and still counted and acknowledged).
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

/** What the writer sends. */
export type IoRequest =
  | { op: 'open'; id: number; path: string; flags: string; counter: SharedArrayBuffer }
  /** `bytes` is a view of a slab transferred with the message. */
  | { op: 'write'; id: number; bytes: Uint8Array }
  | { op: 'end'; id: number };

/** What the worker answers. */
export type IoReply =
  | { op: 'opened'; id: number }
  /** `slab`: the written slab, transferred back. */
  | { op: 'written'; id: number; slab: ArrayBuffer }
  | { op: 'fault'; id: number; code: string; message: string }
  | { op: 'ended'; id: number; size: number; sha256: string };

interface Open {
  fd: number | undefined;
  /** Bytes of this recording's writes done with (written, or dropped after a fault), read by the writer at once. */
  done: BigInt64Array;
  hash: Hash;
  size: number;
  failed: boolean;
}

const files = new Map<number, Open>();
const port = parentPort!;
const send = (reply: IoReply): void => port.postMessage(reply);

function fault(id: number, file: Open, err: unknown): void {
  file.failed = true;
  const e = err as { code?: unknown; message?: unknown };
  send({ op: 'fault', id, code: typeof e.code === 'string' ? e.code : 'EIO', message: String(e.message ?? err) });
}

port.on('message', (m: IoRequest) => {
  if (m.op === 'open') {
    const file: Open = { fd: undefined, done: new BigInt64Array(m.counter), hash: createHash('sha256'), size: 0, failed: false };
    files.set(m.id, file);
    try {
      file.fd = openSync(m.path, m.flags, 0o600);
    } catch (err) {
      fault(m.id, file, err);
    }
    // Every request gets one answer (opened, written, ended); a fault comes on top, before it.
    send({ op: 'opened', id: m.id });
    return;
  }
  const file = files.get(m.id);
  if (!file) return;
  if (m.op === 'write') {
    if (!file.failed && file.fd !== undefined) {
      let off = 0;
      try {
        while (off < m.bytes.length) {
          const n = writeSync(file.fd, m.bytes, off, m.bytes.length - off);
          if (n <= 0) throw Object.assign(new Error('the file took no bytes'), { code: 'EIO' });
          // Only what the file took is hashed: the digest of an incomplete recording matches its file.
          file.hash.update(m.bytes.subarray(off, off + n));
          file.size += n;
          off += n;
        }
      } catch (err) {
        fault(m.id, file, err);
      }
    }
    // The counter first: the writer's bound reads it without waiting for this reply to cross threads.
    Atomics.add(file.done, 0, BigInt(m.bytes.length));
    const slab = m.bytes.buffer as ArrayBuffer;
    port.postMessage({ op: 'written', id: m.id, slab } satisfies IoReply, [slab]);
    return;
  }
  files.delete(m.id);
  if (file.fd !== undefined) {
    if (!file.failed) {
      try {
        fsyncSync(file.fd);
      } catch (err) {
        // EINVAL: a file that cannot be synced (a pipe, the bench's and tests' slow disk) holds nothing to flush.
        if ((err as { code?: unknown }).code !== 'EINVAL') fault(m.id, file, err);
      }
    }
    try { closeSync(file.fd); } catch { /* already unusable */ }
  }
  send({ op: 'ended', id: m.id, size: file.size, sha256: file.hash.digest('hex') });
});
