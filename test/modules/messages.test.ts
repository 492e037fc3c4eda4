import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { errorCode, manualClock, setup, type TestContext, type TestUser } from "../helpers";
import { lastSeq, makeRoom, member, send } from "./messages-fixtures";

let ctx: TestContext;
beforeEach(() => {
  ctx = setup();
});
afterEach(() => ctx.close());

const post = (user: TestUser, roomId: string, body: unknown) =>
  ctx.call("POST", `/api/rooms/${roomId}/messages`, { token: user.token, body });
/** The payloads of the room and user events recorded so far. */
const roomEvents = () => ctx.events.log.flatMap((e) => ("event" in e ? [e.event] : []));
const history = (user: TestUser, roomId: string, query = "") =>
  ctx.call("GET", `/api/rooms/${roomId}/messages${query}`, { token: user.token });

describe("sending", () => {
  test("answers 201 with the committed message, emits message.new and keeps the sender's own messages read", async () => {
    const alice = await ctx.user("alice");
    const bob = await ctx.user("bob");
    const room = await makeRoom(ctx, alice, { members: [bob] });
    const metadata = { kind: "link", preview: { url: "https://example.com", tags: ["a", "ü"], n: 1.5, ok: true, none: null } };
    const res = await post(alice, room, { content: "  hello world \n", metadata, clientId: "c-1" });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      roomId: room,
      seq: 1,
      senderId: alice.id,
      sender: { id: alice.id, username: "alice", displayName: "alice", avatarUrl: null },
      content: "hello world",
      metadata,
      replyToId: null,
      replyCount: 0,
      reactions: [],
      clientId: "c-1",
      editedAt: null,
      deletedAt: null,
    });
    expect(res.body.status).toBeUndefined(); // only direct rooms carry a status
    expect(Date.parse(res.body.createdAt)).not.toBeNaN();

    expect(ctx.events.ofType("message.new")).toEqual([{ to: "room", roomId: room, event: { type: "message.new", message: res.body } }]);
    expect((await member(ctx, room, alice.id))!.lastReadSeq).toBe(1);
    expect((await member(ctx, room, bob.id))!.lastReadSeq).toBe(0);

    // Metadata round-trips through storage exactly.
    const read = await ctx.call("GET", `/api/messages/${res.body.id}`, { token: bob.token });
    expect(read.status).toBe(200);
    expect(read.body.metadata).toEqual(metadata);
    expect(read.body).toEqual(res.body);
  });

  test("50 concurrent senders into one room get seqs 1..50 without gaps or duplicates, in commit order", async () => {
    const owner = await ctx.user();
    const senders = await Promise.all(Array.from({ length: 50 }, () => ctx.user()));
    const room = await makeRoom(ctx, owner, { members: senders });
    ctx.events.clear();

    const results = await Promise.all(senders.map((u, i) => post(u, room, { content: `message ${i}` })));
    expect(results.map((r) => r.status)).toEqual(senders.map(() => 201));
    const seqs = results.map((r) => r.body.seq as number).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(new Set(results.map((r) => r.body.id)).size).toBe(50);
    expect(await lastSeq(ctx, room)).toBe(50);

    // Each sender got its own message back.
    results.forEach((r, i) => {
      expect(r.body.senderId).toBe(senders[i]!.id);
      expect(r.body.content).toBe(`message ${i}`);
    });
    // Events leave in seq order; commit order and createdAt agree with seq.
    const events = ctx.events.ofType("message.new").map((e) => ("event" in e ? (e.event.message as { seq: number }) : null)!);
    expect(events.map((m) => m.seq)).toEqual(seqs);
    const page = await history(owner, room, "?limit=200");
    expect(page.body.messages.map((m: { seq: number }) => m.seq)).toEqual(seqs);
    const times = page.body.messages.map((m: { createdAt: string }) => Date.parse(m.createdAt));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  test("a retry with the same clientId returns the first message with 200, sequentially and concurrently", async () => {
    const alice = await ctx.user();
    const bob = await ctx.user();
    const room = await makeRoom(ctx, alice, { members: [bob] });
    const other = await makeRoom(ctx, alice);

    const first = await post(alice, room, { content: "once", clientId: "retry-1" });
    expect(first.status).toBe(201);
    const again = await post(alice, room, { content: "once", clientId: "retry-1" });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);

    // Twenty copies at once (they land in one batch): one message, nineteen 200s carrying it.
    const burst = await Promise.all(Array.from({ length: 20 }, () => post(alice, room, { content: "burst", clientId: "retry-2" })));
    expect(burst.filter((r) => r.status === 201)).toHaveLength(1);
    expect(burst.filter((r) => r.status === 200)).toHaveLength(19);
    expect(new Set(burst.map((r) => r.body.id)).size).toBe(1);

    // The key is (room, sender, clientId): another sender or another room is a new message.
    expect((await post(bob, room, { content: "mine", clientId: "retry-1" })).status).toBe(201);
    expect((await post(alice, other, { content: "there", clientId: "retry-1" })).status).toBe(201);

    expect(await lastSeq(ctx, room)).toBe(3);
    expect(ctx.events.ofType("message.new")).toHaveLength(4);
    const page = await history(alice, room);
    expect(page.body.messages.map((m: { content: string }) => m.content)).toEqual(["once", "burst", "mine"]);
  });

  test("bad content and metadata are refused with the envelope and write nothing", async () => {
    const alice = await ctx.user();
    const room = await makeRoom(ctx, alice);
    const refused = async (body: unknown, field: string) => {
      const res = await post(alice, room, body);
      expect(res.status).toBe(422);
      expect(errorCode(res)).toBe("VALIDATION_FAILED");
      expect(JSON.stringify(res.body.error.details)).toContain(field);
    };
    await refused({ content: "   \n\t " }, "content");
    await refused({ content: "" }, "content");
    // Content that shows nothing is empty too: zero-width and format characters, Hangul fillers.
    for (const blank of ["\u200B\u2060\u3164", "\u200B", "\uFEFF \u200D\u200C", "\u202E\u2066\u00AD", "\u115F\u1160\uFFA0", "\u{E0020}"])
      await refused({ content: blank }, "content");
    await refused({ content: "x".repeat(4001) }, "content");
    await refused({ content: "🙂".repeat(4001) }, "content");
    await refused({}, "content");
    await refused({ content: 42 }, "content");
    await refused({ content: "hi", metadata: { blob: "x".repeat(4096) } }, "metadata");
    await refused({ content: "hi", metadata: [1, 2, 3] }, "metadata");
    await refused({ content: "hi", metadata: "text" }, "metadata");
    await refused({ content: "hi", clientId: "" }, "clientId");
    await refused({ content: "hi", clientId: "c".repeat(129) }, "clientId");
    const notJson = await ctx.call("POST", `/api/rooms/${room}/messages`, { token: alice.token, body: "{not json" });
    expect(notJson.status).toBe(400);
    expect(errorCode(notJson)).toBe("BAD_REQUEST");
    expect(await lastSeq(ctx, room)).toBe(0);
    expect(ctx.events.ofType("message.new")).toHaveLength(0);

    // The limits themselves are allowed: 4000 characters (counted as characters, not UTF-16 units)
    // and metadata of exactly 4096 bytes.
    expect((await post(alice, room, { content: "🙂".repeat(4000) })).status).toBe(201);
    // Invisible characters inside visible content stay as sent.
    expect((await post(alice, room, { content: "\u200Bhi\u2060" })).body.content).toBe("\u200Bhi\u2060");
    expect((await post(alice, room, { content: "👨\u200D👩\u200D👧" })).status).toBe(201);
    const pad = 4096 - JSON.stringify({ b: "" }).length;
    expect((await post(alice, room, { content: "hi", metadata: { b: "x".repeat(pad) } })).status).toBe(201);
  });

  test("limits come from the configuration", async () => {
    await ctx.close();
    ctx = setup({ limits: { contentMax: 10, metadataMaxBytes: 20 } as never });
    const alice = await ctx.user();
    const room = await makeRoom(ctx, alice);
    expect((await post(alice, room, { content: "0123456789" })).status).toBe(201);
    expect((await post(alice, room, { content: "0123456789a" })).status).toBe(422);
    expect((await post(alice, room, { content: "ok", metadata: { k: "0123456789abc" } })).status).toBe(422);
  });

  test("only members may send: outsiders of a private room get 404, of a public room 403", async () => {
    const alice = await ctx.user();
    const eve = await ctx.user();
    const secret = await makeRoom(ctx, alice);
    const open = await makeRoom(ctx, alice, { visibility: "public" });
    const hidden = await post(eve, secret, { content: "let me in" });
    expect(hidden.status).toBe(404);
    expect(errorCode(hidden)).toBe("NOT_FOUND");
    const visible = await post(eve, open, { content: "let me in" });
    expect(visible.status).toBe(403);
    expect(errorCode(visible)).toBe("FORBIDDEN");
    expect((await post(eve, Bun.randomUUIDv7(), { content: "anyone?" })).status).toBe(404);
    expect((await ctx.call("POST", `/api/rooms/${secret}/messages`, { body: { content: "anon" } })).status).toBe(401);
    expect(await lastSeq(ctx, secret)).toBe(0);
    expect(await lastSeq(ctx, open)).toBe(0);
  });

  test("sends are rate-limited per user with 429 and Retry-After", async () => {
    await ctx.close();
    ctx = setup({ rateLimitMessages: 3 });
    const alice = await ctx.user();
    const bob = await ctx.user();
    const room = await makeRoom(ctx, alice, { members: [bob] });
    for (let i = 0; i < 3; i++) expect((await post(alice, room, { content: `m${i}` })).status).toBe(201);
    const limited = await post(alice, room, { content: "one too many" });
    expect(limited.status).toBe(429);
    expect(errorCode(limited)).toBe("RATE_LIMITED");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Another user has their own budget; the service (used by the WebSocket too) shares alice's.
    expect((await post(bob, room, { content: "hi" })).status).toBe(201);
    await expect(ctx.services.messages.send(alice.id, room, { content: "over the socket" })).rejects.toMatchObject({ code: "RATE_LIMITED" });
    expect(await lastSeq(ctx, room)).toBe(4);
  });
});

