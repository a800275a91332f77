/**
 * A browser that stops reading must not grow the gateway (issue 15, item 2).
 * Every path where the browser's input makes output is bounded: the
 * gateway stops reading a browser whose output is over the high-water mark,
 * cuts one that stays stuck (CLIENT_TIMEOUT), and refuses internal
 * instructions guacamole-common-js never sends (CLIENT_BAD_REQUEST).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STATUS } from '../../src/protocol/status.js';
import { describeStalledReader, runStalledReader } from '../helpers/stalled-reader.js';
import { realGuacd } from '../helpers/security.js';

describe('a browser that stops reading (WebSocket)', { timeout: 120_000 }, () => {
  it('floods pings and never reads: the gateway stops reading it, its memory stays flat, the session ends with CLIENT_TIMEOUT', async () => {
    const browserTimeoutMs = 4000;
    const r = await runStalledReader({ guacd: realGuacd(), durationMs: 12_000, browserTimeoutMs });
    process.stderr.write(`# stalled reader (12 s): ${describeStalledReader(r)}\n`);
    // Unfixed, the gateway read everything and queued the echoes: 65 → 1,998 MiB in these 12 s.
    assert.ok(r.rssPeakMiB - r.rssStartMiB < 128, `gateway RSS grew from ${r.rssStartMiB} to ${r.rssPeakMiB} MiB`);
    assert.ok(r.droppedAfterMs.length >= 1, 'the gateway never dropped the stalled browser');
    // Flat while the first session is held back: from its third second to its drop (unfixed: +160 MiB a second).
    const held = r.rssBySecond.slice(2, Math.floor(r.droppedAfterMs[0] / 1000));
    assert.ok(held.length >= 2 && Math.max(...held) - held[0] < 8, `gateway RSS while the browser was held back: ${held.join(' ')} MiB`);
    const stalled = r.ends.filter((e) => e.status === STATUS.CLIENT_TIMEOUT.guac);
    assert.ok(stalled.length >= 1, `session ends: ${JSON.stringify(r.ends)}`);
    assert.equal(stalled[0].code, 'GUAC_TUNNEL_BROWSER_STALLED');
    assert.match(stalled[0].message ?? '', /stopped reading/);
  });
});
