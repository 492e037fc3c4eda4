import { afterEach, describe, expect, test } from "bun:test";
import { encodeCursor } from "../../src/lib/cursor";
import { errorCode, setup, type TestContext, type TestResponse, type TestUser } from "../helpers";

const PUBLIC_KEYS = ["avatarUrl", "createdAt", "displayName", "id", "lastSeenAt", "presence", "statusText", "username"];
const OWN_KEYS = [...PUBLIC_KEYS, "email", "emailVerified", "role"].sort();

let ctx: TestContext;
afterEach(async () => {
  await ctx?.close();
});

async function register(username: string, extra: { email?: string; displayName?: string } = {}) {
  const res = await ctx.call("POST", "/api/auth/register", { body: { username, password: "correct-horse-battery", ...extra } });
  expect(res.status).toBe(201);
  return { id: res.body.user.id as string, username, token: res.body.accessToken as string };
}

const search = (token: string, query: string) => ctx.call("GET", `/api/users${query}`, { token });
const patchMe = (token: string, body: unknown) => ctx.call("PATCH", "/api/users/me", { token, body });
const names = (res: TestResponse) => res.body.users.map((u: { username: string }) => u.username);

function failingFields(res: TestResponse): string[] {
  expect(res.status).toBe(422);
  expect(errorCode(res)).toBe("VALIDATION_FAILED");
  return [...new Set<string>(res.body.error.details.fields.map((f: { field: string }) => f.field))];
}

