/**
 * Per-client admission: caps on the live sessions of one token, one user
 * and one client address, and a rate limit on handshakes per address.
 *
 * One leaked link must not be able to take the whole gateway (and a guacd
 * process of about 35 MiB per session): the global `maxSessions` alone let
 * one token open 1,000. The address is checked when the browser arrives,
 * before any resolver work; token and user once the resolver named them.
 * Every count a session took is given back exactly once, when it ends.
 * Counts are per gateway process.
 */
import { GuacError } from '../protocol/errors.js';
import { TUNNEL } from './errors.js';
import { addressKey } from './client-address.js';
import { RateBuckets } from './rate-buckets.js';

/** The limits, resolved (0 = no limit). */
export interface ClientLimits {
  maxSessionsPerToken: number;
  maxSessionsPerUser: number;
  maxSessionsPerAddress: number;
  /** Handshakes one address may start per `handshakeWindowMs` (a bucket of this many, refilled evenly). */
  handshakesPerAddress: number;
  handshakeWindowMs: number;
}

/** Who a session counts against once resolved. */
export interface Claimant {
  tokenId?: string | undefined;
  user?: string | undefined;
}

const tooMany = (what: string): GuacError =>
  TUNNEL.GUAC_TUNNEL_TOO_MANY({ message: `Too many sessions are open ${what}; close one and try again.` });

/** Live-session counts and handshake buckets of one tunnel. */
export class Admission {
  private readonly counts = new Map<string, number>();
  /** Keys each live session counts under; deleted on release, so a second release does nothing. */
  private readonly held = new Map<object, string[]>();
  /** Sessions already released: a late claim (a resolver outliving its session) counts nothing. */
  private readonly released = new WeakSet<object>();
  /** Handshakes left per address key. */
  private readonly handshakes: RateBuckets;

  constructor(private readonly limits: ClientLimits, now: () => number = Date.now) {
    this.handshakes = new RateBuckets(limits.handshakesPerAddress, limits.handshakeWindowMs, now);
  }

  /**
   * A browser arrived from `address`: takes one handshake from its bucket,
   * then checks its live sessions (the session is counted by {@link claimAddress}).
   * @returns the refusal, if any
   */
  checkAddress(address: string | undefined): GuacError | undefined {
    if (address === undefined) return undefined;
    const key = addressKey(address);
    if (!this.handshakes.take(key)) {
      return TUNNEL.GUAC_TUNNEL_RATE_LIMITED();
    }
    if (this.full(`a:${key}`, this.limits.maxSessionsPerAddress)) return tooMany('from this address');
    return undefined;
  }

  /** Counts `session` against its address (call in the same turn as a successful {@link checkAddress}). */
  claimAddress(session: object, address: string | undefined): void {
    if (address === undefined || this.released.has(session)) return;
    this.add(this.keysOf(session), `a:${addressKey(address)}`);
  }

  /**
   * Counts `session` against its token and user, unless one is at its cap.
   * Idempotent: a session claims its token and user once (a resolver may
   * claim before it spends a single-use token, the tunnel again after it).
   * @returns the refusal, if any (nothing was counted then)
   */
  claimTarget(session: object, who: Claimant): GuacError | undefined {
    if (this.released.has(session)) return undefined;
    const keys = this.keysOf(session);
    if (keys.some((k) => k.startsWith('t:') || k.startsWith('u:'))) return undefined;
    const token = who.tokenId === undefined ? undefined : `t:${who.tokenId}`;
    const user = who.user === undefined ? undefined : `u:${who.user}`;
    if (token !== undefined && this.full(token, this.limits.maxSessionsPerToken)) return tooMany('with this link');
    if (user !== undefined && this.full(user, this.limits.maxSessionsPerUser)) return tooMany('for this user');
    if (token !== undefined) this.add(keys, token);
    if (user !== undefined) this.add(keys, user);
    return undefined;
  }

  /** Gives back every count `session` took; only the first call does anything. */
  release(session: object): void {
    this.released.add(session);
    const keys = this.held.get(session);
    if (!keys) return;
    this.held.delete(session);
    for (const k of keys) {
      const n = (this.counts.get(k) ?? 1) - 1;
      if (n > 0) this.counts.set(k, n);
      else this.counts.delete(k);
    }
  }

  /** Live sessions counted under a key (`a:…`, `t:…`, `u:…`); for tests and metrics. */
  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  private keysOf(session: object): string[] {
    let keys = this.held.get(session);
    if (!keys) {
      keys = [];
      this.held.set(session, keys);
    }
    return keys;
  }

  private full(key: string, max: number): boolean {
    return max > 0 && (this.counts.get(key) ?? 0) >= max;
  }

  private add(keys: string[], key: string): void {
    keys.push(key);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
}
