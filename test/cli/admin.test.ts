/**
 * `bun src/index.ts admin …` as a process, on this run's database (a SQLite file, or a fresh
 * PostgreSQL database when TEST_DATABASE_URL is set), with an in-process app on the same
 * database to log in through.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errorCode, setup, type TestContext } from "../helpers";
import { freshPgDatabase, type TestDatabase } from "../pg";

const ROOT = join(import.meta.dir, "../..");
let dir: string;
let pg: TestDatabase | null = null;
let url: string;
let ctx: TestContext;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "bunchat-cli-"));
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

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the command with `input` on standard input. */
async function bunchat(args: string[], input = ""): Promise<Run> {
  const proc = Bun.spawn([process.execPath, "src/index.ts", ...args], {
    cwd: ROOT,
    env: {
      PATH: Bun.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      DATABASE_URL: url,
      JWT_SECRET: "cli-test-secret-cli-test-secret-0123456789",
      PASSWORD_MEMORY_KIB: "1024",
      PASSWORD_TIME_COST: "1",
      LOG_LEVEL: "error",
    },
    stdin: new Blob([input]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

const lines = (text: string) => text.split("\n").filter(Boolean);
const login = (username: string, password: string) => ctx.call("POST", "/api/auth/login", { body: { username, password } });

describe("bunchat admin", () => {
  test("create reads the password from standard input; the account logs in as an admin", async () => {
    const run = await bunchat(["admin", "create", "root"], "root-password-1\n");
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(lines(run.stdout)).toEqual(["Created admin root."]);
    const res = await login("root", "root-password-1");
    expect(res.status).toBe(200);
    expect(res.body.user.role).toBe("admin");
  });

  test("a taken username, a bad password and a missing password fail with one line", async () => {
    for (const [input, message] of [
      ["another-password\n", "The username ROOT is taken."],
      ["short\n", "A password is 8–128 characters."],
      ["", "No password given on standard input."],
    ] as const) {
      const run = await bunchat(["admin", "create", "ROOT"], input);
      expect(run.code).toBe(1);
      expect(lines(run.stderr)).toEqual([message]);
    }
  });

  test("demoting the last active admin is refused; promote makes another one, then demote works", async () => {
    const refused = await bunchat(["admin", "demote", "root"]);
    expect(refused.code).not.toBe(0);
    expect(lines(refused.stderr)).toEqual(["root is the last active admin and cannot be demoted."]);
    const deactivate = await bunchat(["admin", "deactivate", "root"]);
    expect(deactivate.code).not.toBe(0);
    expect(lines(deactivate.stderr)).toEqual(["root is the last active admin and cannot be deactivated."]);

    const helper = await ctx.user("helper");
    const promoted = await bunchat(["admin", "promote", "helper"]);
    expect(promoted).toMatchObject({ code: 0, stdout: "helper is an admin.\n" });
    expect((await ctx.call("GET", "/api/auth/me", { token: helper.token })).body.role).toBe("admin");
    expect(await bunchat(["admin", "demote", "helper"])).toMatchObject({ code: 0, stdout: "helper is an ordinary user.\n" });
    expect((await ctx.call("GET", "/api/auth/me", { token: helper.token })).body.role).toBe("user");
  });

  test("an unknown user fails with one line", async () => {
    for (const command of ["promote", "demote", "deactivate", "reactivate"]) {
      const run = await bunchat(["admin", command, "nobody"]);
      expect(run.code).toBe(1);
      expect(lines(run.stderr)).toEqual(["User nobody not found."]);
    }
  });

  test("reset-password ends every session; the new password logs in", async () => {
    const u = await ctx.user("forgetful");
    const run = await bunchat(["admin", "reset-password", "forgetful"], "a-new-password\n");
    expect(run.code).toBe(0);
    expect(lines(run.stdout)).toEqual(["Password of forgetful reset; its sessions have ended."]);
    expect((await ctx.call("POST", "/api/auth/refresh", { body: { refreshToken: u.refreshToken } })).status).toBe(401);
    expect((await ctx.call("GET", "/api/auth/me", { token: u.token })).status).toBe(401);
    expect((await login("forgetful", "correct-horse-battery")).status).toBe(401);
    expect((await login("forgetful", "a-new-password")).status).toBe(200);
  });

  test("deactivate ends the sessions and refuses login (403, 401 with a wrong password); reactivate lets it in again", async () => {
    const u = await ctx.user("troll");
    const run = await bunchat(["admin", "deactivate", "troll"]);
    expect(run).toMatchObject({ code: 0, stdout: "troll is deactivated; its sessions have ended.\n" });
    expect((await ctx.call("GET", "/api/auth/me", { token: u.token })).status).toBe(401);
    expect((await ctx.call("POST", "/api/auth/refresh", { body: { refreshToken: u.refreshToken } })).status).toBe(401);
    const right = await login("troll", "correct-horse-battery");
    expect(right.status).toBe(403);
    expect(errorCode(right)).toBe("FORBIDDEN");
    expect((await login("troll", "not-the-password")).status).toBe(401);

    const list = await bunchat(["admin", "list"]);
    expect(list.code).toBe(0);
    const rows = lines(list.stdout).map((l) => l.split("\t"));
    expect(rows[0]).toEqual(["root", "admin", "active"]);
    expect(rows.find((r) => r[0] === "troll")?.slice(0, 2)).toEqual(["troll", "user"]);
    expect(rows.find((r) => r[0] === "troll")?.[2]).toStartWith("deactivated ");

    expect(await bunchat(["admin", "reactivate", "troll"])).toMatchObject({ code: 0, stdout: "troll is active.\n" });
    expect((await login("troll", "correct-horse-battery")).status).toBe(200);
  });

  test("unknown commands and wrong arguments exit 2 with the usage; --help lists the commands", async () => {
    const unknown = await bunchat(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toStartWith("Unknown command: frobnicate\nUsage: bunchat");
    const sub = await bunchat(["admin", "frobnicate", "x"]);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toContain("Usage: bunchat admin");
    expect((await bunchat(["admin", "promote"])).code).toBe(2);
    const help = await bunchat(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("admin");
    const adminHelp = await bunchat(["admin", "--help"]);
    expect(adminHelp.code).toBe(0);
    for (const command of ["create", "promote", "demote", "reset-password", "deactivate", "reactivate", "list"])
      expect(adminHelp.stdout).toContain(`  ${command} `);
  });
});
