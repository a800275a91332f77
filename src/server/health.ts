/**
 * The health check behind `/healthz`: can guacd be reached? `/healthz` is
 * unauthenticated, so it must not turn each request into a connection to
 * guacd: one check runs at a time, requests arriving meanwhile share it, and
 * its answer (either way) is reused for a few seconds. guacd is reached the
 * way the tunnel reaches it (`openSocket`: TCP, TLS or a Unix socket).
 */
import { describeAddress, openSocket, type GuacdAddress } from '../guacd/socket.js';

/** Options of {@link guacdHealth}. */
export interface HealthOptions {
  /** How long an answer is reused. Default 2000 ms. */
  cacheMs?: number;
  /** Connection timeout of one check. Default 1000 ms. */
  timeoutMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

/**
 * Builds the check.
 * @param address guacd's current address (a supervised guacd may move: a new address is checked at once)
 * @returns a function answering whether guacd accepted a connection, recently
 */
export function guacdHealth(address: () => GuacdAddress, opts: HealthOptions = {}): () => Promise<boolean> {
  const cacheMs = opts.cacheMs ?? 2000;
  const timeoutMs = opts.timeoutMs ?? 1000;
  const now = opts.now ?? Date.now;
  let last: { where: string; at: number; ok: boolean } | undefined;
  let running: { where: string; check: Promise<boolean> } | undefined;

  return () => {
    const target = address();
    const where = describeAddress(target);
    if (last && last.where === where && now() - last.at < cacheMs) return Promise.resolve(last.ok);
    if (running && running.where === where) return running.check;
    const check = openSocket(target, { timeoutMs }).then((socket) => {
      socket.destroy();
      return true;
    }, () => false).then((ok) => {
      last = { where, at: now(), ok };
      if (running?.check === check) running = undefined;
      return ok;
    });
    running = { where, check };
    return check;
  };
}
