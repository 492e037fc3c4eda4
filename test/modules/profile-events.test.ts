/** `user.updated`: a user's public profile changes reach them and everyone who shares a room with them, once committed. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { png } from "../files-fixtures";
import { readResponse, setup, type TestContext, type TestUser } from "../helpers";

let ctx: TestContext;
/** Alice shares a room with Bob; Carol shares none with either; Dave shares one with Bob only. */
let alice: TestUser, bob: TestUser, carol: TestUser, dave: TestUser;

beforeEach(async () => {
  ctx = setup();
  [alice, bob, carol, dave] = [await ctx.user(), await ctx.user(), await ctx.user(), await ctx.user()];
  for (const [owner, member] of [[alice, bob], [bob, dave]] as const) {
    const res = await ctx.call("POST", "/api/rooms", { token: owner.token, body: { name: `${owner.username} and co`, memberIds: [member.id] } });
    expect(res.status).toBe(201);
  }
  // A room of Carol's own: a membership of hers, shared with nobody.
  expect((await ctx.call("POST", "/api/rooms", { token: carol.token, body: { name: "alone" } })).status).toBe(201);
  ctx.events.clear();
});
afterEach(() => ctx.close());

/** Each user.updated sent: who it went to (sorted) and the user it carried. */
function announced(): { to: string[]; user: any }[] {
  return ctx.events.log.flatMap((e) => (e.to === "users" && e.event.type === "user.updated" ? [{ to: [...e.userIds].sort(), user: e.event.user }] : []));
}

/** Every user.updated went to "users": none to a room or a single user's channel. */
function onlyToUsers() {
  expect(ctx.events.log.filter((e) => e.to !== "users" && "event" in e && e.event.type === "user.updated")).toEqual([]);
}

const patch = (user: TestUser, body: Record<string, unknown>) => ctx.call("PATCH", "/api/users/me", { token: user.token, body });

async function avatar(user: TestUser, method: "PUT" | "DELETE") {
  const body = method === "PUT" ? new FormData() : undefined;
  body?.append("file", new File([png(8, 8)], "me.png", { type: "image/png" }));
  return readResponse(await ctx.app.handle(new Request("http://localhost/api/users/me/avatar", { method, headers: { authorization: `Bearer ${user.token}` }, body })));
}

describe("user.updated", () => {
  test("a new display name goes to the user and their co-members, as GET /api/users/:id shows the user; not to others", async () => {
    const res = await patch(alice, { displayName: "Alice Liddell" });
    expect(res.status).toBe(200);
    const shown = (await ctx.call("GET", `/api/users/${alice.id}`, { token: carol.token })).body;
    expect(shown.displayName).toBe("Alice Liddell");
    expect(announced()).toEqual([{ to: [alice.id, bob.id].sort(), user: shown }]);
    onlyToUsers();
  });

  test("each of username, status and avatar announces; a co-member of several rooms is named once", async () => {
    // Bob shares two rooms with Dave now.
    expect((await ctx.call("POST", "/api/rooms", { token: dave.token, body: { name: "second", memberIds: [bob.id] } })).status).toBe(201);
    ctx.events.clear();
    expect((await patch(bob, { username: `${bob.username}_2` })).status).toBe(200);
    expect((await patch(bob, { statusText: "away" })).status).toBe(200);
    expect((await avatar(bob, "PUT")).status).toBe(200);
    expect((await avatar(bob, "DELETE")).status).toBe(200);
    const everyone = [alice.id, bob.id, dave.id].sort();
    const seen = announced();
    expect(seen.map((e) => e.to)).toEqual([everyone, everyone, everyone, everyone]);
    expect(seen[0]!.user.username).toBe(`${bob.username}_2`);
    expect(seen[1]!.user.statusText).toBe("away");
    expect(seen[2]!.user.avatarUrl).toMatch(/^\/files\/[0-9a-f-]+\/avatar\.webp$/);
    expect(seen[3]!.user.avatarUrl).toBeNull();
  });

  test("a user who shares no room hears only their own change", async () => {
    expect((await patch(carol, { displayName: "Carol" })).status).toBe(200);
    expect(announced()).toEqual([{ to: [carol.id], user: expect.objectContaining({ id: carol.id, displayName: "Carol" }) }]);
  });

  test("nothing is sent when nothing others see changed", async () => {
    const me = (await ctx.call("GET", "/api/auth/me", { token: alice.token })).body;
    expect((await patch(alice, {})).status).toBe(200);
    expect((await patch(alice, { displayName: me.displayName, statusText: me.statusText, username: me.username })).status).toBe(200);
    expect((await patch(alice, { email: "alice@example.com" })).status).toBe(200);
    // No avatar to remove.
    expect((await avatar(alice, "DELETE")).status).toBe(200);
    expect(announced()).toEqual([]);
  });

  test("a refused change announces nothing", async () => {
    expect((await patch(alice, { username: bob.username })).status).toBe(409);
    expect((await patch(alice, { displayName: "   " })).status).toBe(422);
    expect(announced()).toEqual([]);
  });

  test("a deleted account's anonymised name goes to the members of the rooms it stays in", async () => {
    const res = await ctx.call("DELETE", "/api/users/me", { token: alice.token, body: { password: "correct-horse-battery" } });
    expect(res.status).toBe(204);
    const [event] = announced();
    expect(announced()).toHaveLength(1);
    expect(event!.to).toEqual([alice.id, bob.id].sort());
    expect(event!.user).toMatchObject({ id: alice.id, displayName: "Deleted user", avatarUrl: null, statusText: null });
    expect(event!.user.username).toStartWith("deleted-");
    // It went out after the sessions were ended.
    const order = ctx.events.log.map((e) => e.to);
    expect(order.lastIndexOf("sessionRevoked")).toBeLessThan(order.indexOf("users"));
  });
});
