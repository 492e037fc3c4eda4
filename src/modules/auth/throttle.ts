import { RateLimited } from "../../errors";

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

  /**
   * Throws RateLimited while `key` is locked; otherwise counts this attempt as a failure up
   * front, so concurrent guesses cannot all pass the check before any of them is counted.
   * `succeed` clears the count.
   */
  attempt(key: string, now: number) {
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
  succeed(key: string) {
    this.failures.delete(key);
  }
  private prune(now: number) {
    for (const [key, entry] of this.failures)
      if (now - entry.last > LoginThrottle.WINDOW_MS && entry.until < now) this.failures.delete(key);
  }
}
