/**
 * The disk filling up under SQLite: the database lives on a small tmpfs the test mounts (as
 * root, where the machine allows it), then a file fills what is left. Sends fail with 503
 * while it is full, nothing acknowledged is damaged, and sends succeed again once space returns.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { history, makeRoom, register, type Server, spawnServer, until } from "./procs";

function whyNot(): string | null {
  if (process.platform !== "linux") return "a tmpfs is mounted on Linux only";
  if (process.getuid?.() !== 0) return "mounting a tmpfs needs root";
  const probe = mkdtempSync(join(tmpdir(), "bunchat-tmpfs-probe-"));
  try {
    const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], { stderr: "pipe" });
    if (mounted.exitCode !== 0) return `mount -t tmpfs failed here: ${mounted.stderr.toString().trim()}`;
    Bun.spawnSync(["umount", probe]);
    return null;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const reason = whyNot();
if (reason) console.log(`skipping the disk-full test: ${reason}`);

describe.skipIf(!!reason)("the disk fills up under SQLite", () => {
  let dir: string;
  let mnt: string;
  let server: Server | null = null;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "bunchat-disk-full-"));
    mnt = join(dir, "mnt");
    mkdirSync(mnt);
    const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt], { stderr: "pipe" });
    if (mounted.exitCode !== 0) throw new Error(`mount: ${mounted.stderr}`);
  });

  afterAll(async () => {
    await server?.stop();
    if (Bun.spawnSync(["umount", mnt]).exitCode !== 0) Bun.spawnSync(["umount", "-l", mnt]);
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  test("sends answer 503 while full, nothing acknowledged is damaged, sends work again once there is space", async () => {
    const file = join(mnt, "chat.db");
    server = await spawnServer("server", { DATABASE_URL: `sqlite://${file}` });
    const alice = await register(server, "df");
    const roomId = await makeRoom(server, alice, []);
    const acked = new Map<number, string>();
    const pad = "x".repeat(3000);
    let n = 0;
    const send = async () => {
      const content = `m${++n} ${pad}`;
      const res = await server!.call("POST", `/api/rooms/${roomId}/messages`, { token: alice.token, body: { content } });
      if (res.status === 201) acked.set(res.body.seq, content);
      else if (res.status !== 503) throw new Error(`send answered ${res.status}: ${JSON.stringify(res.body)}`);
      else expect(res.body.error.code).toBe("UNAVAILABLE");
      return res.status;
    };
    for (let i = 0; i < 20; i++) expect(await send()).toBe(201);

    // Fill what is left of the file system.
    const filler = join(mnt, "filler");
    const fd = openSync(filler, "w");
    const chunk = Buffer.alloc(64 * 1024, 1);
    try {
      for (;;) writeSync(fd, chunk);
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe("ENOSPC");
    } finally {
      closeSync(fd);
    }
    // The log may still have room it had taken before: sends go on until it runs out.
    let refused = 0;
    for (let i = 0; i < 3000 && refused < 5; i++) if ((await send()) === 503) refused++;
    expect(refused).toBe(5);
    expect(server.proc.exitCode).toBeNull();

    rmSync(filler);
    await until("sends to succeed again", async () => (await send()) === 201);
    for (let i = 0; i < 10; i++) expect(await send()).toBe(201);

    const messages = await history(server, alice, roomId);
    expect(messages.map((m) => m.seq)).toEqual(messages.map((_, i) => i + 1));
    for (const [seq, content] of acked) expect(messages[seq - 1]?.content).toBe(content);
    await server.stop();
    server = null;
    const db = new Database(file, { readonly: true });
    try {
      expect(db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    } finally {
      db.close();
    }
  }, 180_000);
});
