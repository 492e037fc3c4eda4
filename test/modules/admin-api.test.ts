/** The admin API: who may call it, the last-admin rule, the audit log, every room without its messages, deletions. */
import { afterEach, describe, expect, test } from "bun:test";
import { Forbidden } from "../../src/errors";
import { type LiveServer, startServer } from "../realtime/helpers";
import { errorCode, setup, type TestContext, type TestUser } from "../helpers";

let ctx: TestContext | null = null;
let server: LiveServer | null = null;
afterEach(async () => {
  await ctx?.close();
  await server?.close();
  ctx = server = null;
});

const ID = "0190a000-0000-7000-8000-000000000000";
const ROUTES: [string, string, unknown?][] = [
  ["GET", "/api/admin/stats"],
  ["GET", "/api/admin/users"],
  ["PATCH", `/api/admin/users/${ID}`, { role: "admin" }],
  ["POST", `/api/admin/users/${ID}/password`, { password: "another-good-password" }],
  ["GET", "/api/admin/rooms"],
  ["DELETE", `/api/admin/rooms/${ID}`],
  ["DELETE", `/api/admin/teams/${ID}`],
  ["GET", "/api/admin/reports"],
  ["PATCH", `/api/admin/reports/${ID}`, { status: "resolved" }],
  ["GET", "/api/admin/audit"],
];

async function withAdmin(c: TestContext): Promise<{ admin: TestUser; user: TestUser }> {
  const admin = await c.user();
  const user = await c.user();
  await c.services.admin.setRole(admin.username, "admin");
  return { admin, user };
}

describe("who may call it", () => {
  for (const [method, path, body] of ROUTES)
    test(`${method} ${path}: 401 without a token, 403 for a user`, async () => {
      ctx = setup();
      const { user } = await withAdmin(ctx);
      const anonymous = await ctx.call(method, path, { body });
      expect(anonymous.status).toBe(401);
      const refused = await ctx.call(method, path, { body, token: user.token });
      expect(refused.status).toBe(403);
      expect(errorCode(refused)).toBe("FORBIDDEN");
    });

  test("inside its transaction, a change is refused to an actor who is no longer an admin", async () => {
    ctx = setup();
    const { admin, user } = await withAdmin(ctx);
    await expect(ctx.services.admin.setRole(user.username, "admin", user.id)).rejects.toBeInstanceOf(Forbidden);
    await expect(ctx.services.rooms.remove(user.id, ID, { asServerAdmin: true })).rejects.toBeInstanceOf(Forbidden);
    expect((await ctx.services.admin.setRole(user.username, "admin", admin.id)).role).toBe("admin");
  });

  test("a deactivated admin's old token is refused too", async () => {
    ctx = setup();
    const { admin, user } = await withAdmin(ctx);
    await ctx.services.admin.setRole(user.username, "admin");
    await ctx.services.admin.setDeactivated(admin.username, true);
    expect((await ctx.call("GET", "/api/admin/stats", { token: admin.token })).status).toBe(401);
  });
});