describe("history", () => {
  test("pages backwards and forwards over several hundred messages without missing or repeating one", async () => {
    const alice = await ctx.user();
    const bob = await ctx.user();
    const room = await makeRoom(ctx, alice, { members: [bob] });
    const total = 317;
    // Sent in waves so they commit in many batches, alternating senders.
    for (let wave = 0; wave < total; wave += 50) {
      const count = Math.min(50, total - wave);
      await Promise.all(
        Array.from({ length: count }, (_, i) => ctx.services.messages.send(i % 2 ? bob.id : alice.id, room, { content: `n${wave + i}` })),
      );
    }
    expect(await lastSeq(ctx, room)).toBe(total);
    const everything = Array.from({ length: total }, (_, i) => i + 1);

    // Backwards from the newest page.
    const back: number[] = [];
    let res = await history(bob, room, "?limit=13");
    for (;;) {
      expect(res.status).toBe(200);
      const seqs = res.body.messages.map((m: { seq: number }) => m.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b)); // each page ascending
      back.unshift(...seqs);
      if (!res.body.hasMore) break;
      res = await history(bob, room, `?limit=13&before=${seqs[0]}`);
    }
    expect(back).toEqual(everything);

    // Forwards from the start.
    const forward: number[] = [];
    let after = 0;
    for (;;) {
      res = await history(bob, room, `?limit=29&after=${after}`);
      const seqs = res.body.messages.map((m: { seq: number }) => m.seq);
      forward.push(...seqs);
      if (!res.body.hasMore) break;
      after = seqs[seqs.length - 1];
    }
    expect(forward).toEqual(everything);

    // The default page is the newest; a window between two seqs; pages past either end are empty.
    res = await history(bob, room);
    expect(res.body.messages.map((m: { seq: number }) => m.seq)).toEqual(everything.slice(-50));
    expect(res.body.hasMore).toBe(true);
    res = await history(bob, room, "?after=100&before=106");
    expect(res.body).toMatchObject({ hasMore: false });
    expect(res.body.messages.map((m: { seq: number }) => m.seq)).toEqual([101, 102, 103, 104, 105]);
    res = await history(bob, room, "?after=100&before=200&limit=5");
    expect(res.body.messages.map((m: { seq: number }) => m.seq)).toEqual([101, 102, 103, 104, 105]);
    expect(res.body.hasMore).toBe(true);
    expect((await history(bob, room, `?after=${total}`)).body).toEqual({ messages: [], hasMore: false });
    expect((await history(bob, room, "?before=1")).body).toEqual({ messages: [], hasMore: false });
  });

  test("members and anyone in a public room may read; others get 404; bad paging gets 422", async () => {
    const alice = await ctx.user();
    const eve = await ctx.user();
    const secret = await makeRoom(ctx, alice);
    const open = await makeRoom(ctx, alice, { visibility: "public" });
    await send(ctx, alice, secret, "private words");
    const shared = await send(ctx, alice, open, "public words");

    expect((await history(eve, secret)).status).toBe(404);
    const publicPage = await history(eve, open);
    expect(publicPage.status).toBe(200);
    expect(publicPage.body.messages.map((m: { id: string }) => m.id)).toEqual([shared.id]);
    expect((await ctx.call("GET", `/api/messages/${shared.id}`, { token: eve.token })).status).toBe(200);

    for (const query of ["?limit=0", "?limit=201", "?before=0", "?after=-1", "?after=abc"]) {
      const res = await history(alice, secret, query);
      expect(res.status).toBe(422);
      expect(errorCode(res)).toBe("VALIDATION_FAILED");
    }
  });
});

