/**
 * `bun src/index.ts import users <file>` as a process, on this run's database (a SQLite file,
 * or a fresh PostgreSQL database when TEST_DATABASE_URL is set), with an in-process app on the
 * same database to log in through.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { pbkdf2Sync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asc } from "drizzle-orm";
import { setup, type TestContext } from "../helpers";
import { freshPgDatabase, type TestDatabase } from "../pg";

const ROOT = join(import.meta.dir, "../..");
/** Made by Django's own PBKDF2PasswordHasher: make_password("lètmein", "seasalt", "pbkdf2_sha256") in Django 5.1. */
const DJANGO_VECTOR = "pbkdf2_sha256$870000$seasalt$wJSpLMQRQz0Dhj/pFpbyjMj71B2gUYp6HJS5AU+32Ac=";
let dir: string;
let pg: TestDatabase | null = null;
let url: string;
let ctx: TestContext;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "bunchat-import-"));
  if (Bun.env.TEST_DATABASE_URL) {
    pg = freshPgDatabase(Bun.env.TEST_DATABASE_URL);
    await pg.created;
    url = pg.url;
  } else {
    url = `sqlite://${join(dir, "chat.db")}`;
  }
  ctx = setup({ databaseUrl: url });
  await ctx.services.database.ready;
});

afterAll(async () => {
  await ctx?.close();
  await pg?.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function bunchat(args: string[]) {
  const proc = Bun.spawn([process.execPath, "src/index.ts", ...args], {
    cwd: ROOT,
    env: {
      PATH: Bun.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      DATABASE_URL: url,
      JWT_SECRET: "cli-test-secret-cli-test-secret-0123456789",
      LOG_LEVEL: "error",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

const lines = (text: string) => text.split("\n").filter(Boolean);
const login = (username: string, password: string) => ctx.call("POST", "/api/auth/login", { body: { username, password } });
async function allUsers() {
  const { users } = ctx.services.database.tables;
  return ctx.services.database.db.select().from(users).orderBy(asc(users.usernameLower));
}

describe("bunchat import users", () => {
  test("imports each good line, skips the others with a reason; Django's hash logs in and is rehashed; a second run changes nothing", async () => {
    const bcrypt = await Bun.password.hash("bcrypt-password", { algorithm: "bcrypt", cost: 4 });
    const argon = await Bun.password.hash("argon-password", { algorithm: "argon2id", memoryCost: 1024, timeCost: 1 });
    const computed = `pbkdf2_sha256$1000$fixedsalt$${pbkdf2Sync("computed-password", "fixedsalt", 1000, 32, "sha256").toString("base64")}`;
    const file = join(dir, "users.jsonl");
    writeFileSync(
      file,
      [
        JSON.stringify({ username: "django_user", email: "Django@Example.com", displayName: "From Django", passwordHash: DJANGO_VECTOR, createdAt: "2019-05-04T03:02:01Z", is_staff: true }),
        JSON.stringify({ username: "bcrypt_user", passwordHash: bcrypt.replace("$2b$", "$2y$") }),
        "{ not json",
        "",
        JSON.stringify({ username: "bad name", passwordHash: argon }),
        JSON.stringify({ username: "md5_user", passwordHash: "md5$salt$0123456789abcdef" }),
        JSON.stringify({ username: "DJANGO_USER", passwordHash: argon }),
        JSON.stringify({ username: "argon_user", passwordHash: argon, createdAt: "not a date" }),
        JSON.stringify({ username: "computed_user", passwordHash: computed }),
        "[1, 2]",
      ].join("\r\n") + "\n",
    );
    const run = await bunchat(["import", "users", file]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(lines(run.stdout)).toEqual([
      "line 1: created django_user",
      "line 2: created bcrypt_user",
      "line 3: skipped (invalid JSON)",
      "line 5: skipped bad name (bad username)",
      "line 6: skipped md5_user (unsupported hash)",
      "line 7: skipped DJANGO_USER (already exists)",
      "line 8: skipped argon_user (bad createdAt)",
      "line 9: created computed_user",
      "line 10: skipped (invalid JSON: not an object)",
      "3 created, 6 skipped.",
    ]);

    const res = await login("django_user", "lètmein");
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ displayName: "From Django", email: "Django@Example.com", emailVerified: false, createdAt: "2019-05-04T03:02:01.000Z" });
    expect((await login("bcrypt_user", "bcrypt-password")).status).toBe(200);
    expect((await login("computed_user", "computed-password")).status).toBe(200);
    const before = await allUsers();
    expect(before.map((u) => u.username)).toEqual(["bcrypt_user", "computed_user", "django_user"]);
    for (const u of before) expect(u.passwordHash.startsWith("$argon2id$")).toBe(true);

    const again = await bunchat(["import", "users", file]);
    expect(again.code).toBe(0);
    expect(lines(again.stdout)).toContain("line 1: skipped django_user (already exists)");
    expect(lines(again.stdout).at(-1)).toBe("0 created, 9 skipped.");
    expect(await allUsers()).toEqual(before);
    expect((await login("django_user", "lètmein")).status).toBe(200);
  }, 30_000);

  test("usage errors exit 2 with the usage; a missing file exits 1", async () => {
    for (const args of [["import"], ["import", "users"], ["import", "rooms", "x.jsonl"], ["import", "users", "a", "b"]]) {
      const run = await bunchat(args);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("Usage: bunchat import users <file.jsonl>");
    }
    for (const args of [["frobnicate"], ["toString"]]) {
      const run = await bunchat(args);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`Unknown command: ${args[0]}`);
      expect(run.stderr).toContain("import users <file.jsonl>");
    }
    const missing = await bunchat(["import", "users", join(dir, "nope.jsonl")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no such file");
    const help = await bunchat(["import", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("pbkdf2_sha256");
  }, 30_000);
});
