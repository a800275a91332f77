/**
 * Recording faults in live SSH sessions through the real guacd: the
 * `required` policy ends the session (or refuses it before guacd is asked)
 * with SERVER_ERROR, a message naming the fault, and the same status and
 * message in history; `best-effort` keeps the session going and marks the
 * recording incomplete. Disk full is a 16 KiB tmpfs, permission denied a
 * read-only tmpfs (root ignores permission bits), folder missing a path
 * that does not exist, a slow disk a FIFO the test reads or stops reading.
 * Without mount rights the tmpfs cases are skipped, saying so.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { STATUS } from '../../src/protocol/status.js';
import { tokenResolver } from '../../src/tunnel/resolver.js';
import { sealToken } from '../../src/tunnel/token.js';
import { SessionRecorder, type RecordingResult, type RecordSpec } from '../../src/tunnel/recording/index.js';
import { createMetrics } from '../../src/server/metrics.js';
import type { SessionRecord } from '../../src/tunnel/types.js';
import { waitFor } from '../helpers/env.js';
import { Cleanups, clientFor, expectClosedWith, gatewayFor, markerPath, openSession, runInShell, shellReady, sleep, sshParams, typeText } from '../helpers/security.js';
import { slowDisk } from '../helpers/fifo.js';
import { parseSamples, sample } from '../helpers/prometheus.js';
import { mountTmpfs, unmountTmpfs } from '../helpers/tmpfs.js';

const SECRET = 'recording-faults-secret-0123456789';
const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe('recording faults in live sessions', { timeout: 120_000 }, () => {
  let full: string | undefined;
  let readOnly: string | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'rec-faults-'));
  before(() => {
    full = mountTmpfs('size=16k');
    readOnly = mountTmpfs('size=64k,ro');
  });
  after(() => {
    unmountTmpfs(full);
    unmountTmpfs(readOnly);
    rmSync(dir, { recursive: true, force: true });
  });

  /** A gateway recording into `folder`; its recorders' results and its history records are kept. */
  async function recordingGateway(folder: string | undefined) {
    const results: Promise<RecordingResult>[] = [];
    const records: SessionRecord[] = [];
    const g = await gatewayFor(cleanups, {
      resolve: tokenResolver({ secret: SECRET }),
      onSessionEnd: (r) => { records.push(r); },
      ...(folder === undefined ? {} : {
        recorder: (info, spec) => {
          const rec = new SessionRecorder({ path: join(folder, `${info.id}.guac`), ...spec });
          results.push(new Promise((resolve) => rec.once('finish', resolve)));
          return rec;
        },
      }),
    });
    const query = (record: RecordSpec) => `token=${encodeURIComponent(sealToken({ exp: Math.floor(Date.now() / 1000) + 120, target: { protocol: 'ssh', params: sshParams(), record } }, SECRET))}`;
    return { g, results, records, query };
  }

  /** A required recording that cannot start: refused before guacd, with the fault's message, in history too. */
  async function refused(folder: string | undefined, message: string): Promise<void> {
    const { g, records, query } = await recordingGateway(folder);
    const c = await clientFor(cleanups, g, query({ policy: 'required' }));
    const closed = await expectClosedWith(c, STATUS.SERVER_ERROR);
    assert.equal(closed.message, message);
    assert.equal(c.instructions.some((r) => r.opcode === 'sync'), false, 'no frame: guacd was never asked');
    await waitFor(() => records[0], { what: 'the history record' });
    assert.deepEqual([records[0]!.status, records[0]!.message], [STATUS.SERVER_ERROR, message]);
  }

  it('required, folder missing: refused before guacd, GUAC_RECORDING_FOLDER_MISSING', async () => {
    await refused(join(dir, 'no-such-folder'), 'The session recording could not be written: the recordings folder is missing.');
  });

  it('required, folder read-only: refused, GUAC_RECORDING_DENIED', async (t) => {
    if (readOnly === undefined) return t.skip('cannot mount a tmpfs here');
    await refused(readOnly, 'The session recording could not be written: the recordings folder may not be written.');
  });

  it('required, and the tunnel records nothing: refused, GUAC_RECORDING_UNAVAILABLE', async () => {
    await refused(undefined, 'This session must be recorded and the gateway records no sessions.');
  });

  it('required, disk full mid-session: the session ends with SERVER_ERROR, in history too', async (t) => {
    if (full === undefined) return t.skip('cannot mount a tmpfs here');
    const { g, records, results, query } = await recordingGateway(full);
    // The first frames of a terminal take more than 16 KiB.
    const c = await clientFor(cleanups, g, `${query({ policy: 'required' })}&width=1024&height=768`);
    const closed = await expectClosedWith(c, STATUS.SERVER_ERROR);
    assert.equal(closed.message, 'The session recording could not be written: the disk is full.');
    const r = await results[0]!;
    assert.deepEqual([r.complete, r.fault?.code], [false, 'GUAC_RECORDING_DISK_FULL']);
    await waitFor(() => records[0], { what: 'the history record' });
    assert.deepEqual([records[0]!.status, records[0]!.message], [STATUS.SERVER_ERROR, closed.message]);
  });

  it('best-effort, disk full or folder missing: the session goes on, the recording is incomplete (and /metrics counts it by fault)', async (t) => {
    const metrics = createMetrics();
    t.after(() => metrics.close());
    let bytes = 0;
    for (const [folder, code] of [[full, 'GUAC_RECORDING_DISK_FULL'], [join(dir, 'missing'), 'GUAC_RECORDING_FOLDER_MISSING']] as const) {
      if (folder === undefined) {
        t.diagnostic('disk full skipped: cannot mount a tmpfs here');
        continue;
      }
      const { g, results, records, query } = await recordingGateway(folder);
      const c = await openSession(cleanups, g, `${query({ policy: 'best-effort' })}&width=1024&height=768`);
      // Frames keep coming after the fault (guacd sends one a second even when idle).
      const frames = c.instructions.filter((r) => r.opcode === 'sync').length;
      await c.waitFor((r) => r.opcode === 'sync', 10_000, 'a later frame', c.received.indexOf(c.instructions.filter((r) => r.opcode === 'sync')[frames - 1]!) + 1);
      assert.equal(c.ws.readyState, c.ws.OPEN, code);
      c.ws.close();
      const r = await results[0]!;
      assert.deepEqual([r.complete, r.fault?.code], [false, code]);
      await waitFor(() => records[0], { what: 'the history record' });
      assert.equal(records[0]!.status, STATUS.SUCCESS, `${code}: the session ended normally`);
      bytes += r.size;
      const m = parseSamples(await metrics.registry.metrics());
      assert.equal(sample(m, 'guacamole_gateway_recordings_total', { result: code }), 1);
      assert.equal(sample(m, 'guacamole_gateway_recording_bytes_total'), bytes);
      await cleanups.run();
    }
  });

  describe('a disk that falls behind (a FIFO the test reads, or not)', () => {
    /**
     * Ten seconds of fresh screens (guacd sends what changed each frame: a one-shot print is coalesced into a
     * few frames, a loop that prints new lines every 30 ms is not). Random text, which guacd's images cannot
     * shrink much, is past the 128 KiB that make the session wait within a second. Lines of numbers made about
     * 190 KB in the whole ten seconds, barely past it: a change in how the pipe took the writes was enough to
     * stay under it.
     */
    const SCREENFULS = 'for i in $(seq 1 300); do head -c 1500 /dev/urandom | base64 -w 100; sleep 0.03; done';

    /**
     * A gateway recording into a FIFO with a 256 KiB bound: the session waits once 128 KiB wait for the disk
     * (and a 64 KiB read of guacd right after a wait still fits under the bound).
     */
    async function fifoGateway(maxStallMs: number) {
      const disk = slowDisk(join(dir, `fifo-${Date.now()}-${Math.random().toString(36).slice(2)}`));
      cleanups.add(() => disk.close());
      const recorders: SessionRecorder[] = [];
      const results: Promise<RecordingResult>[] = [];
      const records: SessionRecord[] = [];
      const g = await gatewayFor(cleanups, {
        resolve: tokenResolver({ secret: SECRET }),
        onSessionEnd: (r) => { records.push(r); },
        recorder: (_info, spec) => {
          const rec = new SessionRecorder({ path: disk.path, flags: 'w', maxBufferBytes: 256 << 10, maxStallMs, ...spec });
          recorders.push(rec);
          results.push(new Promise((resolve) => rec.once('finish', resolve)));
          return rec;
        },
      });
      const query = (record: RecordSpec) => `token=${encodeURIComponent(sealToken({ exp: Math.floor(Date.now() / 1000) + 120, target: { protocol: 'ssh', params: sshParams(), record } }, SECRET))}&width=1024&height=768`;
      return { g, disk, recorders, results, records, query };
    }

    it('a disk that stalls for a second holds the session (not its input), which then goes on: the recording whole (and /metrics counts the wait)', async (t) => {
      const metrics = createMetrics();
      t.after(() => metrics.close());
      const { g, disk, recorders, results, query } = await fifoGateway(20_000);
      disk.drain();
      const c = await openSession(cleanups, g, query({ policy: 'best-effort' }));
      await shellReady(cleanups, c);
      disk.pause();
      // Far more than the pipe (at most 64 KiB) and the 128 KiB before the session waits.
      typeText(c, `${SCREENFULS}\n`);
      await waitFor(() => recorders[0]!.stalls > 0 || undefined, { timeoutMs: 20_000, what: 'the session waiting for the disk' });
      await sleep(1000);
      assert.equal(recorders[0]!.failed, undefined, 'still recording: the disk has 20 s');
      disk.resume();
      // The session goes on: the shell runs this once the loop is done.
      const marker = markerPath(cleanups, 'rec-held');
      await runInShell(c, `touch ${marker}`, marker, 60_000);
      assert.equal(c.ws.readyState, c.ws.OPEN);
      c.ws.close();
      const r = await results[0]!;
      assert.equal(r.complete, true, 'every byte relayed is in the recording');
      // The file is closed; the reader may still be taking its last bytes.
      await waitFor(() => disk.read >= r.size || undefined, { what: 'the disk to read the whole file' });
      assert.equal(disk.read, r.size, 'the disk got the whole file');
      assert.ok(recorders[0]!.stalledMs >= 900, `the session waited through the stall (${Math.round(recorders[0]!.stalledMs)} ms)`);
      const m = parseSamples(await metrics.registry.metrics());
      assert.equal(sample(m, 'guacamole_gateway_recordings_total', { result: 'complete' }), 1);
      assert.equal(sample(m, 'guacamole_gateway_recording_disk_waits_total'), recorders[0]!.stalls);
      assert.ok(sample(m, 'guacamole_gateway_recording_disk_wait_seconds_total') >= 0.9, 'the second of waiting counted');
    });

    it('best-effort: a disk that takes nothing for maxStallMs loses the recording, the session goes on', async () => {
      const { g, disk, recorders, results, records, query } = await fifoGateway(500);
      disk.drain();
      const c = await openSession(cleanups, g, query({ policy: 'best-effort' }));
      await shellReady(cleanups, c);
      disk.pause();
      typeText(c, `${SCREENFULS}\n`);
      await waitFor(() => recorders[0]!.failed, { timeoutMs: 30_000, what: 'the recording to give up' });
      assert.equal(recorders[0]!.failed!.code, 'GUAC_RECORDING_OVERRUN');
      const marker = markerPath(cleanups, 'rec-lost');
      await runInShell(c, `touch ${marker}`, marker, 60_000);
      assert.equal(c.ws.readyState, c.ws.OPEN, 'the session goes on');
      c.ws.close();
      disk.resume();
      const r = await results[0]!;
      assert.deepEqual([r.complete, r.fault?.code], [false, 'GUAC_RECORDING_OVERRUN']);
      await waitFor(() => records[0], { what: 'the history record' });
      assert.equal(records[0]!.status, STATUS.SUCCESS);
    });

    it('required: a disk that takes nothing for maxStallMs ends the session with SERVER_ERROR, in history too', async () => {
      const { g, disk, records, query } = await fifoGateway(500);
      disk.drain();
      const c = await openSession(cleanups, g, query({ policy: 'required' }));
      await shellReady(cleanups, c);
      disk.pause();
      typeText(c, `${SCREENFULS}\n`);
      const closed = await expectClosedWith(c, STATUS.SERVER_ERROR, { timeoutMs: 30_000 });
      assert.equal(closed.message, 'The session recording could not keep up: the disk was too slow.');
      disk.resume();
      await waitFor(() => records[0], { what: 'the history record' });
      assert.deepEqual([records[0]!.status, records[0]!.message], [STATUS.SERVER_ERROR, closed.message]);
    });
  });
});
