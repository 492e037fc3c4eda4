/** A user's own account over HTTP: password change, sessions, deletion, username change. */
import { afterEach, describe, expect, test } from "bun:test";
import { errorCode, manualClock, setup, type TestContext, type TestUser } from "../helpers";

let ctx: TestContext;
afterEach(async () => {
  await ctx?.close();
});

const PASSWORD = "correct-horse-battery";
const login = (username: string, password = PASSWORD, userAgent?: string) =>
  ctx.call("POST", "/api/auth/login", { body: { username, password }, headers: userAgent ? { "user-agent": userAgent } : {} });
const refresh = (refreshToken: string) => ctx.call("POST", "/api/auth/refresh", { body: { refreshToken } });
const me = (token: string) => ctx.call("GET", "/api/auth/me", { token });
const revoked = () => ctx.events.log.flatMap((e) => (e.to === "sessionRevoked" ? [e.sessionId] : []));

/** A second session of `user`, from another device. */
async function secondSession(user: TestUser, userAgent = "second-device") {
  const res = await login(user.username, PASSWORD, userAgent);
  expect(res.status).toBe(200);
  return { token: res.body.accessToken as string, refreshToken: res.body.refreshToken as string };
}

describe("POST /api/auth/password", () => {
  test("a wrong current password is 401 and changes nothing", async () => {
    ctx = setup();
    const u = await ctx.user();
    const res = await ctx.call("POST", "/api/auth/password", { token: u.token, body: { currentPassword: "not-the-password", newPassword: "a-new-password-1" } });
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe("UNAUTHENTICATED");
    expect((await login(u.username)).status).toBe(200);
    expect((await login(u.username, "a-new-password-1")).status).toBe(401);
    expect(revoked()).toEqual([]);
  });

  test("the new password works, the old one not; other sessions end, this one stays", async () => {
    ctx = setup();
    const u = await ctx.user();
    const other = await secondSession(u);
    const res = await ctx.call("POST", "/api/auth/password", { token: u.token, body: { currentPassword: PASSWORD, newPassword: "a-new-password-1" } });
    expect(res.status).toBe(204);
    expect(res.body).toBeNull();
    expect((await me(u.token)).status).toBe(200);
    expect((await refresh(u.refreshToken)).status).toBe(200);
    expect((await me(other.token)).status).toBe(401);
    expect((await refresh(other.refreshToken)).status).toBe(401);
    expect(revoked()).toHaveLength(1);
    expect((await login(u.username)).status).toBe(401);
    expect((await login(u.username, "a-new-password-1")).status).toBe(200);
  });

  test("the new password follows the register rules (422); no token is 401", async () => {
    ctx = setup();
    const u = await ctx.user();
    const short = await ctx.call("POST", "/api/auth/password", { token: u.token, body: { currentPassword: PASSWORD, newPassword: "short" } });
    expect(short.status).toBe(422);
    expect(short.body.error.details.fields.map((f: { field: string }) => f.field)).toEqual(["newPassword"]);
    expect((await ctx.call("POST", "/api/auth/password", { body: { currentPassword: PASSWORD, newPassword: "a-new-password-1" } })).status).toBe(401);
  });

  test("repeated wrong passwords are slowed down like failed logins (429 with Retry-After), then pass again", async () => {
    const clock = manualClock();
    ctx = setup({}, { now: clock.now });
    const u = await ctx.user();
    const attempt = (currentPassword: string) =>
      ctx.call("POST", "/api/auth/password", { token: u.token, body: { currentPassword, newPassword: "a-new-password-1" } });
    for (let i = 0; i < 5; i++) expect((await attempt(`wrong-password-${i}`)).status).toBe(401);
    const limited = await attempt(PASSWORD);
    expect(limited.status).toBe(429);
    expect(errorCode(limited)).toBe("RATE_LIMITED");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    clock.advance(Number(limited.headers.get("retry-after")) * 1000);
    expect((await attempt(PASSWORD)).status).toBe(204);
  });
});

