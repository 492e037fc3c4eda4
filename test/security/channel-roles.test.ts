/**
 * Channel roles that outlive their source: a channel role a team role gave follows that role,
 * and nobody removes, demotes or locks out a member who ranks above them in the team, whatever
 * the channel roles say.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { errorCode, setup, type TestContext, type TestResponse, type TestUser } from "../helpers";
import { expectStatus, membership } from "../modules/rooms.helpers";

let ctx: TestContext;
let owner: TestUser;
let admin: TestUser;
let member: TestUser;
let teamId: string;

beforeEach(async () => {
  ctx = setup();
  [owner, admin, member] = [await ctx.user(), await ctx.user(), await ctx.user()];
  const team = await ctx.call("POST", "/api/teams", { token: owner.token, body: { name: "Acme" } });
  teamId = team.body.id;
  expectStatus(await ctx.call("POST", `/api/teams/${teamId}/members`, { token: owner.token, body: { userId: admin.id, role: "admin" } }), 201);
  expectStatus(await ctx.call("POST", `/api/teams/${teamId}/members`, { token: owner.token, body: { userId: member.id } }), 201);
});
afterEach(() => ctx.close());

const call = (method: string, path: string, user: TestUser, body?: unknown) => ctx.call(method, path, { token: user.token, body });
const demote = async (user: TestUser) =>
  expectStatus(await call("PATCH", `/api/teams/${teamId}/members/${user.id}`, owner, { role: "member" }), 200, "demote");
const myRole = async (roomId: string, user: TestUser) => (await call("GET", `/api/rooms/${roomId}`, user)).body.myRole;

function expectForbidden(res: TestResponse, label: string) {
  expectStatus(res, 403, label);
  expect(errorCode(res)).toBe("FORBIDDEN");
}

/** A channel created by `creator`, with `others` added when it is private. */
async function channel(creator: TestUser, visibility: "public" | "private", others: TestUser[] = []): Promise<string> {
  const created = await call("POST", `/api/teams/${teamId}/channels`, creator, { name: "ops", visibility });
  expectStatus(created, 201, "create channel");
  for (const u of others) expectStatus(await call("POST", `/api/rooms/${created.body.id}/members`, creator, { userId: u.id }), 201, "add");
  return created.body.id;
}

describe("a channel role given by a team role follows it", () => {
  test("the attack: a team admin who created a channel, once demoted, can't make it private and remove the team owner", async () => {
    const ops = await channel(admin, "public");
    expect(await myRole(ops, admin)).toBe("admin");
    await demote(admin);
    expect(await myRole(ops, admin)).toBe("member");
    expectForbidden(await call("PATCH", `/api/rooms/${ops}`, admin, { visibility: "private" }), "make private");
    expectForbidden(await call("DELETE", `/api/rooms/${ops}/members/${owner.id}`, admin), "remove the owner");
    expectForbidden(await call("DELETE", `/api/rooms/${ops}`, admin), "delete");
    expect(await myRole(ops, owner)).toBe("owner");
    expect((await call("GET", `/api/rooms/${ops}`, owner)).body.visibility).toBe("public");
  });

  test("a private channel's creator, once demoted, is a plain member of it; the team owner stays in it", async () => {
    const ops = await channel(admin, "private", [owner, member]);
    await demote(admin);
    expect(await myRole(ops, admin)).toBe("member");
    expectForbidden(await call("DELETE", `/api/rooms/${ops}/members/${owner.id}`, admin), "remove the owner");
    expectForbidden(await call("DELETE", `/api/rooms/${ops}/members/${member.id}`, admin), "remove a member");
    expectForbidden(await call("PATCH", `/api/rooms/${ops}/members/${admin.id}`, admin, { role: "owner" }), "promote themself");
    expect(await membership(ctx, ops, owner.id)).toBeDefined();
    // The team owner still runs it.
    expectStatus(await call("DELETE", `/api/rooms/${ops}/members/${member.id}`, owner), 204, "owner removes");
  });

  test("promoted in the team, a creator runs their channel with the new role", async () => {
    const ops = await channel(admin, "private", [member]);
    expectStatus(await call("PATCH", `/api/teams/${teamId}/members/${admin.id}`, owner, { role: "owner" }), 200, "promote");
    expect(await myRole(ops, admin)).toBe("owner");
    expectStatus(await call("DELETE", `/api/rooms/${ops}`, admin), 204, "delete");
  });
});

describe("nobody removes, demotes or locks out a member who ranks above them in the team", () => {
  test("a channel owner who is a plain team member can't remove or demote the team owner or a team admin", async () => {
    const ops = await channel(owner, "private", [admin, member]);
    expectStatus(await call("PATCH", `/api/rooms/${ops}/members/${member.id}`, owner, { role: "owner" }), 200, "make channel owner");
    expect(await myRole(ops, member)).toBe("owner");
    for (const target of [owner, admin]) {
      expectForbidden(await call("DELETE", `/api/rooms/${ops}/members/${target.id}`, member), "remove");
      expectForbidden(await call("PATCH", `/api/rooms/${ops}/members/${target.id}`, member, { role: "member" }), "demote");
      expect(await membership(ctx, ops, target.id)).toMatchObject({ userId: target.id });
    }
    // Nor delete the channel with them in it.
    expectForbidden(await call("DELETE", `/api/rooms/${ops}`, member), "delete");
    // A member of the same team rank is the channel's business.
    const other = await ctx.user();
    expectStatus(await call("POST", `/api/teams/${teamId}/members`, owner, { userId: other.id }), 201);
    expectStatus(await call("POST", `/api/rooms/${ops}/members`, member, { userId: other.id }), 201, "add");
    expectStatus(await call("DELETE", `/api/rooms/${ops}/members/${other.id}`, member), 204, "remove a peer");
  });

  test("a team admin who is a channel owner can't remove the team owner; the team owner can remove them", async () => {
    const ops = await channel(owner, "private", [admin]);
    expectStatus(await call("PATCH", `/api/rooms/${ops}/members/${admin.id}`, owner, { role: "owner" }), 200, "make channel owner");
    expectForbidden(await call("DELETE", `/api/rooms/${ops}/members/${owner.id}`, admin), "remove the owner");
    expectForbidden(await call("PATCH", `/api/rooms/${ops}/members/${owner.id}`, admin, { role: "admin" }), "demote the owner");
    expectForbidden(await call("DELETE", `/api/rooms/${ops}`, admin), "delete");
    expectStatus(await call("DELETE", `/api/rooms/${ops}/members/${admin.id}`, owner), 204, "owner removes the admin");
  });

  test("a channel owner stored before creators followed their team role is held back the same way", async () => {
    // Channels created earlier stored their creator as owner: write such a row by hand.
    const ops = await channel(admin, "private", [owner]);
    const { roomMembers } = ctx.services.database.tables;
    await ctx.services.database.db
      .update(roomMembers)
      .set({ role: "owner" })
      .where(and(eq(roomMembers.roomId, ops), eq(roomMembers.userId, admin.id)));
    await demote(admin);
    expect(await myRole(ops, admin)).toBe("owner");
    expectForbidden(await call("DELETE", `/api/rooms/${ops}/members/${owner.id}`, admin), "remove the owner");
    expectForbidden(await call("PATCH", `/api/rooms/${ops}/members/${owner.id}`, admin, { role: "member" }), "demote the owner");
    expectForbidden(await call("DELETE", `/api/rooms/${ops}`, admin), "delete");
    expect(await myRole(ops, owner)).toBe("owner");
  });
});