describe("edits", () => {
  test("the author edits; earlier versions are kept oldest first; message.updated is emitted", async () => {
    const alice = await ctx.user();
    const bob = await ctx.user();
    const carol = await ctx.user();
    const eve = await ctx.user();
    const room = await makeRoom(ctx, alice, { admins: [carol], members: [bob] });
    const msg = await send(ctx, alice, room, "first draft");
    ctx.events.clear();

    const edit = (user: TestUser, content: unknown) => ctx.call("PATCH", `/api/messages/${msg.id}`, { token: user.token, body: { content } });
    const one = await edit(alice, " second draft ");
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: msg.id, seq: 1, content: "second draft", createdAt: msg.createdAt });
    expect(Date.parse(one.body.editedAt)).toBeGreaterThanOrEqual(Date.parse(msg.createdAt));
    const two = await edit(alice, "final");
    expect(two.status).toBe(200);
    expect(Date.parse(two.body.editedAt)).toBeGreaterThan(Date.parse(one.body.editedAt));

    const versions = await ctx.call("GET", `/api/messages/${msg.id}/edits`, { token: bob.token });
    expect(versions.status).toBe(200);
    expect(versions.body).toEqual([
      { content: "first draft", editedAt: msg.createdAt },
      { content: "second draft", editedAt: one.body.editedAt },
    ]);
    expect(ctx.events.ofType("message.updated").map((e) => ("event" in e ? e.event.message : null))).toEqual([one.body, two.body]);

    // The same content again changes nothing.
    const same = await edit(alice, "final");
    expect(same.body.editedAt).toBe(two.body.editedAt);
    expect(ctx.events.ofType("message.updated")).toHaveLength(2);

    // Nobody else may edit, not even an admin; outsiders do not see it; bad content is refused.
    expect((await edit(bob, "hijack")).status).toBe(403);
    expect((await edit(carol, "hijack")).status).toBe(403);
    const outsider = await edit(eve, "hijack");
    expect(outsider.status).toBe(404);
    expect(outsider.body.error.message).toBe("Message not found.");
    expect((await ctx.call("GET", `/api/messages/${msg.id}/edits`, { token: eve.token })).status).toBe(404);
    expect((await edit(alice, "   ")).status).toBe(422);
    expect((await edit(alice, "\u200B\u2060\u3164")).status).toBe(422);
    expect((await edit(alice, "x".repeat(4001))).status).toBe(422);
    expect((await ctx.call("PATCH", `/api/messages/${Bun.randomUUIDv7()}`, { token: alice.token, body: { content: "x" } })).status).toBe(404);
    expect((await ctx.call("GET", `/api/messages/${msg.id}`, { token: bob.token })).body.content).toBe("final");
  });

  test("a deleted message cannot be edited (409)", async () => {
    const alice = await ctx.user();
    const room = await makeRoom(ctx, alice);
    const msg = await send(ctx, alice, room, "soon gone");
    expect((await ctx.call("DELETE", `/api/messages/${msg.id}`, { token: alice.token })).status).toBe(204);
    const res = await ctx.call("PATCH", `/api/messages/${msg.id}`, { token: alice.token, body: { content: "back" } });
    expect(res.status).toBe(409);
    expect(errorCode(res)).toBe("CONFLICT");
  });
});