describe("GET /api/auth/sessions, DELETE /api/auth/sessions/:id", () => {
  test("lists my live sessions with user agent, times and the current one; a refresh moves lastUsedAt", async () => {
    const clock = manualClock(Date.parse("2026-01-01T00:00:00Z"));
    ctx = setup({}, { now: clock.now });
    const reg = await ctx.call("POST", "/api/auth/register", { body: { username: "alice", password: PASSWORD }, headers: { "user-agent": "first-device/1.0" } });
    const first = { token: reg.body.accessToken, refreshToken: reg.body.refreshToken };
    clock.advance(60_000);
    const second = await login("alice", PASSWORD, `long-agent ${"x".repeat(400)}`);
    clock.advance(60_000);
    const refreshed = await refresh(first.refreshToken);
    expect(refreshed.status).toBe(200);

    const list = await ctx.call("GET", "/api/auth/sessions", { token: second.body.accessToken });
    expect(list.status).toBe(200);
    expect(list.body).toHaveLength(2);
    const [newest, oldest] = list.body;
    expect(newest).toMatchObject({ current: true, createdAt: "2026-01-01T00:01:00.000Z", lastUsedAt: "2026-01-01T00:01:00.000Z" });
    expect(newest.userAgent).toHaveLength(256);
    expect(newest.userAgent.startsWith("long-agent ")).toBe(true);
    expect(oldest).toMatchObject({ current: false, userAgent: "first-device/1.0", createdAt: "2026-01-01T00:00:00.000Z", lastUsedAt: "2026-01-01T00:02:00.000Z" });
    const fromFirst = await ctx.call("GET", "/api/auth/sessions", { token: refreshed.body.accessToken });
    expect(fromFirst.body.map((s: { current: boolean }) => s.current)).toEqual([false, true]);
  });

  test("ending a session refuses its tokens; another user's session, an ended one or a bad id is 404", async () => {
    ctx = setup();
    const u = await ctx.user();
    const other = await secondSession(u);
    const stranger = await ctx.user();
    const [second] = (await ctx.call("GET", "/api/auth/sessions", { token: other.token })).body;
    expect(second.current).toBe(true);

    const foreign = await ctx.call("DELETE", `/api/auth/sessions/${second.id}`, { token: stranger.token });
    expect(foreign.status).toBe(404);
    expect(errorCode(foreign)).toBe("NOT_FOUND");
    expect((await me(other.token)).status).toBe(200);

    expect((await ctx.call("DELETE", `/api/auth/sessions/${second.id}`, { token: u.token })).status).toBe(204);
    expect(revoked()).toEqual([second.id]);
    expect((await me(other.token)).status).toBe(401);
    expect((await refresh(other.refreshToken)).status).toBe(401);
    expect((await me(u.token)).status).toBe(200);
    expect((await ctx.call("GET", "/api/auth/sessions", { token: u.token })).body.map((s: { id: string }) => s.id)).not.toContain(second.id);
    expect((await ctx.call("DELETE", `/api/auth/sessions/${second.id}`, { token: u.token })).status).toBe(404);
    expect((await ctx.call("DELETE", "/api/auth/sessions/not-an-id", { token: u.token })).status).toBe(404);
  });

  test("ending my own current session logs me out", async () => {
    ctx = setup();
    const u = await ctx.user();
    const [mine] = (await ctx.call("GET", "/api/auth/sessions", { token: u.token })).body;
    expect((await ctx.call("DELETE", `/api/auth/sessions/${mine.id}`, { token: u.token })).status).toBe(204);
    expect((await me(u.token)).status).toBe(401);
  });
});