describe("users", () => {
  test("stats, search, filter by status and pages", async () => {
    ctx = setup();
    const { admin, user } = await withAdmin(ctx);
    const third = await ctx.user();
    await ctx.call("PATCH", `/api/admin/users/${third.id}`, { token: admin.token, body: { deactivated: true } });
    const stats = await ctx.call("GET", "/api/admin/stats", { token: admin.token });
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ users: 3, deactivatedUsers: 1, rooms: 0, messages: 0, files: 0, fileBytes: 0 });
    const active = await ctx.call("GET", "/api/admin/users?status=active", { token: admin.token });
    expect(active.body.users.map((u: any) => u.id).sort()).toEqual([admin.id, user.id].sort());
    const off = await ctx.call("GET", "/api/admin/users?status=deactivated", { token: admin.token });
    expect(off.body.users).toHaveLength(1);
    expect(off.body.users[0]).toMatchObject({ id: third.id, role: "user" });
    expect(off.body.users[0].deactivatedAt).toBeString();
    const found = await ctx.call("GET", `/api/admin/users?q=${user.username.slice(1, -1).toUpperCase()}`, { token: admin.token });
    expect(found.body.users.map((u: any) => u.id)).toContain(user.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await ctx.call("GET", `/api/admin/users?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { token: admin.token });
      expect(page.body.users.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.users.map((u: any) => u.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen.sort()).toEqual([admin.id, user.id, third.id].sort());
    expect((await ctx.call("GET", "/api/admin/users?cursor=nonsense", { token: admin.token })).status).toBe(400);
  });

  test("the last active admin can be neither demoted nor deactivated over the API", async () => {
    ctx = setup();
    const { admin, user } = await withAdmin(ctx);
    for (const body of [{ role: "user" }, { deactivated: true }]) {
      const res = await ctx.call("PATCH", `/api/admin/users/${admin.id}`, { token: admin.token, body });
      expect(res.status).toBe(409);
    }
    const promoted = await ctx.call("PATCH", `/api/admin/users/${user.id}`, { token: admin.token, body: { role: "admin" } });
    expect(promoted.status).toBe(200);
    expect(promoted.body).toMatchObject({ id: user.id, role: "admin", deactivatedAt: null });
    const demoted = await ctx.call("PATCH", `/api/admin/users/${admin.id}`, { token: user.token, body: { role: "user" } });
    expect(demoted.body.role).toBe("user");
    expect((await ctx.call("GET", "/api/admin/stats", { token: admin.token })).status).toBe(403);
    expect((await ctx.call("PATCH", `/api/admin/users/${ID}`, { token: user.token, body: { role: "user" } })).status).toBe(404);
  });

  test("role and deactivation in one request; a deactivated admin is no active admin", async () => {
    ctx = setup();
    const { admin, user } = await withAdmin(ctx);
    const both = await ctx.call("PATCH", `/api/admin/users/${user.id}`, { token: admin.token, body: { role: "admin", deactivated: true } });
    expect(both.status).toBe(200);
    expect(both.body.role).toBe("admin");
    expect(both.body.deactivatedAt).toBeString();
    expect((await ctx.call("GET", "/api/auth/me", { token: user.token })).status).toBe(401);
    expect((await ctx.call("PATCH", `/api/admin/users/${admin.id}`, { token: admin.token, body: { deactivated: true } })).status).toBe(409);
    const audit = await ctx.call("GET", "/api/admin/audit?limit=2", { token: admin.token });
    expect(audit.body.entries.map((e: any) => e.action)).toEqual(["user.deactivate", "user.role"]);
    const back = await ctx.call("PATCH", `/api/admin/users/${user.id}`, { token: admin.token, body: { deactivated: false } });
    expect(back.body.deactivatedAt).toBeNull();
  });

  test("a password reset ends the user's sessions; the new password logs in", async () => {
    ctx = setup();
    const { admin, user } = await withAdmin(ctx);
    const short = await ctx.call("POST", `/api/admin/users/${user.id}/password`, { token: admin.token, body: { password: "short" } });
    expect(short.status).toBe(422);
    const res = await ctx.call("POST", `/api/admin/users/${user.id}/password`, { token: admin.token, body: { password: "a-new-good-password" } });
    expect(res.status).toBe(204);
    expect((await ctx.call("GET", "/api/auth/me", { token: user.token })).status).toBe(401);
    const login = await ctx.call("POST", "/api/auth/login", { body: { username: user.username, password: "a-new-good-password" } });
    expect(login.status).toBe(200);
  });
});

describe("stats", () => {
  test("counts this process's sockets and their users, and the database's rows", async () => {
    server = await startServer();
    const admin = await server.user();
    const user = await server.user();
    await server.services.admin.setRole(admin.username, "admin");
    const sockets = [await server.connect(user), await server.connect(user), await server.connect(admin)];
    const room = await server.call("POST", "/api/rooms", { token: user.token, body: { name: "Counted", visibility: "public" } });
    await server.call("POST", `/api/rooms/${room.body.id}/messages`, { token: user.token, body: { content: "one" } });
    const stats = await server.call("GET", "/api/admin/stats", { token: admin.token });
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ users: 2, deactivatedUsers: 0, rooms: 1, messages: 1, onlineUsers: 2, connections: 3 });
    expect(stats.body.version).toBeString();
    expect(stats.body.uptimeSeconds).toBeGreaterThanOrEqual(0);
    for (const socket of sockets) socket.close();
  });
});

describe("audit log", () => {
  test("reads are written too, once answered: the route, the query and the admin", async () => {
    ctx = setup();
    const { admin, user } = await withAdmin(ctx);
    expect((await ctx.call("GET", "/api/admin/users?status=active&limit=5", { token: admin.token })).status).toBe(200);
    // A refused read writes nothing.
    expect((await ctx.call("GET", "/api/admin/stats", { token: user.token })).status).toBe(403);
    const audit = await ctx.call("GET", "/api/admin/audit?limit=5", { token: admin.token });
    const reads = audit.body.entries.filter((e: any) => e.action === "admin.read");
    expect(reads.map((e: any) => [e.targetType, e.targetId, e.actor.id, e.details])).toEqual([
      ["route", "/api/admin/users", admin.id, { status: "active", limit: 5 }],
    ]);
    const again = await ctx.call("GET", "/api/admin/audit?limit=1", { token: admin.token });
    expect([again.body.entries[0].action, again.body.entries[0].targetId]).toEqual(["admin.read", "/api/admin/audit"]);
  });

  test("each action with its actor and target, newest first, in pages; the command line's without an actor", async () => {
    ctx = setup();
    const { admin, user } = await withAdmin(ctx);
    await ctx.call("PATCH", `/api/admin/users/${user.id}`, { token: admin.token, body: { role: "admin" } });
    await ctx.call("PATCH", `/api/admin/users/${user.id}`, { token: admin.token, body: { role: "user" } });
    await ctx.call("PATCH", `/api/admin/users/${user.id}`, { token: admin.token, body: { deactivated: true } });
    // Refused: nothing is written.
    await ctx.call("PATCH", `/api/admin/users/${admin.id}`, { token: admin.token, body: { role: "user" } });
    const entries: any[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await ctx.call("GET", `/api/admin/audit?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { token: admin.token });
      expect(page.status).toBe(200);
      expect(page.body.entries.length).toBeLessThanOrEqual(2);
      entries.push(...page.body.entries);
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(entries.map((e) => [e.action, e.targetId, e.details])).toEqual([
      ["user.deactivate", user.id, null],
      ["user.role", user.id, { role: "user" }],
      ["user.role", user.id, { role: "admin" }],
      ["user.role", admin.id, { role: "admin" }],
    ]);
    expect(entries.slice(0, 3).every((e) => e.actor?.id === admin.id && e.targetType === "user")).toBe(true);
    // withAdmin promoted through the service with no actor, as the command line does.
    expect(entries[3].actor).toBeNull();
  });
});

