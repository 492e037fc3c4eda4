/**
 * The token pair a refresh token was exchanged for, kept so that a second refresh with the same
 * token (two tabs at once, a retried request) gets the same pair. It is sealed with AES-256-GCM
 * under a key derived from the refresh token itself, which the database holds only as a SHA-256
 * hash: whoever reads the database cannot open it, and only the token's holder can.
 */
import { createCipheriv, createDecipheriv, createHash } from "node:crypto";

export interface Pair {
  accessToken: string;
  refreshToken: string;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Not the stored hash (that is SHA-256 of the token alone): a separate key, from the token and a label. */
const keyOf = (refreshToken: string) => createHash("sha256").update("bunchat refresh successor\0").update(refreshToken).digest();

export function seal(refreshToken: string, pair: Pair): string {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const cipher = createCipheriv("aes-256-gcm", keyOf(refreshToken), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify([pair.accessToken, pair.refreshToken]), "utf8"), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
}

/** The pair sealed for `refreshToken`, or null when it was sealed for another token or altered. */
export function unseal(refreshToken: string, sealed: string): Pair | null {
  const raw = Buffer.from(sealed, "base64url");
  if (raw.length <= IV_BYTES + TAG_BYTES) return null;
  try {
    const decipher = createDecipheriv("aes-256-gcm", keyOf(refreshToken), raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    const text = Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString("utf8");
    const [accessToken, next] = JSON.parse(text) as [string, string];
    return { accessToken, refreshToken: next };
  } catch {
    return null;
  }
}
