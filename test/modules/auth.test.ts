import { afterEach, describe, expect, test } from "bun:test";
import { createSigner } from "../../src/plugins/auth";
import { errorCode, manualClock, setup, type TestContext, type TestResponse } from "../helpers";
import { type MailSink, startMailSink } from "../mail-sink";

const PASSWORD = "correct-horse-battery";
const OWN_USER_KEYS = ["avatarUrl", "createdAt", "displayName", "email", "emailVerified", "id", "lastSeenAt", "presence", "role", "statusText", "username"];

let ctx: TestContext;
let sink: MailSink | undefined;
afterEach(async () => {
  await ctx?.services.emails.drain();
  await ctx?.close();
  await sink?.close();
  sink = undefined;
});

/** An app that mails verification codes to a local sink. */
async function setupWithMail() {
  sink = await startMailSink();
  return setup({ smtp: sink.smtp });
}

/** Registers a user with a verified email. */
async function registerVerified(username: string, email: string) {
  const res = await register({ username, password: PASSWORD, email });
  expect(res.status).toBe(201);
  const verified = await ctx.call("POST", "/api/auth/email/verify", { token: res.body.accessToken, body: { code: await sink!.nextCode(email) } });
  expect(verified.status).toBe(200);
  expect(verified.body.emailVerified).toBe(true);
  return res;
}

const register = (body: unknown) => ctx.call("POST", "/api/auth/register", { body });
const login = (username: string, password: string) => ctx.call("POST", "/api/auth/login", { body: { username, password } });
const refresh = (refreshToken: string) => ctx.call("POST", "/api/auth/refresh", { body: { refreshToken } });
const me = (token: string) => ctx.call("GET", "/api/auth/me", { token });

/** The claims of a JWT, read without checking it. */
function claims(token: string): { sub: string; sid: string; exp: number } {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8"));
}
const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** The failing field names of a 422. */
function failingFields(res: TestResponse): string[] {
  expect(res.status).toBe(422);
  expect(errorCode(res)).toBe("VALIDATION_FAILED");
  return [...new Set<string>(res.body.error.details.fields.map((f: { field: string }) => f.field))];
}

function expectUnauthenticated(res: TestResponse) {
  expect(res.status).toBe(401);
  expect(errorCode(res)).toBe("UNAUTHENTICATED");
}

