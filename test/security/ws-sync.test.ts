/**
 * `sync` as an amplifier: a small frame that makes the server read and send a lot. Sync frames
 * are limited per user (WS_SYNC_RATE_LIMIT) as they arrive, and what one sync replays is
 * bounded (WS_SYNC_MAX_BYTES); the rest is fetched by another sync or over REST.
 */
import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { loadConfig, testConfig, type Limits } from "../../src/config";
import { manualClock, type TestUser } from "../helpers";
import { type Frame, type LiveServer, startServer, type WsClient } from "../realtime/helpers";

let server: LiveServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const limits = (given: Partial<Limits>): Limits => ({ ...testConfig().limits, ...given });

async function roomWith(owner: TestUser, count: number, content = (i: number) => `message ${i}`): Promise<string> {
  const room = await server!.call("POST", "/api/rooms", { token: owner.token, body: { name: "room" } });
  expect(room.status).toBe(201);
  for (let i = 1; i <= count; i++) {
    const res = await server!.call("POST", `/api/rooms/${room.body.id}/messages`, { token: owner.token, body: { content: content(i) } });
    expect(res.status).toBe(201);
  }
  return room.body.id;
}

/** The types of the frames the client received after `ready`, with the code of each error. */
const received = (client: WsClient) => client.frames.filter((f) => f.type !== "ready").map((f) => (f.type === "error" ? `error ${f.error.code}` : f.type));

describe("sync frames per user (WS_SYNC_RATE_LIMIT)", () => {
  test("a flood of syncs is refused beyond the limit without reading anything, and the socket stays open", async () => {
    const clock = manualClock();
    server = await startServer({ limits: limits({ wsSyncRateLimit: 3 }) }, { now: clock.now });
    const u = await server.user();
    const roomId = await roomWith(u, 5);
    const client = await server.connect(u);
    const history = spyOn(server.services.messages, "history");
    const changedSince = spyOn(server.services.messages, "changedSince");
    const syncState = spyOn(server.services.rooms, "syncStateOf");

    const sync = { type: "sync", rooms: { [roomId]: 2 }, since: client.ready.at };
    for (let i = 0; i < 20; i++) client.send(sync);
    await client.barrier();

    const replay = ["message.new", "message.new", "message.new", "sync.done"];
    expect(received(client)).toEqual([...replay, ...replay, ...replay, ...Array(17).fill("error RATE_LIMITED"), "pong"]);
    // 3 a burst, refilled at 3 per 10 s: the next is free in 10/3 s.
    expect(client.all("error")[0]!.error).toEqual({
      code: "RATE_LIMITED",
      message: "Too many sync requests: at most 3 per 10 s; try again in 4 s.",
      details: { retryAfter: 4 },
    });
    expect([history.mock.calls.length, changedSince.mock.calls.length, syncState.mock.calls.length]).toEqual([3, 3, 0]);
    expect(client.isOpen).toBe(true);

    // The bucket is the user's: another socket of theirs is refused too, another user's is not.
    const second = await server.connect(u);
    second.send(sync);
    expect((await second.next("error")).error.code).toBe("RATE_LIMITED");
    const other = await server.user();
    const otherClient = await server.connect(other);
    otherClient.send({ type: "sync", rooms: { [await roomWith(other, 1)]: 0 } });
    await otherClient.next("sync.done");
    expect(history.mock.calls.length).toBe(4);

    // Refilled in time: syncs work again on the old socket, and the frames around them were never held up.
    clock.advance(10_000);
    client.frames.length = 0;
    client.send(sync);
    client.send({ type: "ping" });
    expect((await client.next("sync.done")).rooms).toEqual({ [roomId]: { lastSeq: 5, hasMore: false, changesHaveMore: false } });
    await client.next("pong");
    expect(received(client)).toEqual([...replay, "pong"]);
  });

  test("0 turns the limit off", async () => {
    server = await startServer({ limits: limits({ wsSyncRateLimit: 0 }) });
    const u = await server.user();
    const roomId = await roomWith(u, 1);
    const client = await server.connect(u);
    for (let i = 0; i < 40; i++) client.send({ type: "sync", rooms: { [roomId]: 0 } });
    await client.barrier();
    expect(client.all("sync.done")).toHaveLength(40);
    expect(client.all("error")).toEqual([]);
  });
});