describe("deletes", () => {
  test("author or admin+ soft-deletes: seq stays, content, metadata, versions and reactions go", async () => {
    const owner = await ctx.user();
    const admin = await ctx.user();
    const bob = await ctx.user();
    const dave = await ctx.user();
    const eve = await ctx.user();
    const room = await makeRoom(ctx, owner, { admins: [admin], members: [bob, dave] });
    const a = await send(ctx, bob, room, { content: "bob one", metadata: { secret: 1 } });
    const b = await send(ctx, bob, room, "bob two");
    const c = await send(ctx, dave, room, "dave three");
    const d = await send(ctx, admin, room, "admin four");
    await ctx.call("PATCH", `/api/messages/${a.id}`, { token: bob.token, body: { content: "bob one, edited" } });
    await ctx.call("PUT", `/api/messages/${a.id}/reactions/🎉`, { token: dave.token });
    ctx.events.clear();

    const del = (user: TestUser, id: string) => ctx.call("DELETE", `/api/messages/${id}`, { token: user.token });
    expect((await del(dave, a.id)).status).toBe(403); // a member, not the author
    expect((await del(eve, a.id)).status).toBe(404); // not a member
    expect((await del(bob, a.id)).status).toBe(204); // the author
    expect((await del(admin, c.id)).status).toBe(204); // an admin
    expect((await del(owner, d.id)).status).toBe(204); // the owner, over an admin's message
    expect((await del(bob, a.id)).status).toBe(204); // again: nothing changes
    expect(ctx.events.ofType("message.deleted").map((e) => ("event" in e ? e.event : null))).toEqual([
      { type: "message.deleted", roomId: room, id: a.id, seq: 1 },
      { type: "message.deleted", roomId: room, id: c.id, seq: 3 },
      { type: "message.deleted", roomId: room, id: d.id, seq: 4 },
    ]);

    const page = await ctx.call("GET", `/api/rooms/${room}/messages`, { token: dave.token });
    expect(page.body.messages.map((m: { seq: number }) => m.seq)).toEqual([1, 2, 3, 4]);
    const gone = page.body.messages[0];
    expect(gone).toMatchObject({ id: a.id, seq: 1, content: "", metadata: null, reactions: [] });
    expect(Date.parse(gone.deletedAt)).not.toBeNaN();
    expect(page.body.messages[1]).toMatchObject({ id: b.id, content: "bob two", deletedAt: null });
    expect((await ctx.call("GET", `/api/messages/${a.id}/edits`, { token: bob.token })).body).toEqual([]);
    expect((await ctx.call("PUT", `/api/messages/${a.id}/reactions/👍`, { token: dave.token })).status).toBe(409);
    // The next message still takes the next seq.
    expect((await send(ctx, bob, room, "after")).seq).toBe(5);
  });
});

