/**
 * Resume across processes whose clocks disagree: a client subscribed on one process, away while
 * changes are made through another whose clock runs two minutes slow (CLOCK_OFFSET_MS), then
 * resumed on that other process with the `position` of its last `ready`, gets every change.
 * The same resume by the time form (`ready.at`) misses them: the skew is real.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshPgDatabase, type TestDatabase } from "../pg";
import { makeRoom, register, type Server, spawnServer, WAIT_MS } from "./procs";

describe("resume on a process with a skewed clock", () => {
  let right: Server;
  let slow: Server;
  let database: TestDatabase | null = null;
  let dir: string | null = null;

  beforeAll(async () => {
    let databaseUrl: string;
    if (Bun.env.TEST_DATABASE_URL) {
      database = freshPgDatabase(Bun.env.TEST_DATABASE_URL);
      await database.created;
      databaseUrl = database.url;
    } else {
      dir = mkdtempSync(join(tmpdir(), "bunchat-skew-"));
      databaseUrl = `sqlite://${join(dir, "chat.db")}`;
    }
    right = await spawnServer("right", { DATABASE_URL: databaseUrl });
    slow = await spawnServer("slow", { DATABASE_URL: databaseUrl, CLOCK_OFFSET_MS: "-120000" });
  }, 90_000);

  afterAll(async () => {
    await Promise.all([right?.stop(), slow?.stop()]);
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  test("changes made through the slow process while away are all replayed by position, none missed", async () => {
    const [alice, bob] = [await register(right), await register(right)];
    const roomId = await makeRoom(right, alice, [bob]);
    const ids: string[] = [];
    for (let i = 1; i <= 4; i++) {
      const res = await right.call("POST", `/api/rooms/${roomId}/messages`, { token: alice.token, body: { content: `m${i}` } });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    // Bob holds all four and goes away.
    const first = await right.connect(bob);
    expect(first.ready.position).toMatch(/^p\d+$/);
    first.close();
    await first.closed;

    // Through the slow process: an edit, a delete, a reaction.
    expect((await slow.call("PATCH", `/api/messages/${ids[0]}`, { token: alice.token, body: { content: "m1 edited" } })).status).toBe(200);
    expect((await slow.call("DELETE", `/api/messages/${ids[1]}`, { token: alice.token })).status).toBe(204);
    expect((await slow.call("PUT", `/api/messages/${ids[2]}/reactions/${encodeURIComponent("👍")}`, { token: alice.token })).status).toBeLessThan(300);

    const back = await slow.connect(bob);
    back.send({ type: "sync", rooms: { [roomId]: 4 }, since: first.ready.position });
    const done = await back.next("sync.done", () => true, WAIT_MS);
    expect(done.rooms[roomId]).toMatchObject({ lastSeq: 4, hasMore: false, changesHaveMore: false });
    const replayed = back.frames.filter((f) => f.type === "message.updated" || f.type === "message.deleted");
    expect(replayed.map((f) => (f.type === "message.deleted" ? ["deleted", f.seq] : ["updated", f.message.seq, f.message.content]))).toEqual([
      ["updated", 1, "m1 edited"],
      ["deleted", 2],
      ["updated", 3, "m3"],
    ]);
    expect(replayed[2]!.message.reactions).toEqual([{ emoji: "👍", count: 1, me: false }]);

    // By the slow clock those changes were made before Bob left: the time form misses them.
    back.send({ type: "sync", rooms: { [roomId]: 4 }, since: first.ready.at });
    const byTime = await back.next("sync.done", () => true, WAIT_MS);
    expect(byTime.rooms[roomId]).toMatchObject({ lastSeq: 4, changesHaveMore: false });
    expect(back.frames.filter((f) => f.type === "message.updated" || f.type === "message.deleted")).toHaveLength(3);

    // A position past every change replays none.
    back.send({ type: "sync", rooms: { [roomId]: 4 }, since: back.ready.position });
    await back.next("sync.done", () => true, WAIT_MS);
    expect(back.frames.filter((f) => f.type === "message.updated" || f.type === "message.deleted")).toHaveLength(3);
    back.close();
  });
});