describe("what one sync replays (WS_SYNC_MAX_BYTES)", () => {
  const bytes = (frames: Frame[]) => frames.reduce((sum, f) => sum + Buffer.byteLength(JSON.stringify(f)), 0);

  test("a sync stops once its bytes are spent, leaves later rooms unread, and another sync goes on from there", async () => {
    const budget = 3000;
    server = await startServer({ limits: limits({ wsSyncMaxBytes: budget }) });
    const u = await server.user();
    const long = await roomWith(u, 10, (i) => `${i} ${"x".repeat(500)}`);
    const short = await roomWith(u, 3);
    const client = await server.connect(u);
    const history = spyOn(server.services.messages, "history");

    client.send({ type: "sync", rooms: { [long]: 0, [short]: 0 } });
    const done = await client.next("sync.done");
    const replayed = client.all("message.new");
    expect(replayed.length).toBeGreaterThan(1);
    expect(replayed.length).toBeLessThan(10);
    // The budget is passed by the last frame only.
    expect(bytes(replayed.slice(0, -1))).toBeLessThan(budget);
    expect(bytes(replayed)).toBeGreaterThanOrEqual(budget);
    expect(done.rooms).toEqual({
      [long]: { lastSeq: replayed.length, hasMore: true },
      [short]: { lastSeq: 0, hasMore: true },
    });
    expect(history.mock.calls.length).toBe(1);

    // Going on from each room's lastSeq until nothing is left gives every message exactly once.
    let rooms: Record<string, number> = { [long]: done.rooms[long].lastSeq, [short]: done.rooms[short].lastSeq };
    for (let round = 0; round < 10 && Object.keys(rooms).length > 0; round++) {
      client.send({ type: "sync", rooms });
      const next = await client.next("sync.done");
      rooms = {};
      for (const [id, room] of Object.entries<any>(next.rooms)) if (room.hasMore) rooms[id] = room.lastSeq;
    }
    expect(rooms).toEqual({});
    const seqs = (roomId: string) => client.all("message.new").filter((f) => f.message.roomId === roomId).map((f) => f.message.seq);
    expect(seqs(long)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(seqs(short)).toEqual([1, 2, 3]);
  });

  test("with since, replayed changes stop at the budget too: the rest is named for REST", async () => {
    const clock = manualClock();
    server = await startServer({ limits: limits({ wsSyncMaxBytes: 2000 }) }, { now: clock.now });
    const u = await server.user();
    const edited = await roomWith(u, 6);
    const quiet = await roomWith(u, 2);
    const first = await server.connect(u);
    const since = first.ready.at;
    first.close();
    clock.advance(1000);
    const ids = (await server.call("GET", `/api/rooms/${edited}/messages?after=0`, { token: u.token })).body.messages.map((m: any) => m.id);
    for (const id of ids) {
      const res = await server.call("PATCH", `/api/messages/${id}`, { token: u.token, body: { content: `edited ${"y".repeat(500)}` } });
      expect(res.status).toBe(200);
    }

    const client = await server.connect(u);
    const changedSince = spyOn(server.services.messages, "changedSince");
    client.send({ type: "sync", rooms: { [edited]: 6, [quiet]: 2 }, since });
    const done = await client.next("sync.done");
    const updated = client.all("message.updated");
    expect(updated.length).toBeGreaterThan(1);
    expect(updated.length).toBeLessThan(6);
    const last = updated.at(-1)!.message.seq;
    expect(done.rooms).toEqual({
      [edited]: { lastSeq: 6, hasMore: false, changesHaveMore: true, changesLastSeq: last },
      // Not read: its changes are unknown, so all it holds is to be re-read.
      [quiet]: { lastSeq: 2, hasMore: false, changesHaveMore: true, changesLastSeq: 0 },
    });
    expect(changedSince.mock.calls.length).toBe(1);

    // The rest, as sync.done says, over REST.
    const rest = await server.call("GET", `/api/rooms/${edited}/messages?after=${last}&before=7`, { token: u.token });
    const seen = [...updated.map((f) => f.message), ...rest.body.messages];
    expect(seen.map((m: any) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(seen.every((m: any) => m.content.startsWith("edited "))).toBe(true);
  });
});

describe("configuration", () => {
  const SECRET = "x".repeat(32);
  test("defaults: 10 syncs per 10 s per user, 4 MiB a sync; the test config leaves the rate off", () => {
    expect(loadConfig({ JWT_SECRET: SECRET }, "/dev/null").limits).toMatchObject({ wsSyncRateLimit: 10, wsSyncMaxBytes: 4 * 1024 * 1024 });
    expect(loadConfig({ JWT_SECRET: SECRET, WS_SYNC_RATE_LIMIT: "0", WS_SYNC_MAX_BYTES: "65536" }, "/dev/null").limits).toMatchObject({
      wsSyncRateLimit: 0,
      wsSyncMaxBytes: 65536,
    });
    expect(testConfig().limits.wsSyncRateLimit).toBe(0);
  });
});
