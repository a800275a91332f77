/**
 * `/healthz`: whether this gateway should get new sessions, and each guacd
 * of its pool. It is unauthenticated, so it must not turn each request into
 * connections to guacd: it reads the pool's last probes, and probes only
 * those older than the pool's cache time, one probe per guacd at a time
 * shared by every request arriving meanwhile (`GuacdPool.check`).
 */
import { GuacdPool } from '../guacd/pool.js';
import type { GuacdAddress } from '../guacd/socket.js';

/** The answer: HTTP status and body. */
export interface HealthAnswer {
  status: 200 | 503;
  body: {
    /** 200: some guacd is up and the gateway is not draining. */
    ok: boolean;
    /** The gateway is draining (`serve --drain`): a balancer should send new sessions elsewhere. */
    draining: boolean;
    guacd: {
      /** At least one guacd is reachable. */
      reachable: boolean;
      /** Each guacd: its name (address), health and live sessions. */
      pool: { name: string; healthy: boolean; sessions: number; error?: string }[];
    };
    /** Live sessions of this gateway. */
    sessions: number;
  };
}

/**
 * The pool `/healthz` reads: the gateway's own, or for a single guacd given
 * by its address, a pool of one probed on demand (every answer reused 2 s).
 */
export function healthPool(guacd: GuacdPool | (() => GuacdAddress)): GuacdPool {
  return guacd instanceof GuacdPool ? guacd : new GuacdPool([{ name: 'guacd', address: guacd }], { checkIntervalMs: 0 });
}

/** Builds the answer from the pool and the tunnel's state. */
export async function healthAnswer(pool: GuacdPool, tunnel: { readonly draining: boolean; readonly sessions: ReadonlyMap<string, unknown> }): Promise<HealthAnswer> {
  const members = await pool.check();
  const reachable = members.some((m) => m.healthy);
  const ok = reachable && !tunnel.draining;
  return {
    status: ok ? 200 : 503,
    body: {
      ok,
      draining: tunnel.draining,
      guacd: {
        reachable,
        pool: members.map(({ name, healthy, sessions, error }) => ({ name, healthy, sessions, ...(error === undefined ? {} : { error }) })),
      },
      sessions: tunnel.sessions.size,
    },
  };
}
