import { describe, expect, test } from "bun:test";
import { jwt } from "@elysiajs/jwt";
import { verifyHs256 } from "../../src/lib/hs256";

const secret = "a-test-secret-a-test-secret-0123456789";
const key = new TextEncoder().encode(secret);
const now = 1_800_000_000;
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const sign = (input: string, k = secret) => new Bun.CryptoHasher("sha256", k).update(input).digest("base64url");
/** A token with this header and payload, signed with HS256 whatever its header says. */
const forge = (header: object, payload: unknown, k = secret) => {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${sign(input, k)}`;
};
const codec = (alg: "HS256" | "HS512" = "HS256") => jwt({ name: "jwt", secret, alg }).decorator.jwt;

describe("verifyHs256", () => {
  test("accepts what jose signs and reads the same claims", async () => {
    const token = await codec().sign({ sub: "u", sid: "s", exp: now + 60 });
    const claims = verifyHs256(token, key, now);
    expect(claims).toMatchObject({ sub: "u", sid: "s", exp: now + 60 });
    const byJose = await codec().verify(token, { algorithms: ["HS256"], currentDate: new Date(now * 1000) });
    expect(claims).toEqual(byJose as Record<string, unknown>);
  });

  test("refuses an expired token, at its expiry second too, and one not yet valid", () => {
    const header = { alg: "HS256", typ: "JWT" };
    expect(verifyHs256(forge(header, { sub: "u", exp: now - 1 }), key, now)).toBeNull();
    expect(verifyHs256(forge(header, { sub: "u", exp: now }), key, now)).toBeNull();
    expect(verifyHs256(forge(header, { sub: "u", exp: now + 1 }), key, now)).not.toBeNull();
    expect(verifyHs256(forge(header, { sub: "u", nbf: now + 1 }), key, now)).toBeNull();
    expect(verifyHs256(forge(header, { sub: "u", nbf: now }), key, now)).not.toBeNull();
  });

  test("refuses claims that are not numbers where numbers belong, and payloads that are not objects", () => {
    const header = { alg: "HS256" };
    for (const payload of [{ exp: String(now + 60) }, { nbf: "0" }, { iat: "0" }, [1], "text", 5, null])
      expect(verifyHs256(forge(header, payload), key, now)).toBeNull();
  });

  test("refuses other algorithms, extensions and other keys", async () => {
    const payload = { sub: "u", exp: now + 60 };
    for (const header of [{ alg: "none" }, { alg: "HS512" }, { alg: "hs256" }, { alg: "HS256", crit: ["b64"], b64: false }, { alg: "HS256", b64: true }])
      expect(verifyHs256(forge(header, payload), key, now)).toBeNull();
    expect(verifyHs256(forge({ alg: "HS256" }, payload, "another-secret-another-secret-0123456789"), key, now)).toBeNull();
    expect(verifyHs256(await codec("HS512").sign(payload), key, now)).toBeNull();
  });

  test("refuses a changed payload or signature and malformed tokens", () => {
    const token = forge({ alg: "HS256" }, { sub: "u", exp: now + 60 });
    const [h, p, s] = token.split(".") as [string, string, string];
    const otherPayload = b64url({ sub: "admin", exp: now + 60 });
    const flipped = s.slice(0, -1) + (s.endsWith("A") ? "B" : "A");
    for (const bad of [`${h}.${otherPayload}.${s}`, `${h}.${p}.${flipped}`, `${h}.${p}.`, `${h}.${p}`, `${h}.${p}.${s}.${s}`, `${h}..${s}`, `.${p}.${s}`, `${h}.${p}.${s}=`, `${h}.${p}!.${s}`, "", "..", "not a token"])
      expect(verifyHs256(bad, key, now)).toBeNull();
    expect(verifyHs256(token, key, now)).not.toBeNull();
  });
});