describe("outsiders", () => {
  /** Every message route, as a non-member calls it. */
  const routes = (messageId: string, roomId: string): [string, string, string, unknown?][] => [
    ["read it", "GET", `/api/messages/${messageId}`],
    ["read its thread", "GET", `/api/messages/${messageId}/replies`],
    ["read its edits", "GET", `/api/messages/${messageId}/edits`],
    ["reply", "POST", `/api/rooms/${roomId}/messages`, { content: "me too", replyToId: messageId }],
    ["edit", "PATCH", `/api/messages/${messageId}`, { content: "hijacked" }],
    ["delete", "DELETE", `/api/messages/${messageId}`],
    ["react", "PUT", `/api/messages/${messageId}/reactions/${encodeURIComponent("👍")}`],
    ["unreact", "DELETE", `/api/messages/${messageId}/reactions/${encodeURIComponent("👍")}`],
  ];

  test("of a private room find none of its messages: 404 whatever they try, and nothing changes", async () => {
    const alice = await ctx.user();
    const eve = await ctx.user();
    const room = await makeRoom(ctx, alice);
    const msg = await send(ctx, alice, room, "between us");
    await ctx.call("PUT", `/api/messages/${msg.id}/reactions/${encodeURIComponent("👍")}`, { token: alice.token });
    ctx.events.clear();
    for (const [what, method, path, body] of routes(msg.id, room)) {
      const res = await ctx.call(method, path, { token: eve.token, body });
      expect([what, res.status, errorCode(res)]).toEqual([what, 404, "NOT_FOUND"]);
      // The same answer as for a message that does not exist.
      expect([what, res.body.error.message]).toEqual([what, what === "reply" ? "Room not found." : "Message not found."]);
    }
    expect(ctx.events.log).toEqual([]);
    const kept = await ctx.call("GET", `/api/messages/${msg.id}`, { token: alice.token });
    expect(kept.body).toMatchObject({ content: "between us", replyCount: 0, deletedAt: null, reactions: [{ emoji: "👍", count: 1, me: true }] });
  });

  test("of a public room read its messages but may not act on them: 403", async () => {
    const alice = await ctx.user();
    const eve = await ctx.user();
    const room = await makeRoom(ctx, alice, { visibility: "public" });
    const msg = await send(ctx, alice, room, "for all to see");
    ctx.events.clear();
    for (const [what, method, path, body] of routes(msg.id, room)) {
      const res = await ctx.call(method, path, { token: eve.token, body });
      const expected = method === "GET" ? 200 : 403;
      expect([what, res.status]).toEqual([what, expected]);
      if (expected === 403) expect([what, errorCode(res)]).toEqual([what, "FORBIDDEN"]);
    }
    expect(ctx.events.log).toEqual([]);
    expect((await ctx.call("GET", `/api/messages/${msg.id}`, { token: alice.token })).body).toMatchObject({ content: "for all to see", deletedAt: null });
  });
});

describe("replies", () => {
  test("replies count on the parent and page in ascending seq; the parent must be live and in the room", async () => {
    const alice = await ctx.user();
    const bob = await ctx.user();
    const eve = await ctx.user();
    const room = await makeRoom(ctx, alice, { members: [bob] });
    const elsewhere = await makeRoom(ctx, alice);
    const parent = await send(ctx, alice, room, "what do you think?");
    await send(ctx, alice, room, "unrelated");
    const replies = [];
    for (let i = 0; i < 7; i++) replies.push(await send(ctx, i % 2 ? alice : bob, room, { content: `reply ${i}`, replyToId: parent.id }));
    expect(replies.every((r) => r.replyToId === parent.id)).toBe(true);
    expect((await ctx.call("GET", `/api/messages/${parent.id}`, { token: bob.token })).body.replyCount).toBe(7);

    const seen: string[] = [];
    let res = await ctx.call("GET", `/api/messages/${parent.id}/replies?limit=3`, { token: bob.token });
    for (;;) {
      expect(res.status).toBe(200);
      seen.push(...res.body.messages.map((m: { content: string }) => m.content));
      if (!res.body.hasMore) break;
      const lastSeen = res.body.messages[res.body.messages.length - 1].seq;
      res = await ctx.call("GET", `/api/messages/${parent.id}/replies?limit=3&after=${lastSeen}`, { token: bob.token });
    }
    expect(seen).toEqual(replies.map((r) => r.content));
    expect((await ctx.call("GET", `/api/messages/${parent.id}/replies`, { token: eve.token })).status).toBe(404);

    // A reply into another room, to a missing or to a deleted message is refused, and takes no seq.
    const before = await lastSeq(ctx, elsewhere);
    const cross = await post(alice, elsewhere, { content: "x", replyToId: parent.id });
    expect(cross.status).toBe(422);
    expect(JSON.stringify(cross.body.error.details)).toContain("replyToId");
    expect((await post(alice, room, { content: "x", replyToId: Bun.randomUUIDv7() })).status).toBe(422);
    const doomed = await send(ctx, alice, room, "to be deleted");
    await ctx.call("DELETE", `/api/messages/${doomed.id}`, { token: alice.token });
    const roomSeq = await lastSeq(ctx, room);
    expect((await post(bob, room, { content: "x", replyToId: doomed.id })).status).toBe(422);
    expect(await lastSeq(ctx, elsewhere)).toBe(before);
    expect(await lastSeq(ctx, room)).toBe(roomSeq);
  });
});

