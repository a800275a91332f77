/**
 * GuacdPool's own rules, without guacd: placement (healthy, fewest sessions,
 * ties rotate), session counting by socket lifetime, and probes that are
 * shared, cached and report changes once. The probes go to a plain TCP
 * listener: what they test is a connection, not guacd.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { GuacdPool, type GuacdHealthChange } from '../../src/guacd/pool.js';
import { freePort } from '../helpers/env.js';

const members = (...ports: number[]) => ports.map((port) => ({ address: { host: '127.0.0.1', port } }));

test('pick: the healthy guacd with the fewest sessions; ties rotate; down and excluded ones never', () => {
  const pool = new GuacdPool(members(1, 2, 3), { checkIntervalMs: 0 });
  assert.deepEqual(pool.names, ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3']);
  // Idle: ties rotate, so an idle pool still spreads.
  assert.deepEqual([pool.pick(), pool.pick(), pool.pick(), pool.pick()], ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3', '127.0.0.1:1']);
  const sockets = [new PassThrough(), new PassThrough(), new PassThrough()];
  pool.attach('127.0.0.1:1', sockets[0]!);
  pool.attach('127.0.0.1:1', sockets[1]!);
  pool.attach('127.0.0.1:2', sockets[2]!);
  assert.equal(pool.pick(), '127.0.0.1:3');
  pool.markDown('127.0.0.1:3', 'GUAC_GUACD_UNREACHABLE');
  assert.equal(pool.pick(), '127.0.0.1:2');
  assert.equal(pool.pick(new Set(['127.0.0.1:2'])), '127.0.0.1:1');
  pool.markDown('127.0.0.1:1', 'GUAC_GUACD_IO');
  assert.equal(pool.pick(new Set(['127.0.0.1:2'])), undefined, 'nothing healthy is left');
  assert.deepEqual(pool.status().map((m) => [m.healthy, m.sessions, m.error]), [[false, 2, 'GUAC_GUACD_IO'], [true, 1, undefined], [false, 0, 'GUAC_GUACD_UNREACHABLE']]);
});

test('attach: a session counts until its socket closes, once; an already closed one does not count', async () => {
  const pool = new GuacdPool(members(1), { checkIntervalMs: 0 });
  const s = new PassThrough();
  pool.attach('127.0.0.1:1', s);
  assert.equal(pool.status()[0]!.sessions, 1);
  s.destroy();
  await new Promise((resolve) => s.once('close', resolve));
  assert.equal(pool.status()[0]!.sessions, 0);
  s.emit('close');
  assert.equal(pool.status()[0]!.sessions, 0);
  const gone = new PassThrough();
  gone.destroy();
  pool.attach('127.0.0.1:1', gone);
  assert.equal(pool.status()[0]!.sessions, 0);
  pool.attach('no-such-guacd', new PassThrough());
  assert.equal(pool.address('no-such-guacd'), undefined);
});

test('check: concurrent callers share one probe, answers are reused for cacheMs, changes are reported once', async () => {
  let accepted = 0;
  const server = net.createServer((c) => { accepted++; c.destroy(); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const up = (server.address() as net.AddressInfo).port;
  const down = await freePort();
  let clock = 1_000_000;
  const pool = new GuacdPool(members(up, down), { checkIntervalMs: 0, cacheMs: 2000, now: () => clock });
  const changes: GuacdHealthChange[] = [];
  pool.on('health', (c: GuacdHealthChange) => changes.push(c));
  try {
    const answers = await Promise.all(Array.from({ length: 50 }, () => pool.check()));
    for (const a of answers) assert.deepEqual(a.map((m) => [m.healthy, m.error]), [[true, undefined], [false, 'GUAC_GUACD_UNREACHABLE']]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(accepted, 1, 'one probe for 50 concurrent checks');
    await pool.check();
    assert.equal(accepted, 1, 'reused within cacheMs');
    clock += 2000;
    await pool.check();
    assert.equal(accepted, 2, 'probed again once stale');
    assert.deepEqual(changes, [{ guacd: `127.0.0.1:${down}`, healthy: false, error: 'GUAC_GUACD_UNREACHABLE', sessions: 0 }]);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a pool needs guacd, each named once', () => {
  assert.throws(() => new GuacdPool([]), /at least one guacd/);
  assert.throws(() => new GuacdPool([{ address: { port: 1 } }, { name: '127.0.0.1:1', address: { port: 2 } }]), /named "127\.0\.0\.1:1"/);
});
