import { afterEach, expect, test } from "bun:test";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { SyncDoneFrame } from "../../src/realtime/protocol";
import type { TestUser } from "../helpers";
import { eventually, type Frame, type LiveServer, startServer, type WsClient } from "./helpers";

let server: LiveServer;
afterEach(async () => {
  await server?.close();
});

const syncDoneShape = TypeCompiler.Compile(SyncDoneFrame);

async function room(owner: TestUser, members: TestUser[]): Promise<string> {
  const res = await server.call("POST", "/api/rooms", { token: owner.token, body: { name: "room", memberIds: members.map((m) => m.id) } });
  return res.body.id;
}

/** A client's local store: room → seq → message, filled from message.new frames. */
function history(frames: Frame[]) {
  const store = new Map<string, Map<number, unknown>>();
  for (const f of frames) {
    if (f.type !== "message.new") continue;
    if (!store.has(f.message.roomId)) store.set(f.message.roomId, new Map());
    store.get(f.message.roomId)!.set(f.message.seq, f.message);
  }
  return Object.fromEntries([...store].map(([roomId, bySeq]) => [roomId, [...bySeq].sort(([x], [y]) => x - y).map(([, m]) => m)]));
}

test("a client that reconnects and syncs ends with exactly the history of one that never disconnected", async () => {
  server = await startServer();
  const [a, b] = [await server.user(), await server.user()];
  const r1 = await room(a, [b]);
  const r2 = await room(a, [b]);
  const sender = await server.connect(a);
  const stayed = await server.connect(b);
  const flaky = await server.connect(b);

  let n = 0;
  const sendWs = async (roomId: string) => {
    const clientId = `m${++n}`;
    sender.send({ type: "message.send", roomId, content: `message ${n}`, clientId });
    await sender.next("ack", (f) => f.clientId === clientId);
  };
  const sendRest = async (roomId: string) => {
    const res = await server.call("POST", `/api/rooms/${roomId}/messages`, { token: a.token, body: { content: `message ${++n}` } });
    expect(res.status).toBe(201);
  };

  await sendWs(r1);
  await sendWs(r1);
  await sendRest(r1);
  await sendWs(r2);
  await sendRest(r2);
  await eventually(() => flaky.all("message.new").length === 5, "the first five messages on the flaky socket");
  const before = [...flaky.frames];

  flaky.close();
  await flaky.waitClosed();
  await eventually(() => server.services.realtime.hub.connectionsOf(b.id).length === 1, "the server to see the socket go");

  // Missed while away: in both rooms, over both paths.
  await sendWs(r1);
  await sendRest(r1);
  await sendWs(r1);
  await sendRest(r1);
  await sendRest(r2);
  await sendWs(r2);
  await sendWs(r2);

  const back = await server.connect(b);
  expect(back.ready.rooms.sort((x: any, y: any) => x.id.localeCompare(y.id))).toEqual(
    [
      { id: r1, lastSeq: 7 },
      { id: r2, lastSeq: 5 },
    ].sort((x, y) => x.id.localeCompare(y.id)),
  );
  const mine = history(before);
  back.send({ type: "sync", rooms: { [r1]: mine[r1]!.length, [r2]: mine[r2]!.length } });
  const done = await back.next("sync.done");
  expect(syncDoneShape.Check(done)).toBe(true);
  expect(done.rooms).toEqual({ [r1]: { lastSeq: 7, hasMore: false }, [r2]: { lastSeq: 5, hasMore: false } });

  // Exactly the missed ones, per room in seq order.
  const replayed = back.all("message.new").map((f) => [f.message.roomId, f.message.seq]);
  expect(replayed).toEqual([
    [r1, 4],
    [r1, 5],
    [r1, 6],
    [r1, 7],
    [r2, 3],
    [r2, 4],
    [r2, 5],
  ]);

  await stayed.barrier();
  const resumed = history([...before, ...back.frames]);
  const continuous = history(stayed.frames);
  expect(resumed).toEqual(continuous);
  expect(continuous[r1]).toHaveLength(7);
  expect(continuous[r2]).toHaveLength(5);
  // And both match what the server keeps.
  const stored = await server.call("GET", `/api/rooms/${r1}/messages?after=0&limit=200`, { token: b.token });
  expect(stored.body.messages).toEqual(continuous[r1]);
});

