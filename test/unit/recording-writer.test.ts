/**
 * The recording file as the tunnel writes it: guacd's bytes unchanged, key
 * events and the closing `sync` on guacd's clock, a sha256 of exactly what
 * reached the disk, a bounded queue, and each file-system fault named.
 * Disk full and a read-only folder use real tmpfs mounts (the tests run as
 * root, which ignores permission bits, so a read-only mount is the honest
 * "may not write"); without mount rights those cases are skipped, saying so.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GuacError } from '../../src/protocol/errors.js';
import { Parser } from '../../src/protocol/parser.js';
import { RecordingWriter, SessionRecorder, syncTime } from '../../src/tunnel/recording/index.js';
import { mountTmpfs as tmpfs, unmountTmpfs as unmount } from '../helpers/tmpfs.js';
import { slowDisk, type SlowDisk } from '../helpers/fifo.js';

const dir = mkdtempSync(join(tmpdir(), 'rec-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (): string => join(dir, `r${++n}.guac`);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function instructions(bytes: Buffer): [string, string[]][] {
  const out: [string, string[]][] = [];
  assert.equal(new Parser().push(bytes, (op, args) => out.push([op, args])), undefined);
  return out;
}

/**
 * Writes more than a pipe holds (64 KiB) and gives the I/O thread time to fill the FIFO and block in its
 * write: from then on nothing it has done can change until the reader reads, so a test's `backlogged`
 * stays what it was. Returns the bytes written.
 */
async function stallIoThread(w: RecordingWriter, piece: Buffer): Promise<number> {
  let sent = 0;
  for (let i = 0; i < 8; i++) {
    assert.equal(w.write(piece), true);
    sent += piece.length;
  }
  // Past the 5 ms hand-over tick, and long enough for the thread to write what fits.
  await new Promise((resolve) => setTimeout(resolve, 200));
  return sent;
}

/**
 * A writer with a 512 KiB bound into a FIFO the test reads or not (its faults kept), open and with its
 * I/O thread already blocked on the full pipe; after `body` the FIFO's reader is dropped, which fails a
 * write still blocked (EPIPE), so the file can be closed. Returns the writer.
 */
async function onSlowDisk(
  opts: { maxStallMs?: number },
  body: (w: RecordingWriter, disk: SlowDisk, faults: GuacError[], sent: number, piece: Buffer) => Promise<void>,
): Promise<RecordingWriter> {
  const disk = slowDisk(join(dir, `fifo${++n}`));
  const w = new RecordingWriter({ path: disk.path, flags: 'w', maxBufferBytes: 512 << 10, ...opts });
  const faults: GuacError[] = [];
  w.on('fault', (e: GuacError) => faults.push(e));
  try {
    await w.opened;
    const piece = Buffer.alloc(16 << 10, 0x61);
    await body(w, disk, faults, await stallIoThread(w, piece), piece);
  } finally {
    await disk.close();
  }
  return w;
}

