/**
 * Recording metadata and retention on both registries (SQLite, and the test
 * environment's PostgreSQL): a connection's `record` setting round-trips and
 * reaches the resolved target; rows start, finish, list and delete; hostile
 * ids are refused before any query or path. Retention deletes exactly what
 * it must (too old, then oldest over the size cap) and nothing else: not a
 * recording being written, not a file it does not own.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Registry } from '../../src/registry/types.js';
import { Recordings } from '../../src/server/recordings.js';
import { postgresFixture, rejectsWith, sqliteFixture, type FixtureFactory, type RegistryFixture } from '../helpers/registry.js';

const uuid = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

function suite(label: string, factory: FixtureFactory): void {
  describe(`recordings in the registry (${label})`, () => {
    let fx: RegistryFixture;
    let reg: Registry;
    before(async () => {
      fx = await factory();
      reg = await fx.open();
    });
    after(async () => {
      await reg?.close();
      await fx?.cleanup();
    });

    it('a connection\'s record setting round-trips and reaches the resolved target; bad ones are refused', async () => {
      const c = await reg.createConnection({ name: `rec-${label}`, protocol: 'ssh', params: { hostname: 'h' }, record: true });
      assert.deepEqual(c.record, { keys: false, policy: 'best-effort' });
      const u = await reg.updateConnection(c.id, { record: { keys: true, policy: 'required' } });
      assert.deepEqual(u.record, { keys: true, policy: 'required' });
      assert.deepEqual((await reg.resolveParams(c.id)).record, { keys: true, policy: 'required' });
      assert.deepEqual((await reg.updateConnection(c.id, { params: { port: 2222 } })).record, { keys: true, policy: 'required' }, 'kept when not given');
      const off = await reg.updateConnection(c.id, { record: null });
      assert.equal('record' in off, false);
      assert.equal((await reg.resolveParams(c.id)).record, undefined);
      await rejectsWith(reg.updateConnection(c.id, { record: { policy: 'sometimes' } as never }), 'GUAC_REQUEST_INVALID', 0x0300);
      await rejectsWith(reg.createConnection({ name: `rec2-${label}`, protocol: 'ssh', params: { hostname: 'h' }, record: { keys: 'yes' } as never }), 'GUAC_REQUEST_INVALID', 0x0300);
      const plain = await reg.createConnection({ name: `plain-${label}`, protocol: 'ssh', params: { hostname: 'h' } });
      assert.equal('record' in plain, false, 'off by default');
    });

    it('rows start, finish, list and delete; hostile ids are refused', async () => {
      const id = uuid(1);
      await reg.recordings.started({ id, sessionId: id, user: 'ann', file: `${id}.guac`, keys: true, policy: 'required', startedAt: 1000 });
      let r = await reg.recordings.get(id);
      assert.deepEqual([r.complete, r.endedAt, r.user, r.keys, r.policy], [null, null, 'ann', true, 'required']);
      await rejectsWith(reg.recordings.remove(id), 'GUAC_RECORDING_IN_PROGRESS', 0x0205);
      await reg.recordings.finished(id, { endedAt: 5000, durationMs: 3500, firstFrame: 1400, size: 123, sha256: 'ab'.repeat(32), complete: false, error: 'disk full' });
      r = await reg.recordings.get(id.toUpperCase());
      assert.deepEqual([r.complete, r.endedAt, r.durationMs, r.firstFrame, r.size, r.error], [false, 5000, 3500, 1400, 123, 'disk full']);
      assert.deepEqual((await reg.recordings.list({ user: 'ann' })).map((x) => x.id), [id]);
      assert.deepEqual(await reg.recordings.list({ user: 'bob' }), []);
      for (const bad of ['../../etc/passwd', '', 'x'.repeat(5000), `${id}/..`, 42]) {
        await rejectsWith(reg.recordings.get(bad), 'GUAC_RECORDING_ID_INVALID', 0x0300);
      }
      await rejectsWith(reg.recordings.get(uuid(999)), 'GUAC_RECORDING_NOT_FOUND', 0x0204);
      assert.equal((await reg.recordings.remove(id)).id, id);
      await rejectsWith(reg.recordings.get(id), 'GUAC_RECORDING_NOT_FOUND', 0x0204);
    });

    it('retention deletes the too old, then the oldest over the size cap, and nothing else', async () => {
      const dir = join(fx.dataDir, 'recordings');
      mkdirSync(dir, { recursive: true });
      const now = 10_000_000;
      const HOUR = 3_600_000;
      // id n: started n hours ago (older first), 1000 bytes each; #6 is still being written.
      const rows = [[10, 10], [11, 8], [12, 5], [13, 3], [14, 1], [15, 12]] as const;
      for (const [n, hoursAgo] of rows) {
        const id = uuid(n);
        writeFileSync(join(dir, `${id}.guac`), Buffer.alloc(1000, 0x41));
        await reg.recordings.started({ id, sessionId: id, file: `${id}.guac`, keys: false, policy: 'best-effort', startedAt: now - hoursAgo * HOUR });
        if (n !== 15) await reg.recordings.finished(id, { endedAt: now - hoursAgo * HOUR + 1000, durationMs: 900, firstFrame: undefined, size: 1000, sha256: 'cd'.repeat(32), complete: true });
      }
      writeFileSync(join(dir, 'not-a-recording.txt'), 'keep me');
      const recordings = new Recordings({ dir, registry: reg, secret: fx.secret, maxAgeMs: 9 * HOUR, maxTotalBytes: 2500 });
      // Older than 9 h: #10. Then 4000 bytes of finished ones remain: oldest go (#11, #12) until ≤ 2500.
      assert.deepEqual((await recordings.enforceRetention(now)).sort(), [uuid(10), uuid(11), uuid(12)]);
      const left = (await reg.recordings.list()).map((r) => r.id).sort();
      assert.deepEqual(left, [uuid(13), uuid(14), uuid(15)], 'the one being written is kept, however old');
      assert.deepEqual(readdirSync(dir).sort(), [`${uuid(13)}.guac`, `${uuid(14)}.guac`, `${uuid(15)}.guac`, 'not-a-recording.txt']);
      assert.deepEqual(await recordings.enforceRetention(now), [], 'nothing more to do');
      // A second gateway sharing the folder and the database finds nothing left to delete either.
      const other = new Recordings({ dir, registry: reg, secret: fx.secret, maxAgeMs: 9 * HOUR, maxTotalBytes: 2500 });
      assert.deepEqual(await other.enforceRetention(now), []);
      assert.ok(existsSync(join(dir, `${uuid(15)}.guac`)));
    });

    it('completes, as incomplete, a recording whose gateway stopped before its session ended', async () => {
      const dir = join(fx.dataDir, 'orphans');
      mkdirSync(dir, { recursive: true });
      const id = uuid(77);
      const bytes = Buffer.from('4.size,1.0,3.800,3.600;4.sync,4.1000;4.sync,4.3500;4.rect,1.0');
      writeFileSync(join(dir, `${id}.guac`), bytes);
      await reg.sessionStarted({ id, user: 'ann', startedAt: 1000 });
      await reg.recordings.started({ id, sessionId: id, file: `${id}.guac`, keys: false, policy: 'best-effort', startedAt: 1000 });
      const recordings = new Recordings({ dir, registry: reg, secret: fx.secret });
      assert.deepEqual(await recordings.closeOrphans(), [], 'its session is still open: still being written');
      await reg.sessionEnded({ id, endedAt: 2000 });
      assert.deepEqual(await recordings.enforceRetention(), [], 'retention without limits deletes nothing');
      const r = await reg.recordings.get(id);
      assert.deepEqual([r.complete, r.size, r.durationMs, r.error], [false, bytes.length, 2500, 'The gateway writing it stopped before the session ended.']);
      const v = await recordings.verify(id);
      assert.deepEqual([v.state, v.message], ['incomplete', 'The recording is incomplete: The gateway writing it stopped before the session ended.']);
    });
  });
}

suite('SQLite', sqliteFixture);
suite('PostgreSQL', postgresFixture);
