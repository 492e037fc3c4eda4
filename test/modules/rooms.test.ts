import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { errorCode, setup, type TestContext, type TestResponse, type TestUser } from "../helpers";
import { expectStatus, membership, postMessage, trace, type Users, WHO, type Who } from "./rooms.helpers";

let ctx: TestContext;
let U: Users;
/** Someone to add to rooms: a user with no part in them yet. */
let newcomer: TestUser;

beforeAll(async () => {
  ctx = setup();
  U = { owner: await ctx.user(), admin: await ctx.user(), member: await ctx.user(), outsider: await ctx.user() };
  newcomer = await ctx.user();
});
afterAll(() => ctx.close());
beforeEach(() => ctx.events.clear());

const CODES: Record<number, string> = { 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT", 422: "VALIDATION_FAILED" };

/** A group room owned by U.owner, with U.admin as admin and U.member as member. */
async function groupRoom(visibility: "public" | "private"): Promise<string> {
  const res = await ctx.call("POST", "/api/rooms", {
    token: U.owner.token,
    body: { name: `room-${visibility}`, visibility, memberIds: [U.admin.id, U.member.id] },
  });
  expectStatus(res, 201, "create room");
  expectStatus(await ctx.call("PATCH", `/api/rooms/${res.body.id}/members/${U.admin.id}`, { token: U.owner.token, body: { role: "admin" } }), 200, "promote");
  ctx.events.clear();
  return res.body.id;
}

type Expect = Record<Who, number>;
interface Case {
  route: string;
  call: (roomId: string, u: TestUser) => Promise<TestResponse>;
  public: Expect;
  private: Expect;
}
const all = (n: number): Expect => ({ owner: n, admin: n, member: n, outsider: n });
const as = (owner: number, admin: number, member: number, outsider: number): Expect => ({ owner, admin, member, outsider });
const req = (method: string, path: (id: string) => string, body?: unknown) => (id: string, u: TestUser) =>
  ctx.call(method, path(id), { token: u.token, body });

// What the contract gives each role, for a public and a private group room.
const MATRIX: Case[] = [
  { route: "GET /api/rooms/:id", call: req("GET", (id) => `/api/rooms/${id}`), public: all(200), private: as(200, 200, 200, 404) },
  {
    route: "PATCH /api/rooms/:id",
    call: req("PATCH", (id) => `/api/rooms/${id}`, { topic: "new topic" }),
    public: as(200, 200, 403, 403),
    private: as(200, 200, 403, 404),
  },
  { route: "DELETE /api/rooms/:id", call: req("DELETE", (id) => `/api/rooms/${id}`), public: as(204, 403, 403, 403), private: as(204, 403, 403, 404) },
  { route: "POST /api/rooms/:id/join", call: req("POST", (id) => `/api/rooms/${id}/join`), public: all(200), private: as(200, 200, 200, 404) },
  // The only owner may not walk away from a room that still has members.
  { route: "POST /api/rooms/:id/leave", call: req("POST", (id) => `/api/rooms/${id}/leave`), public: as(409, 204, 204, 403), private: as(409, 204, 204, 404) },
  { route: "GET /api/rooms/:id/members", call: req("GET", (id) => `/api/rooms/${id}/members`), public: as(200, 200, 200, 403), private: as(200, 200, 200, 404) },
  {
    route: "POST /api/rooms/:id/members",
    call: (id, u) => ctx.call("POST", `/api/rooms/${id}/members`, { token: u.token, body: { userId: newcomer.id } }),
    public: as(201, 201, 403, 403),
    private: as(201, 201, 403, 404),
  },
  {
    route: "PATCH /api/rooms/:id/members/:member",
    call: (id, u) => ctx.call("PATCH", `/api/rooms/${id}/members/${U.member.id}`, { token: u.token, body: { role: "admin" } }),
    public: as(200, 200, 403, 403),
    private: as(200, 200, 403, 404),
  },
  {
    route: "PATCH /api/rooms/:id/members/:another-admin (demote)",
    call: async (id, u) => {
      // A second admin, for the admin to change.
      expectStatus(await ctx.call("POST", `/api/rooms/${id}/members`, { token: U.owner.token, body: { userId: newcomer.id, role: "admin" } }), 201, "second admin");
      ctx.events.clear();
      return ctx.call("PATCH", `/api/rooms/${id}/members/${newcomer.id}`, { token: u.token, body: { role: "member" } });
    },
    public: as(200, 200, 403, 403),
    private: as(200, 200, 403, 404),
  },
  {
    route: "PATCH /api/rooms/:id/members/:admin (to owner)",
    call: (id, u) => ctx.call("PATCH", `/api/rooms/${id}/members/${U.admin.id}`, { token: u.token, body: { role: "owner" } }),
    // Only an owner makes owners, the admin themselves included.
    public: as(200, 403, 403, 403),
    private: as(200, 403, 403, 404),
  },
  {
    route: "PATCH /api/rooms/:id/members/:owner (demote)",
    call: (id, u) => ctx.call("PATCH", `/api/rooms/${id}/members/${U.owner.id}`, { token: u.token, body: { role: "member" } }),
    // The owner demoting themselves would leave the room without one.
    public: as(409, 403, 403, 403),
    private: as(409, 403, 403, 404),
  },
  {
    route: "DELETE /api/rooms/:id/members/:member",
    call: (id, u) => ctx.call("DELETE", `/api/rooms/${id}/members/${U.member.id}`, { token: u.token }),
    // For the member it is their own removal, i.e. leaving.
    public: as(204, 204, 204, 403),
    private: as(204, 204, 204, 404),
  },
  {
    route: "DELETE /api/rooms/:id/members/:admin",
    call: (id, u) => ctx.call("DELETE", `/api/rooms/${id}/members/${U.admin.id}`, { token: u.token }),
    public: as(204, 204, 403, 403),
    private: as(204, 204, 403, 404),
  },
  {
    route: "DELETE /api/rooms/:id/members/:owner",
    call: (id, u) => ctx.call("DELETE", `/api/rooms/${id}/members/${U.owner.id}`, { token: u.token }),
    // An admin can't remove an owner; the owner removing themselves is leaving as the last owner.
    public: as(409, 403, 403, 403),
    private: as(409, 403, 403, 404),
  },
  { route: "POST /api/rooms/:id/read", call: req("POST", (id) => `/api/rooms/${id}/read`, { seq: 0 }), public: as(200, 200, 200, 403), private: as(200, 200, 200, 404) },
];

describe("permission matrix: group rooms", () => {
  for (const c of MATRIX)
    for (const visibility of ["public", "private"] as const)
      for (const who of WHO) {
        const status = c[visibility][who];
        test(`${c.route} · ${visibility} · ${who} → ${status}`, async () => {
          const id = await groupRoom(visibility);
          const res = await c.call(id, U[who]);
          expectStatus(res, status, c.route);
          if (status >= 400) expect(errorCode(res)).toBe(CODES[status]!);
          // A refused request changes nothing and tells nobody.
          if (status >= 400) expect(ctx.events.log).toEqual([]);
        });
      }
});

describe("permission matrix: direct chats", () => {
  type Party = "a" | "b" | "outsider";
  const DIRECT: { route: string; call: (id: string, u: TestUser) => Promise<TestResponse>; expect: Record<Party, number> }[] = [
    { route: "GET /api/rooms/:id", call: req("GET", (id) => `/api/rooms/${id}`), expect: { a: 200, b: 200, outsider: 404 } },
    { route: "PATCH /api/rooms/:id", call: req("PATCH", (id) => `/api/rooms/${id}`, { name: "x" }), expect: { a: 403, b: 403, outsider: 404 } },
    { route: "DELETE /api/rooms/:id", call: req("DELETE", (id) => `/api/rooms/${id}`), expect: { a: 403, b: 403, outsider: 404 } },
    { route: "POST /api/rooms/:id/join", call: req("POST", (id) => `/api/rooms/${id}/join`), expect: { a: 200, b: 200, outsider: 404 } },
    { route: "POST /api/rooms/:id/leave", call: req("POST", (id) => `/api/rooms/${id}/leave`), expect: { a: 403, b: 403, outsider: 404 } },
    { route: "GET /api/rooms/:id/members", call: req("GET", (id) => `/api/rooms/${id}/members`), expect: { a: 200, b: 200, outsider: 404 } },
    {
      route: "POST /api/rooms/:id/members",
      call: (id, u) => ctx.call("POST", `/api/rooms/${id}/members`, { token: u.token, body: { userId: newcomer.id } }),
      expect: { a: 403, b: 403, outsider: 404 },
    },
    {
      route: "PATCH /api/rooms/:id/members/:b",
      call: (id, u) => ctx.call("PATCH", `/api/rooms/${id}/members/${U.member.id}`, { token: u.token, body: { role: "admin" } }),
      expect: { a: 403, b: 403, outsider: 404 },
    },
    {
      route: "DELETE /api/rooms/:id/members/:a",
      call: (id, u) => ctx.call("DELETE", `/api/rooms/${id}/members/${U.owner.id}`, { token: u.token }),
      expect: { a: 403, b: 403, outsider: 404 },
    },
    { route: "POST /api/rooms/:id/read", call: req("POST", (id) => `/api/rooms/${id}/read`, { seq: 0 }), expect: { a: 200, b: 200, outsider: 404 } },
  ];
  for (const c of DIRECT)
    for (const party of ["a", "b", "outsider"] as const)
      test(`${c.route} · direct · ${party} → ${c.expect[party]}`, async () => {
        const a = U.owner;
        const b = U.member;
        const room = await ctx.call("POST", "/api/rooms/direct", { token: a.token, body: { userId: b.id } });
        expect([200, 201]).toContain(room.status);
        const who = party === "a" ? a : party === "b" ? b : U.outsider;
        const res = await c.call(room.body.id, who);
        expectStatus(res, c.expect[party], c.route);
        if (res.status >= 400) expect(errorCode(res)).toBe(CODES[res.status]!);
        // The pair keeps its room and both its members whatever was tried.
        expect((await ctx.call("GET", `/api/rooms/${room.body.id}`, { token: a.token })).body.memberCount).toBe(2);
      });
});

describe("any authenticated user", () => {
  test("the collection routes need a token", async () => {
    for (const [method, path] of [
      ["GET", "/api/rooms"],
      ["POST", "/api/rooms"],
      ["POST", "/api/rooms/direct"],
      ["GET", "/api/rooms/public"],
    ] as const) {
      const res = await ctx.call(method, path, { body: method === "POST" ? { name: "x", userId: U.member.id } : undefined });
      expect(res.status).toBe(401);
      expect(errorCode(res)).toBe("UNAUTHENTICATED");
    }
  });

  test("anyone can create a group room; memberIds join as members and everyone hears room.created", async () => {
    const res = await ctx.call("POST", "/api/rooms", {
      token: U.outsider.token,
      body: { name: "  Book club  ", topic: "reading", memberIds: [U.member.id, U.member.id, U.outsider.id] },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      kind: "group",
      name: "Book club",
      topic: "reading",
      teamId: null,
      visibility: "private",
      createdBy: U.outsider.id,
      memberCount: 2,
      lastMessage: null,
      lastSeq: 0,
      unreadCount: 0,
      myRole: "owner",
      myLastReadSeq: 0,
    });
    const id = res.body.id;
    expect(trace(ctx.events.log)).toEqual([
      `joined ${U.outsider.id} ${id}`,
      `user ${U.outsider.id} room.created`,
      `joined ${U.member.id} ${id}`,
      `user ${U.member.id} room.created`,
    ]);
    const forMember = ctx.events.log.find((e) => e.to === "user" && e.userId === U.member.id);
    expect(forMember && "event" in forMember && (forMember.event.room as { myRole: string }).myRole).toBe("member");
  });

  test("creating with an unknown member id is 404 and creates nothing", async () => {
    const before = await ctx.call("GET", "/api/rooms", { token: U.outsider.token });
    const res = await ctx.call("POST", "/api/rooms", { token: U.outsider.token, body: { name: "x", memberIds: [Bun.randomUUIDv7()] } });
    expect(res.status).toBe(404);
    expect(errorCode(res)).toBe("NOT_FOUND");
    const after = await ctx.call("GET", "/api/rooms", { token: U.outsider.token });
    expect(after.body.rooms.length).toBe(before.body.rooms.length);
    expect(ctx.events.log).toEqual([]);
  });

  test("bad bodies are 422 with the error envelope", async () => {
    const bad: [string, string, unknown][] = [
      ["POST", "/api/rooms", {}],
      ["POST", "/api/rooms", { name: "" }],
      ["POST", "/api/rooms", { name: "   " }],
      ["POST", "/api/rooms", { name: "x".repeat(81) }],
      ["POST", "/api/rooms", { name: "x", visibility: "secret" }],
      ["POST", "/api/rooms/direct", {}],
      ["POST", "/api/rooms/direct", { userId: U.owner.id }], // yourself
    ];
    for (const [method, path, body] of bad) {
      const res = await ctx.call(method, path, { token: U.owner.token, body });
      expect(`${JSON.stringify(body)} ${res.status}`).toBe(`${JSON.stringify(body)} 422`);
      expect(errorCode(res)).toBe("VALIDATION_FAILED");
      expect(res.body.error.details).toBeDefined();
    }
    const id = await groupRoom("private");
    for (const [method, path, body] of [
      ["PATCH", `/api/rooms/${id}`, { name: " " }],
      ["PATCH", `/api/rooms/${id}`, { visibility: "hidden" }],
      ["POST", `/api/rooms/${id}/members`, { userId: newcomer.id, role: "king" }],
      ["PATCH", `/api/rooms/${id}/members/${U.member.id}`, { role: "boss" }],
      ["POST", `/api/rooms/${id}/read`, { seq: -1 }],
      ["POST", `/api/rooms/${id}/read`, { seq: 1.5 }],
      ["POST", `/api/rooms/${id}/read`, {}],
    ] as [string, string, unknown][]) {
      const res = await ctx.call(method, path, { token: U.owner.token, body });
      expect(`${path} ${JSON.stringify(body)} ${res.status}`).toBe(`${path} ${JSON.stringify(body)} 422`);
      expect(errorCode(res)).toBe("VALIDATION_FAILED");
    }
  });
});

describe("roles", () => {
  test("only an owner may make an owner; an admin may not add one either", async () => {
    const id = await groupRoom("private");
    const byAdmin = await ctx.call("PATCH", `/api/rooms/${id}/members/${U.member.id}`, { token: U.admin.token, body: { role: "owner" } });
    expect(byAdmin.status).toBe(403);
    const addOwner = await ctx.call("POST", `/api/rooms/${id}/members`, { token: U.admin.token, body: { userId: newcomer.id, role: "owner" } });
    expect(addOwner.status).toBe(403);
    const byOwner = await ctx.call("PATCH", `/api/rooms/${id}/members/${U.member.id}`, { token: U.owner.token, body: { role: "owner" } });
    expect(byOwner.status).toBe(200);
    expect(byOwner.body).toMatchObject({ role: "owner", user: { id: U.member.id } });
    expect(ctx.events.ofType("member.updated")).toEqual([
      { to: "room", roomId: id, event: { type: "member.updated", roomId: id, userId: U.member.id, role: "owner" } },
    ]);
    // With a second owner, the first may step down and may leave.
    expect((await ctx.call("PATCH", `/api/rooms/${id}/members/${U.owner.id}`, { token: U.owner.token, body: { role: "admin" } })).status).toBe(200);
    expect((await ctx.call("POST", `/api/rooms/${id}/leave`, { token: U.owner.token })).status).toBe(204);
    const members = await ctx.call("GET", `/api/rooms/${id}/members`, { token: U.member.token });
    expect(members.body.map((m: { user: { id: string }; role: string }) => [m.user.id, m.role])).toEqual([
      [U.admin.id, "admin"],
      [U.member.id, "owner"],
    ]);
  });

  test("adding a member twice is 409; unknown users and non-members are 404", async () => {
    const id = await groupRoom("public");
    const again = await ctx.call("POST", `/api/rooms/${id}/members`, { token: U.owner.token, body: { userId: U.member.id } });
    expect(again.status).toBe(409);
    expect(errorCode(again)).toBe("CONFLICT");
    const ghost = await ctx.call("POST", `/api/rooms/${id}/members`, { token: U.owner.token, body: { userId: Bun.randomUUIDv7() } });
    expect(ghost.status).toBe(404);
    expect((await ctx.call("PATCH", `/api/rooms/${id}/members/${newcomer.id}`, { token: U.owner.token, body: { role: "admin" } })).status).toBe(404);
    expect((await ctx.call("DELETE", `/api/rooms/${id}/members/${newcomer.id}`, { token: U.owner.token })).status).toBe(404);
  });

  test("the last member can't leave (delete instead); a room can be found and joined again by others", async () => {
    const res = await ctx.call("POST", "/api/rooms", { token: newcomer.token, body: { name: "solo", visibility: "public" } });
    const leave = await ctx.call("POST", `/api/rooms/${res.body.id}/leave`, { token: newcomer.token });
    expect(leave.status).toBe(409);
    expect((await ctx.call("DELETE", `/api/rooms/${res.body.id}`, { token: newcomer.token })).status).toBe(204);
    expect((await ctx.call("GET", `/api/rooms/${res.body.id}`, { token: newcomer.token })).status).toBe(404);
  });
});

describe("membership events", () => {
  test("join subscribes before announcing; leave announces before unsubscribing; both idempotent-safe", async () => {
    const id = await groupRoom("public");
    const join = await ctx.call("POST", `/api/rooms/${id}/join`, { token: U.outsider.token });
    expect(join.status).toBe(200);
    expect(join.body).toMatchObject({ id, myRole: "member", memberCount: 4 });
    expect(trace(ctx.events.log)).toEqual([`joined ${U.outsider.id} ${id}`, `room ${id} member.joined ${U.outsider.id}`]);
    ctx.events.clear();
    // Joining again is a no-op.
    expect((await ctx.call("POST", `/api/rooms/${id}/join`, { token: U.outsider.token })).status).toBe(200);
    expect(ctx.events.log).toEqual([]);
    expect((await ctx.call("POST", `/api/rooms/${id}/leave`, { token: U.outsider.token })).status).toBe(204);
    expect(trace(ctx.events.log)).toEqual([`room ${id} member.left ${U.outsider.id}`, `left ${U.outsider.id} ${id}`]);
    expect(await membership(ctx, id, U.outsider.id)).toBeUndefined();
  });

  test("add and remove emit member.joined / member.left with (un)subscription", async () => {
    const id = await groupRoom("private");
    const add = await ctx.call("POST", `/api/rooms/${id}/members`, { token: U.admin.token, body: { userId: newcomer.id } });
    expect(add.status).toBe(201);
    expect(add.body).toMatchObject({ user: { id: newcomer.id, username: newcomer.username }, role: "member", lastReadSeq: 0 });
    expect(trace(ctx.events.log)).toEqual([`joined ${newcomer.id} ${id}`, `room ${id} member.joined ${newcomer.id}`]);
    ctx.events.clear();
    expect((await ctx.call("DELETE", `/api/rooms/${id}/members/${newcomer.id}`, { token: U.admin.token })).status).toBe(204);
    expect(trace(ctx.events.log)).toEqual([`room ${id} member.left ${newcomer.id}`, `left ${newcomer.id} ${id}`]);
    expect((await ctx.call("GET", `/api/rooms/${id}`, { token: newcomer.token })).status).toBe(404);
  });

  test("deleting a room tells the members, then unsubscribes every one of them", async () => {
    const id = await groupRoom("private");
    await postMessage(ctx, id, U.member.id, "soon gone");
    expect((await ctx.call("DELETE", `/api/rooms/${id}`, { token: U.owner.token })).status).toBe(204);
    const t = trace(ctx.events.log);
    expect(t[0]).toBe(`room ${id} room.deleted`);
    expect(t.slice(1).sort()).toEqual([U.owner.id, U.admin.id, U.member.id].map((u) => `left ${u} ${id}`).sort());
    for (const u of [U.owner, U.admin, U.member]) expect((await ctx.call("GET", `/api/rooms/${id}`, { token: u.token })).status).toBe(404);
  });

  test("PATCH emits room.updated with the shared fields only", async () => {
    const id = await groupRoom("private");
    const res = await ctx.call("PATCH", `/api/rooms/${id}`, { token: U.admin.token, body: { name: " Renamed ", topic: null, visibility: "public" } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: "Renamed", topic: null, visibility: "public", myRole: "admin" });
    const [updated] = ctx.events.ofType("room.updated");
    expect(updated).toMatchObject({ to: "room", roomId: id, event: { room: { id, name: "Renamed", visibility: "public", myRole: null, myLastReadSeq: null, unreadCount: 0 } } });
    // An empty patch changes nothing and tells nobody.
    ctx.events.clear();
    expect((await ctx.call("PATCH", `/api/rooms/${id}`, { token: U.admin.token, body: {} })).status).toBe(200);
    expect(ctx.events.log).toEqual([]);
  });
});

describe("direct chats", () => {
  test("one room per pair, whoever starts it: 201 first, 200 after, from either side", async () => {
    const [a, b] = [await ctx.user(), await ctx.user()];
    const first = await ctx.call("POST", "/api/rooms/direct", { token: a.token, body: { userId: b.id } });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ kind: "direct", name: null, visibility: "private", memberCount: 2, myRole: "member" });
    expect(trace(ctx.events.log)).toEqual([
      `joined ${a.id} ${first.body.id}`,
      `user ${a.id} room.created`,
      `joined ${b.id} ${first.body.id}`,
      `user ${b.id} room.created`,
    ]);
    ctx.events.clear();
    const again = await ctx.call("POST", "/api/rooms/direct", { token: a.token, body: { userId: b.id } });
    const reverse = await ctx.call("POST", "/api/rooms/direct", { token: b.token, body: { userId: a.id } });
    expect([again.status, reverse.status]).toEqual([200, 200]);
    expect(again.body.id).toBe(first.body.id);
    expect(reverse.body.id).toBe(first.body.id);
    expect(ctx.events.log).toEqual([]);
  });

  test("20 concurrent starts from both sides make exactly one room", async () => {
    const [a, b] = [await ctx.user(), await ctx.user()];
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2 ? ctx.call("POST", "/api/rooms/direct", { token: a.token, body: { userId: b.id } }) : ctx.call("POST", "/api/rooms/direct", { token: b.token, body: { userId: a.id } }),
      ),
    );
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(results.filter((r) => r.status === 201).length).toBe(1);
    expect(results.filter((r) => r.status === 200).length).toBe(19);
    const { rooms } = ctx.services.database.tables;
    const stored = await ctx.services.database.db.select().from(rooms).where(eq(rooms.directKey, [a.id, b.id].sort().join(":")));
    expect(stored.length).toBe(1);
    expect(ctx.events.ofType("room.created").length).toBe(2);
    const members = await ctx.call("GET", `/api/rooms/${results[0]!.body.id}/members`, { token: a.token });
    expect(members.body.map((m: { user: { id: string } }) => m.user.id).sort()).toEqual([a.id, b.id].sort());
  });

  test("an unknown user is 404, yourself is 422", async () => {
    const unknown = await ctx.call("POST", "/api/rooms/direct", { token: U.owner.token, body: { userId: Bun.randomUUIDv7() } });
    expect(unknown.status).toBe(404);
    expect(errorCode(unknown)).toBe("NOT_FOUND");
    const self = await ctx.call("POST", "/api/rooms/direct", { token: U.owner.token, body: { userId: U.owner.id } });
    expect(self.status).toBe(422);
    expect(errorCode(self)).toBe("VALIDATION_FAILED");
  });
});