describe("reactions", () => {
  test("idempotent per user and emoji, with counts and me; events only on change", async () => {
    // Reactions are listed in the order they were first added: a clock that moves between
    // calls keeps that order from depending on two calls landing in the same millisecond.
    ctx.close();
    const clock = manualClock();
    ctx = setup({}, { now: clock.now });
    const alice = await ctx.user();
    const bob = await ctx.user();
    const eve = await ctx.user();
    const open = await makeRoom(ctx, alice, { visibility: "public", members: [bob] });
    const msg = await send(ctx, alice, open, "react to me");
    ctx.events.clear();
    const thumbs = encodeURIComponent("👍");
    const react = (user: TestUser, method: "PUT" | "DELETE", emoji = thumbs) => {
      clock.advance(1);
      return ctx.call(method, `/api/messages/${msg.id}/reactions/${emoji}`, { token: user.token });
    };

    expect((await react(bob, "PUT")).body.reactions).toEqual([{ emoji: "👍", count: 1, me: true }]);
    expect((await react(bob, "PUT")).body.reactions).toEqual([{ emoji: "👍", count: 1, me: true }]);
    const both = await react(alice, "PUT");
    expect(both.body.reactions).toEqual([{ emoji: "👍", count: 2, me: true }]);
    expect((await react(alice, "PUT", ":tada:")).body.reactions).toEqual([
      { emoji: "👍", count: 2, me: true },
      { emoji: ":tada:", count: 1, me: true },
    ]);
    // `me` is relative to the reader.
    const asBob = await ctx.call("GET", `/api/messages/${msg.id}`, { token: bob.token });
    expect(asBob.body.reactions).toEqual([
      { emoji: "👍", count: 2, me: true },
      { emoji: ":tada:", count: 1, me: false },
    ]);
    expect((await react(bob, "DELETE")).body.reactions).toEqual([
      { emoji: "👍", count: 1, me: false },
      { emoji: ":tada:", count: 1, me: false },
    ]);
    expect((await react(bob, "DELETE")).status).toBe(200); // nothing left to remove

    const reactionEvents = roomEvents();
    expect(reactionEvents).toEqual([
      { type: "reaction.added", roomId: open, messageId: msg.id, emoji: "👍", userId: bob.id },
      { type: "reaction.added", roomId: open, messageId: msg.id, emoji: "👍", userId: alice.id },
      { type: "reaction.added", roomId: open, messageId: msg.id, emoji: ":tada:", userId: alice.id },
      { type: "reaction.removed", roomId: open, messageId: msg.id, emoji: "👍", userId: bob.id },
    ]);

    // A reader of a public room who is not a member may not react; a missing message is 404.
    expect((await react(eve, "PUT")).status).toBe(403);
    expect((await ctx.call("PUT", `/api/messages/${Bun.randomUUIDv7()}/reactions/${thumbs}`, { token: bob.token })).status).toBe(404);
  });

  test("emoji are validated: one emoji (sequences included) or a :shortcode:", async () => {
    const alice = await ctx.user();
    const room = await makeRoom(ctx, alice);
    const msg = await send(ctx, alice, room, "emoji test");
    const put = (emoji: string) => ctx.call("PUT", `/api/messages/${msg.id}/reactions/${encodeURIComponent(emoji)}`, { token: alice.token });
    for (const good of ["👍", "👍🏽", "❤️", "🇺🇸", "👨‍👩‍👧‍👦", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "1️⃣", "🫠", ":+1:", ":party_parrot:", ":a-b:"]) {
      const res = await put(good);
      expect([good, res.status]).toEqual([good, 200]);
    }
    // Fragments of emoji, and text characters that are emoji only with U+FE0F, are not emoji.
    const fragments = ["🏻", "🏻\uFE0F", "🇺", "©", "™", "❤", "1\u20E3", "👍\u200D"];
    for (const bad of ["a", "1", "#", "ok", "👍👍", "👍 ", "::", ":Upper:", `:${"a".repeat(33)}:`, "\u200D", "\uFE0F", "<b>", "👍a", ...fragments]) {
      const res = await put(bad);
      expect([bad, res.status]).toEqual([bad, 422]);
      expect(errorCode(res)).toBe("VALIDATION_FAILED");
    }
    expect((await put("x".repeat(65))).status).toBe(422);
  });

  test("spellings of an emoji that differ only in U+FE0F are one reaction, kept in its RGI form", async () => {
    ctx.close();
    const clock = manualClock(); // reactions list in the order first used, a ms apart here
    ctx = setup({}, { now: clock.now });
    const alice = await ctx.user();
    const bob = await ctx.user();
    const room = await makeRoom(ctx, alice, { members: [bob] });
    const msg = await send(ctx, alice, room, "emoji spellings");
    const react = (user: TestUser, method: "PUT" | "DELETE", emoji: string) => {
      clock.advance(1);
      return ctx.call(method, `/api/messages/${msg.id}/reactions/${encodeURIComponent(emoji)}`, { token: user.token });
    };
    ctx.events.clear();

    for (const thumbs of ["👍", "👍\uFE0F", "👍\uFE0F\uFE0F"]) expect((await react(alice, "PUT", thumbs)).status).toBe(200);
    expect((await react(bob, "PUT", "👍\uFE0F")).body.reactions).toEqual([{ emoji: "👍", count: 2, me: true }]);
    // Emoji that need the selector get exactly one, where it belongs.
    for (const heart of ["❤\uFE0F", "❤\uFE0F\uFE0F"]) expect((await react(alice, "PUT", heart)).status).toBe(200);
    expect((await react(alice, "PUT", "1\uFE0F\u20E3\uFE0F")).status).toBe(200);
    expect((await react(alice, "PUT", "©\uFE0F")).status).toBe(200);
    const reactions = (await ctx.call("GET", `/api/messages/${msg.id}`, { token: alice.token })).body.reactions;
    expect(reactions).toEqual([
      { emoji: "👍", count: 2, me: true },
      { emoji: "❤️", count: 1, me: true },
      { emoji: "1️⃣", count: 1, me: true },
      { emoji: "©️", count: 1, me: true },
    ]);
    expect(roomEvents().map((e) => [e.type, e.emoji, e.userId])).toEqual([
      ["reaction.added", "👍", alice.id],
      ["reaction.added", "👍", bob.id],
      ["reaction.added", "❤️", alice.id],
      ["reaction.added", "1️⃣", alice.id],
      ["reaction.added", "©️", alice.id],
    ]);

    // Any spelling removes it.
    expect((await react(bob, "DELETE", "👍\uFE0F\uFE0F")).body.reactions[0]).toEqual({ emoji: "👍", count: 1, me: false });
  });
});

