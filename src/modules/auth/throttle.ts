import { RateLimited } from "../../errors";
import { type LoginRule, rateLimitedFor, type SharedCounters } from "../../plugins/rate-limit";

/**
 * Failed logins slow a name down (a username or a verified email, as submitted, ignoring case),
 * whether or not it is anyone's, so the answer tells an attacker nothing. Each name has its own
 * count: were a user's names to share one, locking one name and trying an address would show
 * whether the address is that user's.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; until: number; last: number }>();
  private static readonly FREE = 5;
  private static readonly WINDOW_MS = 15 * 60_000;
  private static readonly MAX_LOCK_MS = 15 * 60_000;
  private static readonly RULE: LoginRule = { free: LoginThrottle.FREE, windowMs: LoginThrottle.WINDOW_MS, maxLockMs: LoginThrottle.MAX_LOCK_MS };

  /** `shared`: the deployment's counts (Redis); this process counts alone while they cannot be reached. */
  constructor(private readonly shared: SharedCounters | null = null) {}

  /**
   * Throws RateLimited while `key` is locked; otherwise counts this attempt as a failure up
   * front, so concurrent guesses cannot all pass the check before any of them is counted.
   * `succeed` clears the count.
   */
  async attempt(key: string, now: number): Promise<void> {
    const locked = this.shared && (await this.shared.failure(`login:${key}`, LoginThrottle.RULE));
    if (locked !== null) {
      if (locked > 0) throw rateLimitedFor(locked);
      return;
    }
    this.attemptHere(key, now);
  }

  async succeed(key: string): Promise<void> {
    this.failures.delete(key);
    await this.shared?.clear(`login:${key}`);
  }

  private attemptHere(key: string, now: number) {
    let entry = this.failures.get(key);
    if (entry && entry.until > now) throw new RateLimited(Math.ceil((entry.until - now) / 1000));
    if (!entry || now - entry.last > LoginThrottle.WINDOW_MS) entry = { count: 0, until: 0, last: now };
    entry.count++;
    entry.last = now;
    const over = entry.count - LoginThrottle.FREE;
    if (over >= 0) entry.until = now + Math.min(1000 * 2 ** over, LoginThrottle.MAX_LOCK_MS);
    this.failures.set(key, entry);
    if (this.failures.size > 100_000) this.prune(now);
  }
  private prune(now: number) {
    for (const [key, entry] of this.failures)
      if (now - entry.last > LoginThrottle.WINDOW_MS && entry.until < now) this.failures.delete(key);
  }
}