describe("listing and discovery", () => {
  test("GET /api/rooms: my rooms only, latest activity first, with lastMessage and unread counts", async () => {
    const me = await ctx.user();
    const other = await ctx.user();
    const ids: string[] = [];
    for (const name of ["one", "two", "three"]) {
      const res = await ctx.call("POST", "/api/rooms", { token: other.token, body: { name, memberIds: [me.id] } });
      ids.push(res.body.id);
    }
    const dm = (await ctx.call("POST", "/api/rooms/direct", { token: other.token, body: { userId: me.id } })).body.id;
    await ctx.call("POST", "/api/rooms", { token: other.token, body: { name: "not mine" } });
    const t0 = Date.now() + 60_000; // later than any creation time
    await postMessage(ctx, ids[0]!, other.id, "first", new Date(t0));
    await postMessage(ctx, ids[0]!, other.id, "second", new Date(t0 + 1000));
    await postMessage(ctx, dm, other.id, "psst", new Date(t0 + 2000));
    await postMessage(ctx, ids[2]!, other.id, "latest", new Date(t0 + 3000));

    const res = await ctx.call("GET", "/api/rooms", { token: me.token });
    expect(res.status).toBe(200);
    expect(res.body.rooms.map((r: { id: string }) => r.id)).toEqual([ids[2], dm, ids[0], ids[1]]);
    const byId = Object.fromEntries(res.body.rooms.map((r: { id: string }) => [r.id, r]));
    expect(byId[ids[0]!]).toMatchObject({ lastSeq: 2, unreadCount: 2, myLastReadSeq: 0, myRole: "member", lastMessage: { seq: 2, content: "second", senderId: other.id, deletedAt: null } });
    expect(byId[ids[1]!]).toMatchObject({ lastSeq: 0, unreadCount: 0, lastMessage: null });
    expect(byId[dm]).toMatchObject({ kind: "direct", unreadCount: 1, lastMessage: { content: "psst" } });
    expect(res.body.nextCursor).toBeNull();

    // Paging walks the same order without repeats.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: TestResponse = await ctx.call("GET", `/api/rooms?limit=1${cursor ? `&cursor=${cursor}` : ""}`, { token: me.token });
      expect(page.body.rooms.length).toBeLessThanOrEqual(1);
      seen.push(...page.body.rooms.map((r: { id: string }) => r.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([ids[2], dm, ids[0], ids[1]]);
    expect((await ctx.call("GET", "/api/rooms?cursor=garbage", { token: me.token })).status).toBe(400);
  });

  test("GET /api/rooms uses the same number of queries for 2 rooms as for 30", async () => {
    const me = await ctx.user();
    const db = ctx.services.database;
    const countQueries = async () => {
      if (db.dialect !== "sqlite") {
        // The statement count is measured on SQLite; elsewhere check the answer is whole.
        return (await ctx.call("GET", "/api/rooms?limit=200", { token: me.token })).body.rooms.length as number;
      }
      const original = db.sqlite.prepare.bind(db.sqlite);
      let n = 0;
      db.sqlite.prepare = ((q: string) => {
        n++;
        return original(q);
      }) as typeof db.sqlite.prepare;
      try {
        const res = await ctx.call("GET", "/api/rooms?limit=200", { token: me.token });
        expect(res.status).toBe(200);
      } finally {
        db.sqlite.prepare = original;
      }
      return n;
    };
    const make = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = await ctx.call("POST", "/api/rooms", { token: me.token, body: { name: `r${i}` } });
        await postMessage(ctx, r.body.id, me.id, `m${i}`);
      }
    };
    await make(2);
    const small = await countQueries();
    await make(28);
    const large = await countQueries();
    if (db.dialect === "sqlite") expect(large).toBe(small);
    else expect([small, large]).toEqual([2, 30]);
  });

  test("GET /api/rooms/public lists public group rooms only, filtered by name", async () => {
    const owner = await ctx.user();
    const tag = `zq${Date.now().toString(36)}`;
    const pub = (await ctx.call("POST", "/api/rooms", { token: owner.token, body: { name: `Cooking ${tag}`, visibility: "public" } })).body.id;
    const pct = (await ctx.call("POST", "/api/rooms", { token: owner.token, body: { name: `100% ${tag}`, visibility: "public" } })).body.id;
    await ctx.call("POST", "/api/rooms", { token: owner.token, body: { name: `Secret ${tag}`, visibility: "private" } });
    const res = await ctx.call("GET", `/api/rooms/public?q=${tag.toUpperCase()}`, { token: U.outsider.token });
    expect(res.status).toBe(200);
    expect(res.body.rooms.map((r: { id: string }) => r.id).sort()).toEqual([pub, pct].sort());
    expect(res.body.rooms.every((r: { myRole: unknown; unreadCount: number }) => r.myRole === null && r.unreadCount === 0)).toBe(true);
    const cooking = await ctx.call("GET", `/api/rooms/public?q=${encodeURIComponent(`cooking ${tag}`)}`, { token: U.outsider.token });
    expect(cooking.body.rooms.map((r: { id: string }) => r.id)).toEqual([pub]);
    // LIKE wildcards in q are taken literally.
    const percent = await ctx.call("GET", `/api/rooms/public?q=${encodeURIComponent("0%")}`, { token: U.outsider.token });
    expect(percent.body.rooms.map((r: { id: string }) => r.id)).toEqual([pct]);
    const everything = await ctx.call("GET", "/api/rooms/public?limit=200", { token: U.outsider.token });
    expect(everything.body.rooms.every((r: { kind: string; visibility: string }) => r.kind === "group" && r.visibility === "public")).toBe(true);
  });
});