describe("search", () => {
  test("finds words in my rooms only, newest first, paged, and never in rooms I am not in", async () => {
    const alice = await ctx.user();
    const bob = await ctx.user();
    const mine = await makeRoom(ctx, alice, { members: [bob] });
    const alone = await makeRoom(ctx, alice);
    const theirs = await makeRoom(ctx, bob); // alice is not in it
    const open = await makeRoom(ctx, bob, { visibility: "public" }); // readable, but alice is not a member
    for (let i = 0; i < 12; i++) await send(ctx, i % 2 ? alice : bob, mine, `pineapple pizza number ${i}`);
    await send(ctx, alice, alone, "pineapple alone");
    await send(ctx, bob, theirs, "pineapple secret");
    await send(ctx, bob, open, "pineapple public");
    await send(ctx, alice, mine, "Crème brûlée");

    const search = (user: TestUser, query: string) => ctx.call("GET", `/api/search/messages?${query}`, { token: user.token });
    const found: string[] = [];
    let res = await search(alice, "q=pineapple&limit=5");
    for (;;) {
      expect(res.status).toBe(200);
      found.push(...res.body.messages.map((m: { content: string }) => m.content));
      if (!res.body.nextCursor) break;
      res = await search(alice, `q=pineapple&limit=5&cursor=${res.body.nextCursor}`);
    }
    expect(found).toEqual(["pineapple alone", ...Array.from({ length: 12 }, (_, i) => `pineapple pizza number ${11 - i}`)]);
    expect(found.some((c) => c.includes("secret") || c.includes("public"))).toBe(false);

    // A room filter narrows; naming a room I am not in finds nothing.
    const inMine = await search(alice, `q=pineapple&roomId=${mine}&limit=50`);
    expect(inMine.body.messages).toHaveLength(12);
    expect(inMine.body.messages.every((m: { roomId: string }) => m.roomId === mine)).toBe(true);
    expect((await search(alice, `q=secret&roomId=${theirs}`)).body).toEqual({ messages: [], nextCursor: null });
    expect((await search(alice, "q=secret")).body.messages).toEqual([]);
    expect((await search(bob, "q=secret")).body.messages).toHaveLength(1);

    // All words must match, the last as a prefix; case and accents do not matter.
    expect((await search(alice, "q=pizza%20numb")).body.messages).toHaveLength(12);
    expect((await search(alice, "q=pizza%20alone")).body.messages).toHaveLength(0);
    expect((await search(alice, "q=CREME%20brulee")).body.messages.map((m: { content: string }) => m.content)).toEqual(["Crème brûlée"]);
  });

  test("deleted messages vanish from search but keep their seq; edits are searchable by the new words", async () => {
    const alice = await ctx.user();
    const room = await makeRoom(ctx, alice);
    const keep = await send(ctx, alice, room, "walrus one");
    const drop = await send(ctx, alice, room, "walrus two");
    const change = await send(ctx, alice, room, "walrus three");
    await ctx.call("DELETE", `/api/messages/${drop.id}`, { token: alice.token });
    await ctx.call("PATCH", `/api/messages/${change.id}`, { token: alice.token, body: { content: "narwhal three" } });

    const hits = await ctx.call("GET", "/api/search/messages?q=walrus", { token: alice.token });
    expect(hits.body.messages.map((m: { id: string }) => m.id)).toEqual([keep.id]);
    const renamed = await ctx.call("GET", "/api/search/messages?q=narwhal", { token: alice.token });
    expect(renamed.body.messages.map((m: { id: string }) => m.id)).toEqual([change.id]);
    const page = await ctx.call("GET", `/api/rooms/${room}/messages`, { token: alice.token });
    expect(page.body.messages.map((m: { seq: number; deletedAt: string | null }) => [m.seq, m.deletedAt !== null])).toEqual([
      [1, false],
      [2, true],
      [3, false],
    ]);
  });

  test("any query text is safe: operators and punctuation never reach FTS as syntax", async () => {
    const alice = await ctx.user();
    const room = await makeRoom(ctx, alice);
    await send(ctx, alice, room, "near the end OR not");
    for (const q of ['"', '""', "*", "-", "^", ":", "()", "NEAR(a b)", "a OR", "AND", "content:near", 'near"', "'; DROP TABLE messages; --", "\\", "{}", "…!?", "💥"]) {
      const res = await ctx.call("GET", `/api/search/messages?q=${encodeURIComponent(q)}`, { token: alice.token });
      expect([q, res.status]).toEqual([q, 200]);
      expect(Array.isArray(res.body.messages)).toBe(true);
    }
    const near = await ctx.call("GET", `/api/search/messages?q=${encodeURIComponent("NEAR(end")}`, { token: alice.token });
    expect(near.body.messages).toHaveLength(1);
    const or = await ctx.call("GET", `/api/search/messages?q=${encodeURIComponent('"or" not')}`, { token: alice.token });
    expect(or.body.messages).toHaveLength(1);
    expect((await ctx.call("GET", "/api/search/messages?q=", { token: alice.token })).status).toBe(422);
    const badCursor = await ctx.call("GET", "/api/search/messages?q=near&cursor=nonsense", { token: alice.token });
    expect(badCursor.status).toBe(400);
    expect(errorCode(badCursor)).toBe("BAD_REQUEST");
  });
});