describe("DELETE /api/users/me", () => {
  test("a wrong password is 401 and the account stays", async () => {
    ctx = setup();
    const u = await ctx.user();
    const res = await ctx.call("DELETE", "/api/users/me", { token: u.token, body: { password: "not-the-password" } });
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe("UNAUTHENTICATED");
    expect((await me(u.token)).body.username).toBe(u.username);
    expect((await ctx.call("DELETE", "/api/users/me", { token: u.token, body: {} })).status).toBe(422);
  });

  test("sessions end, tokens are refused, the profile is anonymised and history keeps its seqs", async () => {
    ctx = setup();
    const gone = await ctx.user();
    const friend = await ctx.user();
    await ctx.call("PATCH", "/api/users/me", { token: gone.token, body: { statusText: "busy", email: "gone@example.com", avatarUrl: "https://example.com/a.png" } });
    const other = await secondSession(gone);
    const direct = (await ctx.call("POST", "/api/rooms/direct", { token: friend.token, body: { userId: gone.id } })).body.id;
    const group = (await ctx.call("POST", "/api/rooms", { token: friend.token, body: { name: "team", memberIds: [gone.id] } })).body.id;
    for (const [roomId, who, content] of [
      [direct, gone, "hello from me"],
      [direct, friend, "hi back"],
      [group, gone, "in the group"],
    ] as const)
      expect((await ctx.call("POST", `/api/rooms/${roomId}/messages`, { token: who.token, body: { content } })).status).toBe(201);

    const res = await ctx.call("DELETE", "/api/users/me", { token: gone.token, body: { password: PASSWORD } });
    expect(res.status).toBe(204);
    expect(revoked()).toHaveLength(2);

    for (const token of [gone.token, other.token]) expect((await me(token)).status).toBe(401);
    for (const refreshToken of [gone.refreshToken, other.refreshToken]) expect((await refresh(refreshToken)).status).toBe(401);
    expect((await login(gone.username)).status).toBe(401);
    expect((await ctx.call("POST", "/api/auth/ws-ticket", { token: gone.token })).status).toBe(401);

    const prefix = gone.id.replaceAll("-", "").slice(0, 24);
    const profile = await ctx.call("GET", `/api/users/${gone.id}`, { token: friend.token });
    expect(profile.status).toBe(200);
    expect(profile.body).toMatchObject({ id: gone.id, username: `deleted-${prefix}`, displayName: "Deleted user", avatarUrl: null, statusText: null });
    expect((await login(`deleted-${prefix}`)).status).toBe(401);

    const history = await ctx.call("GET", `/api/rooms/${direct}/messages`, { token: friend.token });
    expect(history.status).toBe(200);
    expect(history.body.messages.map((m: any) => [m.seq, m.content, m.sender.displayName])).toEqual([
      [1, "hello from me", "Deleted user"],
      [2, "hi back", friend.username],
    ]);
    expect(history.body.messages[0].sender).toEqual({ id: gone.id, username: `deleted-${prefix}`, displayName: "Deleted user", avatarUrl: null });
    const groupHistory = await ctx.call("GET", `/api/rooms/${group}/messages`, { token: friend.token });
    expect(groupHistory.body.messages.map((m: any) => [m.seq, m.sender.username])).toEqual([[1, `deleted-${prefix}`]]);
    // The direct room stays in the other member's list and takes new messages.
    expect((await ctx.call("GET", "/api/rooms", { token: friend.token })).body.rooms.map((r: { id: string }) => r.id)).toContain(direct);
    expect((await ctx.call("POST", `/api/rooms/${direct}/messages`, { token: friend.token, body: { content: "still here" } })).body.seq).toBe(3);

    const search = await ctx.call("GET", `/api/users?q=deleted`, { token: friend.token });
    expect(search.body.users).toEqual([]);
    // Nobody starts a chat with, or adds, a deleted account.
    const stranger = await ctx.user();
    expect((await ctx.call("POST", "/api/rooms/direct", { token: stranger.token, body: { userId: gone.id } })).status).toBe(404);
    expect((await ctx.call("POST", "/api/rooms", { token: stranger.token, body: { name: "new", memberIds: [gone.id] } })).status).toBe(404);
    // The email is free for anyone; the old username too.
    expect((await ctx.call("POST", "/api/auth/register", { body: { username: gone.username, password: PASSWORD, email: "gone@example.com" } })).status).toBe(201);
  });

  test("deleted-… usernames are reserved: register and rename refuse them (422)", async () => {
    ctx = setup();
    const res = await ctx.call("POST", "/api/auth/register", { body: { username: "Deleted-0123abcd", password: PASSWORD } });
    expect(res.status).toBe(422);
    expect(res.body.error.details.fields.map((f: { field: string }) => f.field)).toEqual(["username"]);
    const u = await ctx.user();
    expect((await ctx.call("PATCH", "/api/users/me", { token: u.token, body: { username: "deleted-me" } })).status).toBe(422);
  });

  test("the last active server admin cannot delete their account (409)", async () => {
    ctx = setup();
    const admin = await ctx.user();
    await ctx.services.admin.setRole(admin.username, "admin");
    const res = await ctx.call("DELETE", "/api/users/me", { token: admin.token, body: { password: PASSWORD } });
    expect(res.status).toBe(409);
    expect((await me(admin.token)).status).toBe(200);
    const second = await ctx.user();
    await ctx.services.admin.setRole(second.username, "admin");
    expect((await ctx.call("DELETE", "/api/users/me", { token: admin.token, body: { password: PASSWORD } })).status).toBe(204);
    // The deleted account is no admin any more: the one left cannot go.
    expect((await ctx.call("DELETE", "/api/users/me", { token: second.token, body: { password: PASSWORD } })).status).toBe(409);
  });
});

