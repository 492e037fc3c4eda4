import { RateLimited } from "../errors";
import type { Count } from "../metrics";

/**
 * Token buckets keyed by client address or user: `capacity` requests at once, refilled
 * evenly so that `capacity` more are allowed per `windowMs`. A capacity of 0 disables it.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;

  constructor(
    readonly capacity: number,
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
    /** Counts each refusal (bunchat_rate_limited_total). */
    private readonly refused: Count = { inc() {} },
  ) {
    this.perMs = capacity / windowMs;
  }

  get enabled() {
    return this.capacity > 0;
  }

  /** Takes one token for `key`, or throws RateLimited with the seconds until one is free. */
  take(key: string, now = this.now()): void {
    if (!this.enabled) return;
    const bucket = this.buckets.get(key);
    const tokens = bucket ? Math.min(this.capacity, bucket.tokens + (now - bucket.at) * this.perMs) : this.capacity;
    if (tokens < 1) {
      this.buckets.set(key, { tokens, at: now });
      this.refused.inc();
      throw new RateLimited(Math.max(1, Math.ceil((1 - tokens) / this.perMs / 1000)));
    }
    this.buckets.set(key, { tokens: tokens - 1, at: now });
    if (this.buckets.size > 50_000) this.prune(now);
  }

  private prune(now: number) {
    for (const [key, bucket] of this.buckets)
      if (bucket.tokens + (now - bucket.at) * this.perMs >= this.capacity) this.buckets.delete(key);
  }
}
