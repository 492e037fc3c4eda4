import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { eq, inArray } from "drizzle-orm";
import { errorCode, setup, type TestContext, type TestResponse, type TestUser } from "../helpers";
import { expectStatus, membership, trace, type Users, WHO, type Who } from "./rooms.helpers";

let ctx: TestContext;
let U: Users;
let newcomer: TestUser;

beforeAll(async () => {
  ctx = setup();
  U = { owner: await ctx.user(), admin: await ctx.user(), member: await ctx.user(), outsider: await ctx.user() };
  newcomer = await ctx.user();
});
afterAll(() => ctx.close());
beforeEach(() => ctx.events.clear());

const CODES: Record<number, string> = { 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT", 422: "VALIDATION_FAILED" };

interface TeamFixture {
  teamId: string;
  general: string;
  code: string;
}

/** A team owned by U.owner with U.admin (admin) and U.member (member), and one invite code. */
async function team(): Promise<TeamFixture> {
  const created = await ctx.call("POST", "/api/teams", { token: U.owner.token, body: { name: "Acme" } });
  expectStatus(created, 201, "create team");
  const teamId = created.body.id;
  expectStatus(await ctx.call("POST", `/api/teams/${teamId}/members`, { token: U.owner.token, body: { userId: U.admin.id, role: "admin" } }), 201, "add admin");
  expectStatus(await ctx.call("POST", `/api/teams/${teamId}/members`, { token: U.owner.token, body: { userId: U.member.id } }), 201, "add member");
  const channels = await ctx.call("GET", `/api/teams/${teamId}/channels`, { token: U.owner.token });
  const invite = await ctx.call("POST", `/api/teams/${teamId}/invitations`, { token: U.owner.token, body: {} });
  ctx.events.clear();
  return { teamId, general: channels.body[0].id, code: invite.body.code };
}

/**
 * The invariant of the contract: every public channel holds exactly the team's members,
 * and every private channel holds team members only.
 */
async function expectChannelsInSync(teamId: string) {
  const db = ctx.services.database.db;
  const { roomMembers, rooms, teamMembers } = ctx.services.database.tables;
  const team = new Set((await db.select().from(teamMembers).where(eq(teamMembers.teamId, teamId))).map((m) => m.userId));
  const channels = await db.select().from(rooms).where(eq(rooms.teamId, teamId));
  for (const channel of channels) {
    const members = (await db.select().from(roomMembers).where(eq(roomMembers.roomId, channel.id))).map((m) => m.userId);
    if (channel.visibility === "public") expect([...members].sort()).toEqual([...team].sort());
    else for (const m of members) expect(team.has(m)).toBe(true);
  }
}

type Expect = Record<Who, number>;
const as = (owner: number, admin: number, member: number, outsider: number): Expect => ({ owner, admin, member, outsider });
interface Case {
  route: string;
  call: (f: TeamFixture, u: TestUser) => Promise<TestResponse>;
  expect: Expect;
}
const call = (method: string, path: (f: TeamFixture) => string, body?: unknown | (() => unknown)) => (f: TeamFixture, u: TestUser) =>
  ctx.call(method, path(f), { token: u.token, body: typeof body === "function" ? body() : body });

const TEAM_MATRIX: Case[] = [
  { route: "GET /api/teams/:id", call: call("GET", (f) => `/api/teams/${f.teamId}`), expect: as(200, 200, 200, 404) },
  { route: "PATCH /api/teams/:id", call: call("PATCH", (f) => `/api/teams/${f.teamId}`, { description: "d" }), expect: as(200, 200, 403, 404) },
  { route: "DELETE /api/teams/:id", call: call("DELETE", (f) => `/api/teams/${f.teamId}`), expect: as(204, 403, 403, 404) },
  { route: "GET /api/teams/:id/members", call: call("GET", (f) => `/api/teams/${f.teamId}/members`), expect: as(200, 200, 200, 404) },
  {
    route: "POST /api/teams/:id/members",
    call: call("POST", (f) => `/api/teams/${f.teamId}/members`, () => ({ userId: newcomer.id })),
    expect: as(201, 201, 403, 404),
  },
  {
    route: "POST /api/teams/:id/members (as owner)",
    call: call("POST", (f) => `/api/teams/${f.teamId}/members`, () => ({ userId: newcomer.id, role: "owner" })),
    expect: as(201, 403, 403, 404),
  },
  {
    route: "PATCH /api/teams/:id/members/:member",
    call: (f, u) => ctx.call("PATCH", `/api/teams/${f.teamId}/members/${U.member.id}`, { token: u.token, body: { role: "admin" } }),
    expect: as(200, 200, 403, 404),
  },
  {
    route: "PATCH /api/teams/:id/members/:owner (demote)",
    call: (f, u) => ctx.call("PATCH", `/api/teams/${f.teamId}/members/${U.owner.id}`, { token: u.token, body: { role: "member" } }),
    expect: as(409, 403, 403, 404),
  },
  {
    route: "DELETE /api/teams/:id/members/:member",
    call: (f, u) => ctx.call("DELETE", `/api/teams/${f.teamId}/members/${U.member.id}`, { token: u.token }),
    expect: as(204, 204, 204, 404),
  },
  {
    route: "DELETE /api/teams/:id/members/:admin",
    call: (f, u) => ctx.call("DELETE", `/api/teams/${f.teamId}/members/${U.admin.id}`, { token: u.token }),
    expect: as(204, 204, 403, 404),
  },
  {
    route: "DELETE /api/teams/:id/members/:owner",
    call: (f, u) => ctx.call("DELETE", `/api/teams/${f.teamId}/members/${U.owner.id}`, { token: u.token }),
    expect: as(409, 403, 403, 404),
  },
  { route: "POST /api/teams/:id/leave", call: call("POST", (f) => `/api/teams/${f.teamId}/leave`), expect: as(409, 204, 204, 404) },
  { route: "GET /api/teams/:id/channels", call: call("GET", (f) => `/api/teams/${f.teamId}/channels`), expect: as(200, 200, 200, 404) },
  { route: "POST /api/teams/:id/channels", call: call("POST", (f) => `/api/teams/${f.teamId}/channels`, { name: "random" }), expect: as(201, 201, 403, 404) },
  { route: "POST /api/teams/:id/invitations", call: call("POST", (f) => `/api/teams/${f.teamId}/invitations`, {}), expect: as(201, 201, 403, 404) },
  { route: "GET /api/teams/:id/invitations", call: call("GET", (f) => `/api/teams/${f.teamId}/invitations`), expect: as(200, 200, 403, 404) },
  {
    route: "DELETE /api/teams/:id/invitations/:code",
    call: call("DELETE", (f) => `/api/teams/${f.teamId}/invitations/${f.code}`),
    expect: as(204, 204, 403, 404),
  },
  // Anyone with a good code may join; members accepting again change nothing.
  { route: "POST /api/invitations/:code/accept", call: call("POST", (f) => `/api/invitations/${f.code}/accept`), expect: as(200, 200, 200, 200) },
];

describe("permission matrix: teams", () => {
  for (const c of TEAM_MATRIX)
    for (const who of WHO)
      test(`${c.route} · ${who} → ${c.expect[who]}`, async () => {
        const f = await team();
        const res = await c.call(f, U[who]);
        expectStatus(res, c.expect[who], c.route);
        if (res.status >= 400) {
          expect(errorCode(res)).toBe(CODES[res.status]!);
          expect(ctx.events.log).toEqual([]);
        }
        if (res.status < 300 || res.status === 409) {
          const alive = await ctx.call("GET", `/api/teams/${f.teamId}`, { token: U.owner.token });
          if (alive.status === 200) await expectChannelsInSync(f.teamId);
        }
      });

  test("the collection routes need a token and take any user", async () => {
    expect((await ctx.call("GET", "/api/teams")).status).toBe(401);
    expect((await ctx.call("POST", "/api/teams", { body: { name: "x" } })).status).toBe(401);
    expect((await ctx.call("POST", "/api/invitations/abc/accept")).status).toBe(401);
    const mine = await ctx.call("POST", "/api/teams", { token: newcomer.token, body: { name: "Mine", description: "  about  " } });
    expect(mine.status).toBe(201);
    expect(mine.body).toMatchObject({ name: "Mine", description: "about", createdBy: newcomer.id, memberCount: 1, myRole: "owner" });
    const list = await ctx.call("GET", "/api/teams", { token: newcomer.token });
    expect(list.body.teams.map((t: { id: string }) => t.id)).toContain(mine.body.id);
    expect(list.body.teams.every((t: { myRole: string | null }) => t.myRole !== null)).toBe(true);
  });

  test("bad bodies are 422", async () => {
    const f = await team();
    for (const [method, path, body] of [
      ["POST", "/api/teams", {}],
      ["POST", "/api/teams", { name: "  " }],
      ["PATCH", `/api/teams/${f.teamId}`, { name: "" }],
      ["POST", `/api/teams/${f.teamId}/members`, { userId: newcomer.id, role: "emperor" }],
      ["PATCH", `/api/teams/${f.teamId}/members/${U.member.id}`, {}],
      ["POST", `/api/teams/${f.teamId}/channels`, { name: "x", visibility: "open" }],
      ["POST", `/api/teams/${f.teamId}/channels`, { name: " " }],
    ] as [string, string, unknown][]) {
      const res = await ctx.call(method, path, { token: U.owner.token, body });
      expect(`${path} ${JSON.stringify(body)} ${res.status}`).toBe(`${path} ${JSON.stringify(body)} 422`);
      expect(errorCode(res)).toBe("VALIDATION_FAILED");
    }
  });
});

describe("permission matrix: channels", () => {
  // General is public; "secret" is a private channel of U.owner with U.member in it (U.admin is not).
  async function channels() {
    const f = await team();
    const secret = await ctx.call("POST", `/api/teams/${f.teamId}/channels`, { token: U.owner.token, body: { name: "secret", visibility: "private" } });
    expectStatus(secret, 201, "private channel");
    expectStatus(await ctx.call("POST", `/api/rooms/${secret.body.id}/members`, { token: U.owner.token, body: { userId: U.member.id } }), 201, "add to secret");
    ctx.events.clear();
    return { ...f, secret: secret.body.id as string };
  }
  const r = (method: string, path: (id: string) => string, body?: unknown) => (id: string, u: TestUser) => ctx.call(method, path(id), { token: u.token, body });
  const CHANNEL_MATRIX: { route: string; call: (roomId: string, u: TestUser) => Promise<TestResponse>; public: Expect; private: Expect }[] = [
    { route: "GET /api/rooms/:id", call: r("GET", (id) => `/api/rooms/${id}`), public: as(200, 200, 200, 404), private: as(200, 404, 200, 404) },
    // Team admins run the channels they are in, as admins.
    { route: "PATCH /api/rooms/:id", call: r("PATCH", (id) => `/api/rooms/${id}`, { topic: "t" }), public: as(200, 200, 403, 404), private: as(200, 404, 403, 404) },
    { route: "DELETE /api/rooms/:id", call: r("DELETE", (id) => `/api/rooms/${id}`), public: as(204, 403, 403, 404), private: as(204, 404, 403, 404) },
    { route: "POST /api/rooms/:id/join", call: r("POST", (id) => `/api/rooms/${id}/join`), public: as(200, 200, 200, 404), private: as(200, 404, 200, 404) },
    // Public channels hold the whole team: leave the team instead.
    { route: "POST /api/rooms/:id/leave", call: r("POST", (id) => `/api/rooms/${id}/leave`), public: as(403, 403, 403, 404), private: as(204, 404, 204, 404) },
    { route: "GET /api/rooms/:id/members", call: r("GET", (id) => `/api/rooms/${id}/members`), public: as(200, 200, 200, 404), private: as(200, 404, 200, 404) },
    {
      route: "POST /api/rooms/:id/members (a team member)",
      call: (id, u) => ctx.call("POST", `/api/rooms/${id}/members`, { token: u.token, body: { userId: U.admin.id } }),
      // In general everyone is in already.
      public: as(409, 409, 403, 404),
      private: as(201, 404, 403, 404),
    },
    {
      route: "POST /api/rooms/:id/members (not in the team)",
      call: (id, u) => ctx.call("POST", `/api/rooms/${id}/members`, { token: u.token, body: { userId: newcomer.id } }),
      public: as(403, 403, 403, 404),
      private: as(403, 404, 403, 404),
    },
    {
      route: "PATCH /api/rooms/:id/members/:member (to admin)",
      call: (id, u) => ctx.call("PATCH", `/api/rooms/${id}/members/${U.member.id}`, { token: u.token, body: { role: "admin" } }),
      // The team admin runs general as an admin; a private channel they are not in is hidden from them.
      public: as(200, 200, 403, 404),
      private: as(200, 404, 403, 404),
    },
    {
      route: "PATCH /api/rooms/:id/members/:member (to owner)",
      call: (id, u) => ctx.call("PATCH", `/api/rooms/${id}/members/${U.member.id}`, { token: u.token, body: { role: "owner" } }),
      public: as(200, 403, 403, 404),
      private: as(200, 404, 403, 404),
    },
    {
      route: "PATCH /api/rooms/:id/members/:team-admin",
      call: (id, u) => ctx.call("PATCH", `/api/rooms/${id}/members/${U.admin.id}`, { token: u.token, body: { role: "admin" } }),
      // U.admin is not in the private channel: there is no such member.
      public: as(200, 200, 403, 404),
      private: as(404, 404, 403, 404),
    },
    {
      route: "PATCH /api/rooms/:id/members/:team-owner (demote)",
      call: (id, u) => ctx.call("PATCH", `/api/rooms/${id}/members/${U.owner.id}`, { token: u.token, body: { role: "member" } }),
      // The team owner stays the channel's owner through the team role, so the channel keeps one.
      public: as(200, 403, 403, 404),
      private: as(200, 404, 403, 404),
    },
    {
      route: "DELETE /api/rooms/:id/members/:member",
      call: (id, u) => ctx.call("DELETE", `/api/rooms/${id}/members/${U.member.id}`, { token: u.token }),
      public: as(403, 403, 403, 404),
      private: as(204, 404, 204, 404),
    },
    { route: "POST /api/rooms/:id/read", call: r("POST", (id) => `/api/rooms/${id}/read`, { seq: 0 }), public: as(200, 200, 200, 404), private: as(200, 404, 200, 404) },
  ];
  for (const c of CHANNEL_MATRIX)
    for (const visibility of ["public", "private"] as const)
      for (const who of WHO)
        test(`${c.route} · ${visibility} channel · ${who} → ${c[visibility][who]}`, async () => {
          const f = await channels();
          const res = await c.call(visibility === "public" ? f.general : f.secret, U[who]);
          expectStatus(res, c[visibility][who], c.route);
          if (res.status >= 400) {
            expect(errorCode(res)).toBe(CODES[res.status]!);
            expect(ctx.events.log).toEqual([]);
          }
          await expectChannelsInSync(f.teamId);
        });

  test("in a channel, myRole and member roles are at least the team role", async () => {
    const f = await channels();
    const asAdmin = await ctx.call("GET", `/api/rooms/${f.general}`, { token: U.admin.token });
    expect(asAdmin.body.myRole).toBe("admin");
    const members = await ctx.call("GET", `/api/rooms/${f.general}/members`, { token: U.member.token });
    expect(Object.fromEntries(members.body.map((m: { user: { id: string }; role: string }) => [m.user.id, m.role]))).toEqual({
      [U.owner.id]: "owner",
      [U.admin.id]: "admin",
      [U.member.id]: "member",
    });
    // The channel's stored role counts too: the private channel's creator owns it.
    const channelsOfMember = await ctx.call("GET", `/api/teams/${f.teamId}/channels`, { token: U.member.token });
    expect(channelsOfMember.body.map((c: { name: string; myRole: string }) => [c.name, c.myRole])).toEqual([
      ["general", "member"],
      ["secret", "member"],
    ]);
    const channelsOfAdmin = await ctx.call("GET", `/api/teams/${f.teamId}/channels`, { token: U.admin.token });
    expect(channelsOfAdmin.body.map((c: { name: string }) => c.name)).toEqual(["general"]);
  });
});

describe("team and channel membership stay in sync", () => {
  test("creating a team makes the caller owner, in a public general channel", async () => {
    const res = await ctx.call("POST", "/api/teams", { token: newcomer.token, body: { name: "Fresh" } });
    const channels = await ctx.call("GET", `/api/teams/${res.body.id}/channels`, { token: newcomer.token });
    expect(channels.body).toHaveLength(1);
    expect(channels.body[0]).toMatchObject({ kind: "channel", name: "general", visibility: "public", teamId: res.body.id, memberCount: 1, myRole: "owner" });
    const general = channels.body[0].id;
    expect(trace(ctx.events.log)).toEqual([`joined ${newcomer.id} ${general}`, `user ${newcomer.id} room.created`, `user ${newcomer.id} team.updated`]);
    const mine = await ctx.call("GET", "/api/rooms?limit=200", { token: newcomer.token });
    expect(mine.body.rooms.map((r: { id: string }) => r.id)).toContain(general);
  });

  test("a member added joins every public channel and no private one", async () => {
    const f = await team();
    const extra = await ctx.call("POST", `/api/teams/${f.teamId}/channels`, { token: U.admin.token, body: { name: "random" } });
    // The creator runs the channel through the team role.
    expect(extra.body).toMatchObject({ visibility: "public", memberCount: 3, myRole: "admin" });
    const secret = await ctx.call("POST", `/api/teams/${f.teamId}/channels`, { token: U.admin.token, body: { name: "secret", visibility: "private" } });
    expect(secret.body).toMatchObject({ visibility: "private", memberCount: 1 });
    ctx.events.clear();

    const add = await ctx.call("POST", `/api/teams/${f.teamId}/members`, { token: U.admin.token, body: { userId: newcomer.id } });
    expect(add.status).toBe(201);
    expect(add.body).toMatchObject({ user: { id: newcomer.id }, role: "member" });
    expect(await membership(ctx, f.general, newcomer.id)).toBeDefined();
    expect(await membership(ctx, extra.body.id, newcomer.id)).toBeDefined();
    expect(await membership(ctx, secret.body.id, newcomer.id)).toBeUndefined();
    const t = trace(ctx.events.log);
    for (const room of [f.general, extra.body.id]) {
      // Subscribed before the room hears of them.
      expect(t.indexOf(`joined ${newcomer.id} ${room}`)).toBeLessThan(t.indexOf(`room ${room} member.joined ${newcomer.id}`));
      expect(t.indexOf(`joined ${newcomer.id} ${room}`)).toBeGreaterThanOrEqual(0);
    }
    expect(t.filter((e) => e.endsWith("team.updated")).sort()).toEqual(
      [U.owner.id, U.admin.id, U.member.id, newcomer.id].map((u) => `user ${u} team.updated`).sort(),
    );
    expect(t.some((e) => e.includes(secret.body.id))).toBe(false);
    await expectChannelsInSync(f.teamId);

    const again = await ctx.call("POST", `/api/teams/${f.teamId}/members`, { token: U.admin.token, body: { userId: newcomer.id } });
    expect(again.status).toBe(409);
    const ghost = await ctx.call("POST", `/api/teams/${f.teamId}/members`, { token: U.admin.token, body: { userId: Bun.randomUUIDv7() } });
    expect(ghost.status).toBe(404);
  });

  test("joining by invitation joins every public channel", async () => {
    const f = await team();
    const pub = await ctx.call("POST", `/api/teams/${f.teamId}/channels`, { token: U.owner.token, body: { name: "news" } });
    ctx.events.clear();
    const res = await ctx.call("POST", `/api/invitations/${f.code}/accept`, { token: newcomer.token });
    expect(res.status).toBe(200);
    expect(res.body.team).toMatchObject({ id: f.teamId, memberCount: 4, myRole: "member" });
    const t = trace(ctx.events.log);
    for (const room of [f.general, pub.body.id]) {
      expect(t).toContain(`joined ${newcomer.id} ${room}`);
      expect(t).toContain(`room ${room} member.joined ${newcomer.id}`);
    }
    const channels = await ctx.call("GET", `/api/teams/${f.teamId}/channels`, { token: newcomer.token });
    expect(channels.body.map((c: { myRole: string }) => c.myRole)).toEqual(["member", "member"]);
    await expectChannelsInSync(f.teamId);
  });

  test("leaving the team leaves every channel, public and private", async () => {
    const f = await team();
    const secret = await ctx.call("POST", `/api/teams/${f.teamId}/channels`, { token: U.admin.token, body: { name: "s", visibility: "private" } });
    await ctx.call("POST", `/api/rooms/${secret.body.id}/members`, { token: U.admin.token, body: { userId: U.member.id } });
    ctx.events.clear();

    expect((await ctx.call("POST", `/api/teams/${f.teamId}/leave`, { token: U.member.token })).status).toBe(204);
    const t = trace(ctx.events.log);
    for (const room of [f.general, secret.body.id]) {
      const announced = t.indexOf(`room ${room} member.left ${U.member.id}`);
      expect(announced).toBeGreaterThanOrEqual(0);
      // Announced while still subscribed, then unsubscribed.
      expect(t.indexOf(`left ${U.member.id} ${room}`)).toBeGreaterThan(announced);
    }
    expect(t).toContain(`user ${U.member.id} team.deleted`);
    expect(t.filter((e) => e.endsWith("team.updated")).sort()).toEqual([U.owner.id, U.admin.id].map((u) => `user ${u} team.updated`).sort());
    const { roomMembers } = ctx.services.database.tables;
    const left = await ctx.services.database.db
      .select()
      .from(roomMembers)
      .where(inArray(roomMembers.roomId, [f.general, secret.body.id]));
    expect(left.some((m) => m.userId === U.member.id)).toBe(false);
    expect((await ctx.call("GET", `/api/teams/${f.teamId}`, { token: U.member.token })).status).toBe(404);
    expect((await ctx.call("GET", `/api/rooms/${f.general}`, { token: U.member.token })).status).toBe(404);
    await expectChannelsInSync(f.teamId);
  });

  test("removal from the team removes from every channel; an emptied private channel goes away", async () => {
    const f = await team();
    const solo = await ctx.call("POST", `/api/teams/${f.teamId}/channels`, { token: U.admin.token, body: { name: "solo", visibility: "private" } });
    ctx.events.clear();
    expect((await ctx.call("DELETE", `/api/teams/${f.teamId}/members/${U.admin.id}`, { token: U.owner.token })).status).toBe(204);
    const t = trace(ctx.events.log);
    expect(t).toContain(`room ${f.general} member.left ${U.admin.id}`);
    expect(t).toContain(`left ${U.admin.id} ${f.general}`);
    expect(t).toContain(`room ${solo.body.id} room.deleted`);
    expect(t).toContain(`user ${U.admin.id} team.deleted`);
    expect(await membership(ctx, f.general, U.admin.id)).toBeUndefined();
    const { rooms } = ctx.services.database.tables;
    expect((await ctx.services.database.db.select().from(rooms).where(eq(rooms.id, solo.body.id))).length).toBe(0);
    const members = await ctx.call("GET", `/api/teams/${f.teamId}/members`, { token: U.owner.token });
    expect(members.body.map((m: { user: { id: string } }) => m.user.id)).toEqual([U.owner.id, U.member.id]);
    await expectChannelsInSync(f.teamId);
  });

  test("private channels take team members only; made public, they take in the whole team", async () => {
    const f = await team();
    const secret = await ctx.call("POST", `/api/teams/${f.teamId}/channels`, { token: U.owner.token, body: { name: "s", visibility: "private" } });
    const stranger = await ctx.call("POST", `/api/rooms/${secret.body.id}/members`, { token: U.owner.token, body: { userId: newcomer.id } });
    expect(stranger.status).toBe(403);
    expect(errorCode(stranger)).toBe("FORBIDDEN");
    ctx.events.clear();
    const opened = await ctx.call("PATCH", `/api/rooms/${secret.body.id}`, { token: U.owner.token, body: { visibility: "public" } });
    expect(opened.body).toMatchObject({ visibility: "public", memberCount: 3 });
    const t = trace(ctx.events.log);
    for (const u of [U.admin.id, U.member.id]) expect(t).toContain(`room ${secret.body.id} member.joined ${u}`);
    expect(t.at(-1)).toBe(`room ${secret.body.id} room.updated`);
    await expectChannelsInSync(f.teamId);
  });

  test("deleting a team deletes its channels, tells their members and every team member", async () => {
    const f = await team();
    const secret = await ctx.call("POST", `/api/teams/${f.teamId}/channels`, { token: U.owner.token, body: { name: "s", visibility: "private" } });
    ctx.events.clear();
    expect((await ctx.call("DELETE", `/api/teams/${f.teamId}`, { token: U.owner.token })).status).toBe(204);
    const t = trace(ctx.events.log);
    expect(t).toContain(`room ${f.general} room.deleted`);
    expect(t).toContain(`room ${secret.body.id} room.deleted`);
    for (const u of [U.owner.id, U.admin.id, U.member.id]) {
      expect(t).toContain(`left ${u} ${f.general}`);
      expect(t.indexOf(`left ${u} ${f.general}`)).toBeGreaterThan(t.indexOf(`room ${f.general} room.deleted`));
      expect(t).toContain(`user ${u} team.deleted`);
    }
    expect((await ctx.call("GET", `/api/rooms/${f.general}`, { token: U.owner.token })).status).toBe(404);
    expect((await ctx.call("GET", `/api/teams/${f.teamId}`, { token: U.owner.token })).status).toBe(404);
    expect((await ctx.call("POST", `/api/invitations/${f.code}/accept`, { token: newcomer.token })).status).toBe(404);
  });

  test("an owner hands the team over, then may leave", async () => {
    const f = await team();
    expect((await ctx.call("PATCH", `/api/teams/${f.teamId}/members/${U.admin.id}`, { token: U.admin.token, body: { role: "owner" } })).status).toBe(403);
    const promote = await ctx.call("PATCH", `/api/teams/${f.teamId}/members/${U.admin.id}`, { token: U.owner.token, body: { role: "owner" } });
    expect(promote.body).toMatchObject({ role: "owner" });
    expect(trace(ctx.events.log).filter((e) => e.endsWith("team.updated")).length).toBe(3);
    expect((await ctx.call("POST", `/api/teams/${f.teamId}/leave`, { token: U.owner.token })).status).toBe(204);
    const seen = await ctx.call("GET", `/api/teams/${f.teamId}`, { token: U.admin.token });
    expect(seen.body).toMatchObject({ memberCount: 2, myRole: "owner" });
    // The former owner's channel ownership no longer matters: the new team owner runs general.
    expect((await ctx.call("GET", `/api/rooms/${f.general}`, { token: U.admin.token })).body.myRole).toBe("owner");
    await expectChannelsInSync(f.teamId);
  });

  test("a team role change reaches every channel where it moves the member's role, and only those", async () => {
    const f = await team();
    // U.admin created a private channel, which they run through the team role; U.member is in it.
    const own = await ctx.call("POST", `/api/teams/${f.teamId}/channels`, { token: U.admin.token, body: { name: "own", visibility: "private" } });
    expectStatus(await ctx.call("POST", `/api/rooms/${own.body.id}/members`, { token: U.admin.token, body: { userId: U.member.id } }), 201, "add");
    const updates = () =>
      ctx.events.ofType("member.updated").map((e) => [e.to === "room" ? e.roomId : "", "event" in e ? e.event.userId : "", "event" in e ? e.event.role : ""]);
    const roleIn = async (roomId: string, userId: string) =>
      (await ctx.call("GET", `/api/rooms/${roomId}/members`, { token: U.member.token })).body.find((m: { user: { id: string } }) => m.user.id === userId).role;
    ctx.events.clear();

    expectStatus(await ctx.call("PATCH", `/api/teams/${f.teamId}/members/${U.member.id}`, { token: U.owner.token, body: { role: "admin" } }), 200, "promote");
    expect(updates().sort()).toEqual(
      [
        [f.general, U.member.id, "admin"],
        [own.body.id, U.member.id, "admin"],
      ].sort(),
    );
    expect(await roleIn(f.general, U.member.id)).toBe("admin");
    ctx.events.clear();

    expectStatus(await ctx.call("PATCH", `/api/teams/${f.teamId}/members/${U.admin.id}`, { token: U.owner.token, body: { role: "member" } }), 200, "demote");
    // The channel they created follows the team role too.
    expect(updates().sort()).toEqual(
      [
        [f.general, U.admin.id, "member"],
        [own.body.id, U.admin.id, "member"],
      ].sort(),
    );
    expect(await roleIn(f.general, U.admin.id)).toBe("member");
    expect(await roleIn(own.body.id, U.admin.id)).toBe("member");
    ctx.events.clear();

    // The same role again changes nothing and tells nobody.
    expectStatus(await ctx.call("PATCH", `/api/teams/${f.teamId}/members/${U.admin.id}`, { token: U.owner.token, body: { role: "member" } }), 200, "again");
    expect(ctx.events.log).toEqual([]);
  });

  test("team.updated carries each member's own role", async () => {
    const f = await team();
    await ctx.call("PATCH", `/api/teams/${f.teamId}`, { token: U.admin.token, body: { name: "Acme 2" } });
    const byUser = Object.fromEntries(
      ctx.events.ofType("team.updated").map((e) => [e.to === "user" ? e.userId : "", "event" in e ? (e.event.team as { myRole: string; name: string }) : null]),
    );
    expect(byUser[U.owner.id]).toMatchObject({ name: "Acme 2", myRole: "owner" });
    expect(byUser[U.admin.id]).toMatchObject({ myRole: "admin" });
    expect(byUser[U.member.id]).toMatchObject({ myRole: "member" });
  });
});
