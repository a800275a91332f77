/**
 * Issue 12: what recording costs the relay. The SSH-like recorded stream
 * (ssh-seq) through `ours` with recording off and on (keys included), as
 * the tunnel suite measures throughput; and through a gateway whose
 * recording "disk" is a FIFO drained at 1 MB/s, far slower than the stream:
 * the session must still get every byte at full speed and the gateway's
 * memory stay bounded (the recording stops at its queue bound, marked
 * incomplete, instead of holding the relay or growing).
 */
import { startStack } from '../lib/stack.js';
import { receive } from '../lib/client.js';
import { measureTunnel, type TunnelResult } from './tunnel.js';
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

export type RecordingBenchResult = (TunnelResult & { mode: 'off' | 'on' }) | SlowDiskResult;

export async function measureRecording(p: RecordingParams): Promise<RecordingBenchResult> {
  if (p.mode !== 'slow') {
    const r = await measureTunnel({ kind: p.mode === 'on' ? 'ours-rec' : 'ours', recordings: p.recordings, ...(p.quick ? { quick: true } : {}) });
    return { ...r, mode: p.mode };
  }
  const total = p.quick ? 40e6 : 200e6;
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