describe("status in direct rooms", () => {
  test("sent, then delivered once the other member's socket got it, then read", async () => {
    const alice = await ctx.user();
    const bob = await ctx.user();
    const dm = await makeRoom(ctx, alice, { kind: "direct", members: [bob] });
    const group = await makeRoom(ctx, alice, { members: [bob] });
    const one = await send(ctx, alice, dm, "one");
    const two = await send(ctx, alice, dm, "two");
    expect([one.status, two.status]).toEqual(["sent", "sent"]);
    expect((await send(ctx, alice, group, "group")).status).toBeUndefined();
    const statuses = async (user: TestUser) =>
      (await history(user, dm)).body.messages.map((m: { content: string; status: string }) => [m.content, m.status]);

    ctx.events.clear();
    await ctx.services.messages.markDelivered(bob.id, dm, 1);
    expect(await statuses(alice)).toEqual([["one", "delivered"], ["two", "sent"]]);
    // Both members see the sender's status; delivery never moves back, and only real seqs count.
    await ctx.services.messages.markDelivered(bob.id, dm, 2);
    await ctx.services.messages.markDelivered(bob.id, dm, 1);
    await ctx.services.messages.markDelivered(bob.id, dm, 99);
    expect(await statuses(bob)).toEqual([["one", "delivered"], ["two", "delivered"]]);
    expect((await member(ctx, dm, bob.id))!.lastDeliveredSeq).toBe(2);
    expect(roomEvents().filter((e) => e.type === "delivered")).toEqual([
      { type: "delivered", roomId: dm, userId: bob.id, seq: 1 },
      { type: "delivered", roomId: dm, userId: bob.id, seq: 2 },
    ]);
    // A group room has no status, so its deliveries are recorded but not announced.
    await ctx.services.messages.markDelivered(bob.id, group, 1);
    expect((await member(ctx, group, bob.id))!.lastDeliveredSeq).toBe(1);
    expect(roomEvents().filter((e) => e.type === "delivered")).toHaveLength(2);

    // Bob reads the first message, then answers: sending moves his read position to his own message.
    await markRead(bob, dm, 1);
    expect(roomEvents().filter((e) => e.type === "read")).toEqual([{ type: "read", roomId: dm, userId: bob.id, seq: 1, previousSeq: 0 }]);
    expect(await statuses(alice)).toEqual([["one", "read"], ["two", "delivered"]]);
    const reply = await send(ctx, bob, dm, "three");
    expect(reply.status).toBe("sent");
    expect(await statuses(alice)).toEqual([["one", "read"], ["two", "read"], ["three", "sent"]]);
  });
});

/** Moves a member's read position through the rooms module's route. */
async function markRead(user: TestUser, roomId: string, seq: number) {
  const res = await ctx.call("POST", `/api/rooms/${roomId}/read`, { token: user.token, body: { seq } });
  expect(res.status).toBeLessThan(300);
}
