import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { errorCode, setup, type TestContext, type TestResponse, type TestUser } from "../helpers";
import { expectStatus } from "./rooms.helpers";

let ctx: TestContext;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;

beforeAll(async () => {
  ctx = setup({ rateLimitMessages: 0 });
  [alice, bob, carol] = [await ctx.user(), await ctx.user(), await ctx.user()];
});
afterAll(() => ctx.close());

const get = (path: string, u: TestUser) => ctx.call("GET", path, { token: u.token });
const send = async (roomId: string, u: TestUser, content = "hello") => {
  const res = await ctx.call("POST", `/api/rooms/${roomId}/messages`, { token: u.token, body: { content } });
  expectStatus(res, 201, "send");
  return res.body;
};
const read = async (roomId: string, u: TestUser, seq: number) =>
  expectStatus(await ctx.call("POST", `/api/rooms/${roomId}/read`, { token: u.token, body: { seq } }), 200, "read");
const settings = (roomId: string, u: TestUser, body: unknown) => ctx.call("PATCH", `/api/rooms/${roomId}/me`, { token: u.token, body });
const listed = async (u: TestUser, query = "") => {
  const res = await get(`/api/rooms${query}`, u);
  expectStatus(res, 200, `list ${query}`);
  return res.body.rooms as { id: string; kind: string; teamId: string | null; hidden: boolean; muted: boolean; lastActivityAt: string; unreadCount: number }[];
};

function expect422(res: TestResponse) {
  expect(res.status).toBe(422);
  expect(errorCode(res)).toBe("VALIDATION_FAILED");
}

describe("room list filters", () => {
  test("kind and teamId keep only the rooms asked for; bad values are 422", async () => {
    const user = await ctx.user();
    const group = (await ctx.call("POST", "/api/rooms", { token: user.token, body: { name: "g" } })).body.id;
    const direct = (await ctx.call("POST", "/api/rooms/direct", { token: user.token, body: { userId: alice.id } })).body.id;
    const team = (await ctx.call("POST", "/api/teams", { token: user.token, body: { name: "t" } })).body.id;
    const otherTeam = (await ctx.call("POST", "/api/teams", { token: user.token, body: { name: "u" } })).body.id;
    const channels = (await get(`/api/teams/${team}/channels`, user)).body.map((c: { id: string }) => c.id);
    const otherChannels = (await get(`/api/teams/${otherTeam}/channels`, user)).body.map((c: { id: string }) => c.id);

    const ids = async (q: string) => (await listed(user, q)).map((r) => r.id).sort();
    expect(await ids("")).toEqual([group, direct, ...channels, ...otherChannels].sort());
    expect(await ids("?kind=group")).toEqual([group]);
    expect(await ids("?kind=direct")).toEqual([direct]);
    expect(await ids("?kind=channel")).toEqual([...channels, ...otherChannels].sort());
    expect(await ids(`?teamId=${team}`)).toEqual(channels.sort());
    expect(await ids(`?kind=channel&teamId=${otherTeam}`)).toEqual(otherChannels.sort());
    expect(await ids(`?kind=group&teamId=${team}`)).toEqual([]);
    expect(await ids(`?teamId=${Bun.randomUUIDv7()}`)).toEqual([]);
    // Paging keeps the filter.
    const first = await get("/api/rooms?kind=channel&limit=1", user);
    expect(first.body.rooms).toHaveLength(1);
    const second = await get(`/api/rooms?kind=channel&limit=1&cursor=${encodeURIComponent(first.body.nextCursor)}`, user);
    expect(second.body.rooms.map((r: { kind: string }) => r.kind)).toEqual(["channel"]);
    expect(second.body.rooms[0].id).not.toBe(first.body.rooms[0].id);

    for (const q of ["?kind=dm", "?kind=", "?kind=GROUP", "?teamId=nope", "?teamId="]) expect422(await get(`/api/rooms${q}`, user));
  });

  test("lastActivityAt is the creation until a message, then the newest message's time; the list follows it", async () => {
    const user = await ctx.user();
    const older = (await ctx.call("POST", "/api/rooms", { token: user.token, body: { name: "older" } })).body;
    const newer = (await ctx.call("POST", "/api/rooms", { token: user.token, body: { name: "newer" } })).body;
    expect(older.lastActivityAt).toBe(older.createdAt);
    expect((await listed(user)).map((r) => r.id)).toEqual([newer.id, older.id]);
    const message = await send(older.id, user);
    const rooms = await listed(user);
    expect(rooms.map((r) => r.id)).toEqual([older.id, newer.id]);
    expect(rooms[0]!.lastActivityAt).toBe(message.createdAt);
    expect((await get(`/api/rooms/${older.id}`, user)).body.lastActivityAt).toBe(message.createdAt);
  });
});

