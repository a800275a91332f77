/**
 * Seeded random fuzz rounds in both directions, against the fake guacd (the
 * strict parser on its side proves guacd only ever receives valid protocol),
 * for the fuzz test (a hundred rounds) and the soak run (thousands). Each
 * function sets up its own fake guacd and gateway, checks every round, and
 * tears everything down; a broken invariant throws.
 */
import assert from 'node:assert/strict';
import { STATUS, type StatusInfo } from '../../src/protocol/status.js';
import type { Resolver } from '../../src/tunnel/resolver.js';
import type { SessionRecord } from '../../src/tunnel/types.js';
import { waitFor } from './env.js';
import { startFakeGuacd, type FakeConnection, type FakeGuacd } from './fake-guacd.js';
import { browserInstruction, guacdInstruction, mulberry32, mutate, randInt, randomChunks, validStream } from './hostile.js';
import { memoryAfterGc, type MemorySample } from './procfs.js';
import { Cleanups, clientFor, gatewayFor } from './security.js';
import type { TestGateway } from './ws-client.js';

/** A target the fake guacd accepts. */
export const fakeTarget: Resolver = async () => ({ protocol: 'ssh', params: { hostname: 'h', username: 'u', password: 'p' } });

/** Protocol-error outcomes of a hostile browser stream, by how it was caught. */
export const BROWSER_ERRORS: readonly StatusInfo[] = [STATUS.CLIENT_BAD_REQUEST, STATUS.CLIENT_OVERRUN];

/** What a fuzz run saw. */
export interface FuzzResult {
  rounds: number;
  /** Rounds that ended in a protocol error (the rest were relayed). */
  errors: number;
  memoryBefore: MemorySample;
  memoryAfter: MemorySample;
}

/** Waits for the onSessionEnd record of session `id`. */
export function recordFor(records: SessionRecord[], id: string, what: string): Promise<SessionRecord> {
  return waitFor(() => records.find((r) => r.id === id), { timeoutMs: 15_000, what });
}

/** A fake guacd whose sessions send their first frame at once; `next()` hands over each connection after `ready`. */
export async function fakeWithConnections(cleanups: Cleanups): Promise<{ fake: FakeGuacd; next(): Promise<FakeConnection> }> {
  const waiting: FakeConnection[] = [];
  // A first frame at once, as guacd sends it: the session is up (firstFrameTimeoutMs does not apply).
  const fake = await startFakeGuacd({ afterReady: async (conn) => { conn.send('sync', 0); waiting.push(conn); await conn.closed; } });
  cleanups.add(() => fake.close());
  return {
    fake,
    next: () => waitFor(() => waiting.shift(), { timeoutMs: 10_000, intervalMs: 5, what: 'a guacd connection' }),
  };
}

/** Drops the fake's record of finished connections: a long run measures the gateway, not the fake's notes. */
function forget(fake: FakeGuacd): void {
  const live = fake.connections.filter((c) => !c.socket.destroyed);
  fake.connections.splice(0, fake.connections.length, ...live);
  fake.received.length = 0;
}

/** A fake guacd (first frame at once) and a gateway in front of it, recording every session's end. */
export async function fakeGateway(cleanups: Cleanups): Promise<{ fake: FakeGuacd; next(): Promise<FakeConnection>; g: TestGateway; records: SessionRecord[] }> {
  const { fake, next } = await fakeWithConnections(cleanups);
  const records: SessionRecord[] = [];
  const g = await gatewayFor(cleanups, { guacd: { host: fake.host, port: fake.port }, resolve: fakeTarget, onSessionEnd: (r) => { records.push(r); } });
  return { fake, next, g, records };
}

/** Opens a round's session and makes its mutated stream of up to `count` valid instructions. */
async function mutatedRound(g: TestGateway, next: () => Promise<FakeConnection>, rng: () => number, make: (rng: () => number) => string, count: number) {
  const c = await clientFor(new Cleanups(), g, '', { pingMs: 0 });
  const conn = await next();
  let bytes = validStream(rng, make, randInt(rng, 1, count));
  for (let m = randInt(rng, 1, 3); m > 0; m--) bytes = mutate(bytes, rng);
  return { c, conn, bytes };
}

/**
 * Browser → gateway: mutated browser streams in random pieces. Each round's
 * session ends with a protocol error or relays; what reaches guacd always
 * parses; a bystander session works throughout.
 */
