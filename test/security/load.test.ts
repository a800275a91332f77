/**
 * Load: 20 concurrent real SSH sessions through one gateway process and a
 * guacd 1.3.0 of the test's own all work, and the gateway's CPU and memory
 * are measured apart from guacd's (the soak run does 200).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeLoad, runLoad } from '../helpers/load.js';

describe('load', { timeout: 180_000 }, () => {
  it('20 concurrent SSH sessions through one gateway process all work; CPU and memory measured', async () => {
    const r = await runLoad({ sessions: 20, openConcurrency: 5, lines: 200, holdMs: 1000 });
    process.stderr.write(`# load: ${describeLoad(r)}\n`);
    assert.equal(r.working, r.sessions, 'some sessions did not run their command');
    // Generous bounds for a loaded 2-core machine: the relay is light next to guacd.
    assert.ok(r.gateway.rssPeakMiB < 256, `gateway RSS peaked at ${r.gateway.rssPeakMiB} MiB`);
    assert.ok(r.gateway.cpuSeconds < r.wallSeconds, `gateway used ${r.gateway.cpuSeconds} CPU s in ${r.wallSeconds} s`);
  });
});