test("the OpenAPI document describes the new routes with their schemas", async () => {
  ctx = setup();
  const doc = (await ctx.call("GET", "/swagger/json")).body;
  const bodyOf = (path: string, method: string) => doc.paths[path][method].requestBody.content["application/json"].schema;
  expect(Object.keys(bodyOf("/api/auth/password", "post").properties).sort()).toEqual(["currentPassword", "newPassword"]);
  expect(Object.keys(bodyOf("/api/users/me", "delete").properties)).toEqual(["password"]);
  expect(Object.keys(bodyOf("/api/users/me", "patch").properties)).toContain("username");
  const sessions = doc.paths["/api/auth/sessions"].get.responses["200"].content["application/json"].schema;
  expect(sessions.type).toBe("array");
  expect(Object.keys(sessions.items.properties).sort()).toEqual(["createdAt", "current", "id", "lastUsedAt", "userAgent"]);
  expect(Object.keys(doc.paths["/api/auth/sessions/{id}"].delete.responses).sort()).toEqual(["204", "401", "404"]);
  expect(doc.paths["/api/users/me"].patch.responses["409"]).toBeDefined();
});

describe("PATCH /api/users/me { username }", () => {
  test("renames: log in with the new name, the old one is free; taken ignoring case is 409", async () => {
    ctx = setup();
    const alice = await ctx.user("alice");
    const bob = await ctx.user("bob");
    const res = await ctx.call("PATCH", "/api/users/me", { token: alice.token, body: { username: "alice.new" } });
    expect(res.status).toBe(200);
    expect(res.body.username).toBe("alice.new");
    expect((await login("alice.new")).status).toBe(200);
    expect((await login("alice")).status).toBe(401);
    expect((await ctx.call("GET", `/api/users/${alice.id}`, { token: bob.token })).body.username).toBe("alice.new");

    const taken = await ctx.call("PATCH", "/api/users/me", { token: bob.token, body: { username: "ALICE.NEW" } });
    expect(taken.status).toBe(409);
    expect(errorCode(taken)).toBe("CONFLICT");
    expect((await ctx.call("POST", "/api/auth/register", { body: { username: "Alice", password: PASSWORD } })).status).toBe(201);
  });

  test("the register rules apply (422 naming the field); the same name changes nothing", async () => {
    ctx = setup();
    const u = await ctx.user("carol");
    for (const username of ["ab", "has space", "x".repeat(33)]) {
      const res = await ctx.call("PATCH", "/api/users/me", { token: u.token, body: { username } });
      expect(res.status).toBe(422);
      expect(res.body.error.details.fields.map((f: { field: string }) => f.field)).toEqual(["username"]);
    }
    for (let i = 0; i < 5; i++) expect((await ctx.call("PATCH", "/api/users/me", { token: u.token, body: { username: "carol" } })).status).toBe(200);
  });

  test("at most 3 changes an hour per user: the next is 429 with Retry-After", async () => {
    const clock = manualClock();
    ctx = setup({ accessTokenTtl: 86_400 }, { now: clock.now });
    const u = await ctx.user("dave");
    for (const name of ["dave1", "dave2", "Dave2"])
      expect((await ctx.call("PATCH", "/api/users/me", { token: u.token, body: { username: name } })).status).toBe(200);
    const limited = await ctx.call("PATCH", "/api/users/me", { token: u.token, body: { username: "dave3" } });
    expect(limited.status).toBe(429);
    expect(errorCode(limited)).toBe("RATE_LIMITED");
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect((await me(u.token)).body.username).toBe("Dave2");
    clock.advance(retryAfter * 1000);
    expect((await ctx.call("PATCH", "/api/users/me", { token: u.token, body: { username: "dave3" } })).status).toBe(200);
  });
});