describe("read positions", () => {
  test("move forward only, are capped at lastSeq, and announce only real moves", async () => {
    const id = await groupRoom("private");
    for (let i = 0; i < 5; i++) await postMessage(ctx, id, U.owner.id, `m${i}`);
    const read = (seq: number) => ctx.call("POST", `/api/rooms/${id}/read`, { token: U.member.token, body: { seq } });

    expect((await read(3)).body).toEqual({ roomId: id, lastReadSeq: 3, unreadCount: 2 });
    expect(ctx.events.ofType("read")).toEqual([{ to: "room", roomId: id, event: { type: "read", roomId: id, userId: U.member.id, seq: 3, previousSeq: 0 } }]);
    ctx.events.clear();

    const back = await read(1);
    expect(back.status).toBe(200);
    expect(back.body).toEqual({ roomId: id, lastReadSeq: 3, unreadCount: 2 });
    expect((await read(3)).body.lastReadSeq).toBe(3);
    expect(ctx.events.log).toEqual([]);
    expect((await membership(ctx, id, U.member.id))!.lastReadSeq).toBe(3);

    expect((await read(99)).body).toEqual({ roomId: id, lastReadSeq: 5, unreadCount: 0 });
    expect(ctx.events.ofType("read").length).toBe(1);

    // The service the WebSocket `read` frame calls follows the same rule.
    expect(await ctx.services.rooms.markRead(U.member.id, id, 2)).toEqual({ roomId: id, lastReadSeq: 5, unreadCount: 0 });
  });

  test("concurrent reads never leave the position below the highest", async () => {
    const id = await groupRoom("private");
    for (let i = 0; i < 10; i++) await postMessage(ctx, id, U.owner.id);
    const order = [7, 3, 10, 1, 9, 2];
    await Promise.all(order.map((seq) => ctx.services.rooms.markRead(U.admin.id, id, seq)));
    expect((await membership(ctx, id, U.admin.id))!.lastReadSeq).toBe(10);
  });

  test("unread counts follow messages arriving and reads, per member", async () => {
    const id = await groupRoom("private");
    const unread = async (u: TestUser) => (await ctx.call("GET", `/api/rooms/${id}`, { token: u.token })).body.unreadCount;
    expect(await unread(U.member)).toBe(0);
    for (let i = 0; i < 4; i++) await postMessage(ctx, id, U.owner.id);
    expect(await unread(U.member)).toBe(4);
    expect(await unread(U.admin)).toBe(4);
    await ctx.call("POST", `/api/rooms/${id}/read`, { token: U.member.token, body: { seq: 4 } });
    expect(await unread(U.member)).toBe(0);
    expect(await unread(U.admin)).toBe(4);
    await postMessage(ctx, id, U.owner.id);
    expect(await unread(U.member)).toBe(1);
    const listed = (await ctx.call("GET", "/api/rooms?limit=200", { token: U.member.token })).body.rooms.find((r: { id: string }) => r.id === id);
    expect(listed).toMatchObject({ unreadCount: 1, myLastReadSeq: 4, lastSeq: 5 });
    // Someone joining later starts at the newest message, not with the whole history unread.
    await ctx.call("PATCH", `/api/rooms/${id}`, { token: U.owner.token, body: { visibility: "public" } });
    const joined = await ctx.call("POST", `/api/rooms/${id}/join`, { token: U.outsider.token });
    expect(joined.body).toMatchObject({ unreadCount: 0, myLastReadSeq: 5 });
  });
});

