/**
 * Prometheus metrics of the gateway, fed only by the library's
 * diagnostics_channel events (src/diagnostics.ts): the library layers know
 * nothing of prom-client. One registry per process; with `--workers` the
 * primary sums the workers' registries (workers.ts).
 *
 * The guacd pool's gauges (`guacd` label) are read from its `status()` at
 * scrape time. With `--workers` the primary sums every worker's values:
 * sessions per guacd sum right; `guacd_up` is aggregated with `min`, since
 * each worker probes guacd for itself (down for one worker is down).
 *
 * Recordings are counted from `recording:end`, file transfers from `transfer:end`.
 * The byte counters also read the tunnel's live sessions at scrape time
 * (`sessions`), so that traffic shows while it flows, not at the session's end.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import client from 'prom-client';
import type { GuacdMemberStatus } from '../guacd/pool.js';
import type { SessionHandle } from '../tunnel/types.js';
import {
  CHANNELS, type GuacdRetryMessage, type RecordingEndMessage, type TransferEndMessage, type HandshakeDoneMessage, type HandshakeFailedMessage, type SessionCloseMessage,
} from '../diagnostics.js';

/** Prefix of every metric of the gateway's own. */
export const METRICS_PREFIX = 'guacamole_gateway_';

/** Handshake-time buckets, in seconds: a local SSH login is ~0.1 s, an RDP login seconds. */
const HANDSHAKE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Handshake failures that are a token refused (the reason is the code). */
const TOKEN_REFUSAL = /^GUAC_(TOKEN|TUNNEL_TOKEN|SHARE|GRANT)_/;

/** The label of a session that never reached guacd's `ready` (its protocol is not known). */
const NO_PROTOCOL = 'none';

/** The gateway's metrics in one process. */
export interface GatewayMetrics {
  /** The registry holding them (what a scrape of this process reads). */
  readonly registry: client.Registry;
  /** Stops listening to the library's events. */
  close(): void;
}

/**
 * Registers the gateway's metrics and subscribes them to the library's events.
 * @param opts.processMetrics also prom-client's process metrics (CPU, memory, event-loop lag)
 * @param opts.guacd the guacd pool's state, read at each scrape (`GuacdPool.status`)
 * @param opts.sessions the tunnel's live sessions, read at each scrape (their bytes so far)
 */
