import { RateLimited } from "../errors";
import type { Count } from "../metrics";

/**
 * Counters every process of a deployment shares (Redis, see src/realtime/redis-limits.ts).
 * Each answer is null while they cannot be reached: the caller then counts in this process.
 */
export interface SharedCounters {
  /**
   * Takes one token of each key's bucket (`capacity` per `windowMs`, as RateLimiter): per key,
   * 0 when taken, else the ms until a token is free. A key may come several times (one token
   * each, the first ones taken first). One round trip for all of them.
   */
  take(keys: string[], capacity: number, windowMs: number): Promise<number[] | null>;
  /** True when `key` was not marked within the last `ms`; marks it now either way it is allowed. */
  once(key: string, ms: number): Promise<boolean | null>;
  /** A failed login of `key` (see LoginRule): 0 when counted, else the ms its lock has left. */
  failure(key: string, rule: LoginRule): Promise<number | null>;
  /** Forgets `key`'s failures. */
  clear(key: string): Promise<void>;
}

/** Failures of one name: `free` go unpunished within `windowMs`; each one more doubles the lock, up to `maxLockMs`. */
export interface LoginRule {
  free: number;
  windowMs: number;
  maxLockMs: number;
}

/** RateLimited for a wait in ms: whole seconds, at least one. */
export const rateLimitedFor = (ms: number) => new RateLimited(Math.max(1, Math.ceil(ms / 1000)));

/**
 * Token buckets keyed by client address or user: `capacity` requests at once, refilled
 * evenly so that `capacity` more are allowed per `windowMs`. A capacity of 0 disables it.
 * This process's count only; SharedRateLimiter adds the deployment's.
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

  /** Gives back a token taken for a request that was refused elsewhere (the shared count). */
  refund(key: string): void {
    const bucket = this.buckets.get(key);
    if (bucket) bucket.tokens = Math.min(this.capacity, bucket.tokens + 1);
  }

  private prune(now: number) {
    for (const [key, bucket] of this.buckets)
      if (bucket.tokens + (now - bucket.at) * this.perMs >= this.capacity) this.buckets.delete(key);
  }
}

/**
 * A RateLimiter counted across the deployment when `shared` is given. Every request is first
 * counted here (a flood is refused without a round trip), then in the shared buckets, which
 * refuse what every process together has allowed too often. A refusal there gives this
 * process's token back, so this count never runs ahead of the shared one: while the shared
 * counters cannot be reached, it alone decides, as with one process.
 */
export class SharedRateLimiter {
  constructor(
    readonly local: RateLimiter,
    private readonly shared: SharedCounters | null,
    /** Distinguishes this limit's keys from other limits' in the shared counters. */
    private readonly name: string,
  ) {}

  get enabled() {
    return this.local.enabled;
  }

  get capacity() {
    return this.local.capacity;
  }

  /** Whether `admit` may refuse anything (a shared count of an enabled limit). */
  get shares(): boolean {
    return this.shared !== null && this.local.enabled;
  }

  /** This process's count alone: throws RateLimited at once. Follow with `admit`. */
  takeLocal(key: string): void {
    this.local.take(key);
  }

  /** Both counts for one request: throws RateLimited when either refuses. */
  async take(key: string): Promise<void> {
    this.local.take(key);
    const [refused] = await this.admit([key]);
    if (refused) throw refused;
  }

  /** The shared count for requests already counted here, in one round trip: per key, RateLimited or null. */
  async admit(keys: string[]): Promise<(RateLimited | null)[]> {
    if (!this.shares) return keys.map(() => null);
    const waits = await this.shared!.take(keys.map((key) => `${this.name}:${key}`), this.local.capacity, this.local.windowMs);
    if (!waits) return keys.map(() => null);
    return waits.map((wait, i) => {
      if (wait <= 0) return null;
      this.local.refund(keys[i]!);
      return rateLimitedFor(wait);
    });
  }
}