describe("my settings for a room", () => {
  test("a hidden direct chat leaves my list only, and comes back with its next message", async () => {
    const dm = (await ctx.call("POST", "/api/rooms/direct", { token: alice.token, body: { userId: bob.id } })).body.id;
    await send(dm, bob, "first");
    const hide = await settings(dm, alice, { hidden: true });
    expect(hide.status).toBe(200);
    expect(hide.body).toMatchObject({ id: dm, hidden: true, muted: false });
    expect((await listed(alice)).map((r) => r.id)).not.toContain(dm);
    expect((await listed(alice, "?kind=direct")).map((r) => r.id)).not.toContain(dm);
    // Only mine: bob still has it; the room itself still answers.
    expect((await listed(bob)).find((r) => r.id === dm)).toMatchObject({ hidden: false });
    expect((await get(`/api/rooms/${dm}`, alice)).body.hidden).toBe(true);

    await send(dm, bob, "are you there?");
    const back = (await listed(alice)).find((r) => r.id === dm);
    expect(back).toMatchObject({ hidden: false, unreadCount: 2 });
    expect((await listed(alice))[0]!.id).toBe(dm);

    // Hidden again, then shown again by hand.
    expectStatus(await settings(dm, alice, { hidden: true }), 200, "hide");
    expect((await listed(alice)).map((r) => r.id)).not.toContain(dm);
    expect((await settings(dm, alice, { hidden: false })).body.hidden).toBe(false);
    expect((await listed(alice)).map((r) => r.id)).toContain(dm);

    // My own message brings it back too.
    expectStatus(await settings(dm, alice, { hidden: true }), 200, "hide");
    await send(dm, alice, "me again");
    expect((await listed(alice)).map((r) => r.id)).toContain(dm);
  });

  test("a muted room is marked muted and still counts unread", async () => {
    const room = (await ctx.call("POST", "/api/rooms", { token: alice.token, body: { name: "noisy", memberIds: [bob.id] } })).body.id;
    const muted = await settings(room, bob, { muted: true });
    expect(muted.status).toBe(200);
    expect(muted.body).toMatchObject({ muted: true, hidden: false });
    await send(room, alice);
    await send(room, alice);
    expect((await listed(bob)).find((r) => r.id === room)).toMatchObject({ muted: true, unreadCount: 2 });
    expect((await listed(alice)).find((r) => r.id === room)).toMatchObject({ muted: false });
    expect((await get(`/api/rooms/${room}`, bob)).body.muted).toBe(true);
    // Muting again keeps it muted; unmuting clears it.
    expect((await settings(room, bob, { muted: true })).body.muted).toBe(true);
    expect((await settings(room, bob, { muted: false })).body.muted).toBe(false);
    expect((await listed(bob)).find((r) => r.id === room)!.muted).toBe(false);
  });

  test("refusals: hiding a group room 403, outsiders 404, bad bodies 422", async () => {
    const room = (await ctx.call("POST", "/api/rooms", { token: alice.token, body: { name: "kept", memberIds: [bob.id] } })).body.id;
    const hide = await settings(room, bob, { hidden: true });
    expect(hide.status).toBe(403);
    expect(errorCode(hide)).toBe("FORBIDDEN");
    const outsider = await settings(room, carol, { muted: true });
    expect(outsider.status).toBe(404);
    expect(errorCode(outsider)).toBe("NOT_FOUND");
    for (const body of [{}, { hidden: "yes" }, { muted: 1 }, { pinned: true }]) expect422(await settings(room, bob, body));
  });
});