describe("POST /api/auth/register", () => {
  test("creates the user and a session", async () => {
    ctx = setup();
    const res = await register({ username: "Alice", password: PASSWORD, email: "alice@example.com", displayName: "Alice A." });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(["accessToken", "expiresIn", "refreshToken", "user"]);
    expect(Object.keys(res.body.user).sort()).toEqual(OWN_USER_KEYS);
    expect(res.body.user).toMatchObject({
      username: "Alice",
      displayName: "Alice A.",
      email: "alice@example.com",
      emailVerified: false,
      role: "user",
      avatarUrl: null,
      statusText: null,
      presence: "offline",
      lastSeenAt: null,
    });
    expect(res.body.user.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(new Date(res.body.user.createdAt).toISOString()).toBe(res.body.user.createdAt);
    expect(res.body.expiresIn).toBe(ctx.services.config.accessTokenTtl);
    expect(claims(res.body.accessToken).sub).toBe(res.body.user.id);
    expect(typeof claims(res.body.accessToken).sid).toBe("string");

    const mine = await me(res.body.accessToken);
    expect(mine.status).toBe(200);
    expect(mine.body).toEqual(res.body.user);
  });

  test("the display name defaults to the username", async () => {
    ctx = setup();
    const res = await register({ username: "bob_1.x-y", password: PASSWORD });
    expect(res.status).toBe(201);
    expect(res.body.user.displayName).toBe("bob_1.x-y");
    expect(res.body.user.email).toBeNull();
  });

  test("bad input gets 422 naming every failing field", async () => {
    ctx = setup();
    expect(failingFields(await register({ username: "ab", password: "short", email: "not-an-email" })).sort()).toEqual([
      "email",
      "password",
      "username",
    ]);
    expect(failingFields(await register({ username: "has space", password: PASSWORD }))).toEqual(["username"]);
    expect(failingFields(await register({ username: "x".repeat(33), password: PASSWORD }))).toEqual(["username"]);
    expect(failingFields(await register({ username: "alice", password: "p".repeat(129) }))).toEqual(["password"]);
    expect(failingFields(await register({ username: "alice", password: PASSWORD, displayName: "   " }))).toEqual(["displayName"]);
    expect(failingFields(await register({ password: PASSWORD })).sort()).toEqual(["username"]);
    expect(failingFields(await register({ username: 42, password: PASSWORD }))).toEqual(["username"]);
    expect(failingFields(await ctx.call("POST", "/api/auth/register"))).toEqual(["body"]);
    const res = await register({ username: "ab", password: PASSWORD });
    expect(res.body.error.message).toContain("username");
  });

  test("malformed JSON gets 400", async () => {
    ctx = setup();
    const res = await ctx.call("POST", "/api/auth/register", { body: '{"username": "alice",' });
    expect(res.status).toBe(400);
    expect(errorCode(res)).toBe("BAD_REQUEST");
  });

  test("a username taken in any letter case gets 409", async () => {
    ctx = setup();
    expect((await register({ username: "Alice", password: PASSWORD })).status).toBe(201);
    for (const username of ["Alice", "alice", "ALICE", "aLiCe"]) {
      const res = await register({ username, password: PASSWORD });
      expect(res.status).toBe(409);
      expect(errorCode(res)).toBe("CONFLICT");
      expect(res.body.error.message).toContain("username");
    }
  });

  test("an email someone else has is no conflict: only usernames are unique names of a new account", async () => {
    ctx = setup();
    expect((await register({ username: "alice", password: PASSWORD, email: "a@example.com" })).status).toBe(201);
    const res = await register({ username: "bob", password: PASSWORD, email: "A@Example.COM" });
    expect(res.status).toBe(201);
    expect(res.body.user).toMatchObject({ email: "A@Example.COM", emailVerified: false });
    // A taken username is still 409, and nothing was half-created.
    const taken = await register({ username: "ALICE", password: PASSWORD, email: "c@example.com" });
    expect(taken.status).toBe(409);
    expect(errorCode(taken)).toBe("CONFLICT");
    expect(taken.body.error.message).toContain("username");
    expect((await register({ username: "carol", password: PASSWORD, email: "c@example.com" })).status).toBe(201);
  });
});

describe("POST /api/auth/login", () => {
  test("by username (any case) and by verified email, each a new session", async () => {
    ctx = await setupWithMail();
    const reg = await registerVerified("Alice", "alice@example.com");
    const byName = await login("alice", PASSWORD);
    expect(byName.status).toBe(200);
    expect(Object.keys(byName.body).sort()).toEqual(["accessToken", "expiresIn", "refreshToken", "user"]);
    expect(byName.body.user).toEqual({ ...reg.body.user, emailVerified: true });
    const byEmail = await login("ALICE@example.com", PASSWORD);
    expect(byEmail.status).toBe(200);
    expect(byEmail.body.user.id).toBe(reg.body.user.id);
    const sids = new Set([reg, byName, byEmail].map((r) => claims(r.body.accessToken).sid));
    expect(sids.size).toBe(3);
    for (const r of [reg, byName, byEmail]) expect((await me(r.body.accessToken)).status).toBe(200);
  });

  test("an unverified email is no login name", async () => {
    ctx = await setupWithMail();
    await register({ username: "alice", password: PASSWORD, email: "alice@example.com" });
    expectUnauthenticated(await login("alice@example.com", PASSWORD));
    expect((await login("alice", PASSWORD)).status).toBe(200);
  });

  test("an unknown user and a wrong password get the same 401", async () => {
    ctx = setup();
    await ctx.user("alice");
    const wrong = await login("alice", "not-the-password");
    const unknown = await login("nobody", "not-the-password");
    expectUnauthenticated(wrong);
    expectUnauthenticated(unknown);
    expect(unknown.body).toEqual(wrong.body);
    expect([...unknown.headers.keys()].filter((k) => k !== "x-request-id").sort()).toEqual(
      [...wrong.headers.keys()].filter((k) => k !== "x-request-id").sort(),
    );
  });

  test("bad input gets 422", async () => {
    ctx = setup();
    expect(failingFields(await login("", PASSWORD))).toEqual(["username"]);
    expect(failingFields(await ctx.call("POST", "/api/auth/login", { body: { username: "alice" } }))).toEqual(["password"]);
  });
});

describe("POST /api/auth/refresh", () => {
  test("rotates: new tokens, each refresh token single-use", async () => {
    ctx = setup();
    const u = await ctx.user("alice");
    const r1 = await refresh(u.refreshToken);
    expect(r1.status).toBe(200);
    expect(Object.keys(r1.body).sort()).toEqual(["accessToken", "expiresIn", "refreshToken"]);
    expect(r1.body.refreshToken).not.toBe(u.refreshToken);
    expect(claims(r1.body.accessToken).sid).toBe(claims(u.token).sid);
    expect((await me(r1.body.accessToken)).status).toBe(200);
    const r2 = await refresh(r1.body.refreshToken);
    expect(r2.status).toBe(200);
    expect((await me(r2.body.accessToken)).status).toBe(200);
  });

  test("presenting a used token ends the whole session, new tokens included", async () => {
    const clock = manualClock();
    ctx = setup({}, { now: clock.now });
    const u = await ctx.user("alice");
    const other = await login("alice", PASSWORD); // another session of the same user
    const r1 = await refresh(u.refreshToken);
    expect(r1.status).toBe(200);
    ctx.events.clear();
    // Past the grace window for a double submit (see test/security/refresh.test.ts).
    clock.advance(10_001);

    const reuse = await refresh(u.refreshToken);
    expectUnauthenticated(reuse);
    expect(ctx.events.log).toEqual([{ to: "sessionRevoked", sessionId: claims(u.token).sid }]);
    // Everything of that session is dead: the rotated refresh token and both access tokens.
    expectUnauthenticated(await refresh(r1.body.refreshToken));
    expectUnauthenticated(await me(r1.body.accessToken));
    expectUnauthenticated(await me(u.token));
    // The user's other session is untouched.
    expect((await me(other.body.accessToken)).status).toBe(200);
    expect((await refresh(other.body.refreshToken)).status).toBe(200);
  });

  test("unknown or malformed tokens", async () => {
    ctx = setup();
    expectUnauthenticated(await refresh("no-such-token"));
    expect(failingFields(await refresh(""))).toEqual(["refreshToken"]);
    expect(failingFields(await ctx.call("POST", "/api/auth/refresh", { body: {} }))).toEqual(["refreshToken"]);
  });

  test("a session past its lifetime cannot be refreshed", async () => {
    const clock = manualClock();
    ctx = setup({ refreshTokenTtl: 3600 }, { now: clock.now });
    const u = await ctx.user("alice");
    clock.advance(3599_000);
    const r1 = await refresh(u.refreshToken);
    expect(r1.status).toBe(200); // and each refresh slides the end forward
    clock.advance(3599_000);
    const r2 = await refresh(r1.body.refreshToken);
    expect(r2.status).toBe(200);
    clock.advance(3601_000);
    expectUnauthenticated(await refresh(r2.body.refreshToken));
  });
});

describe("POST /api/auth/logout", () => {
  test("ends the session: its tokens stop working and its sockets are told", async () => {
    ctx = setup();
    const u = await ctx.user("alice");
    const other = await login(u.username, PASSWORD);
    ctx.events.clear();
    const res = await ctx.call("POST", "/api/auth/logout", { token: u.token, body: { refreshToken: u.refreshToken } });
    expect(res.status).toBe(204);
    expect(res.body).toBeNull();
    expect(ctx.events.log).toEqual([{ to: "sessionRevoked", sessionId: claims(u.token).sid }]);
    expectUnauthenticated(await me(u.token));
    expectUnauthenticated(await refresh(u.refreshToken));
    expect((await me(other.body.accessToken)).status).toBe(200);
  });

  test("another user's refresh token is ignored; the caller's own session still ends", async () => {
    ctx = setup();
    const alice = await ctx.user("alice");
    const bob = await ctx.user("bob");
    const res = await ctx.call("POST", "/api/auth/logout", { token: alice.token, body: { refreshToken: bob.refreshToken } });
    expect(res.status).toBe(204);
    expectUnauthenticated(await me(alice.token));
    expect((await me(bob.token)).status).toBe(200);
    expect((await refresh(bob.refreshToken)).status).toBe(200);
  });

  test("needs a token and a body", async () => {
    ctx = setup();
    const u = await ctx.user("alice");
    expectUnauthenticated(await ctx.call("POST", "/api/auth/logout", { body: { refreshToken: u.refreshToken } }));
    expect(failingFields(await ctx.call("POST", "/api/auth/logout", { token: u.token, body: {} }))).toEqual(["refreshToken"]);
    expect((await me(u.token)).status).toBe(200);
  });
});

describe("access tokens", () => {
  test("missing, malformed and garbage tokens get 401", async () => {
    ctx = setup();
    await ctx.user("alice");
    expectUnauthenticated(await ctx.call("GET", "/api/auth/me"));
    for (const authorization of ["Bearer", "Bearer ", "Basic YWxpY2U6cHc=", "Bearer garbage", "Bearer a.b.c", "token abc"])
      expectUnauthenticated(await ctx.call("GET", "/api/auth/me", { headers: { authorization } }));
  });

  test("a token signed by us for a live session works (the control for the cases below)", async () => {
    ctx = setup();
    const u = await ctx.user("alice");
    const { sub, sid } = claims(u.token);
    const token = await createSigner(ctx.services.config.jwtSecret).sign({ sub, sid }, 60);
    expect((await me(token)).status).toBe(200);
  });

  test("an expired token gets 401 (signed already expired)", async () => {
    ctx = setup();
    const u = await ctx.user("alice");
    const { sub, sid } = claims(u.token);
    const expired = await createSigner(ctx.services.config.jwtSecret).sign({ sub, sid }, -60);
    expectUnauthenticated(await me(expired));
  });

  test("a token expires after ACCESS_TOKEN_TTL; refresh gives a working one", async () => {
    const clock = manualClock();
    ctx = setup({ accessTokenTtl: 60 }, { now: clock.now });
    const u = await ctx.user("alice");
    expect(claims(u.token).exp).toBe(Math.floor(clock.now() / 1000) + 60);
    clock.advance(59_000);
    expect((await me(u.token)).status).toBe(200);
    clock.advance(2_000);
    expectUnauthenticated(await me(u.token));
    const r = await refresh(u.refreshToken);
    expect(r.status).toBe(200);
    expect((await me(r.body.accessToken)).status).toBe(200);
  });

  test("`alg: none` gets 401", async () => {
    ctx = setup();
    const u = await ctx.user("alice");
    const { sub, sid, exp } = claims(u.token);
    const payload = b64url({ sub, sid, exp, iat: exp - 900 });
    for (const header of [{ alg: "none", typ: "JWT" }, { alg: "none" }, { alg: "None", typ: "JWT" }]) {
      expectUnauthenticated(await me(`${b64url(header)}.${payload}.`));
      expectUnauthenticated(await me(`${b64url(header)}.${payload}`));
    }
    // The real signature on a header that claims `none` fails too.
    expectUnauthenticated(await me(`${b64url({ alg: "none", typ: "JWT" })}.${u.token.split(".")[1]}.${u.token.split(".")[2]}`));
  });

  test("a token signed with another secret, or altered, gets 401", async () => {
    ctx = setup();
    const alice = await ctx.user("alice");
    const bob = await ctx.user("bob");
    const { sub, sid } = claims(alice.token);
    const forged = await createSigner("another-secret-another-secret-0123456789").sign({ sub, sid }, 60);
    expectUnauthenticated(await me(forged));
    // Bob's signature on a payload claiming to be Alice.
    const [h, , s] = bob.token.split(".");
    expectUnauthenticated(await me(`${h}.${alice.token.split(".")[1]}.${s}`));
    // HS512 with the right secret is not accepted either: only HS256 is.
    const { jwt } = await import("@elysiajs/jwt");
    const hs512 = jwt({ name: "jwt", secret: ctx.services.config.jwtSecret, alg: "HS512" }).decorator.jwt;
    expectUnauthenticated(await me(await hs512.sign({ sub, sid, exp: Math.floor(Date.now() / 1000) + 60 })));
  });

  test("a token of a revoked session gets 401", async () => {
    ctx = setup();
    const u = await ctx.user("alice");
    await ctx.services.auth.revokeSession(claims(u.token).sid);
    expectUnauthenticated(await me(u.token));
    expectUnauthenticated(await ctx.call("GET", "/api/users", { token: u.token }));
    expectUnauthenticated(await ctx.call("POST", "/api/auth/ws-ticket", { token: u.token }));
  });
});

describe("GET /api/auth/me", () => {
  test("the caller's own user with email", async () => {
    ctx = setup();
    const reg = await register({ username: "alice", password: PASSWORD, email: "alice@example.com" });
    const res = await me(reg.body.accessToken);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(OWN_USER_KEYS);
    expect(res.body.email).toBe("alice@example.com");
    expect(res.body.emailVerified).toBe(false);
  });
});

describe("POST /api/auth/ws-ticket", () => {
  test("a ticket that can be redeemed once, for the caller's session", async () => {
    ctx = setup();
    const u = await ctx.user("alice");
    const res = await ctx.call("POST", "/api/auth/ws-ticket", { token: u.token });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(["expiresIn", "ticket"]);
    expect(res.body.expiresIn).toBe(30);
    expect(res.body.ticket.length).toBeGreaterThanOrEqual(32);
    expect(await ctx.services.auth.redeemWsTicket(res.body.ticket)).toEqual({ userId: u.id, sessionId: claims(u.token).sid });
    expect(await ctx.services.auth.redeemWsTicket(res.body.ticket)).toBeNull();
    expect(await ctx.services.auth.redeemWsTicket("not-a-ticket")).toBeNull();
  });

  test("tickets are distinct and expire after 30 s", async () => {
    const clock = manualClock();
    ctx = setup({}, { now: clock.now });
    const u = await ctx.user("alice");
    const t1 = (await ctx.call("POST", "/api/auth/ws-ticket", { token: u.token })).body.ticket;
    const t2 = (await ctx.call("POST", "/api/auth/ws-ticket", { token: u.token })).body.ticket;
    expect(t1).not.toBe(t2);
    clock.advance(29_000);
    expect(await ctx.services.auth.redeemWsTicket(t1)).not.toBeNull();
    clock.advance(2_000);
    expect(await ctx.services.auth.redeemWsTicket(t2)).toBeNull();
  });

  test("a ticket dies with its session", async () => {
    ctx = setup();
    const u = await ctx.user("alice");
    const { ticket } = (await ctx.call("POST", "/api/auth/ws-ticket", { token: u.token })).body;
    await ctx.call("POST", "/api/auth/logout", { token: u.token, body: { refreshToken: u.refreshToken } });
    expect(await ctx.services.auth.redeemWsTicket(ticket)).toBeNull();
  });

  test("needs a token", async () => {
    ctx = setup();
    expectUnauthenticated(await ctx.call("POST", "/api/auth/ws-ticket"));
  });
});

describe("rate limits", () => {
  function expectRateLimited(res: TestResponse, retryAfter?: number) {
    expect(res.status).toBe(429);
    expect(errorCode(res)).toBe("RATE_LIMITED");
    const header = res.headers.get("retry-after");
    expect(header).toMatch(/^[1-9]\d*$/);
    if (retryAfter !== undefined) expect(Number(header)).toBe(retryAfter);
    expect(res.body.error.details).toEqual({ retryAfter: Number(header) });
  }

  test("register, login and refresh share RATE_LIMIT_AUTH per client address", async () => {
    const clock = manualClock();
    ctx = setup({ rateLimitAuth: 3 }, { now: clock.now });
    const u = await ctx.user("alice"); // 1
    expect((await login("alice", PASSWORD)).status).toBe(200); // 2
    expect((await refresh(u.refreshToken)).status).toBe(200); // 3
    // 3 a minute: the next one is free in 20 s.
    expectRateLimited(await login("alice", PASSWORD), 20);
    expectRateLimited(await register({ username: "bob", password: PASSWORD }), 20);
    expectRateLimited(await refresh("whatever"), 20);
    // Invalid requests are limited too.
    expectRateLimited(await ctx.call("POST", "/api/auth/login", { body: { username: "" } }), 20);
    // Other routes are not limited.
    expect((await me(u.token)).status).toBe(200);
    clock.advance(20_000);
    expect((await register({ username: "bob", password: PASSWORD })).status).toBe(201);
    expectRateLimited(await login("bob", PASSWORD));
  });

  test("unparseable and non-JSON bodies count and are limited too, before they are read", async () => {
    ctx = setup({ rateLimitAuth: 3 });
    for (const path of ["/api/auth/login", "/api/auth/register", "/api/auth/refresh"]) {
      const res = await ctx.call("POST", path, { body: "{" });
      expect(res.status).toBe(400);
      expect(errorCode(res)).toBe("BAD_REQUEST");
    }
    expectRateLimited(await ctx.call("POST", "/api/auth/login", { body: "{" }));
    expectRateLimited(await ctx.call("POST", "/api/auth/register", { body: "[1,", headers: { "content-type": "text/plain" } }));
    expectRateLimited(await ctx.call("POST", "/api/auth/refresh/", { body: "nul" }));
    // Other routes and methods are not limited.
    expect((await ctx.call("GET", "/health")).status).toBe(200);
    expect((await ctx.call("GET", "/api/auth/login")).status).toBe(404);
  });

  test("0 turns the limit off", async () => {
    ctx = setup({ rateLimitAuth: 0 });
    for (let i = 0; i < 30; i++) expect((await refresh(`unknown-${i}`)).status).toBe(401);
  });

  test("concurrent wrong guesses are counted as they arrive: five get 401, the rest 429", async () => {
    ctx = setup();
    await ctx.user("alice");
    const answers = await Promise.all(Array.from({ length: 40 }, () => login("alice", "wrong-password")));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBe(5);
    expect(statuses.filter((s) => s === 429).length).toBe(35);
    // Unknown names the same.
    const ghosts = await Promise.all(Array.from({ length: 40 }, () => login("ghost", "wrong-password")));
    expect(ghosts.map((r) => r.status).sort()).toEqual(statuses.sort());
  });

  test("each name has its own count: a locked username tells nothing about which address is the user's", async () => {
    ctx = await setupWithMail();
    await registerVerified("alice", "alice@example.com");
    for (let i = 0; i < 5; i++) expectUnauthenticated(await login(i % 2 ? "ALICE" : "alice", "wrong-password"));
    expectRateLimited(await login("alice", PASSWORD), 1);
    // The user's verified address answers as any other name: 401 for a wrong password, not 429.
    const address = await login("alice@example.com", "wrong-password");
    const nobody = await login("nobody@example.com", "wrong-password");
    expectUnauthenticated(address);
    expect(address.body).toEqual(nobody.body);
    expect((await login("Alice@example.com", PASSWORD)).status).toBe(200);
    // Unknown names: five free failures each, whatever they look like.
    for (const name of ["ghost", "ghost@example.com"]) {
      for (let i = 0; i < 5; i++) expectUnauthenticated(await login(i % 2 ? name.toUpperCase() : name, "wrong-password"));
      expectRateLimited(await login(name, "wrong-password"), 1);
    }
  });

  test("failed logins slow a name down, the same whether or not the user exists", async () => {
    const clock = manualClock();
    ctx = setup({}, { now: clock.now });
    await ctx.user("alice");
    const attempt = (name: string, password = "wrong-password") => login(name, password);

    // Five failures are free: real and unknown names get the same 401s.
    for (let i = 0; i < 5; i++) {
      const real = await attempt(i % 2 ? "ALICE" : "alice");
      const ghost = await attempt("ghost");
      expectUnauthenticated(real);
      expect(ghost.status).toBe(real.status);
      expect(ghost.body).toEqual(real.body);
    }
    // Then the name is locked, the right password included, with the same answer for both.
    const lockedReal = await attempt("alice", PASSWORD);
    const lockedGhost = await attempt("ghost");
    expectRateLimited(lockedReal, 1);
    expectRateLimited(lockedGhost, 1);
    expect(lockedGhost.body).toEqual(lockedReal.body);
    // Other names are not affected.
    await ctx.user("bob");
    expect((await attempt("bob", PASSWORD)).status).toBe(200);

    // Each further failure doubles the wait.
    clock.advance(1_000);
    expectUnauthenticated(await attempt("alice"));
    expectRateLimited(await attempt("alice"), 2);
    clock.advance(2_000);
    expectUnauthenticated(await attempt("alice"));
    expectRateLimited(await attempt("alice", PASSWORD), 4);
    // A success after the wait clears the slate.
    clock.advance(4_000);
    expect((await attempt("alice", PASSWORD)).status).toBe(200);
    for (let i = 0; i < 5; i++) expectUnauthenticated(await attempt("alice"));
    expectRateLimited(await attempt("alice"), 1);
  });
});