test("more than 500 missed: 500 replayed, then hasMore and the rest over REST", async () => {
  server = await startServer();
  const a = await server.user();
  const roomId = await room(a, []);
  const messages = server.services.messages;
  await Promise.all(Array.from({ length: 503 }, (_, i) => messages.send(a.id, roomId, { content: `bulk ${i + 1}` })));

  const client = await server.connect(a);
  client.send({ type: "sync", rooms: { [roomId]: 1 } });
  const done = await client.next("sync.done", () => true, 10_000);
  expect(done.rooms[roomId]).toEqual({ lastSeq: 501, hasMore: true });
  const seqs = client.all("message.new").map((f) => f.message.seq);
  expect(seqs).toEqual(Array.from({ length: 500 }, (_, i) => i + 2));
  const rest = await server.call("GET", `/api/rooms/${roomId}/messages?after=501`, { token: a.token });
  expect(rest.body.messages.map((m: any) => m.seq)).toEqual([502, 503]);
  expect(rest.body.hasMore).toBe(false);
});

test("rooms the user is not in are left out of sync.done and named in one NOT_FOUND error", async () => {
  server = await startServer();
  const [a, b] = [await server.user(), await server.user()];
  const mine = await room(b, []);
  const theirs = await room(a, []);
  await server.call("POST", `/api/rooms/${mine}/messages`, { token: b.token, body: { content: "hi" } });
  const client = await server.connect(b);
  client.send({ type: "sync", rooms: { [mine]: 0, [theirs]: 0, "no-such-room": 0 } });
  const error = await client.next("error");
  expect(error.error.code).toBe("NOT_FOUND");
  expect(error.error.details.roomIds.sort()).toEqual([theirs, "no-such-room"].sort());
  const done = await client.next("sync.done");
  expect(done.rooms).toEqual({ [mine]: { lastSeq: 1, hasMore: false } });
  expect(client.all("message.new").map((f) => f.message.content)).toEqual(["hi"]);
});

test("nothing missed: sync.done alone, with the seq the client already had", async () => {
  server = await startServer();
  const a = await server.user();
  const roomId = await room(a, []);
  const client: WsClient = await server.connect(a);
  client.send({ type: "message.send", roomId, content: "one", clientId: "1" });
  await client.next("ack");
  client.send({ type: "sync", rooms: { [roomId]: 1 } });
  expect((await client.next("sync.done")).rooms).toEqual({ [roomId]: { lastSeq: 1, hasMore: false } });
  expect(client.all("message.new")).toHaveLength(1); // the live one only
});

test("direct messages sent while the recipient is away turn delivered when a socket of theirs syncs them", async () => {
  server = await startServer();
  const [a, b] = [await server.user(), await server.user()];
  const direct = await server.call("POST", "/api/rooms/direct", { token: a.token, body: { userId: b.id } });
  const roomId: string = direct.body.id;
  const sender = await server.connect(a);
  for (const content of ["are you there?", "call me"]) {
    const res = await server.call("POST", `/api/rooms/${roomId}/messages`, { token: a.token, body: { content } });
    expect([res.status, res.body.status]).toEqual([201, "sent"]);
  }
  const statuses = async () =>
    (await server.call("GET", `/api/rooms/${roomId}/messages`, { token: a.token })).body.messages.map((m: any) => [m.seq, m.status]);

  // Connecting is not receiving: the messages reach the socket only with the sync.
  const back = await server.connect(b);
  expect(await statuses()).toEqual([
    [1, "sent"],
    [2, "sent"],
  ]);
  back.send({ type: "sync", rooms: { [roomId]: 0 } });
  expect((await back.next("sync.done")).rooms).toEqual({ [roomId]: { lastSeq: 2, hasMore: false } });
  expect(back.all("message.new").map((f) => f.message.seq)).toEqual([1, 2]);
  expect(await statuses()).toEqual([
    [1, "delivered"],
    [2, "delivered"],
  ]);
  // The sender's ticks move as they do for a live delivery.
  expect(await sender.next("delivered")).toMatchObject({ roomId, userId: b.id, seq: 2 });
});
