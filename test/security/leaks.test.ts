/**
 * Leaks: 200 sessions through the real guacd (telnet), opened and ended
 * every way a session ends (clean and abrupt), leave the process's file
 * descriptors, its sockets to guacd, its memory and its live session objects
 * where they were. The soak run (`npm run soak`) does 1,000 over SSH.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Parser } from '../../src/protocol/parser.js';
import { HttpPort } from '../../src/tunnel/http.js';
import type { Resolver } from '../../src/tunnel/resolver.js';
import { TunnelSession } from '../../src/tunnel/session.js';
import type { SessionRecord } from '../../src/tunnel/types.js';
import { WebSocketPort } from '../../src/tunnel/websocket.js';
import { CYCLE_MODES, holdings, runCycles, settled, type Holdings } from '../helpers/cycles.js';
import { loadTestEnv, waitFor } from '../helpers/env.js';
import { startOwnGuacd } from '../helpers/faults.js';
import { liveInstances, memoryAfterGc, mib, openFds } from '../helpers/procfs.js';
import { Cleanups, gatewayFor, guacdRetries } from '../helpers/security.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const CYCLES = 200;
const WARMUP = 2 * CYCLE_MODES.length;

describe('leaks', { timeout: 240_000 }, () => {
  it(`${CYCLES} open/close cycles (clean and abrupt) leave fds, guacd sockets and memory at the baseline`, async () => {
    // telnet: the gateway's share is the same for every protocol, and telnet's first frame
    // comes three times sooner than SSH's (no key exchange), which keeps npm test short.
    const resolve: Resolver = async () => ({ protocol: 'telnet', params: loadTestEnv().telnet.params });
    const records: SessionRecord[] = [];
    // A guacd of the test's own: its sockets are all this test's, and the churn disturbs no one.
    const guacd = await startOwnGuacd();
    cleanups.add(() => guacd.kill());
    const guacdPort = guacd.port;
    // A short handshake timeout: guacd's occasional hung fork (see openSession) then costs 6 s, not 15.
    const g = await gatewayFor(cleanups, { guacd: { host: guacd.host, port: guacd.port }, resolve, handshakeTimeoutMs: 6000, onSessionEnd: (r) => { records.push({ ...r }); } });

    // Warm up first: JIT, ws and undici internals, guacd's first forks.
    assert.deepEqual((await runCycles(g, WARMUP, 2)).failures, []);
    const fresh = await holdings(guacdPort);
    await settled(g, guacdPort, fresh);
    // Idle keep-alive sockets of the HTTP client close after a few seconds; take the baseline after them.
    await waitFor(async () => openFds() <= fresh.fds, { timeoutMs: 10_000, intervalMs: 250, what: 'warm-up fds to close' }).catch(() => undefined);
    const base: Holdings = await holdings(guacdPort);
    records.length = 0;
    const hangs = guacdRetries.count;

    const t0 = Date.now();
    const { failures, gaveUp } = await runCycles(g, CYCLES, 4);
    const took = Date.now() - t0;
    await settled(g, guacdPort, base);
    assert.deepEqual(failures, [], `cycles failed: ${failures.join('; ')}`);
    // guacd (or telnetd) failing a session thrice in a row is the environment's doing; a few are tolerated.
    assert.ok(gaveUp.length <= CYCLES / 20, `guacd failed ${gaveUp.length} sessions: ${gaveUp.join('; ')}`);
    assert.equal(records.length, CYCLES + guacdRetries.count - hangs, 'every session (retries included) made exactly one history record');

    // The gateway keeps no session object, port or parser of any of them, once the grace periods
    // of the last ones passed (5 s for a close handshake, 15 s for an HTTP session's last read).
    const kinds = [['TunnelSession', TunnelSession], ['HttpPort', HttpPort], ['WebSocketPort', WebSocketPort], ['Parser', Parser]] as const;
    const live = () => kinds.map(([name, ctor]) => `${name}: ${liveInstances(ctor)}`).filter((l) => !l.endsWith(': 0'));
    await waitFor(() => live().length === 0, { timeoutMs: 25_000, intervalMs: 1000, what: 'no live session objects' })
      .catch(() => assert.fail(`session objects outlived their sessions: ${live().join(', ')}`));
    // fds: the gateway's and the test's own clients; allow a few for lingering keep-alive sockets.
    const fds = await waitFor(async () => {
      const n = openFds();
      return n <= base.fds + 4 ? n : undefined;
    }, { timeoutMs: 20_000, intervalMs: 250, what: `fds back near ${base.fds} (now ${openFds()})` });
    // Memory: compare after full collections; an abandoned HTTP session keeps its last words for 15 s.
    const margin = 8 * 1048576;
    const after = await waitFor(async () => {
      const m = await memoryAfterGc();
      return m.heapAndExternal <= base.memory.heapAndExternal + margin ? m : undefined;
    }, { timeoutMs: 25_000, intervalMs: 1000, what: 'memory back near the baseline' });
    const perCycle = (after.heapAndExternal - base.memory.heapAndExternal) / CYCLES;
    process.stderr.write(
      `# leaks: ${CYCLES} cycles in ${(took / 1000).toFixed(1)} s (${CYCLE_MODES.join(', ')}); ` +
      `fds ${base.fds} → ${fds}, guacd sockets ${base.guacdSockets} → ${(await holdings(guacdPort)).guacdSockets}, ` +
      `heap+external ${mib(base.memory.heapAndExternal)} → ${mib(after.heapAndExternal)} MiB (${(perCycle / 1024).toFixed(1)} KiB/cycle), ` +
      `rss ${mib(base.memory.rss)} → ${mib(after.rss)} MiB; sessions reopened after guacd failed its handshake: ${guacdRetries.count}` +
      `${gaveUp.length ? `; given up after three failures: ${gaveUp.length}` : ''}\n`,
    );
  });
});
