/**
 * ADMIN_USERNAME / ADMIN_PASSWORD at server start-up, as a process (`bun src/index.ts`) on this
 * run's database: a SQLite file, or a fresh PostgreSQL database when TEST_DATABASE_URL is set.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setup, type TestContext } from "../helpers";
import { freshPgDatabase, type TestDatabase } from "../pg";

const ROOT = join(import.meta.dir, "../..");
const WAIT_MS = 15_000;
let dir: string;
let pg: TestDatabase | null = null;
let url: string;
let ctx: TestContext;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "bunchat-bootstrap-"));
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

/**
 * Starts the server with `env` until it listens (then stops it) or exits; returns its exit
 * code (null when it listened) and its output.
 */
async function start(env: Record<string, string>): Promise<{ listened: boolean; code: number | null; output: string }> {
  const proc = Bun.spawn([process.execPath, "src/index.ts"], {
    cwd: ROOT,
    env: {
      PATH: Bun.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      HOST: "127.0.0.1",
      PORT: "0",
      LOG_LEVEL: "info",
      DATABASE_URL: url,
      JWT_SECRET: "bootstrap-test-secret-0123456789-abcdef",
      PASSWORD_MEMORY_KIB: "1024",
      PASSWORD_TIME_COST: "1",
      ...env,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  let output = "";
  const reading = [proc.stdout, proc.stderr].map(async (stream) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream as ReadableStream<Uint8Array>) output += decoder.decode(chunk);
  });
  const deadline = Date.now() + WAIT_MS;
  while (proc.exitCode === null && !output.includes('"msg":"listening"')) {
    if (Date.now() > deadline) {
      proc.kill();
      throw new Error(`the server neither listened nor exited: ${output}`);
    }
    await Bun.sleep(20);
  }
  const listened = proc.exitCode === null;
  if (listened) proc.kill("SIGTERM");
  await proc.exited;
  await Promise.all(reading);
  return { listened, code: listened ? null : proc.exitCode, output };
}

const login = (username: string, password: string) => ctx.call("POST", "/api/auth/login", { body: { username, password } });

describe("admin account from the environment", () => {
  test("a missing account is created as an admin with ADMIN_PASSWORD", async () => {
    const run = await start({ ADMIN_USERNAME: "boss", ADMIN_PASSWORD: "boss-password-1", ADMIN_EMAIL: "boss@example.com" });
    expect(run.listened).toBe(true);
    expect(run.output).toContain('"outcome":"created"');
    const res = await login("boss", "boss-password-1");
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ role: "admin", email: "boss@example.com" });
  });

  test("an existing account is promoted and keeps its password; a second start changes nothing", async () => {
    const u = await ctx.user("veteran", "veteran-password");
    const run = await start({ ADMIN_USERNAME: "Veteran", ADMIN_PASSWORD: "some-other-password" });
    expect(run.listened).toBe(true);
    expect(run.output).toContain('"outcome":"promoted"');
    expect((await ctx.call("GET", "/api/auth/me", { token: u.token })).body.role).toBe("admin");
    expect((await login("veteran", "some-other-password")).status).toBe(401);
    expect((await login("veteran", "veteran-password")).status).toBe(200);
    expect((await start({ ADMIN_USERNAME: "veteran", ADMIN_PASSWORD: "some-other-password" })).output).toContain('"outcome":"unchanged"');
  });

  test("a password the rules refuse stops start-up with one line", async () => {
    const run = await start({ ADMIN_USERNAME: "newboss", ADMIN_PASSWORD: "short" });
    expect(run.listened).toBe(false);
    expect(run.code).toBe(1);
    expect(run.output.trim().split("\n").at(-1)).toBe(
      "Cannot make sure of the admin account (ADMIN_USERNAME, ADMIN_PASSWORD): A password is 8–128 characters.",
    );
    expect((await login("newboss", "short")).status).toBe(401);
  });
});