describe("rooms and teams", () => {
  test("every room, private and direct included, without messages", async () => {
    ctx = setup();
    const { admin, user } = await withAdmin(ctx);
    const other = await ctx.user();
    const secret = await ctx.call("POST", "/api/rooms", { token: user.token, body: { name: "Secret plans", visibility: "private" } });
    const direct = await ctx.call("POST", "/api/rooms/direct", { token: user.token, body: { userId: other.id } });
    await ctx.call("POST", `/api/rooms/${secret.body.id}/messages`, { token: user.token, body: { content: "the hidden words" } });
    const res = await ctx.call("GET", "/api/admin/rooms", { token: admin.token });
    expect(res.status).toBe(200);
    const ids = res.body.rooms.map((r: any) => r.id);
    expect(ids).toContain(secret.body.id);
    expect(ids).toContain(direct.body.id);
    expect(JSON.stringify(res.body)).not.toContain("hidden words");
    const room = res.body.rooms.find((r: any) => r.id === secret.body.id);
    expect(room).toMatchObject({ kind: "group", visibility: "private", memberCount: 1, lastSeq: 1, createdBy: user.id });
    const directs = await ctx.call("GET", "/api/admin/rooms?kind=direct", { token: admin.token });
    expect(directs.body.rooms.map((r: any) => r.id)).toEqual([direct.body.id]);
    const named = await ctx.call("GET", "/api/admin/rooms?q=PLANS", { token: admin.token });
    expect(named.body.rooms.map((r: any) => r.id)).toEqual([secret.body.id]);
    const first = await ctx.call("GET", "/api/admin/rooms?limit=1", { token: admin.token });
    const second = await ctx.call("GET", `/api/admin/rooms?limit=1&cursor=${first.body.nextCursor}`, { token: admin.token });
    expect([...first.body.rooms, ...second.body.rooms].map((r: any) => r.id).sort()).toEqual(ids.sort());
    expect(second.body.nextCursor).toBeNull();
    // The admin is no member: the messages stay closed.
    expect((await ctx.call("GET", `/api/rooms/${secret.body.id}/messages`, { token: admin.token })).status).toBe(404);
  });

  test("an admin deletes any room and any team, with the owner's events, audited", async () => {
    ctx = setup();
    const { admin, user } = await withAdmin(ctx);
    const room = await ctx.call("POST", "/api/rooms", { token: user.token, body: { name: "Doomed", visibility: "private" } });
    const team = await ctx.call("POST", "/api/teams", { token: user.token, body: { name: "Doomed team" } });
    const channels = await ctx.call("GET", "/api/admin/rooms?kind=channel", { token: admin.token });
    const channelIds = channels.body.rooms.filter((r: any) => r.teamId === team.body.id).map((r: any) => r.id);
    ctx.events.clear();
    expect((await ctx.call("DELETE", `/api/admin/rooms/${room.body.id}`, { token: admin.token })).status).toBe(204);
    expect(ctx.events.ofType("room.deleted").map((e: any) => e.roomId)).toEqual([room.body.id]);
    expect((await ctx.call("GET", `/api/rooms/${room.body.id}`, { token: user.token })).status).toBe(404);
    expect((await ctx.call("DELETE", `/api/admin/rooms/${room.body.id}`, { token: admin.token })).status).toBe(404);
    // Owners cannot delete a direct chat; a server admin can.
    const other = await ctx.user();
    const direct = await ctx.call("POST", "/api/rooms/direct", { token: user.token, body: { userId: other.id } });
    expect((await ctx.call("DELETE", `/api/admin/rooms/${direct.body.id}`, { token: admin.token })).status).toBe(204);
    expect((await ctx.call("GET", `/api/rooms/${direct.body.id}`, { token: other.token })).status).toBe(404);
    ctx.events.clear();
    expect((await ctx.call("DELETE", `/api/admin/teams/${team.body.id}`, { token: admin.token })).status).toBe(204);
    expect(ctx.events.ofType("team.deleted").map((e: any) => e.userId)).toEqual([user.id]);
    expect(ctx.events.ofType("room.deleted").map((e: any) => e.roomId).sort()).toEqual(channelIds.sort());
    expect((await ctx.call("GET", `/api/teams/${team.body.id}`, { token: user.token })).status).toBe(404);
    const audit = await ctx.call("GET", "/api/admin/audit?limit=3", { token: admin.token });
    expect(audit.body.entries.map((e: any) => [e.action, e.targetType, e.targetId, e.actor.id])).toEqual([
      ["team.delete", "team", team.body.id, admin.id],
      ["room.delete", "room", direct.body.id, admin.id],
      ["room.delete", "room", room.body.id, admin.id],
    ]);
  });
});
