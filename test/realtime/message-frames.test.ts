/** message.edit, message.delete, reaction.add and reaction.remove over the socket, and readCount kept live. */
import { afterEach, describe, expect, test } from "bun:test";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { AckFrame, ErrorFrame, ReadEvent } from "../../src/realtime/protocol";
import type { TestUser } from "../helpers";
import { type Frame, type LiveServer, startServer, type WsClient } from "./helpers";

let server: LiveServer;
afterEach(async () => {
  await server?.close();
});

const ackShape = TypeCompiler.Compile(AckFrame);
const errorShape = TypeCompiler.Compile(ErrorFrame);
const readShape = TypeCompiler.Compile(ReadEvent);

async function room(owner: TestUser, members: TestUser[]): Promise<string> {
  const res = await server.call("POST", "/api/rooms", { token: owner.token, body: { name: "room", memberIds: members.map((m) => m.id) } });
  if (res.status !== 201) throw new Error(`create room: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

async function sent(client: WsClient, roomId: string, content: string, clientId: string): Promise<Frame> {
  client.send({ type: "message.send", roomId, content, clientId });
  return (await client.next("ack", (f) => f.clientId === clientId)).message;
}

/** The error frame answering `clientId`, checked against the protocol's schema. */
async function refusal(client: WsClient, clientId: string): Promise<Frame["error"]> {
  const frame = await client.next("error", (f) => f.clientId === clientId);
  expect(errorShape.Check(frame)).toBe(true);
  return frame.error;
}

describe("message.edit", () => {
  test("acks the author with the edited message; members hear message.updated", async () => {
    server = await startServer();
    const [a, b] = [await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const [a1, b1] = [await server.connect(a), await server.connect(b)];
    const message = await sent(a1, roomId, "first", "s-1");

    a1.send({ type: "message.edit", clientId: "e-1", messageId: message.id, content: "  second  " });
    const ack = await a1.next("ack", (f) => f.clientId === "e-1");
    expect(ackShape.Check(ack)).toBe(true);
    expect(ack.message).toMatchObject({ id: message.id, seq: 1, content: "second" });
    expect(ack.message.editedAt).toBeString();
    expect((await b1.next("message.updated")).message).toMatchObject({ id: message.id, content: "second" });
    const edits = await server.call("GET", `/api/messages/${message.id}/edits`, { token: b.token });
    expect(edits.body.map((e: { content: string }) => e.content)).toEqual(["first"]);
  });

  test("errors carry the clientId: not the author, empty content, unknown message, a malformed frame", async () => {
    server = await startServer();
    const [a, b] = [await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const [a1, b1] = [await server.connect(a), await server.connect(b)];
    const message = await sent(a1, roomId, "mine", "s-1");

    b1.send({ type: "message.edit", clientId: "e-b", messageId: message.id, content: "theirs" });
    expect((await refusal(b1, "e-b")).code).toBe("FORBIDDEN");
    a1.send({ type: "message.edit", clientId: "e-empty", messageId: message.id, content: "   " });
    expect((await refusal(a1, "e-empty")).code).toBe("VALIDATION_FAILED");
    a1.send({ type: "message.edit", clientId: "e-none", messageId: Bun.randomUUIDv7(), content: "x" });
    expect((await refusal(a1, "e-none")).code).toBe("NOT_FOUND");
    a1.send({ type: "message.edit", clientId: "e-bad", content: "no id" });
    const bad = await refusal(a1, "e-bad");
    expect(bad.code).toBe("VALIDATION_FAILED");
    expect(bad.details.fields.map((f: { field: string }) => f.field)).toContain("messageId");
    // Nothing changed, and the socket is still open.
    await a1.barrier();
    expect((await server.call("GET", `/api/messages/${message.id}`, { token: a.token })).body.content).toBe("mine");
    expect(b1.all("message.updated")).toHaveLength(0);
  });
});

describe("message.delete", () => {
  test("acks with the clientId alone; members hear message.deleted; a room admin may delete others'", async () => {
    server = await startServer();
    const [a, b] = [await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const [a1, b1] = [await server.connect(a), await server.connect(b)];
    const own = await sent(b1, roomId, "bye", "s-1");
    const other = await sent(b1, roomId, "also", "s-2");

    b1.send({ type: "message.delete", clientId: "d-1", messageId: own.id });
    const ack = await b1.next("ack", (f) => f.clientId === "d-1");
    expect(ackShape.Check(ack)).toBe(true);
    expect(ack).toEqual({ type: "ack", clientId: "d-1" });
    expect(await a1.next("message.deleted")).toEqual({ type: "message.deleted", roomId, id: own.id, seq: own.seq });
    // The owner deletes a member's message.
    a1.send({ type: "message.delete", clientId: "d-2", messageId: other.id });
    await a1.next("ack", (f) => f.clientId === "d-2");
    const page = await server.call("GET", `/api/rooms/${roomId}/messages`, { token: a.token });
    expect(page.body.messages.map((m: { deletedAt: string | null }) => m.deletedAt !== null)).toEqual([true, true]);
  });

  test("errors: a member deleting another's message, an unknown message, an outsider", async () => {
    server = await startServer();
    const [a, b, c] = [await server.user(), await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const [a1, b1, c1] = [await server.connect(a), await server.connect(b), await server.connect(c)];
    const message = await sent(a1, roomId, "keep", "s-1");
    b1.send({ type: "message.delete", clientId: "d-b", messageId: message.id });
    expect((await refusal(b1, "d-b")).code).toBe("FORBIDDEN");
    c1.send({ type: "message.delete", clientId: "d-c", messageId: message.id });
    expect((await refusal(c1, "d-c")).code).toBe("NOT_FOUND");
    b1.send({ type: "message.delete", clientId: "d-none", messageId: Bun.randomUUIDv7() });
    expect((await refusal(b1, "d-none")).code).toBe("NOT_FOUND");
    b1.send({ type: "message.delete", clientId: "", messageId: message.id });
    expect((await b1.next("error")).error.code).toBe("VALIDATION_FAILED");
    expect((await server.call("GET", `/api/messages/${message.id}`, { token: a.token })).body.deletedAt).toBeNull();
  });
});

describe("reaction.add and reaction.remove", () => {
  test("ack with the message as the caller sees it; members hear reaction.added and reaction.removed", async () => {
    server = await startServer();
    const [a, b] = [await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const [a1, b1] = [await server.connect(a), await server.connect(b)];
    const message = await sent(a1, roomId, "react to me", "s-1");

    b1.send({ type: "reaction.add", clientId: "r-1", messageId: message.id, emoji: "👍" });
    const ack = await b1.next("ack", (f) => f.clientId === "r-1");
    expect(ackShape.Check(ack)).toBe(true);
    expect(ack.message.reactions).toEqual([{ emoji: "👍", count: 1, me: true }]);
    const added = { roomId, messageId: message.id, emoji: "👍", userId: b.id };
    expect(await a1.next("reaction.added")).toEqual({ type: "reaction.added", ...added });
    // Adding again is idempotent: acked, nothing announced.
    b1.send({ type: "reaction.add", clientId: "r-2", messageId: message.id, emoji: "👍" });
    expect((await b1.next("ack", (f) => f.clientId === "r-2")).message.reactions).toEqual([{ emoji: "👍", count: 1, me: true }]);

    b1.send({ type: "reaction.remove", clientId: "r-3", messageId: message.id, emoji: "👍" });
    expect((await b1.next("ack", (f) => f.clientId === "r-3")).message.reactions).toEqual([]);
    expect(await a1.next("reaction.removed")).toEqual({ type: "reaction.removed", ...added });
    await a1.barrier();
    expect(a1.all("reaction.added")).toHaveLength(1);
  });

  test("errors: a bad emoji, a deleted message, an outsider, the message rate limit", async () => {
    server = await startServer({ rateLimitMessages: 3 });
    const [a, b, c] = [await server.user(), await server.user(), await server.user()];
    const roomId = await room(a, [b]);
    const [a1, b1, c1] = [await server.connect(a), await server.connect(b), await server.connect(c)];
    const message = await sent(a1, roomId, "one", "s-1");
    const gone = await sent(a1, roomId, "two", "s-2");
    a1.send({ type: "message.delete", clientId: "d", messageId: gone.id });
    await a1.next("ack", (f) => f.clientId === "d");

    b1.send({ type: "reaction.add", clientId: "r-bad", messageId: message.id, emoji: "not an emoji" });
    expect((await refusal(b1, "r-bad")).code).toBe("VALIDATION_FAILED");
    b1.send({ type: "reaction.add", clientId: "r-gone", messageId: gone.id, emoji: "🎉" });
    expect((await refusal(b1, "r-gone")).code).toBe("CONFLICT");
    c1.send({ type: "reaction.remove", clientId: "r-out", messageId: message.id, emoji: "🎉" });
    expect((await refusal(c1, "r-out")).code).toBe("NOT_FOUND");
    // Each reaction frame counts against RATE_LIMIT_MESSAGES, as its REST route does.
    for (let i = 0; i < 3; i++) b1.send({ type: "reaction.add", clientId: `r-${i}`, messageId: message.id, emoji: "🎉" });
    const answers = await Promise.all([0, 1, 2].map((i) => Promise.race([b1.next("ack", (f) => f.clientId === `r-${i}`), b1.next("error", (f) => f.clientId === `r-${i}`)])));
    const limited = answers.filter((f) => f.type === "error");
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.error.code).toBe("RATE_LIMITED");
  });
});

describe("message.send", () => {
  test("on /ws, leaving out roomId is refused with the clientId", async () => {
    server = await startServer();
    const a = await server.user();
    const a1 = await server.connect(a);
    a1.send({ type: "message.send", content: "where to?", clientId: "s-x" });
    const error = await refusal(a1, "s-x");
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.details.fields).toEqual([{ field: "roomId", message: expect.any(String) }]);
  });
});

describe("readCount, kept live", () => {
  test("read events carry previousSeq; applying them to a page gives what the server counts", async () => {
    server = await startServer();
    const [a, b, c] = [await server.user(), await server.user(), await server.user()];
    const roomId = await room(a, [b, c]);
    const [a1, b1, c1] = [await server.connect(a), await server.connect(b), await server.connect(c)];
    for (let i = 1; i <= 4; i++) await sent(a1, roomId, `m${i}`, `s-${i}`);
    const page = (await server.call("GET", `/api/rooms/${roomId}/messages`, { token: a.token })).body.messages as Frame[];
    expect(page.map((m) => m.readCount)).toEqual([0, 0, 0, 0]);

    // A client's update rule: a read moving userId from previousSeq to seq covers the messages between, not theirs.
    const apply = (read: Frame) => {
      for (const m of page) if (m.seq > read.previousSeq && m.seq <= read.seq && m.senderId !== read.userId) m.readCount += 1;
    };
    b1.send({ type: "read", roomId, seq: 2 });
    const first = await a1.next("read");
    expect(readShape.Check(first)).toBe(true);
    expect(first).toEqual({ type: "read", roomId, userId: b.id, seq: 2, previousSeq: 0 });
    apply(first);
    c1.send({ type: "read", roomId, seq: 4 });
    apply(await a1.next("read"));
    b1.send({ type: "read", roomId, seq: 3 });
    const third = await a1.next("read");
    expect(third).toMatchObject({ userId: b.id, seq: 3, previousSeq: 2 });
    apply(third);
    expect(page.map((m) => m.readCount)).toEqual([2, 2, 2, 1]);
    const fresh = (await server.call("GET", `/api/rooms/${roomId}/messages`, { token: a.token })).body.messages as Frame[];
    expect(fresh.map((m) => m.readCount)).toEqual(page.map((m) => m.readCount));
  });
});