describe("GET /api/users", () => {
  test("finds users by username or display-name prefix, ignoring case, ordered by username", async () => {
    ctx = setup();
    const me = await register("zed");
    await register("Anna");
    await register("annabel", { displayName: "Belle" });
    await register("bob", { displayName: "Annie Bobson" });
    await register("carl", { displayName: "Joanna" }); // contains "anna", does not start with it
    await register("xanna");

    const res = await search(me.token, "?q=ANN");
    expect(res.status).toBe(200);
    expect(names(res)).toEqual(["Anna", "annabel", "bob"]);
    expect(res.body.nextCursor).toBeNull();
    for (const user of res.body.users) expect(Object.keys(user).sort()).toEqual(PUBLIC_KEYS);

    expect(names(await search(me.token, "?q=belle"))).toEqual(["annabel"]);
    expect(names(await search(me.token, "?q=%20bob%20"))).toEqual(["bob"]);
    expect(names(await search(me.token, "?q=nobody"))).toEqual([]);
    // No q: everyone.
    expect(names(await search(me.token, ""))).toEqual(["Anna", "annabel", "bob", "carl", "xanna", "zed"]);
    // Characters that mean something to LIKE are plain text here.
    expect(names(await search(me.token, "?q=%25"))).toEqual([]);
    expect(names(await search(me.token, "?q=_"))).toEqual([]);
  });

  test("pages through every match with a cursor, without repeats or gaps", async () => {
    ctx = setup();
    const me = await register("viewer");
    const created: string[] = [];
    for (let i = 0; i < 23; i++) created.push((await register(`page${String(i).padStart(2, "0")}${i % 3 ? "" : "X"}`)).username);
    await register("other");

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: TestResponse = await search(me.token, `?q=page&limit=5${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(res.status).toBe(200);
      expect(res.body.users.length).toBeLessThanOrEqual(5);
      seen.push(...names(res));
      cursor = res.body.nextCursor;
      pages++;
      expect(pages).toBeLessThan(10);
    } while (cursor);
    expect(pages).toBe(5);
    expect(seen).toEqual([...created].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase())));
    expect(new Set(seen).size).toBe(23);

    // An exact page boundary ends with nextCursor null, not an empty extra page.
    const first = await search(me.token, "?q=page&limit=23");
    expect(first.body.users.length).toBe(23);
    expect(first.body.nextCursor).toBeNull();
  });

  test("the default limit is 50 and the maximum 200", async () => {
    ctx = setup();
    const me = await register("viewer");
    for (let i = 0; i < 51; i++) await register(`u${String(i).padStart(2, "0")}`);
    const res = await search(me.token, "?q=u");
    expect(res.body.users.length).toBe(50);
    expect(res.body.nextCursor).not.toBeNull();
    expect((await search(me.token, "?q=u&limit=200")).body.users.length).toBe(51);
  });

  test("bad parameters get the envelope", async () => {
    ctx = setup();
    const me = await register("viewer");
    for (const query of ["?limit=0", "?limit=201", "?limit=abc", "?limit=1.5", `?q=${"a".repeat(65)}`]) {
      const res = await search(me.token, query);
      expect(failingFields(res)).toEqual([query.startsWith("?q") ? "q" : "limit"]);
      expect(res.body.error.details.in).toBe("query");
    }
    const bad = await search(me.token, "?cursor=not-a-cursor");
    expect(bad.status).toBe(400);
    expect(errorCode(bad)).toBe("BAD_REQUEST");
  });

  test("a cursor holding what no page ends with is 400 BAD_REQUEST on every list", async () => {
    ctx = setup();
    const me = await register("pager");
    const cursor = (parts: unknown[]) => encodeCursor(parts as (string | number)[]);
    // Times no Date (or no database) holds, a time that is not a whole ms, and strings with U+0000.
    const timed = [[1e308, "x"], [-1e20, "x"], [8.64e15 + 1, "x"], [8.64e15, "x"], [-8.64e15, "x"], [1.5, "x"], [Date.now(), "a\u0000b"]];
    const lists = ["/api/rooms", "/api/rooms/public", "/api/search/messages?q=hello&"];
    for (const parts of timed)
      for (const list of lists) {
        const path = `${list}${list.includes("?") ? "" : "?"}cursor=${cursor(parts)}`;
        const res = await ctx.call("GET", path, { token: me.token });
        expect([path, parts, res.status, errorCode(res)]).toEqual([path, parts, 400, "BAD_REQUEST"]);
      }
    for (const path of ["/api/users", "/api/teams"])
      for (const parts of [["a\u0000b"], [1]]) {
        const res = await ctx.call("GET", `${path}?cursor=${cursor(parts)}`, { token: me.token });
        expect([path, parts, res.status]).toEqual([path, parts, 400]);
      }
    // The cursors the lists hand out still work.
    expect((await ctx.call("GET", `/api/rooms?cursor=${cursor([Date.now(), Bun.randomUUIDv7()])}`, { token: me.token })).status).toBe(200);
  });

  test("needs a token", async () => {
    ctx = setup();
    const res = await ctx.call("GET", "/api/users?q=a");
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe("UNAUTHENTICATED");
  });
});

describe("GET /api/users/:id", () => {
  test("a public user; 404 for an unknown id", async () => {
    ctx = setup();
    const me = await register("viewer");
    const other = await register("alice", { email: "alice@example.com", displayName: "Alice" });
    const res = await ctx.call("GET", `/api/users/${other.id}`, { token: me.token });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(PUBLIC_KEYS);
    expect(res.body).toMatchObject({ id: other.id, username: "alice", displayName: "Alice", presence: "offline" });

    for (const id of [Bun.randomUUIDv7(), "not-a-uuid"]) {
      const missing = await ctx.call("GET", `/api/users/${id}`, { token: me.token });
      expect(missing.status).toBe(404);
      expect(errorCode(missing)).toBe("NOT_FOUND");
    }
    expect((await ctx.call("GET", `/api/users/${other.id}`)).status).toBe(401);
  });
});

describe("PATCH /api/users/me", () => {
  test("changes the given fields and leaves the others", async () => {
    ctx = setup();
    const me = await register("alice", { email: "alice@example.com" });
    const res = await patchMe(me.token, { displayName: "  Alice Liddell ", avatarUrl: "https://example.com/a.png", statusText: "in Wonderland" });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(OWN_KEYS);
    expect(res.body).toMatchObject({
      displayName: "Alice Liddell",
      avatarUrl: "https://example.com/a.png",
      statusText: "in Wonderland",
      email: "alice@example.com",
      emailVerified: false,
    });
    const again = await patchMe(me.token, { statusText: "back" });
    expect(again.body).toMatchObject({ displayName: "Alice Liddell", avatarUrl: "https://example.com/a.png", statusText: "back" });
    // Others see the change, and search finds the new display name.
    const viewer = await register("viewer");
    expect((await ctx.call("GET", `/api/users/${me.id}`, { token: viewer.token })).body.displayName).toBe("Alice Liddell");
    expect(names(await search(viewer.token, "?q=liddell"))).toEqual([]);
    expect(names(await search(viewer.token, "?q=alice%20l"))).toEqual(["alice"]);
    // An empty patch changes nothing.
    const same = await patchMe(me.token, {});
    expect(same.status).toBe(200);
    expect(same.body).toEqual(again.body);
  });

  test("null clears avatarUrl, statusText and email", async () => {
    ctx = setup();
    const me = await register("alice", { email: "alice@example.com" });
    await patchMe(me.token, { avatarUrl: "https://example.com/a.png", statusText: "hi" });
    const res = await patchMe(me.token, { avatarUrl: null, statusText: null, email: null });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ avatarUrl: null, statusText: null, email: null });
    expect((await ctx.call("GET", "/api/auth/me", { token: me.token })).body.email).toBeNull();
    // The freed email can be taken by someone else.
    await register("bob", { email: "alice@example.com" });
  });

  test("a new email is stored unverified: no conflict with anyone's, no login name (no SMTP_URL)", async () => {
    ctx = setup();
    const alice = await register("alice", { email: "alice@example.com" });
    const bob = await register("bob", { email: "bob@example.com" });
    const same = await patchMe(bob.token, { email: "ALICE@example.com" });
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ email: "ALICE@example.com", emailVerified: false });
    expect((await ctx.call("GET", "/api/auth/me", { token: alice.token })).body.email).toBe("alice@example.com");

    expect((await patchMe(alice.token, { email: "alice@wonderland.example" })).status).toBe(200);
    const login = await ctx.call("POST", "/api/auth/login", {
      body: { username: "alice@wonderland.example", password: "correct-horse-battery" },
    });
    expect(login.status).toBe(401);
    expect((await patchMe(bob.token, { email: "bob@example.com" })).status).toBe(200);
  });

  test("unknown fields are ignored, as the document says", async () => {
    ctx = setup();
    const u = await ctx.user();
    const res = await patchMe(u.token, { statusText: "here", passwordHash: "x", role: "admin", deletedAt: null, isAdmin: true });
    expect(res.status).toBe(200);
    expect(res.body.statusText).toBe("here");
    expect(res.body.role).toBe("user");
    expect(res.body).not.toHaveProperty("isAdmin");
    const login = await ctx.call("POST", "/api/auth/login", { body: { username: u.username, password: "correct-horse-battery" } });
    expect(login.status).toBe(200);
  });

  test("invalid values get 422 naming the field", async () => {
    ctx = setup();
    const me = await register("alice");
    expect(failingFields(await patchMe(me.token, { avatarUrl: "not a url" }))).toEqual(["avatarUrl"]);
    expect(failingFields(await patchMe(me.token, { avatarUrl: "javascript:alert(1)" }))).toEqual(["avatarUrl"]);
    expect(failingFields(await patchMe(me.token, { avatarUrl: "ftp://example.com/a.png" }))).toEqual(["avatarUrl"]);
    expect(failingFields(await patchMe(me.token, { email: "nope" }))).toEqual(["email"]);
    expect(failingFields(await patchMe(me.token, { displayName: "   " }))).toEqual(["displayName"]);
    expect(failingFields(await patchMe(me.token, { displayName: "" }))).toEqual(["displayName"]);
    expect(failingFields(await patchMe(me.token, { displayName: null }))).toEqual(["displayName"]);
    expect(failingFields(await patchMe(me.token, { displayName: "x".repeat(65) }))).toEqual(["displayName"]);
    expect(failingFields(await patchMe(me.token, { statusText: "x".repeat(141) }))).toEqual(["statusText"]);
    expect(failingFields(await patchMe(me.token, { statusText: 5 }))).toEqual(["statusText"]);
    const malformed = await patchMe(me.token, "{nope");
    expect(malformed.status).toBe(400);
    expect(errorCode(malformed)).toBe("BAD_REQUEST");
    // Nothing changed.
    const mine = await ctx.call("GET", "/api/auth/me", { token: me.token });
    expect(mine.body).toMatchObject({ displayName: "alice", avatarUrl: null, statusText: null });
  });

  test("needs a token", async () => {
    ctx = setup();
    const res = await patchMe("", { statusText: "x" });
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe("UNAUTHENTICATED");
  });
});

describe("what users reveal", () => {
  test("public users never carry email or password hash; only the caller's own user has email", async () => {
    ctx = setup();
    const alice: TestUser = await ctx.user("alice");
    const reg = await ctx.call("POST", "/api/auth/register", {
      body: { username: "bob", password: "correct-horse-battery", email: "bob@example.com" },
    });
    const bob = reg.body.user;

    const own: TestResponse[] = [
      reg,
      await ctx.call("POST", "/api/auth/login", { body: { username: "bob", password: "correct-horse-battery" } }),
    ];
    const ownUsers = [
      ...own.map((r) => r.body.user),
      (await ctx.call("GET", "/api/auth/me", { token: reg.body.accessToken })).body,
      (await patchMe(reg.body.accessToken, { statusText: "hi" })).body,
    ];
    for (const user of ownUsers) {
      expect(Object.keys(user).sort()).toEqual(OWN_KEYS);
      expect(user.email).toBe("bob@example.com");
    }

    const publicUsers = [
      (await ctx.call("GET", `/api/users/${bob.id}`, { token: alice.token })).body,
      ...(await search(alice.token, "?q=bob")).body.users,
      ...(await search(alice.token, "")).body.users,
    ];
    expect(publicUsers.length).toBe(4);
    for (const user of publicUsers) expect(Object.keys(user).sort()).toEqual(PUBLIC_KEYS);

    const everything = JSON.stringify([ownUsers, publicUsers]);
    expect(everything).not.toMatch(/hash|password|argon/i);
    expect(JSON.stringify(publicUsers)).not.toContain("bob@example.com");
  });

  test("users shown inside other resources are public too: members, senders", async () => {
    ctx = setup();
    const reg = async (username: string) =>
      (await ctx.call("POST", "/api/auth/register", { body: { username, password: "correct-horse-battery", email: `${username}@example.com` } }))
        .body as { user: { id: string }; accessToken: string };
    const alice = await reg("alice");
    const bob = await reg("bob");
    const room = await ctx.call("POST", "/api/rooms", { token: alice.accessToken, body: { name: "general", memberIds: [bob.user.id] } });
    expect(room.status).toBe(201);
    const team = await ctx.call("POST", "/api/teams", { token: alice.accessToken, body: { name: "team" } });
    expect(team.status).toBe(201);
    const answers = [
      await ctx.call("GET", `/api/rooms/${room.body.id}/members`, { token: bob.accessToken }),
      await ctx.call("POST", `/api/rooms/${room.body.id}/messages`, { token: alice.accessToken, body: { content: "hello" } }),
      await ctx.call("GET", `/api/rooms/${room.body.id}/messages`, { token: bob.accessToken }),
      await ctx.call("GET", `/api/teams/${team.body.id}/members`, { token: alice.accessToken }),
    ];
    for (const res of answers) {
      expect(res.status).toBeLessThan(300);
      const text = JSON.stringify(res.body);
      expect(text).toContain("alice");
      expect(text).not.toMatch(/example\.com|"email"|hash|password|argon/i);
    }
  });
});