describe('session recorder format', () => {
  it('keeps guacd\'s bytes, adds keys and the closing sync on guacd\'s clock', async () => {
    let clock = 1_000_000;
    const path = file();
    // guacd's clock runs 5000 ms ahead of ours: keys and the end follow guacd's.
    const rec = new SessionRecorder({ path, keys: true, now: () => clock });
    const frame1 = Buffer.from('4.size,1.0,3.800,3.600;4.sync,7.1005000,1.0;');
    rec.output(frame1);
    rec.sync(Buffer.from('4.sync,7.1005000,1.0;'));
    clock += 1200;
    rec.key(['97', '1']);
    rec.key(['97', '0']);
    rec.key(['x', '1']); // not a keysym: dropped
    clock += 800;
    const frame2 = Buffer.from('3.nop;4.sync,7.1007000;');
    rec.output(frame2);
    rec.sync(Buffer.from('4.sync,7.1007000;'));
    clock += 3000;
    const r = await rec.finish();
    const bytes = readFileSync(path);
    assert.deepEqual(instructions(bytes), [
      ['size', ['0', '800', '600']], ['sync', ['1005000', '0']],
      ['key', ['97', '1', '1006200']], ['key', ['97', '0', '1006200']],
      ['nop', []], ['sync', ['1007000']], ['sync', ['1010000']],
    ]);
    assert.equal(r.complete, true);
    assert.equal(r.size, bytes.length);
    assert.equal(r.sha256, sha(bytes));
    assert.equal(r.durationMs, 5000);
    assert.equal(r.firstFrame, 1_000_000, 'the gateway\'s time of the first frame');
  });

  it('writes no key events without keys, and no closing sync without frames', async () => {
    const path = file();
    const rec = new SessionRecorder({ path });
    rec.output(Buffer.from('3.nop;'));
    rec.key(['97', '1']);
    const r = await rec.finish();
    assert.equal(readFileSync(path, 'utf8'), '3.nop;');
    assert.equal(r.durationMs, 0);
    assert.equal(r.firstFrame, undefined);
  });

  it('reads sync timestamps and refuses what is not one', () => {
    assert.equal(syncTime(Buffer.from('4.sync,13.1733000000000,1.2;')), 1733000000000);
    assert.equal(syncTime(Buffer.from('4.sync;')), undefined);
    assert.equal(syncTime(Buffer.from('4.sync,3.abc;')), undefined);
    // Within a larger read, by offsets; never past the end given.
    const read = Buffer.from('4.size,1.0;4.sync,10.1005000123,1.0;5.mouse');
    const at = read.indexOf('4.sync');
    assert.equal(syncTime(read, at, read.indexOf(';', at) + 1), 1005000123);
    assert.equal(syncTime(read, at, at + 16), undefined);
    assert.equal(syncTime(Buffer.from('4.sync,0.;')), undefined);
    assert.equal(syncTime(Buffer.from('4.sync,17.12345678901234567;')), undefined);
    assert.equal(syncTime(Buffer.from('4.sync,16.9999999999999999;')), undefined, 'past 2^53: not a time');
    assert.equal(syncTime(Buffer.from('4.sync,2.1x;')), undefined);
    assert.equal(syncTime(Buffer.from('4.sync,x.12;')), undefined);
  });
});