export function createMetrics(opts: {
  processMetrics?: boolean;
  guacd?: () => readonly GuacdMemberStatus[];
  sessions?: () => Iterable<SessionHandle>;
} = {}): GatewayMetrics {
  const registry = new client.Registry();
  const registers = [registry];
  const name = (n: string): string => `${METRICS_PREFIX}${n}`;
  const active = new client.Gauge({ name: name('sessions_active'), help: 'Sessions relaying now (past guacd\'s ready).', labelNames: ['protocol'], registers });
  const opened = new client.Counter({ name: name('sessions_opened_total'), help: 'Sessions that reached guacd\'s ready.', labelNames: ['protocol'], registers });
  const ended = new client.Counter({ name: name('sessions_ended_total'), help: 'Sessions ended after guacd\'s ready, by Guacamole status.', labelNames: ['protocol', 'status'], registers });
  // Bytes of ended sessions by protocol; at each scrape the relaying sessions'
  // bytes so far are added, so a long session shows its traffic as it flows.
  // A session counts live only once it is relaying (its protocol known) and
  // leaves the tunnel's table in the turn its close adds it to the ended sum:
  // the counters never go back.
  const endedBytes = { from: new Map<string, number>(), to: new Map<string, number>() };
  const byteCounter = (metric: string, help: string, side: 'from' | 'to') => new client.Counter({
    name: name(metric), help, labelNames: ['protocol'], registers,
    collect() {
      const sums = new Map(endedBytes[side]);
      for (const s of opts.sessions?.() ?? []) {
        const protocol = protocols.get(s.info.id);
        if (protocol === undefined || s.state === 'closed') continue;
        sums.set(protocol, (sums.get(protocol) ?? 0) + (side === 'from' ? s.stats.bytesFromBrowser : s.stats.bytesToBrowser));
      }
      this.reset();
      for (const [protocol, n] of sums) this.inc({ protocol }, n);
    },
  });
  byteCounter('bytes_from_browser_total', 'Bytes the browser sent (of relaying sessions, so far).', 'from');
  byteCounter('bytes_to_browser_total', 'Bytes sent to the browser (of relaying sessions, so far).', 'to');
  const addEnded = (side: 'from' | 'to', protocol: string, n: number): void => {
    endedBytes[side].set(protocol, (endedBytes[side].get(protocol) ?? 0) + n);
  };
  const handshake = new client.Histogram({
    name: name('handshake_seconds'), help: 'From the browser connecting to guacd\'s ready.', labelNames: ['protocol'], buckets: HANDSHAKE_BUCKETS, registers,
  });
  const failed = new client.Counter({ name: name('handshakes_failed_total'), help: 'Sessions that ended before guacd\'s ready, by error code.', labelNames: ['code'], registers });
  const refused = new client.Counter({ name: name('tokens_refused_total'), help: 'Tokens refused, by reason (the error code).', labelNames: ['reason'], registers });
  const retries = new client.Counter({ name: name('guacd_retries_total'), help: 'guacd connections that did not start and were tried again.', labelNames: ['code'], registers });
  const recordings = new client.Counter({
    name: name('recordings_total'), help: 'Session recordings closed, by result (complete, or the fault that stopped one).', labelNames: ['result'], registers,
  });
  const recordingBytes = new client.Counter({ name: name('recording_bytes_total'), help: 'Bytes written to session recordings.', registers });
  // A recordings disk slower than the sessions shows here first: sessions held back (briefly) before any recording is lost.
  const recordingWaits = new client.Counter({
    name: name('recording_disk_waits_total'), help: 'Times a session stopped reading guacd until its recording\'s disk caught up (counted when the recording closes).', registers,
  });
  const recordingWaitSeconds = new client.Counter({
    name: name('recording_disk_wait_seconds_total'), help: 'Seconds sessions waited for their recording\'s disk (counted when the recording closes).', registers,
  });
  const transfers = new client.Counter({
    name: name('transfers_total'), help: 'File transfers ended, by direction and Guacamole status (SUCCESS, or why they failed or were refused).',
    labelNames: ['direction', 'status'], registers,
  });
  const transferBytes = new client.Counter({ name: name('transfer_bytes_total'), help: 'Bytes of file transfers, by direction.', labelNames: ['direction'], registers });
  if (opts.processMetrics) client.collectDefaultMetrics({ register: registry });
  const pool = opts.guacd;
  if (pool) {
    new client.Gauge({
      name: name('guacd_up'), help: 'Whether this gateway reaches the guacd (its last probe or connect), 1 or 0.', labelNames: ['guacd'],
      registers, aggregator: 'min',
      collect() { for (const g of pool()) this.set({ guacd: g.name }, g.healthy ? 1 : 0); },
    });
    new client.Gauge({
      name: name('guacd_sessions'), help: 'Sessions whose connection to the guacd is open.', labelNames: ['guacd'], registers,
      collect() { for (const g of pool()) this.set({ guacd: g.name }, g.sessions); },
    });
  }

  // The protocol of each relaying session: session:close does not carry it.
  const protocols = new Map<string, string>();
  const handlers: [string, (m: unknown) => void][] = [
    [CHANNELS.handshakeDone, (m) => {
      const done = m as HandshakeDoneMessage;
      const protocol = done.protocol ?? NO_PROTOCOL;
      protocols.set(done.session, protocol);
      active.inc({ protocol });
      opened.inc({ protocol });
      handshake.observe({ protocol }, done.durationMs / 1000);
    }],
    [CHANNELS.handshakeFailed, (m) => {
      const f = m as HandshakeFailedMessage;
      failed.inc({ code: f.code });
      if (TOKEN_REFUSAL.test(f.code)) refused.inc({ reason: f.code });
    }],
    [CHANNELS.sessionClose, (m) => {
      const c = m as SessionCloseMessage;
      const protocol = protocols.get(c.session) ?? NO_PROTOCOL;
      protocols.delete(c.session);
      if (c.opened) {
        active.dec({ protocol });
        ended.inc({ protocol, status: c.statusName });
      }
      addEnded('from', protocol, c.bytesFromBrowser);
      addEnded('to', protocol, c.bytesToBrowser);
    }],
    [CHANNELS.guacdRetry, (m) => retries.inc({ code: (m as GuacdRetryMessage).code })],
    [CHANNELS.transferEnd, (m) => {
      const t = m as TransferEndMessage;
      transfers.inc({ direction: t.direction, status: t.statusName });
      transferBytes.inc({ direction: t.direction }, t.bytes);
    }],
    [CHANNELS.recordingEnd, (m) => {
      const r = m as RecordingEndMessage;
      recordings.inc({ result: r.complete ? 'complete' : r.fault ?? 'incomplete' });
      recordingBytes.inc(r.size);
      if (r.diskWaits > 0) {
        recordingWaits.inc(r.diskWaits);
        recordingWaitSeconds.inc(r.diskWaitMs / 1000);
      }
    }],
  ];
  for (const [channel, handler] of handlers) diagnostics_channel.subscribe(channel, handler);
  return {
    registry,
    close() {
      for (const [channel, handler] of handlers) diagnostics_channel.unsubscribe(channel, handler);
    },
  };
}
