import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Signed, expiring links to files: `/files/:id/:name?exp=&sig=`, sig = HMAC-SHA256(id + exp)
 * under a key derived from the server secret for this use alone. Expiries are rounded up to a
 * window of half the lifetime, so every reader of a message within one window gets the same
 * link (one encoding of an event serves every member, and caches can hit): a link handed out
 * stays valid between half the lifetime and the whole of it.
 */
export class FileLinks {
  private readonly key: Buffer;
  private readonly window: number;

  constructor(
    secret: string,
    /** Seconds a link is valid at most (FILE_URL_TTL). */
    private readonly ttl: number,
    private readonly now: () => number = Date.now,
  ) {
    this.key = createHmac("sha256", secret).update("bunchat file links v1").digest();
    this.window = Math.max(1, Math.floor(ttl / 2));
  }

  /** The expiry (seconds since the epoch) of links handed out now. */
  expiry(): number {
    const at = Math.floor(this.now() / 1000) + this.ttl - this.window;
    return (Math.floor(at / this.window) + 1) * this.window;
  }

  private sign(id: string, exp: number): Buffer {
    return createHmac("sha256", this.key).update(`${id}\n${exp}`).digest();
  }

  /** The signed path of a file, valid until expiry(). */
  url(id: string, name: string): string {
    const exp = this.expiry();
    return `/files/${id}/${encodeURIComponent(name)}?exp=${exp}&sig=${this.sign(id, exp).toString("base64url")}`;
  }

  /** Seconds the link stays valid, when its signature is right and it has not expired; else null. */
  check(id: string, exp: string | undefined, sig: string | undefined): number | null {
    if (!exp || !sig || !/^\d{1,12}$/.test(exp) || !/^[A-Za-z0-9_-]{43}$/.test(sig)) return null;
    const expiry = Number(exp);
    const left = expiry - Math.floor(this.now() / 1000);
    if (left <= 0) return null;
    // Compared as text: a signature has one spelling (base64url's last character has spare bits).
    const given = Buffer.from(sig, "latin1");
    const expected = Buffer.from(this.sign(id, expiry).toString("base64url"), "latin1");
    return given.length === expected.length && timingSafeEqual(given, expected) ? left : null;
  }
}
