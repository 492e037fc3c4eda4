import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { errorCode, manualClock, setup, type TestContext, type TestUser } from "../helpers";
import { expectStatus, membership, trace } from "./rooms.helpers";

const clock = manualClock(Date.UTC(2026, 0, 1));
let ctx: TestContext;
let owner: TestUser, admin: TestUser, member: TestUser, other: TestUser;

beforeAll(async () => {
  ctx = setup({}, { now: clock.now });
  owner = await ctx.user();
  admin = await ctx.user();
  member = await ctx.user();
  other = await ctx.user();
});
afterAll(() => ctx.close());
beforeEach(() => ctx.events.clear());

/** A group room owned by `owner`, with `admin` as admin and `member` as member. */
async function groupRoom(visibility: "public" | "private" = "public"): Promise<string> {
  const res = await ctx.call("POST", "/api/rooms", { token: owner.token, body: { name: "moderated", visibility, memberIds: [admin.id, member.id] } });
  expectStatus(res, 201, "create room");
  expectStatus(await ctx.call("PATCH", `/api/rooms/${res.body.id}/members/${admin.id}`, { token: owner.token, body: { role: "admin" } }), 200, "promote");
  ctx.events.clear();
  return res.body.id;
}

const ban = (roomId: string, by: TestUser, body: Record<string, unknown>) => ctx.call("POST", `/api/rooms/${roomId}/bans`, { token: by.token, body });

async function auditActions(targetId: string): Promise<string[]> {
  const { auditLog } = ctx.services.database.tables;
  const rows = await ctx.services.database.db.select().from(auditLog).where(eq(auditLog.targetId, targetId));
  return rows.map((r) => `${r.action} by ${r.actorId}`).sort();
}

describe("bans", () => {
  test("a banned member is removed, hears member.left, and can't join or be added until unbanned", async () => {
    const roomId = await groupRoom();
    const res = await ban(roomId, admin, { userId: member.id, reason: " spam " });
    expectStatus(res, 201, "ban");
    expect(res.body).toEqual({ userId: member.id, reason: "spam", bannedBy: admin.id, createdAt: new Date(clock.now()).toISOString(), expiresAt: null });
    expect(await membership(ctx, roomId, member.id)).toBeUndefined();
    expect(trace(ctx.events.log)).toEqual([`room ${roomId} member.left ${member.id}`, `left ${member.id} ${roomId}`]);

    const join = await ctx.call("POST", `/api/rooms/${roomId}/join`, { token: member.token });
    expect(join.status).toBe(403);
    expect(errorCode(join)).toBe("FORBIDDEN");
    const add = await ctx.call("POST", `/api/rooms/${roomId}/members`, { token: owner.token, body: { userId: member.id } });
    expect(add.status).toBe(403);
    expect(errorCode(add)).toBe("FORBIDDEN");

    const list = await ctx.call("GET", `/api/rooms/${roomId}/bans`, { token: owner.token });
    expect(list.status).toBe(200);
    expect(list.body.map((b: { userId: string }) => b.userId)).toEqual([member.id]);

    expect((await ctx.call("DELETE", `/api/rooms/${roomId}/bans/${member.id}`, { token: owner.token })).status).toBe(204);
    expect((await ctx.call("DELETE", `/api/rooms/${roomId}/bans/${member.id}`, { token: owner.token })).status).toBe(404);
    expect((await ctx.call("POST", `/api/rooms/${roomId}/join`, { token: member.token })).status).toBe(200);
    expect(await auditActions(member.id)).toEqual([`room.ban by ${admin.id}`, `room.unban by ${owner.id}`]);
  });

  test("a ban with an expiry lapses when its time passes", async () => {
    const roomId = await groupRoom();
    const res = await ban(roomId, owner, { userId: other.id, expiresInSeconds: 60 });
    expectStatus(res, 201, "ban");
    expect(res.body.expiresAt).toBe(new Date(clock.now() + 60_000).toISOString());
    expect((await ctx.call("POST", `/api/rooms/${roomId}/join`, { token: other.token })).status).toBe(403);
    clock.advance(60_001);
    expect((await ctx.call("GET", `/api/rooms/${roomId}/bans`, { token: owner.token })).body).toEqual([]);
    expect((await ctx.call("POST", `/api/rooms/${roomId}/join`, { token: other.token })).status).toBe(200);
  });

  test("who may ban whom", async () => {
    const roomId = await groupRoom();
    const code = async (by: TestUser, target: TestUser) => {
      const res = await ban(roomId, by, { userId: target.id });
      return res.status;
    };
    expect(await code(member, other)).toBe(403);
    expect(await code(admin, owner)).toBe(403);
    expect(await code(owner, admin)).toBe(403);
    expect(await code(other, member)).toBe(403); // an outsider of a public room
    expect((await ban(roomId, owner, { userId: "no-such-user" })).status).toBe(404);
    expect((await ban(roomId, owner, { userId: member.id, expiresInSeconds: 0 })).status).toBe(422);
    expect((await ctx.call("GET", `/api/rooms/${roomId}/bans`, { token: member.token })).status).toBe(403);
    expect((await ctx.call("DELETE", `/api/rooms/${roomId}/bans/${member.id}`, { token: member.token })).status).toBe(403);
    expect(await membership(ctx, roomId, member.id)).toBeDefined();
  });

  test("direct chats have no bans", async () => {
    const direct = await ctx.call("POST", "/api/rooms/direct", { token: owner.token, body: { userId: other.id } });
    expect((await ban(direct.body.id, owner, { userId: other.id })).status).toBe(403);
  });

  test("a user banned from a public channel can't accept a team invitation; a channel made public skips them", async () => {
    const team = await ctx.call("POST", "/api/teams", { token: owner.token, body: { name: "team-bans" } });
    expectStatus(team, 201, "team");
    const channel = await ctx.call("POST", `/api/teams/${team.body.id}/channels`, { token: owner.token, body: { name: "private-one", visibility: "private" } });
    expectStatus(channel, 201, "channel");
    expectStatus(await ban(channel.body.id, owner, { userId: other.id }), 201, "ban from channel");
    expectStatus(await ctx.call("PATCH", `/api/rooms/${channel.body.id}`, { token: owner.token, body: { visibility: "public" } }), 200, "make public");

    const invitation = await ctx.call("POST", `/api/teams/${team.body.id}/invitations`, { token: owner.token, body: {} });
    expectStatus(invitation, 201, "invite");
    const accept = await ctx.call("POST", `/api/invitations/${encodeURIComponent(invitation.body.code)}/accept`, { token: other.token });
    expect(accept.status).toBe(403);
    expect(errorCode(accept)).toBe("FORBIDDEN");
    const { teamMembers } = ctx.services.database.tables;
    const rows = await ctx.services.database.db
      .select()
      .from(teamMembers)
      .where(and(eq(teamMembers.teamId, team.body.id), eq(teamMembers.userId, other.id)));
    expect(rows).toEqual([]);
  });
});