describe("with the messages module", () => {
  test("sent messages drive lastMessage, ordering and unread counts; my own messages are not unread", async () => {
    const [a, b] = [await ctx.user(), await ctx.user()];
    const quiet = (await ctx.call("POST", "/api/rooms", { token: a.token, body: { name: "quiet", memberIds: [b.id] } })).body.id;
    const dm = (await ctx.call("POST", "/api/rooms/direct", { token: a.token, body: { userId: b.id } })).body.id;
    const send = (u: TestUser, roomId: string, content: string) =>
      ctx.call("POST", `/api/rooms/${roomId}/messages`, { token: u.token, body: { content } });
    for (const text of ["one", "two", "three"]) expectStatus(await send(a, dm, text), 201, "send");
    const rooms = async (u: TestUser) => (await ctx.call("GET", "/api/rooms", { token: u.token })).body.rooms;

    const ofB = await rooms(b);
    expect(ofB.map((r: { id: string }) => r.id)).toEqual([dm, quiet]);
    expect(ofB[0]).toMatchObject({ lastSeq: 3, unreadCount: 3, myLastReadSeq: 0, lastMessage: { seq: 3, content: "three", senderId: a.id, deletedAt: null } });
    expect((await rooms(a))[0]).toMatchObject({ id: dm, unreadCount: 0, myLastReadSeq: 3 });

    expectStatus(await send(b, quiet, "wake up"), 201, "send");
    expect((await rooms(b)).map((r: { id: string }) => r.id)).toEqual([quiet, dm]);
    expect((await rooms(a))[0]).toMatchObject({ id: quiet, unreadCount: 1 });

    // b replies in the direct room: sending moves b's own read position to the newest message.
    expectStatus(await send(b, dm, "four"), 201, "send");
    expect((await rooms(b)).find((r: { id: string }) => r.id === dm)).toMatchObject({ unreadCount: 0, myLastReadSeq: 4 });

    // A deleted newest message is still the newest, emptied.
    const newest = (await ctx.call("GET", `/api/rooms/${dm}/messages`, { token: a.token })).body.messages.at(-1);
    expectStatus(await ctx.call("DELETE", `/api/messages/${newest.id}`, { token: b.token }), 204, "delete");
    expect((await rooms(a)).find((r: { id: string }) => r.id === dm).lastMessage).toMatchObject({ seq: 4, content: "", deletedAt: expect.any(String) });
  });
});