describe("group read status", () => {
  test("readCount counts the other members whose read position covers the message, in history, single messages and reads", async () => {
    const room = (await ctx.call("POST", "/api/rooms", { token: alice.token, body: { name: "receipts", memberIds: [bob.id, carol.id] } })).body.id;
    const sent = await send(room, alice, "one");
    expect(sent.readCount).toBe(0);
    expect(sent.status).toBeUndefined();
    await send(room, alice, "two");
    await send(room, bob, "three");

    const counts = async () => (await get(`/api/rooms/${room}/messages`, alice)).body.messages.map((m: { readCount: number }) => m.readCount);
    // Bob's send moved his own read position to 3: he has read one and two; his own message counts only others.
    expect(await counts()).toEqual([1, 1, 0]);
    await read(room, carol, 1);
    expect(await counts()).toEqual([2, 1, 0]);
    await read(room, carol, 3);
    expect(await counts()).toEqual([2, 2, 1]);
    await read(room, alice, 3);
    expect(await counts()).toEqual([2, 2, 2]);
    expect((await get(`/api/messages/${sent.id}`, carol)).body.readCount).toBe(2);

    const reads = await get(`/api/messages/${sent.id}/reads`, bob);
    expect(reads.status).toBe(200);
    expect(reads.body.map((r: { user: { id: string } }) => r.user.id)).toEqual([bob.id, carol.id]);
    expect(reads.body[0].user).toMatchObject({ id: bob.id, username: bob.username });
    const third = (await get(`/api/rooms/${room}/messages`, alice)).body.messages[2];
    expect((await get(`/api/messages/${third.id}/reads`, alice)).body.map((r: { user: { id: string } }) => r.user.id)).toEqual([alice.id, carol.id]);
  });

  test("a page far behind everyone's read position still counts right", async () => {
    const room = (await ctx.call("POST", "/api/rooms", { token: alice.token, body: { name: "long", memberIds: [bob.id, carol.id] } })).body.id;
    for (let i = 0; i < 12; i++) await send(room, alice, `m${i}`);
    await read(room, bob, 12);
    await read(room, carol, 5);
    const page = (await get(`/api/rooms/${room}/messages?before=8&limit=4`, alice)).body.messages;
    expect(page.map((m: { seq: number; readCount: number }) => [m.seq, m.readCount])).toEqual([
      [4, 2],
      [5, 2],
      [6, 1],
      [7, 1],
    ]);
  });

  test("direct chats carry status, not readCount; reads are for members only", async () => {
    const dm = (await ctx.call("POST", "/api/rooms/direct", { token: carol.token, body: { userId: bob.id } })).body.id;
    const message = await send(dm, carol);
    expect(message.status).toBe("sent");
    expect(message.readCount).toBeUndefined();
    await read(dm, bob, 1);
    expect((await get(`/api/messages/${message.id}/reads`, carol)).body.map((r: { user: { id: string } }) => r.user.id)).toEqual([bob.id]);

    const pub = (await ctx.call("POST", "/api/rooms", { token: alice.token, body: { name: "open", visibility: "public" } })).body.id;
    const inPublic = await send(pub, alice);
    const outsider = await ctx.user();
    // A public room's message may be read by anyone, but who read it is for members only.
    expect((await get(`/api/messages/${inPublic.id}`, outsider)).status).toBe(200);
    for (const res of [
      await get(`/api/messages/${inPublic.id}/reads`, outsider),
      await get(`/api/messages/${message.id}/reads`, alice),
      await get(`/api/messages/${Bun.randomUUIDv7()}/reads`, alice),
    ]) {
      expect(res.status).toBe(404);
      expect(errorCode(res)).toBe("NOT_FOUND");
    }
  });
});