export async function fuzzBrowserStreams(rounds: number, seed: number): Promise<FuzzResult> {
  const cleanups = new Cleanups();
  try {
    const { fake, next, g, records } = await fakeGateway(cleanups);
    const bystander = await clientFor(cleanups, g);
    const bystanderConn = await next();
    const memoryBefore = await memoryAfterGc();
    const rng = mulberry32(seed);
    let errors = 0;
    for (let round = 0; round < rounds; round++) {
      const { c, conn, bytes } = await mutatedRound(g, next, rng, browserInstruction, 20);
      for (const piece of randomChunks(bytes, rng)) if (piece.length > 0) c.sendRaw(piece);
      c.send('nop');
      // Either the session died of the stream, or guacd got the closing nop; a mutated
      // length may instead still be swallowing bytes: more than any element holds ends that.
      const settled = () => c.ws.readyState === c.ws.CLOSED || conn.received.some((i) => i.opcode === 'nop');
      await waitFor(settled, { timeoutMs: 500, intervalMs: 5, what: `round ${round}` }).catch(() => c.sendRaw(Buffer.alloc(8 * 8192 + 8, 0x78)));
      await waitFor(settled, { timeoutMs: 10_000, intervalMs: 5, what: `round ${round}` });
      if (c.ws.readyState === c.ws.CLOSED) {
        const r = await recordFor(records, c.uuid as string, `round ${round}`);
        assert.ok(BROWSER_ERRORS.includes(r.status), `round ${round}: ${r.status.name}`);
        errors++;
      }
      c.terminate();
      await conn.closed;
      records.length = 0;
      forget(fake);
      // The fake parses strictly and drops a connection on the first bad byte: none was.
      assert.deepEqual(fake.errors, [], `round ${round}: guacd received invalid protocol`);
    }
    assert.ok(!fake.received.some((i) => i.opcode === ''), 'an internal instruction reached guacd');
    bystander.send('key', 65, 1);
    await bystanderConn.waitFor('key', 5000);
    bystanderConn.send('sync', 42);
    await bystander.waitFor((r) => r.opcode === 'sync' && r.args[0] === '42', 5000, 'the bystander\'s frame');
    return { rounds, errors, memoryBefore, memoryAfter: await memoryAfterGc() };
  } finally {
    await cleanups.run();
  }
}

/**
 * guacd → gateway: mutated guacd output in random pieces, then `disconnect`
 * and a hang-up. Each session ends cleanly after guacd's `disconnect` or
 * with UPSTREAM_ERROR, and no message to the browser splits an instruction.
 */
export async function fuzzGuacdStreams(rounds: number, seed: number): Promise<FuzzResult> {
  const cleanups = new Cleanups();
  try {
    const { fake, next, g } = await fakeGateway(cleanups);
    const memoryBefore = await memoryAfterGc();
    const rng = mulberry32(seed);
    let errors = 0;
    for (let round = 0; round < rounds; round++) {
      const { c, conn, bytes } = await mutatedRound(g, next, rng, guacdInstruction, 30);
      // A stream the mutations left valid ends properly; one they broke ends with UPSTREAM_ERROR.
      for (const piece of randomChunks(Buffer.concat([bytes, Buffer.from('4.sync,6.999999;10.disconnect;')]), rng)) conn.sendRaw(piece);
      conn.end();
      const closed = await c.waitClosed(10_000);
      assert.equal(c.partialMessages, 0, `round ${round}: a message split an instruction`);
      if (closed.reason === String(STATUS.SUCCESS.guac)) {
        assert.equal(c.instructions.at(-1)?.opcode, 'disconnect', `round ${round}: a clean end must follow guacd's disconnect`);
      } else {
        assert.equal(closed.reason, String(STATUS.UPSTREAM_ERROR.guac), `round ${round}: closed ${closed.code} after ${JSON.stringify(c.instructions.slice(-2)).slice(0, 300)}`);
        errors++;
      }
      await conn.closed;
      forget(fake);
    }
    await waitFor(() => g.tunnel.sessions.size === 0, { what: 'every session to end' });
    return { rounds, errors, memoryBefore, memoryAfter: await memoryAfterGc() };
  } finally {
    await cleanups.run();
  }
}
