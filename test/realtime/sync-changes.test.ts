/**
 * `sync` with `since`: edits, deletes and reaction changes made while a client was away, to
 * messages it already holds, are replayed, so a resumed client's history is exactly that of one
 * that never disconnected.
 */
import { afterEach, expect, test } from "bun:test";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { MessageDeletedFrame, MessageUpdatedFrame, ReadyFrame, SyncDoneFrame } from "../../src/realtime/protocol";
import { manualClock, type TestUser } from "../helpers";
import { eventually, type Frame, type LiveServer, startServer, type WsClient } from "./helpers";

let server: LiveServer;
afterEach(async () => {
  await server?.close();
});

const shapes = {
  ready: TypeCompiler.Compile(ReadyFrame),
  "sync.done": TypeCompiler.Compile(SyncDoneFrame),
  "message.updated": TypeCompiler.Compile(MessageUpdatedFrame),
  "message.deleted": TypeCompiler.Compile(MessageDeletedFrame),
};

/** The server on a clock that moves only when told, so "before" and "after" a time are exact. */
async function start() {
  const clock = manualClock();
  server = await startServer({}, { now: clock.now });
  return clock;
}

async function room(owner: TestUser, members: TestUser[]): Promise<string> {
  const res = await server.call("POST", "/api/rooms", { token: owner.token, body: { name: "room", memberIds: members.map((m) => m.id) } });
  return res.body.id;
}

async function rest(user: TestUser, method: string, path: string, body?: unknown) {
  const res = await server.call(method, path, { token: user.token, body });
  expect([method, path, res.status]).toEqual([method, path, method === "DELETE" && !path.includes("/reactions/") ? 204 : method === "POST" ? 201 : 200]);
  return res.body;
}

/** Leaves `client` closed and the server knowing it. */
async function disconnect(user: TestUser, client: WsClient) {
  const before = server.services.realtime.hub.connectionsOf(user.id).length;
  client.close();
  await client.waitClosed();
  await eventually(() => server.services.realtime.hub.connectionsOf(user.id).length === before - 1, "the server to see the socket go");
}

/** A client's local store, by message id, built by applying the frames it received in order. */
function store(frames: Frame[]): Map<string, any> {
  const byId = new Map<string, any>();
  for (const f of frames) {
    switch (f.type) {
      case "message.new":
      case "message.updated":
        byId.set(f.message.id, f.message);
        break;
      case "message.deleted": {
        const m = byId.get(f.id);
        if (m) byId.set(f.id, { ...m, content: "", metadata: null, reactions: [], deletedAt: "deleted" });
        break;
      }
      case "reaction.added":
      case "reaction.removed": {
        const m = byId.get(f.messageId);
        if (!m) break;
        const reactions = m.reactions.map((r: any) => ({ ...r }));
        const i = reactions.findIndex((r: any) => r.emoji === f.emoji);
        if (f.type === "reaction.added") {
          if (i >= 0) reactions[i].count++;
          else reactions.push({ emoji: f.emoji, count: 1, me: false });
        } else if (i >= 0 && --reactions[i].count === 0) reactions.splice(i, 1);
        byId.set(m.id, { ...m, reactions });
        break;
      }
    }
  }
  return byId;
}

/** A store's messages of one room in seq order; a deleted message's time is not in its frame. */
const historyOf = (byId: Map<string, any>, roomId: string) =>
  [...byId.values()]
    .filter((m) => m.roomId === roomId)
    .sort((x, y) => x.seq - y.seq)
    .map((m) => ({ ...m, deletedAt: m.deletedAt !== null }));

