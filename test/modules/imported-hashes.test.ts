/**
 * Accounts imported with another backend's password hashes: each kind verifies at login over
 * HTTP, and the first successful login replaces it with argon2id.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { pbkdf2Sync } from "node:crypto";
import { eq } from "drizzle-orm";
import { hashKind, needsRehash, verifyPassword } from "../../src/modules/auth/hashes";
import { UserImport } from "../../src/modules/users/import";
import { setup, type TestContext } from "../helpers";

/** Made by Django's own PBKDF2PasswordHasher: make_password("lètmein", "seasalt", "pbkdf2_sha256") in Django 5.1. */
const DJANGO_VECTOR = "pbkdf2_sha256$870000$seasalt$wJSpLMQRQz0Dhj/pFpbyjMj71B2gUYp6HJS5AU+32Ac=";

/** Django's algorithm, written out: base64 of PBKDF2-HMAC-SHA256 over the UTF-8 password and salt, 32 bytes. */
const django = (password: string, salt: string, iterations: number) =>
  `pbkdf2_sha256$${iterations}$${salt}$${pbkdf2Sync(password, salt, iterations, 32, "sha256").toString("base64")}`;

let ctx: TestContext;
afterEach(async () => {
  await ctx?.close();
});

const login = (username: string, password: string) => ctx.call("POST", "/api/auth/login", { body: { username, password } });
async function storedHash(username: string): Promise<string> {
  const { users } = ctx.services.database.tables;
  const [row] = await ctx.services.database.db.select({ hash: users.passwordHash }).from(users).where(eq(users.usernameLower, username.toLowerCase()));
  return row!.hash;
}
async function importOne(username: string, passwordHash: string) {
  const summary = await new UserImport(ctx.services.database).run([JSON.stringify({ username, passwordHash })]);
  expect(summary).toMatchObject({ created: 1, skipped: 0 });
}

describe("hashes.ts", () => {
  test("Django's known vector verifies, as does the same algorithm computed here; wrong passwords do not", async () => {
    expect(django("lètmein", "seasalt", 870000)).toBe(DJANGO_VECTOR);
    expect(await verifyPassword("lètmein", DJANGO_VECTOR)).toBe(true);
    expect(await verifyPassword("letmein", DJANGO_VECTOR)).toBe(false);
    const computed = django("pässwörd-123", "Zq8r1fXbLk2w", 1000);
    expect(await verifyPassword("pässwörd-123", computed)).toBe(true);
    expect(await verifyPassword("pässwörd-124", computed)).toBe(false);
  });

  test("kinds: unknown or malformed hashes match nothing and never throw", async () => {
    expect(hashKind(DJANGO_VECTOR)).toBe("pbkdf2_sha256");
    expect(hashKind("$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")).toBe("argon2id");
    for (const bad of ["", "!deleted", "pbkdf2_sha1$1000$salt$abc=", "pbkdf2_sha256$0$salt$wJSpLMQRQz0Dhj/pFpbyjMj71B2gUYp6HJS5AU+32Ac=", "md5$salt$abc", "$2x$10$abc", "sha1$$x"]) {
      expect(hashKind(bad)).toBeNull();
      expect(await verifyPassword("anything-at-all", bad)).toBe(false);
    }
    expect(needsRehash(DJANGO_VECTOR)).toBe(true);
    expect(needsRehash(await Bun.password.hash("x", { algorithm: "argon2id", memoryCost: 1024, timeCost: 1 }))).toBe(false);
  });
});

describe("login with an imported hash", () => {
  test("Django's vector logs in and is replaced by argon2id; the password keeps working", async () => {
    ctx = setup();
    await importOne("from_django", DJANGO_VECTOR);
    expect((await login("from_django", "letmein")).status).toBe(401);
    expect(await storedHash("from_django")).toBe(DJANGO_VECTOR);
    const res = await login("from_django", "lètmein");
    expect(res.status).toBe(200);
    expect(res.body.user.username).toBe("from_django");
    const after = await storedHash("from_django");
    expect(after.startsWith("$argon2id$")).toBe(true);
    expect((await login("from_django", "lètmein")).status).toBe(200);
    expect(await storedHash("from_django")).toBe(after);
  });

  test("bcrypt ($2a$, $2b$, $2y$) and argon2i hashes log in and are replaced by argon2id", async () => {
    ctx = setup();
    const bcrypt = await Bun.password.hash("bcrypt-password", { algorithm: "bcrypt", cost: 4 });
    const cases: [string, string, string][] = [
      ["bcrypt_b", bcrypt, "bcrypt-password"],
      ["bcrypt_a", bcrypt.replace("$2b$", "$2a$"), "bcrypt-password"],
      ["bcrypt_y", bcrypt.replace("$2b$", "$2y$"), "bcrypt-password"],
      ["argon_i", await Bun.password.hash("argon-password", { algorithm: "argon2i", memoryCost: 1024, timeCost: 1 }), "argon-password"],
      ["django_computed", django("django-password", "fixedsalt", 1000), "django-password"],
    ];
    for (const [username, hash, password] of cases) {
      await importOne(username, hash);
      expect((await login(username, `${password}-wrong`)).status).toBe(401);
      expect((await login(username, password)).status).toBe(200);
      expect((await storedHash(username)).startsWith("$argon2id$")).toBe(true);
      expect((await login(username, password)).status).toBe(200);
    }
  });

  test("a password changed with an imported hash is stored as argon2id", async () => {
    ctx = setup();
    await importOne("changer", DJANGO_VECTOR);
    const { accessToken } = (await login("changer", "lètmein")).body;
    const res = await ctx.call("POST", "/api/auth/password", { token: accessToken, body: { currentPassword: "lètmein", newPassword: "a-brand-new-one" } });
    expect(res.status).toBe(204);
    expect((await storedHash("changer")).startsWith("$argon2id$")).toBe(true);
    expect((await login("changer", "a-brand-new-one")).status).toBe(200);
  });
});
