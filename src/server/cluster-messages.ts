/**
 * The messages between the primary and its workers (`serve --workers`) over
 * the cluster's IPC channel. Each carries `t` starting `gw:`; anything else on
 * the channel (Node's own, a library's) is ignored by both sides.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { GuacdAddress } from '../guacd/socket.js';

/** A worker's registry, as prom-client serialises it. */
export type WorkerMetrics = MetricObjectWithValues<MetricValue<string>>[];

/** Primary → worker. */
export type ToWorker =
  /** guacd's address (the primary supervises the local guacd): sent at start and when it moves. */
  | { t: 'gw:guacd'; address: GuacdAddress }
  /** Stop taking connections, let the live sessions end, then exit (SIGHUP's rolling replacement). */
  | { t: 'gw:drain' }
  /** `serve --drain S` got SIGTERM: refuse new sessions, give the live ones up to `drainMs`, then stop (instead of SIGTERM). */
  | { t: 'gw:stop'; drainMs: number }
  /** A worker died: end the open sessions it recorded (it cannot). */
  | { t: 'gw:end-sessions'; gateway: string }
  /** Send this worker's metrics. */
  | { t: 'gw:metrics?'; id: number }
  /** The live workers' own loopback ports, for the HTTP tunnel across workers (cluster-http-relay.ts). */
  | { t: 'gw:peers'; peers: [number, number][] }
  /** The sum over the workers, answering a worker's `gw:sum?` (its `/metrics` on the main port). */
  | { t: 'gw:sum'; id: number; text?: string; error?: string };

/** Worker → primary. */
export type ToPrimary =
  /** Listening (the shared `port`, and `privatePort` of its own), recording sessions under `gateway`. */
  | { t: 'gw:ready'; gateway: string; address: string; port: number; privatePort: number }
  | { t: 'gw:ended'; gateway: string; sessions: number }
  | { t: 'gw:metrics'; id: number; metrics?: WorkerMetrics; error?: string }
  /** A drained worker's last metrics, just before it exits: the primary keeps its counters. */
  | { t: 'gw:final'; metrics: WorkerMetrics }
  /** Asks for the sum over the workers. */
  | { t: 'gw:sum?'; id: number };

/** Narrows an IPC message to ours. */
export function isOurs<M extends { t: string }>(m: unknown): m is M {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string' && (m as { t: string }).t.startsWith('gw:');
}
