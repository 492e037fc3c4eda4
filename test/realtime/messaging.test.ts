import { afterEach, describe, expect, test } from "bun:test";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { AckFrame, MessageNewFrame } from "../../src/realtime/protocol";
import { manualClock, type TestUser } from "../helpers";
import { eventually, type LiveServer, startServer, type WsClient } from "./helpers";

let server: LiveServer;
afterEach(async () => {
  await server?.close();
});

const ackShape = TypeCompiler.Compile(AckFrame);
const messageNewShape = TypeCompiler.Compile(MessageNewFrame);

async function room(owner: TestUser, members: TestUser[], extra: Record<string, unknown> = {}): Promise<string> {
  const res = await server.call("POST", "/api/rooms", { token: owner.token, body: { name: "room", memberIds: members.map((m) => m.id), ...extra } });
  if (res.status !== 201) throw new Error(`create room: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

/** Round trips on every socket: whatever was sent to them before has arrived. */
async function settle(...clients: WsClient[]) {
  await Promise.all(clients.map((c) => c.barrier()));
}

describe("message.send", () => {
  test("acks the sending socket; every socket of every member gets message.new; non-members get nothing", async () => {
    server = await startServer();
    const [a, b, c] = [await server.user(), await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const a1 = await server.connect(a);
    const a2 = await server.connect(a, "ticket");
    const b1 = await server.connect(b, "protocol");
    const c1 = await server.connect(c);

    a1.send({ type: "message.send", roomId, content: "  hello  ", clientId: "c-1", metadata: { kind: "text" } });
    const ack = await a1.next("ack");
    expect(ackShape.Check(ack)).toBe(true);
    expect(ack.clientId).toBe("c-1");
    expect(ack.message).toMatchObject({ roomId, seq: 1, senderId: a.id, content: "hello", metadata: { kind: "text" }, clientId: "c-1" });

    for (const client of [a1, a2, b1]) {
      const frame = await client.next("message.new");
      expect(messageNewShape.Check(frame)).toBe(true);
      expect(frame.message).toEqual(ack.message);
    }
    await settle(a1, a2, b1, c1);
    expect(a2.all("ack")).toHaveLength(0);
    expect(b1.all("ack")).toHaveLength(0);
    expect(c1.frames.filter((f) => f.type !== "ready" && f.type !== "pong")).toEqual([]);
    expect([a1, a2, b1].map((x) => x.all("message.new").length)).toEqual([1, 1, 1]);
  });

  test("a retry with the same clientId is acked with the first message and announced once", async () => {
    server = await startServer();
    const [a, b] = [await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const a1 = await server.connect(a);
    const b1 = await server.connect(b);
    a1.send({ type: "message.send", roomId, content: "once", clientId: "same" });
    const first = await a1.next("ack");
    a1.send({ type: "message.send", roomId, content: "once", clientId: "same" });
    const second = await a1.next("ack");
    expect(second.message.id).toBe(first.message.id);
    await settle(b1);
    expect(b1.all("message.new")).toHaveLength(1);
  });

  test("sends from one socket commit, and are acknowledged, in the order they were sent", async () => {
    server = await startServer();
    const a = await server.user();
    const roomId = await room(a, []);
    const a1 = await server.connect(a);
    for (let i = 1; i <= 20; i++) a1.send({ type: "message.send", roomId, content: `m${i}`, clientId: `c${i}` });
    for (let i = 1; i <= 20; i++) {
      const ack = await a1.next("ack", (f) => f.clientId === `c${i}`);
      expect(ack.message.seq).toBe(i);
      expect(ack.message.content).toBe(`m${i}`);
    }
    expect(a1.all("ack").map((f) => f.clientId)).toEqual(Array.from({ length: 20 }, (_, i) => `c${i + 1}`));
  });

  test("a frame after sends is handled once they are committed: sync sees every one of them", async () => {
    server = await startServer();
    const [a, b] = [await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const a1 = await server.connect(a);
    for (let i = 1; i <= 5; i++) a1.send({ type: "message.send", roomId, content: `m${i}`, clientId: `c${i}` });
    a1.send({ type: "sync", rooms: { [roomId]: 0 } });
    const done = await a1.next("sync.done");
    expect(done.rooms[roomId]).toEqual({ lastSeq: 5, hasMore: false });
    expect(a1.all("ack")).toHaveLength(5);
  });

  test("refusals come back as error frames with the clientId; the socket stays open", async () => {
    server = await startServer();
    const [a, b, outsider] = [await server.user(), await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const a1 = await server.connect(a);
    const o1 = await server.connect(outsider);

    o1.send({ type: "message.send", roomId, content: "let me in", clientId: "x-1" });
    const notMember = await o1.next("error");
    expect(notMember).toMatchObject({ clientId: "x-1", error: { code: "NOT_FOUND" } });

    a1.send({ type: "message.send", roomId, content: "   ", clientId: "x-2" });
    expect(await a1.next("error")).toMatchObject({ clientId: "x-2", error: { code: "VALIDATION_FAILED" } });

    a1.send({ type: "message.send", roomId, content: "x".repeat(4001), clientId: "x-3" });
    expect(await a1.next("error")).toMatchObject({ clientId: "x-3", error: { code: "VALIDATION_FAILED" } });

    a1.send({ type: "message.send", roomId, content: "ok", clientId: "x-4" });
    expect((await a1.next("ack")).clientId).toBe("x-4");
  });

  test("the message rate limit is shared with REST and answered with RATE_LIMITED", async () => {
    server = await startServer({ rateLimitMessages: 2 });
    const a = await server.user();
    const roomId = await room(a, []);
    const a1 = await server.connect(a);
    expect((await server.call("POST", `/api/rooms/${roomId}/messages`, { token: a.token, body: { content: "rest" } })).status).toBe(201);
    a1.send({ type: "message.send", roomId, content: "ws", clientId: "r-1" });
    await a1.next("ack");
    a1.send({ type: "message.send", roomId, content: "too many", clientId: "r-2" });
    const error = await a1.next("error");
    expect(error).toMatchObject({ clientId: "r-2", error: { code: "RATE_LIMITED" } });
    expect(error.error.details.retryAfter).toBeGreaterThan(0);
  });
});

describe("events from REST", () => {
  test("send, edit, react and delete over HTTP reach every member's sockets with the same frames", async () => {
    server = await startServer();
    const [a, b, c] = [await server.user(), await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const a1 = await server.connect(a);
    const b1 = await server.connect(b);
    const b2 = await server.connect(b);
    const c1 = await server.connect(c);

    const sent = await server.call("POST", `/api/rooms/${roomId}/messages`, { token: a.token, body: { content: "over http", clientId: "h-1" } });
    expect(sent.status).toBe(201);
    for (const client of [a1, b1, b2]) {
      const frame = await client.next("message.new");
      expect(messageNewShape.Check(frame)).toBe(true);
      expect(frame.message).toEqual(sent.body);
    }
    const id = sent.body.id;
    await server.call("PATCH", `/api/messages/${id}`, { token: a.token, body: { content: "edited" } });
    await server.call("PUT", `/api/messages/${id}/reactions/${encodeURIComponent("👍")}`, { token: b.token });
    await server.call("DELETE", `/api/messages/${id}`, { token: a.token });
    for (const client of [a1, b1, b2]) {
      expect((await client.next("message.updated")).message.content).toBe("edited");
      expect(await client.next("reaction.added")).toMatchObject({ roomId, messageId: id, emoji: "👍", userId: b.id });
      expect(await client.next("message.deleted")).toEqual({ type: "message.deleted", roomId, id, seq: 1 });
    }
    await settle(c1);
    expect(c1.frames.filter((f) => f.type !== "ready" && f.type !== "pong")).toEqual([]);
  });
});

describe("typing", () => {
  test("goes to the room's other members, not back to the typist's sockets, at most once per interval", async () => {
    const clock = manualClock();
    server = await startServer({}, { now: clock.now });
    const [a, b, c] = [await server.user(), await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const a1 = await server.connect(a);
    const a2 = await server.connect(a);
    const b1 = await server.connect(b);
    const c1 = await server.connect(c);

    a1.send({ type: "typing", roomId });
    expect(await b1.next("typing")).toEqual({ type: "typing", roomId, userId: a.id });

    // Again at once: throttled. `barrier` on a1 means the server has handled the frame.
    a1.send({ type: "typing", roomId });
    await a1.barrier();
    await settle(a2, b1, c1);
    expect(b1.all("typing")).toHaveLength(1);
    expect(a1.all("typing")).toHaveLength(0);
    expect(a2.all("typing")).toHaveLength(0);
    expect(c1.all("typing")).toHaveLength(0);

    clock.advance(server.services.config.limits.typingThrottleMs);
    a2.send({ type: "typing", roomId });
    await b1.next("typing");
    expect(b1.all("typing")).toHaveLength(2);
  });

  test("in a room the user is not in: NOT_FOUND", async () => {
    server = await startServer();
    const [a, b] = [await server.user(), await server.user()];
    const roomId = await room(a, []);
    const b1 = await server.connect(b);
    b1.send({ type: "typing", roomId });
    expect((await b1.next("error")).error.code).toBe("NOT_FOUND");
    b1.send({ type: "typing", roomId: "no-such-room" });
    expect((await b1.next("error")).error.code).toBe("NOT_FOUND");
  });
});

describe("read receipts", () => {
  test("a read frame moves the position and every member's sockets hear it; REST does the same", async () => {
    server = await startServer();
    const [a, b] = [await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const a1 = await server.connect(a);
    const b1 = await server.connect(b);
    for (let i = 0; i < 3; i++) await server.call("POST", `/api/rooms/${roomId}/messages`, { token: a.token, body: { content: `m${i}` } });

    b1.send({ type: "read", roomId, seq: 2 });
    const receipt = { type: "read", roomId, userId: b.id, seq: 2, previousSeq: 0 };
    expect(await a1.next("read")).toEqual(receipt);
    expect(await b1.next("read")).toEqual(receipt);
    const members = await server.call("GET", `/api/rooms/${roomId}/members`, { token: a.token });
    expect(members.body.find((m: any) => m.user.id === b.id).lastReadSeq).toBe(2);

    // Never backwards: nothing is announced.
    b1.send({ type: "read", roomId, seq: 1 });
    await b1.barrier();
    await settle(a1);
    expect(a1.all("read")).toHaveLength(1);

    await server.call("POST", `/api/rooms/${roomId}/read`, { token: b.token, body: { seq: 3 } });
    expect(await a1.next("read")).toEqual({ ...receipt, seq: 3, previousSeq: 2 });
  });

  test("a read frame for a room the user is not in: NOT_FOUND", async () => {
    server = await startServer();
    const [a, b] = [await server.user(), await server.user()];
    const roomId = await room(a, []);
    const b1 = await server.connect(b);
    b1.send({ type: "read", roomId, seq: 1 });
    expect((await b1.next("error")).error.code).toBe("NOT_FOUND");
  });
});

describe("delivery status", () => {
  test("in a direct room, a message turns delivered once a socket of the other member got it", async () => {
    server = await startServer();
    const [a, b] = [await server.user(), await server.user()];
    const direct = await server.call("POST", "/api/rooms/direct", { token: a.token, body: { userId: b.id } });
    const roomId = direct.body.id ?? direct.body.room?.id;
    const a1 = await server.connect(a);

    a1.send({ type: "message.send", roomId, content: "nobody home", clientId: "d-1" });
    const offline = (await a1.next("ack")).message;
    expect(offline.status).toBe("sent");

    const b1 = await server.connect(b);
    a1.send({ type: "message.send", roomId, content: "you there?", clientId: "d-2" });
    const online = (await a1.next("ack")).message;
    await b1.next("message.new");
    const event = await a1.next("delivered");
    expect(event).toMatchObject({ roomId, userId: b.id, seq: online.seq });
    const fetched = await server.call("GET", `/api/messages/${online.id}`, { token: a.token });
    expect(fetched.body.status).toBe("delivered");
  });
});

describe("membership changes", () => {
  test("added, removed, joined, left: every socket of the user is (un)subscribed at once", async () => {
    server = await startServer();
    const [a, c] = [await server.user(), await server.user()];
    const roomId = await room(a, [], { visibility: "public" });
    const a1 = await server.connect(a);
    const c1 = await server.connect(c);
    const c2 = await server.connect(c);
    const say = async (content: string) => {
      const res = await server.call("POST", `/api/rooms/${roomId}/messages`, { token: a.token, body: { content } });
      expect(res.status).toBe(201);
      await a1.next("message.new", (f) => f.message.content === content);
    };
    const heard = (client: WsClient) => client.all("message.new").map((f) => f.message.content);

    await say("before");
    expect((await server.call("POST", `/api/rooms/${roomId}/members`, { token: a.token, body: { userId: c.id } })).status).toBe(201);
    for (const client of [c1, c2]) await client.next("member.joined", (f) => f.userId === c.id);
    await say("while added");

    expect((await server.call("DELETE", `/api/rooms/${roomId}/members/${c.id}`, { token: a.token })).status).toBe(204);
    for (const client of [c1, c2]) await client.next("member.left", (f) => f.userId === c.id);
    await say("after removal");

    expect((await server.call("POST", `/api/rooms/${roomId}/join`, { token: c.token })).status).toBe(200);
    await say("after joining");
    expect((await server.call("POST", `/api/rooms/${roomId}/leave`, { token: c.token })).status).toBe(204);
    await say("after leaving");

    await settle(c1, c2);
    for (const client of [c1, c2]) expect(heard(client)).toEqual(["while added", "after joining"]);
  });

  test("a new room with the user in it reaches their open sockets", async () => {
    server = await startServer();
    const [a, b] = [await server.user(), await server.user()];
    const b1 = await server.connect(b);
    const roomId = await room(a, [b]);
    expect((await b1.next("room.created")).room.id).toBe(roomId);
    await server.call("POST", `/api/rooms/${roomId}/messages`, { token: a.token, body: { content: "welcome" } });
    expect((await b1.next("message.new")).message.content).toBe("welcome");
  });

  test("deleting a room tells its members, then unsubscribes all of their sockets", async () => {
    server = await startServer();
    const [a, b] = [await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const a1 = await server.connect(a);
    const b1 = await server.connect(b);
    const b2 = await server.connect(b);
    expect((await server.call("DELETE", `/api/rooms/${roomId}`, { token: a.token })).status).toBe(204);
    for (const client of [a1, b1, b2]) expect(await client.next("room.deleted")).toEqual({ type: "room.deleted", roomId });
    const hub = server.services.realtime.hub;
    await eventually(() => hub.connectionsIn(roomId).size === 0, "no socket left in the deleted room");
    for (const connection of hub.connections()) expect(connection.rooms.has(roomId)).toBe(false);
    // The room's events no longer reach anyone, even if something published to it.
    server.services.events.toRoom(roomId, { type: "member.joined", roomId, userId: "ghost" });
    await settle(a1, b1, b2);
    for (const client of [a1, b1, b2]) expect(client.all("member.joined")).toHaveLength(0);
  });
});
