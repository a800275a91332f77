/**
 * Issue 12: what recording costs the relay. The SSH-like recorded stream
 * (ssh-seq) through `ours` with recording off and on (keys included), as
 * the tunnel suite measures throughput; and through a gateway whose
 * recording "disk" is a FIFO drained at 1 MB/s, far slower than the stream:
 * the session must still get every byte at full speed and the gateway's
 * memory stay bounded (the recording stops at its queue bound, marked
 * incomplete, instead of holding the relay or growing).
 */
import { startStack, type Stack } from '../lib/stack.js';
import { receive } from '../lib/client.js';
import { measureTunnel, timedRuns, type TunnelResult } from './tunnel.js';
import type { RecordingStats } from '../lib/gateways.js';

export interface RecordingParams {
  mode: 'off' | 'on' | 'slow';
  recordings: string[];
  quick?: boolean;
}

export interface SlowDiskResult {
  mode: 'slow';
  /** Bytes the client got, of those sent. */
  bytes: number;
  total: number;
  mbps: number;
  rssBefore: number;
  peakRss: number;
  /** Peak RSS minus RSS before the session, bytes. */
  growth: number;
  recording: RecordingStats | undefined;
}

export type RecordingBenchResult = (TunnelResult & { mode: 'off' | 'on'; recorded?: RecordingStats[] }) | SlowDiskResult;

/** The last session's recording once its file is closed (its fault, if any, and the bytes written). */
async function waitRecorded(stack: Stack): Promise<RecordingStats> {
  for (let i = 0; i < 100; i++) {
    const s = await stack.gateway!.call<RecordingStats | undefined>('recording', undefined, 10000);
    if (s?.finished) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the recording did not finish within 10 s of its session');
}

export async function measureRecording(p: RecordingParams): Promise<RecordingBenchResult> {
  const total = p.quick ? 40e6 : 200e6;
  if (p.mode === 'off') return { ...(await measureTunnel({ kind: 'ours', recordings: p.recordings, quick: p.quick === true })), mode: 'off' };
  if (p.mode === 'on') {
    const stack = await startStack('ours-rec', { mode: 'replay', recordings: p.recordings, bytesPerSession: total });
    try {
      // Each timed session's recording must be whole: a recording that stopped (overrun) would make "on" cheap.
      const recorded: RecordingStats[] = [];
      const r = await timedRuns(stack, total, p.quick === true, async () => {
        recorded.push(await waitRecorded(stack));
      });
      return { kind: 'ours-rec', ...r, mode: 'on', recorded };
    } finally {
      await stack.stop();
    }
  }
  const stack = await startStack('ours-rec-slow', { mode: 'replay', recordings: p.recordings, bytesPerSession: total });
  try {
    const before = await stack.mem(true);
    const r = await receive(stack.url, total, p.quick ? 8000 : 20000);
    const after = await stack.mem(false);
    const recording = await stack.gateway!.call<RecordingStats | undefined>('recording', undefined, 10000);
    return {
      mode: 'slow', bytes: r.bytes, total, mbps: Math.round(r.bytes / r.ms / 1e2) / 10,
      rssBefore: before.rss, peakRss: after.peakRss, growth: after.peakRss - before.rss, recording,
    };
  } finally {
    await stack.stop();
  }
}