test("B resumes with since: exactly the edit, the delete and the reaction changes it missed, and the history of a socket that stayed", async () => {
  const clock = await start();
  const [a, b] = [await server.user(), await server.user()];
  const roomId = await room(a, [b]);
  const stayed = await server.connect(b);
  const flaky = await server.connect(b);
  expect(shapes.ready.Check(flaky.ready)).toBe(true);
  expect(flaky.ready.at).toBe(new Date(clock.now()).toISOString());

  const ids: string[] = [];
  for (const content of ["one", "two", "three"]) ids.push((await rest(a, "POST", `/api/rooms/${roomId}/messages`, { content })).id);
  await rest(a, "PUT", `/api/messages/${ids[0]}/reactions/❤️`);
  await eventually(() => flaky.all("message.new").length === 3 && flaky.all("reaction.added").length === 1, "B's first socket to hold seq 1..3");
  const held = [...flaky.frames];
  await disconnect(b, flaky);

  // While B is away.
  clock.advance(1000);
  await rest(a, "PATCH", `/api/messages/${ids[0]}`, { content: "one, edited" });
  await rest(a, "DELETE", `/api/messages/${ids[1]}`);
  await rest(a, "PUT", `/api/messages/${ids[2]}/reactions/👍`);
  await rest(a, "DELETE", `/api/messages/${ids[0]}/reactions/❤️`);
  const four = await rest(a, "POST", `/api/rooms/${roomId}/messages`, { content: "four" });
  clock.advance(1000);
  await rest(a, "PATCH", `/api/messages/${four.id}`, { content: "four, edited" });

  const back = await server.connect(b);
  back.send({ type: "sync", rooms: { [roomId]: 3 }, since: flaky.ready.at });
  const done = await back.next("sync.done");
  expect(shapes["sync.done"].Check(done)).toBe(true);
  expect(done.rooms).toEqual({ [roomId]: { lastSeq: 4, hasMore: false, changesHaveMore: false } });

  // The new message as it is now, then one frame per changed message it held, in seq order.
  const replayed = back.frames.filter((f) => f.type !== "ready" && f.type !== "sync.done");
  expect(replayed.map((f) => [f.type, f.message?.seq ?? f.seq])).toEqual([
    ["message.new", 4],
    ["message.updated", 1],
    ["message.deleted", 2],
    ["message.updated", 3],
  ]);
  expect(replayed[0]!.message.content).toBe("four, edited");
  for (const f of replayed.slice(1)) expect([f.type, shapes[f.type as "message.updated" | "message.deleted"].Check(f)]).toEqual([f.type, true]);
  expect(replayed[1]!.message).toMatchObject({ content: "one, edited", reactions: [] });
  expect(replayed[2]).toEqual({ type: "message.deleted", roomId, id: ids[1], seq: 2 });
  expect(replayed[3]!.message.reactions).toEqual([{ emoji: "👍", count: 1, me: false }]);

  await stayed.barrier();
  const resumed = historyOf(store([...held, ...back.frames]), roomId);
  const continuous = historyOf(store(stayed.frames), roomId);
  expect(resumed).toEqual(continuous);
  expect(continuous.map((m) => [m.seq, m.content, m.deletedAt])).toEqual([
    [1, "one, edited", false],
    [2, "", true],
    [3, "three", false],
    [4, "four, edited", false],
  ]);
  // And both are what the server keeps.
  const stored = await server.call("GET", `/api/rooms/${roomId}/messages?after=0`, { token: b.token });
  expect(historyOf(new Map(stored.body.messages.map((m: any) => [m.id, m])), roomId)).toEqual(continuous);
});

test("without since, sync replays new messages only, and sync.done is as before", async () => {
  const clock = await start();
  const [a, b] = [await server.user(), await server.user()];
  const roomId = await room(a, [b]);
  const first = await rest(a, "POST", `/api/rooms/${roomId}/messages`, { content: "one" });
  const flaky = await server.connect(b);
  await disconnect(b, flaky);
  clock.advance(1000);
  await rest(a, "PATCH", `/api/messages/${first.id}`, { content: "one, edited" });
  await rest(a, "PUT", `/api/messages/${first.id}/reactions/👍`);
  await rest(a, "POST", `/api/rooms/${roomId}/messages`, { content: "two" });

  const back = await server.connect(b);
  back.send({ type: "sync", rooms: { [roomId]: 1 } });
  expect((await back.next("sync.done")).rooms).toEqual({ [roomId]: { lastSeq: 2, hasMore: false } });
  expect(back.frames.map((f) => f.type)).toEqual(["ready", "message.new", "sync.done"]);
});

