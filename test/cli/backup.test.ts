/**
 * `bun src/index.ts backup <file>` as a process, against a server process writing to a SQLite
 * file under a storm of sends: the copy opens, passes integrity_check and holds every message
 * acknowledged before the backup began. The backup is of SQLite files whatever this run's
 * database is; on PostgreSQL the command refuses and names pg_dump.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "../..");
const INDEX = join(ROOT, "src/index.ts");
const WAIT_MS = 15_000;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "bunchat-backup-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const baseEnv = () => ({
  PATH: Bun.env.PATH ?? "/usr/bin:/bin",
  HOME: dir,
  JWT_SECRET: "backup-test-secret-backup-test-secret-0123",
  PASSWORD_MEMORY_KIB: "1024",
  PASSWORD_TIME_COST: "1",
  RATE_LIMIT_AUTH: "0",
  RATE_LIMIT_ANON: "0",
  RATE_LIMIT_MESSAGES: "0",
});

async function until<T>(what: string, check: () => T | undefined | null | false | Promise<T | undefined | null | false>, ms = WAIT_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** The command run from `cwd` (where ./data/files, file:// storage's default, is looked for). */
async function bunchat(args: string[], env: Record<string, string>, cwd: string) {
  const proc = Bun.spawn([process.execPath, INDEX, ...args], { cwd, env: { ...baseEnv(), ...env }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

describe("bunchat backup", () => {
  test("during a send storm: the copy opens, is intact and holds every message acknowledged before it began; files are copied beside it", async () => {
    const home = join(dir, "storm");
    const files = join(home, "data/files");
    mkdirSync(join(files, "ab"), { recursive: true });
    writeFileSync(join(files, "ab/one.bin"), new Uint8Array([1, 2, 3, 4]));
    writeFileSync(join(files, "two.txt"), "two");
    const env = { DATABASE_URL: `sqlite://${join(home, "chat.db")}` };

    let output = "";
    const server = Bun.spawn([process.execPath, INDEX], {
      cwd: home,
      env: { ...baseEnv(), ...env, HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info" },
      stdout: "pipe",
      stderr: "pipe",
    });
    for (const stream of [server.stdout, server.stderr] as ReadableStream<Uint8Array>[])
      void (async () => {
        const decoder = new TextDecoder();
        for await (const chunk of stream) if (output.length < 100_000) output += decoder.decode(chunk);
      })();
    let storming = true;
    try {
      const port = await until(`the server to listen (${output})`, () => {
        if (server.exitCode !== null) throw new Error(`server exited ${server.exitCode}: ${output}`);
        return /"msg":"listening","url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(output)?.[1];
      });
      const base = `http://127.0.0.1:${port}`;
      const post = async (path: string, body: unknown, token?: string) => {
        const res = await fetch(`${base}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) },
          body: JSON.stringify(body),
        });
        return { status: res.status, body: (await res.json()) as any };
      };
      const registered = await post("/api/auth/register", { username: "storm", password: "correct-horse-battery" });
      expect(registered.status).toBe(201);
      const token: string = registered.body.accessToken;
      const room = await post("/api/rooms", { name: "storm" }, token);
      expect(room.status).toBe(201);
      const roomId: string = room.body.id;

      // Lanes that each send, wait for the acknowledgement, and send again, until stopped.
      const acked: string[] = [];
      const lane = async (n: number) => {
        for (let i = 0; storming; i++) {
          const res = await post(`/api/rooms/${roomId}/messages`, { content: `lane ${n} message ${i}` }, token);
          if (res.status !== 201) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`);
          acked.push(res.body.id);
        }
      };
      const lanes = Promise.all(Array.from({ length: 6 }, (_, n) => lane(n)));
      await until("messages to be acknowledged", () => acked.length >= 300);

      const before = [...acked];
      const target = join(dir, "storm-backup.db");
      const run = bunchat(["backup", target], env, home);
      // Sends go on being acknowledged while the backup runs.
      const during = acked.length;
      const result = await run;
      await until("sends acknowledged after the backup started", () => acked.length > during);
      storming = false;
      await lanes;
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(target);

      const copy = new Database(target, { readonly: true });
      try {
        expect(copy.query("PRAGMA integrity_check").all()).toEqual([{ integrity_check: "ok" }]);
        const ids = new Set(copy.query<{ id: string }, [string]>("SELECT id FROM messages WHERE room_id = ?").all(roomId).map((r) => r.id));
        const missing = before.filter((id) => !ids.has(id));
        expect(missing).toEqual([]);
        expect(ids.size).toBeGreaterThanOrEqual(before.length);
        expect(ids.size).toBeLessThanOrEqual(acked.length);
        const seqs = copy.query<{ seq: number }, [string]>("SELECT seq FROM messages WHERE room_id = ? ORDER BY seq").all(roomId).map((r) => r.seq);
        // A consistent snapshot: the room's messages are 1..n with no gap, and the room's last_seq says n.
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
        expect(copy.query<{ last_seq: number }, [string]>("SELECT last_seq FROM rooms WHERE id = ?").get(roomId)!.last_seq).toBe(seqs.length);
      } finally {
        copy.close();
      }
      // A single file, restored by copying it alone.
      expect(existsSync(`${target}-wal`)).toBe(false);
      expect([...readFileSync(join(`${target}.files`, "ab/one.bin"))]).toEqual([1, 2, 3, 4]);
      expect(readFileSync(join(`${target}.files`, "two.txt"), "utf8")).toBe("two");

      // An existing file is never overwritten.
      const again = await bunchat(["backup", target], env, home);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain("exists already");
    } finally {
      storming = false;
      server.kill("SIGTERM");
      await server.exited;
    }
  }, 60_000);

  test("on PostgreSQL: exits 1 pointing to pg_dump, and writes nothing", async () => {
    const target = join(dir, "pg-backup.db");
    // The command refuses before connecting: no server is needed at this address.
    const url = Bun.env.TEST_DATABASE_URL ?? "postgres://bunchat@127.0.0.1:1/bunchat";
    const result = await bunchat(["backup", target], { DATABASE_URL: url }, dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("pg_dump");
    expect(existsSync(target)).toBe(false);
  });

  test("without a file: the usage, exit 2; `bun run backup -- <file>` runs the same command", async () => {
    const result = await bunchat(["backup"], { DATABASE_URL: `sqlite://${join(dir, "none.db")}` }, dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Usage: bunchat backup <file>");
    const proc = Bun.spawn([process.execPath, "run", "backup", "--", "--help"], {
      cwd: ROOT,
      env: { ...baseEnv(), DATABASE_URL: `sqlite://${join(dir, "none.db")}` },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(0);
    expect(stdout).toContain("Usage: bunchat backup <file>");
  });
});
