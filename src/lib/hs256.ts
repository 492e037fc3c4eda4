/**
 * Verification of an HS256 JSON Web Token in one synchronous pass, accepting what jose's
 * `jwtVerify(token, key, { algorithms: ["HS256"], currentDate })` accepts of the tokens this
 * server signs, and nothing it would refuse: `alg` must be HS256, the signature the canonical
 * base64url of the HMAC, the payload a JSON object whose `exp`, `nbf` and `iat`, when present,
 * are numbers, `exp` after now and `nbf` not after it. Headers with extensions (`crit`, `b64`)
 * are never signed here and are refused. Every socket and request authenticates with one: the
 * WebCrypto path allocated dozens of promises, closures and buffers per token.
 */

const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** The token's claims when it is valid at `nowSeconds` under `key`, otherwise null. */
export function verifyHs256(token: string, key: Uint8Array, nowSeconds: number): Record<string, unknown> | null {
  const first = token.indexOf(".");
  const second = token.indexOf(".", first + 1);
  if (first <= 0 || second <= first + 1 || token.indexOf(".", second + 1) !== -1) return null;
  const header = segment(token.slice(0, first));
  if (!header || header.alg !== "HS256" || "crit" in header || "b64" in header) return null;
  const signature = token.slice(second + 1);
  const expected = new Bun.CryptoHasher("sha256", key).update(token.slice(0, second)).digest("base64url");
  if (signature.length !== expected.length || !constantTimeEqual(signature, expected)) return null;
  const claims = segment(token.slice(first + 1, second));
  if (!claims) return null;
  const { exp, nbf, iat } = claims;
  if (exp !== undefined && (typeof exp !== "number" || exp <= nowSeconds)) return null;
  if (nbf !== undefined && (typeof nbf !== "number" || nbf > nowSeconds)) return null;
  if (iat !== undefined && typeof iat !== "number") return null;
  return claims;
}

/** A base64url segment holding a JSON object, or null. */
function segment(text: string): Record<string, unknown> | null {
  if (!SEGMENT.test(text)) return null;
  try {
    const value: unknown = JSON.parse(Buffer.from(text, "base64url").toString());
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Compares two strings of equal length (base64url text) without stopping at the first difference. */
function constantTimeEqual(a: string, b: string): boolean {
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
