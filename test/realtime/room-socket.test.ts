/** GET /ws/rooms/:id: one room's socket, for simple embeds. */
import { afterEach, describe, expect, test } from "bun:test";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { CloseCode, HistoryFrame } from "../../src/realtime/protocol";
import type { TestUser } from "../helpers";
import { eventually, type Frame, type LiveServer, startServer, type WsClient } from "./helpers";

let server: LiveServer;
afterEach(async () => {
  await server?.close();
});

const historyShape = TypeCompiler.Compile(HistoryFrame);

async function room(owner: TestUser, members: TestUser[], visibility = "private"): Promise<string> {
  const res = await server.call("POST", "/api/rooms", { token: owner.token, body: { name: "room", visibility, memberIds: members.map((m) => m.id) } });
  if (res.status !== 201) throw new Error(`create room: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

const post = async (roomId: string, u: TestUser, content: string) => {
  const res = await server.call("POST", `/api/rooms/${roomId}/messages`, { token: u.token, body: { content } });
  if (res.status !== 201) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
};

/** A room socket for the user, with its `history` frame taken. */
async function openRoom(u: TestUser, roomId: string, how: "token" | "ticket" = "token"): Promise<WsClient & { history: Frame }> {
  let credential = `token=${encodeURIComponent(u.token)}`;
  if (how === "ticket") credential = `ticket=${encodeURIComponent((await server.call("POST", "/api/auth/ws-ticket", { token: u.token })).body.ticket)}`;
  const client = await server.open(`/rooms/${roomId}?${credential}`);
  const history = await client.next("history");
  return Object.assign(client, { history });
}

describe("the room socket", () => {
  test("opens with the latest 50 messages as history, then gets that room's events only", async () => {
    server = await startServer({ rateLimitMessages: 0 });
    const [a, b] = [await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const otherRoom = await room(a, [b]);
    for (let i = 1; i <= 55; i++) await post(roomId, a, `m${i}`);

    const scoped = await openRoom(b, roomId, "ticket");
    expect(historyShape.Check(scoped.history)).toBe(true);
    expect(scoped.history.roomId).toBe(roomId);
    expect(scoped.history.messages.map((m: Frame) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 6));
    const main = await server.connect(b);

    // Events of another room, of the user's own channel and presence reach the main socket only.
    await post(otherRoom, a, "elsewhere");
    await main.next("message.new", (f) => f.message.roomId === otherRoom);
    await room(a, [b]); // room.created goes to b's own channel
    await main.next("room.created");
    const c = await server.user();
    await server.call("POST", `/api/rooms/${otherRoom}/members`, { token: a.token, body: { userId: c.id } });
    const c1 = await server.connect(c); // b hears c come online: c shares a room with b
    await main.next("presence", (f) => f.userId === c.id);

    // This room's events do reach it.
    const m = await post(roomId, a, "here");
    expect((await scoped.next("message.new")).message).toMatchObject({ id: m.id, seq: 56 });
    await server.call("PUT", `/api/messages/${m.id}/reactions/${encodeURIComponent("👍")}`, { token: a.token });
    expect(await scoped.next("reaction.added")).toMatchObject({ roomId, messageId: m.id });
    await server.call("POST", `/api/rooms/${roomId}/read`, { token: b.token, body: { seq: 56 } });
    expect(await scoped.next("read")).toMatchObject({ roomId, userId: b.id, seq: 56 });

    await scoped.barrier();
    await c1.barrier();
    const types = new Set(scoped.frames.map((f) => f.type));
    expect([...types].sort()).toEqual(["history", "message.new", "pong", "reaction.added", "read"]);
    expect(scoped.frames.filter((f) => f.type === "message.new").every((f) => f.message.roomId === roomId)).toBe(true);
  });

  test("messages sent while it opens are never lost: history and message.new together hold every seq", async () => {
    server = await startServer({ rateLimitMessages: 0 });
    const [a, b] = [await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    for (let i = 1; i <= 5; i++) await post(roomId, a, `before ${i}`);
    const sending = (async () => {
      for (let i = 1; i <= 30; i++) await post(roomId, a, `during ${i}`);
    })();
    const scoped = await openRoom(b, roomId);
    await sending;
    await scoped.barrier();
    const seqs = new Set<number>(scoped.history.messages.map((m: Frame) => m.seq));
    for (const f of scoped.all("message.new")) seqs.add(f.message.seq);
    const first = Math.min(...seqs);
    expect(first).toBeLessThanOrEqual(6);
    expect([...seqs].sort((x, y) => x - y)).toEqual(Array.from({ length: 36 - first }, (_, i) => i + first));
  });

  test("message.send may leave out roomId; the other frames work as on /ws", async () => {
    server = await startServer();
    const [a, b] = [await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const b1 = await server.connect(b);
    const scoped = await openRoom(a, roomId);
    expect(scoped.history.messages).toEqual([]);

    scoped.send({ type: "message.send", content: "from the embed", clientId: "e-1" });
    const ack = await scoped.next("ack", (f) => f.clientId === "e-1");
    expect(ack.message).toMatchObject({ roomId, seq: 1, senderId: a.id, content: "from the embed" });
    expect((await b1.next("message.new")).message.id).toBe(ack.message.id);

    scoped.send({ type: "message.edit", clientId: "e-2", messageId: ack.message.id, content: "edited" });
    expect((await scoped.next("ack", (f) => f.clientId === "e-2")).message.content).toBe("edited");
    scoped.send({ type: "typing", roomId });
    expect(await b1.next("typing")).toEqual({ type: "typing", roomId, userId: a.id });
    scoped.send({ type: "sync", rooms: { [roomId]: 0 } });
    expect((await scoped.next("sync.done")).rooms[roomId]).toEqual({ lastSeq: 1, hasMore: false });
  });

  test("anyone may watch a public room; a non-member may not send or type there", async () => {
    server = await startServer();
    const [a, outsider] = [await server.user(), await server.user()];
    const roomId = await room(a, [], "public");
    await post(roomId, a, "open to all");
    const scoped = await openRoom(outsider, roomId);
    expect(scoped.history.messages.map((m: Frame) => m.content)).toEqual(["open to all"]);
    await post(roomId, a, "live");
    expect((await scoped.next("message.new")).message.content).toBe("live");

    scoped.send({ type: "message.send", content: "let me in", clientId: "o-1" });
    expect((await scoped.next("error", (f) => f.clientId === "o-1")).error.code).toBe("FORBIDDEN");
    scoped.send({ type: "typing", roomId });
    expect((await scoped.next("error")).error.code).toBe("FORBIDDEN");
    // Joining makes the same socket a member's.
    await server.call("POST", `/api/rooms/${roomId}/join`, { token: outsider.token });
    expect(await scoped.next("member.joined")).toEqual({ type: "member.joined", roomId, userId: outsider.id });
    scoped.send({ type: "message.send", content: "joined", clientId: "o-2" });
    expect((await scoped.next("ack", (f) => f.clientId === "o-2")).message.content).toBe("joined");
  });

  test("refused before the upgrade like an unknown room: a private room of others, no room, a bad id; 401 without a credential", async () => {
    server = await startServer();
    const [a, b] = [await server.user(), await server.user()];
    const roomId = await room(a, []);
    const token = `token=${encodeURIComponent(b.token)}`;
    for (const path of [`/rooms/${roomId}?${token}`, `/rooms/${Bun.randomUUIDv7()}?${token}`, `/rooms/not-an-id?${token}`]) {
      const res = await server.refusedUpgrade(path);
      expect(`${path} ${res.status}`).toBe(`${path} 404`);
      expect(res.body.error.code).toBe("NOT_FOUND");
    }
    const anonymous = await server.refusedUpgrade(`/rooms/${roomId}`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe("UNAUTHENTICATED");
    // A plain GET is no upgrade: 404.
    expect((await server.call("GET", `/ws/rooms/${roomId}?token=${encodeURIComponent(a.token)}`)).status).toBe(404);
    // The owner is let in.
    expect((await openRoom(a, roomId)).history.roomId).toBe(roomId);
  });

  test("closed with 4004 once its user is removed from the room, or the room is deleted; the main socket stays", async () => {
    server = await startServer();
    const [a, b] = [await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const main = await server.connect(b);
    const scoped = await openRoom(b, roomId);
    await server.call("DELETE", `/api/rooms/${roomId}/members/${b.id}`, { token: a.token });
    expect(await scoped.next("member.left")).toEqual({ type: "member.left", roomId, userId: b.id });
    expect((await scoped.waitClosed()).code).toBe(CloseCode.roomGone);
    await main.barrier();
    expect(main.isOpen).toBe(true);

    const doomed = await room(a, []);
    const owner = await openRoom(a, doomed);
    await server.call("DELETE", `/api/rooms/${doomed}`, { token: a.token });
    expect(await owner.next("room.deleted")).toEqual({ type: "room.deleted", roomId: doomed });
    expect((await owner.waitClosed()).code).toBe(CloseCode.roomGone);
    await eventually(() => server.services.realtime.hub.connectionsIn(doomed).size === 0, "the room's sockets gone");
  });
});