describe("mutes", () => {
  const mute = (roomId: string, by: TestUser, target: TestUser, mutedUntil: string | null) =>
    ctx.call("PATCH", `/api/rooms/${roomId}/members/${target.id}`, { token: by.token, body: { mutedUntil } });
  const send = (roomId: string, u: TestUser) => ctx.call("POST", `/api/rooms/${roomId}/messages`, { token: u.token, body: { content: "hello" } });

  test("a muted member's sends are refused until the time passes; members hear member.updated; lists show it", async () => {
    const roomId = await groupRoom();
    const until = new Date(clock.now() + 30_000).toISOString();
    const res = await mute(roomId, admin, member, until);
    expectStatus(res, 200, "mute");
    expect(res.body.mutedUntil).toBe(until);
    expect(ctx.events.log).toContainEqual({ to: "room", roomId, event: { type: "member.updated", roomId, userId: member.id, role: "member", mutedUntil: until } });
    const members = await ctx.call("GET", `/api/rooms/${roomId}/members`, { token: member.token });
    expect(members.body.find((m: { user: { id: string } }) => m.user.id === member.id).mutedUntil).toBe(until);
    expect(members.body.find((m: { user: { id: string } }) => m.user.id === admin.id).mutedUntil).toBeNull();

    const refused = await send(roomId, member);
    expect(refused.status).toBe(403);
    expect(errorCode(refused)).toBe("FORBIDDEN");
    expect((await send(roomId, admin)).status).toBe(201);
    clock.advance(30_000);
    expect((await send(roomId, member)).status).toBe(201);

    expectStatus(await mute(roomId, owner, member, new Date(clock.now() + 60_000).toISOString()), 200, "mute again");
    expect((await send(roomId, member)).status).toBe(403);
    const unmuted = await mute(roomId, owner, member, null);
    expect(unmuted.body.mutedUntil).toBeNull();
    expect((await send(roomId, member)).status).toBe(201);
    expect(await auditActions(member.id)).toEqual(
      [`room.ban by ${admin.id}`, `room.unban by ${owner.id}`, `room.mute by ${admin.id}`, `room.mute by ${owner.id}`, `room.unmute by ${owner.id}`].sort(),
    );
  });

  test("a promotion to admin lifts a mute", async () => {
    const roomId = await groupRoom();
    expectStatus(await mute(roomId, owner, member, new Date(clock.now() + 60_000).toISOString()), 200, "mute");
    expect((await send(roomId, member)).status).toBe(403);
    const promoted = await ctx.call("PATCH", `/api/rooms/${roomId}/members/${member.id}`, { token: owner.token, body: { role: "admin" } });
    expectStatus(promoted, 200, "promote");
    expect(promoted.body.mutedUntil).toBeNull();
    expect((await send(roomId, member)).status).toBe(201);
  });

  test("who may mute whom", async () => {
    const roomId = await groupRoom();
    const later = new Date(clock.now() + 60_000).toISOString();
    expect((await mute(roomId, member, admin, later)).status).toBe(403);
    expect((await mute(roomId, admin, owner, later)).status).toBe(403);
    expect((await mute(roomId, owner, admin, later)).status).toBe(403);
    expect((await mute(roomId, owner, other, later)).status).toBe(404);
    expect((await mute(roomId, owner, member, "not a time")).status).toBe(422);
    const direct = await ctx.call("POST", "/api/rooms/direct", { token: owner.token, body: { userId: member.id } });
    expect((await mute(direct.body.id, owner, member, later)).status).toBe(403);
    expect((await send(roomId, admin)).status).toBe(201);
  });
});
