/**
 * Token buckets keyed by a string (a client address, a token id): at most
 * `size` takes in a burst, refilled evenly at `size` per `windowMs`. Used for
 * the handshake rate per address and the share links a page may make.
 */

/** Buckets beyond which full ones (keys quiet for a whole window) are swept. */
const SWEEP_AT = 10_000;

export class RateBuckets {
  /** Key → tokens left and when they were last refilled. */
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  /** Bucket count at which the next sweep runs (doubles while sweeps free little, so each costs O(1) per take). */
  private sweepAt = SWEEP_AT;

  /**
   * @param size takes allowed in a burst (0 or less: no limit)
   * @param windowMs time in which `size` takes are refilled (0 or less: no limit)
   */
  constructor(private readonly size: number, private readonly windowMs: number, private readonly now: () => number = Date.now) {}

  /** Takes one from `key`'s bucket; false when it is empty (nothing is taken then). */
  take(key: string): boolean {
    const { size, windowMs } = this;
    if (size <= 0 || windowMs <= 0) return true;
    const now = this.now();
    const b = this.buckets.get(key);
    const tokens = b ? Math.min(size, b.tokens + ((now - b.at) * size) / windowMs) : size;
    if (tokens < 1) {
      if (b) Object.assign(b, { tokens, at: now });
      return false;
    }
    if (b) Object.assign(b, { tokens: tokens - 1, at: now });
    else this.buckets.set(key, { tokens: tokens - 1, at: now });
    if (this.buckets.size > this.sweepAt) this.sweep(now);
    return true;
  }

  /** Forgets buckets that have refilled: they say nothing a fresh one would not. */
  private sweep(now: number): void {
    const { size, windowMs } = this;
    for (const [key, b] of this.buckets) if (b.tokens + ((now - b.at) * size) / windowMs >= size) this.buckets.delete(key);
    this.sweepAt = Math.max(SWEEP_AT, 2 * this.buckets.size);
  }
}