test("changes before since are not replayed; one at since itself is", async () => {
  const clock = await start();
  const [a, b] = [await server.user(), await server.user()];
  const roomId = await room(a, [b]);
  const ids: string[] = [];
  for (const content of ["one", "two", "three"]) ids.push((await rest(a, "POST", `/api/rooms/${roomId}/messages`, { content })).id);
  await rest(a, "PATCH", `/api/messages/${ids[0]}`, { content: "one, edited before" });
  await rest(a, "PUT", `/api/messages/${ids[1]}/reactions/👍`);

  clock.advance(10);
  const flaky = await server.connect(b);
  const since = flaky.ready.at;
  await rest(a, "PUT", `/api/messages/${ids[2]}/reactions/🎉`); // at `since`: heard live, replayed again harmlessly
  await flaky.next("reaction.added");
  await disconnect(b, flaky);
  clock.advance(10);
  await rest(a, "DELETE", `/api/messages/${ids[1]}/reactions/👍`);

  const back = await server.connect(b);
  back.send({ type: "sync", rooms: { [roomId]: 3 }, since });
  expect((await back.next("sync.done")).rooms).toEqual({ [roomId]: { lastSeq: 3, hasMore: false, changesHaveMore: false } });
  expect(back.all("message.updated").map((f) => [f.message.seq, f.message.reactions])).toEqual([
    [2, []],
    [3, [{ emoji: "🎉", count: 1, me: false }]],
  ]);
  expect(back.all("message.new")).toEqual([]);

  // A since after every change replays none.
  clock.advance(10);
  back.send({ type: "sync", rooms: { [roomId]: 3 }, since: new Date(clock.now()).toISOString() });
  expect((await back.next("sync.done")).rooms).toEqual({ [roomId]: { lastSeq: 3, hasMore: false, changesHaveMore: false } });
  expect(back.all("message.updated")).toHaveLength(2);
});

test("more than 500 changed: 500 replayed in seq order, then changesHaveMore and the rest over REST", async () => {
  const clock = await start();
  const a = await server.user();
  const roomId = await room(a, []);
  const messages = server.services.messages;
  const sent = await Promise.all(Array.from({ length: 503 }, (_, i) => messages.send(a.id, roomId, { content: `bulk ${i + 1}` })));
  const since = new Date(clock.now()).toISOString();
  clock.advance(10);
  for (const { message } of sent.slice(0, 502)) await messages.react(a.id, message.id, "👍", true);

  const client = await server.connect(a);
  client.send({ type: "sync", rooms: { [roomId]: 503 }, since });
  const done = await client.next("sync.done", () => true, 10_000);
  expect(done.rooms[roomId]).toEqual({ lastSeq: 503, hasMore: false, changesHaveMore: true, changesLastSeq: 500 });
  expect(client.all("message.updated").map((f) => f.message.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
  const rest = await server.call("GET", `/api/rooms/${roomId}/messages?after=500&before=504`, { token: a.token });
  expect(rest.body.messages.map((m: any) => [m.seq, m.reactions.length])).toEqual([
    [501, 1],
    [502, 1],
    [503, 0],
  ]);
  // 502 reactions, one transaction each: slow on a busy machine.
}, 30_000);

test("a since that is not a time, or outside the years 1–9999, is refused with VALIDATION_FAILED naming it", async () => {
  await start();
  const a = await server.user();
  const roomId = await room(a, []);
  const client = await server.connect(a);
  for (const since of ["yesterday", 5, "0000-06-01T00:00:00Z", "a\u0000b"]) {
    client.send({ type: "sync", rooms: { [roomId]: 0 }, since });
    const error = await client.next("error");
    expect([since, error.error.code, error.error.details.fields.map((f: any) => f.field)]).toEqual([since, "VALIDATION_FAILED", ["since"]]);
  }
  await client.barrier();
  expect(client.all("sync.done")).toEqual([]);
});