describe('recording writer', () => {
  it('copies what it is given: the caller may reuse its buffer at once', async () => {
    const path = file();
    const w = new RecordingWriter({ path });
    const buf = Buffer.from('4.sync,1.1;');
    w.write(buf);
    buf.fill(0x78);
    const r = await w.end();
    assert.equal(readFileSync(path, 'utf8'), '4.sync,1.1;');
    assert.equal(r.complete, true);
  });

  it('keeps order and content across turns, slabs let go and large writes', async () => {
    const path = file();
    const w = new RecordingWriter({ path });
    const parts: Buffer[] = [];
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 200; i++) {
      // Mostly small pieces, now and then a turn's burst and a piece larger than a slab's quarter.
      const size = i % 50 === 7 ? 100_000 : i % 10 === 3 ? 9000 : 20 + (i % 7);
      const piece = Buffer.alloc(size, 0x41 + (i % 26));
      parts.push(piece);
      w.write(i % 2 === 0 ? piece : piece.toString('latin1'));
      if (i % 3 === 0) await turn();
    }
    const r = await w.end();
    const expected = Buffer.concat(parts);
    assert.deepEqual([r.complete, r.size, r.sha256], [true, expected.length, sha(expected)]);
    assert.ok(readFileSync(path).equals(expected));
  });

  it('reuses slabs only once the I/O thread has written them: several recordings at once stay byte for byte', async () => {
    const writers = Array.from({ length: 3 }, () => ({ path: file(), parts: [] as Buffer[] }));
    const open = writers.map((x) => ({ ...x, w: new RecordingWriter({ path: x.path }) }));
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    // Enough turns and bytes that slabs are retired, written and taken again by the next ones (of any writer).
    for (let i = 0; i < 400; i++) {
      for (const x of open) {
        const piece = randomBytes(2000 + ((i * 7919) % 10_000));
        x.parts.push(piece);
        x.w.write(piece);
      }
      if (i % 4 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      else await turn();
    }
    for (const x of open) {
      const r = await x.w.end();
      const expected = Buffer.concat(x.parts);
      assert.deepEqual([r.complete, r.size, r.sha256], [true, expected.length, sha(expected)]);
      assert.ok(readFileSync(x.path).equals(expected), 'the file holds exactly what was written');
    }
  });

  it('stops at its bound instead of growing: overrun, incomplete, digest of what reached the disk', async () => {
    const path = file();
    const w = new RecordingWriter({ path, maxBufferBytes: 4096 });
    const faults: GuacError[] = [];
    w.on('fault', (e: GuacError) => faults.push(e));
    // The file is not open yet: everything queues, and the bound is hit.
    assert.equal(w.write(Buffer.alloc(3000, 0x61)), true);
    assert.equal(w.write(Buffer.alloc(3000, 0x62)), false);
    assert.equal(w.write(Buffer.alloc(1, 0x63)), false, 'stopped for good');
    const r = await w.end();
    assert.equal(faults.length, 1);
    assert.equal(faults[0]!.code, 'GUAC_RECORDING_OVERRUN');
    assert.equal(faults[0]!.status.name, 'SERVER_ERROR');
    assert.equal(r.complete, false);
    assert.equal(r.fault?.code, 'GUAC_RECORDING_OVERRUN');
    const bytes = readFileSync(path);
    assert.equal(r.size, bytes.length);
    assert.equal(r.sha256, sha(bytes));
    assert.ok(w.maxQueued <= 4096);
  });

  it('counts what the I/O thread has written, not what its late replies said: a busy relay thread is not cut short', async () => {
    const path = file();
    const w = new RecordingWriter({ path, maxBufferBytes: 4 << 20 });
    await w.opened;
    // 64 MiB through a 4 MiB bound without one event-loop turn: no reply of the
    // I/O thread can arrive, so only its shared count can show room.
    const piece = Buffer.alloc(1 << 20, 0x5a);
    const deadline = Date.now() + 20_000;
    for (let i = 0; i < 64; i++) {
      while (w.pending + piece.length > 4 << 20) {
        assert.ok(Date.now() < deadline, `the writer never showed room (pending ${w.pending})`);
      }
      assert.equal(w.write(piece), true, `write ${i} taken`);
    }
    const r = await w.end();
    assert.deepEqual([r.complete, r.size], [true, 64 << 20]);
    assert.equal(w.failed, undefined);
  });

  it('past half its bound it is backlogged; whenDrained answers once the I/O thread is down to half of that', async () => {
    await onSlowDisk({}, async (w, disk, _faults, sent, piece) => {
      while (!w.backlogged) {
        assert.equal(w.write(piece), true);
        sent += piece.length;
        assert.ok(sent < 8 << 20, 'never backlogged');
      }
      assert.ok(w.pending > 256 << 10, `backlogged over half the bound (${w.pending})`);
      let resumed = false;
      w.whenDrained(() => { resumed = true; });
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(resumed, false, 'no answer while the disk takes nothing');
      disk.drain();
      const deadline = Date.now() + 10_000;
      while (!resumed) {
        assert.ok(Date.now() < deadline, 'whenDrained never answered');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.ok(w.pending <= 128 << 10, `drained to half the high-water mark (${w.pending})`);
      assert.equal(w.failed, undefined);
      assert.equal(w.stalls, 1);
      const r = await w.end();
      assert.deepEqual([r.complete, r.size], [true, sent]);
      // The file is closed; the reader may still be taking its last bytes.
      const deadline2 = Date.now() + 10_000;
      while (disk.read < sent && Date.now() < deadline2) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(disk.read, sent, 'the disk got every byte');
    });
  });

  it('a disk that takes nothing for maxStallMs stops the recording (overrun) and lets the waiter go', async () => {
    const w = await onSlowDisk({ maxStallMs: 300 }, async (w, _disk, faults, _sent, piece) => {
      while (!w.backlogged) w.write(piece);
      const t0 = Date.now();
      const resumed = await new Promise<number>((resolve) => w.whenDrained(() => resolve(Date.now() - t0)));
      assert.ok(resumed >= 250 && resumed < 5000, `let go after about maxStallMs (${resumed} ms)`);
      assert.deepEqual(faults.map((f) => f.code), ['GUAC_RECORDING_OVERRUN']);
      assert.equal(w.backlogged, false, 'a stopped writer is never backlogged');
      assert.equal(w.write(Buffer.from('x')), false);
      let again = false;
      w.whenDrained(() => { again = true; });
      assert.equal(again, true, 'answered at once once stopped');
    });
    assert.equal((await w.end()).complete, false);
  });

  it('with maxStallMs 0 it never asks to wait: past half its bound it keeps taking bytes, and stops at the bound', async () => {
    assert.throws(() => new RecordingWriter({ path: file(), maxStallMs: -1 }), RangeError);
    const w = await onSlowDisk({ maxStallMs: 0 }, async (w, _disk, faults, _sent, piece) => {
      while (w.write(piece)) {
        assert.equal(w.backlogged, false, `never backlogged (${w.pending} waiting)`);
        assert.ok(w.pending <= 512 << 10);
      }
      assert.deepEqual(faults.map((f) => f.code), ['GUAC_RECORDING_OVERRUN'], 'stopped at the bound, as before the wait existed');
      let resumed = false;
      w.whenDrained(() => { resumed = true; });
      assert.equal(resumed, true, 'whenDrained answers at once');
    });
    assert.equal((await w.end()).complete, false);
  });

  it('names a missing folder', async () => {
    const w = new RecordingWriter({ path: join(dir, 'no-such-folder', 'x.guac') });
    await w.opened;
    assert.equal(w.failed?.code, 'GUAC_RECORDING_FOLDER_MISSING');
    assert.equal(w.failed?.message, 'The session recording could not be written: the recordings folder is missing.');
    assert.equal((await w.end()).complete, false);
  });

  it('names a folder that cannot be written: a path under a file (ENOTDIR)', async () => {
    const notDir = join(dir, 'plain-file');
    writeFileSync(notDir, '');
    const w = new RecordingWriter({ path: join(notDir, 'x.guac') });
    await w.opened;
    assert.equal(w.failed?.code, 'GUAC_RECORDING_DENIED');
  });

  describe('on real tmpfs mounts', () => {
    let full: string | undefined;
    let readOnly: string | undefined;
    before(() => {
      full = tmpfs('size=64k');
      readOnly = tmpfs('size=64k,ro');
    });
    after(() => { unmount(full); unmount(readOnly); });

    it('names a read-only folder (EROFS), which root cannot write either', async (t) => {
      if (readOnly === undefined) return t.skip('cannot mount a tmpfs here (not root?)');
      const w = new RecordingWriter({ path: join(readOnly, 'x.guac') });
      await w.opened;
      assert.equal(w.failed?.code, 'GUAC_RECORDING_DENIED');
      assert.equal(w.failed?.status.name, 'SERVER_ERROR');
    });

    it('names a full disk, keeps the digest of the bytes that fit', async (t) => {
      if (full === undefined) return t.skip('cannot mount a tmpfs here (not root?)');
      mkdirSync(join(full, 'recs'));
      const path = join(full, 'recs', 'x.guac');
      const w = new RecordingWriter({ path });
      const faults: GuacError[] = [];
      w.on('fault', (e: GuacError) => faults.push(e));
      await w.opened;
      for (let i = 0; i < 40; i++) w.write(Buffer.alloc(4096, 0x41 + (i % 26)));
      const r = await w.end();
      assert.equal(faults.length, 1);
      assert.equal(faults[0]!.code, 'GUAC_RECORDING_DISK_FULL');
      assert.equal(faults[0]!.message, 'The session recording could not be written: the disk is full.');
      assert.equal(r.complete, false);
      const bytes = readFileSync(path);
      assert.ok(bytes.length > 0 && bytes.length < 40 * 4096);
      assert.equal(r.size, bytes.length);
      assert.equal(r.sha256, sha(bytes));
    });
  });
});
