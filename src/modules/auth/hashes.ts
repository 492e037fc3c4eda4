/**
 * The password hashes an account may hold: argon2id (everything this server writes), and what
 * accounts imported from other backends bring: Django's `pbkdf2_sha256$<iterations>$<salt>$<hash>`,
 * bcrypt (`$2a$`, `$2b$`, `$2y$`) and argon2 (`$argon2id$`, `$argon2i$`). Any other text (an
 * anonymised account's marker, say) matches no password.
 */
import { pbkdf2, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";

const pbkdf2Async = promisify(pbkdf2);

const DJANGO = /^pbkdf2_sha256\$(\d{1,9})\$([^$]{1,128})\$([A-Za-z0-9+/]{43}=)$/;
const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
const ARGON2 = /^\$argon2(id|i)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;
/** More rounds than any real Django hash uses: a hash asking for more costs a login too much. */
const MAX_PBKDF2_ITERATIONS = 10_000_000;
/** bcrypt reads at most 72 bytes of a password; Bun pre-hashes longer ones, so they are cut first. */
const BCRYPT_MAX_BYTES = 72;

export type HashKind = "argon2id" | "argon2i" | "bcrypt" | "pbkdf2_sha256";

/** The kind of a stored hash this server can verify, or null for anything else. */
export function hashKind(hash: string): HashKind | null {
  const django = DJANGO.exec(hash);
  if (django) {
    const iterations = Number(django[1]);
    return iterations >= 1 && iterations <= MAX_PBKDF2_ITERATIONS ? "pbkdf2_sha256" : null;
  }
  if (BCRYPT.test(hash)) return "bcrypt";
  const argon = ARGON2.exec(hash);
  if (argon) return argon[1] === "id" ? "argon2id" : "argon2i";
  return null;
}

/** Whether a login that verified against `hash` should store a fresh argon2id hash instead. */
export const needsRehash = (hash: string) => hashKind(hash) !== "argon2id";

/** Whether `password` matches `hash`; false for a hash of no kind this server knows. Never throws. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  try {
    switch (hashKind(hash)) {
      case "argon2id":
      case "argon2i":
        return await Bun.password.verify(password, hash);
      case "bcrypt": {
        const bytes = Buffer.from(password, "utf8");
        return await Bun.password.verify(bytes.length > BCRYPT_MAX_BYTES ? bytes.subarray(0, BCRYPT_MAX_BYTES) : bytes, hash);
      }
      case "pbkdf2_sha256":
        return await verifyDjango(password, hash);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/** Django's PBKDF2PasswordHasher: base64 of PBKDF2-HMAC-SHA256(password, salt, iterations, 32 bytes). */
async function verifyDjango(password: string, hash: string): Promise<boolean> {
  const [, iterations, salt, encoded] = DJANGO.exec(hash)!;
  const expected = Buffer.from(encoded!, "base64");
  const derived = await pbkdf2Async(Buffer.from(password, "utf8"), Buffer.from(salt!, "utf8"), Number(iterations), expected.length, "sha256");
  return derived.length === expected.length && timingSafeEqual(derived, expected);
}
