/**
 * Work before authentication: a request to a route that needs a token is refused with 401
 * before its body is read, and traffic without a valid token is limited per client address
 * (RATE_LIMIT_ANON), /health and /ready excepted.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../../src/config";
import { needsToken } from "../../src/plugins/auth";
import { errorCode, manualClock, readResponse, setup, type TestContext } from "../helpers";
import { type LiveServer, startServer } from "../realtime/helpers";

let ctx: TestContext | undefined;
let live: LiveServer | undefined;
afterEach(async () => {
  await ctx?.close();
  await live?.close();
  ctx = live = undefined;
});

/** A JSON body of `size` bytes (`{}` and spaces) that counts how often it is read from. */
function countedBody(size: number) {
  let left = size;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const chunk = new Uint8Array(Math.min(left, 512)).fill(32);
        if (stream.pulls++ === 0) chunk.set([0x7b, 0x7d]);
        left -= chunk.length;
        controller.enqueue(chunk);
        if (left === 0) controller.close();
      },
    },
    { highWaterMark: 0 },
  ) as ReadableStream<Uint8Array> & { pulls: number };
  stream.pulls = 0;
  return stream;
}

/** Sends `body` (counted) as JSON to `path`, with the given headers. */
async function sendCounted(c: TestContext, method: string, path: string, headers: Record<string, string> = {}) {
  const body = countedBody(4096);
  const res = await c.app.handle(
    new Request(`http://localhost${path}`, {
      method,
      headers: { "content-type": "application/json", "content-length": "4096", ...headers },
      body,
      duplex: "half",
    } as RequestInit),
  );
  return { res: await readResponse(res), pulls: body.pulls };
}

const SOME_ID = "0190a0a0-0000-7000-8000-000000000000";

describe("authentication before the body", () => {
  test("every route that takes a body and needs a token answers 401 without reading the body", async () => {
    ctx = setup();
    const routes = ctx.app.routes.filter((r) => (r.hooks as { body?: unknown }).body !== undefined && needsToken(r.path));
    expect(routes.length).toBeGreaterThan(10);
    for (const route of routes) {
      const path = route.path.replace(/:\w+/g, (name) => (name === ":code" ? "some-code" : SOME_ID));
      for (const headers of [{}, { authorization: "Bearer not-a-token" }] as Record<string, string>[]) {
        const { res, pulls } = await sendCounted(ctx, route.method, path, headers);
        expect(res.status, `${route.method} ${route.path}`).toBe(401);
        expect(errorCode(res)).toBe("UNAUTHENTICATED");
        expect(pulls, `${route.method} ${route.path} read its body`).toBe(0);
      }
    }
  });

  test("the open routes still read their bodies, and an unknown route is still 404", async () => {
    ctx = setup();
    const login = await sendCounted(ctx, "POST", "/api/auth/login");
    expect(login.res.status).toBe(422);
    expect(login.pulls).toBeGreaterThan(0);
    const unknown = await sendCounted(ctx, "POST", "/api/nope");
    expect(unknown.res.status).toBe(404);
    expect(unknown.pulls).toBe(0);
  });

  test("with a valid token the body is read as before", async () => {
    ctx = setup();
    const alice = await ctx.user();
    const res = await ctx.call("POST", "/api/rooms", { token: alice.token, body: { name: "fine" } });
    expect(res.status).toBe(201);
    // A route that takes no body never reads one.
    const { res: joined, pulls } = await sendCounted(ctx, "POST", `/api/rooms/${res.body.id}/join`, { authorization: `Bearer ${alice.token}` });
    expect(joined.status).toBe(200);
    expect(pulls).toBe(0);
  });
});

describe("RATE_LIMIT_ANON", () => {
  test("is read from the environment: 120 by default, 0 turns it off, a bad value is one line naming it", () => {
    const env = { JWT_SECRET: "a-secret-that-is-long-enough-0123456789" };
    expect(loadConfig(env, "/dev/null").rateLimitAnon).toBe(120);
    expect(loadConfig({ ...env, RATE_LIMIT_ANON: "0" }, "/dev/null").rateLimitAnon).toBe(0);
    expect(loadConfig({ ...env, RATE_LIMIT_ANON: "30" }, "/dev/null").rateLimitAnon).toBe(30);
    for (const value of ["-1", "lots", "1.5"]) {
      const error = (() => {
        try {
          loadConfig({ ...env, RATE_LIMIT_ANON: value }, "/dev/null");
        } catch (error) {
          return error;
        }
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toBe(
        `Invalid configuration: RATE_LIMIT_ANON must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, got "${value}"`,
      );
    }
  });

  test("requests without a valid token share one bucket per address; 429 with Retry-After beyond it", async () => {
    const clock = manualClock();
    ctx = setup({ rateLimitAnon: 3, trustProxy: 1 }, { now: clock.now });
    const from = (address: string) => ({ "x-forwarded-for": address });
    // Registering is anonymous too: from an address of its own.
    const alice = await ctx.call("POST", "/api/auth/register", { body: { username: "alice", password: "correct-horse-battery" }, headers: from("10.0.0.9") });
    expect(alice.status).toBe(201);
    const token = alice.body.accessToken as string;

    const attacker = from("10.0.0.1");
    expect((await ctx.call("GET", "/api/rooms", { headers: attacker })).status).toBe(401);
    expect((await ctx.call("GET", "/api/rooms", { headers: { ...attacker, authorization: "Bearer forged" } })).status).toBe(401);
    expect((await ctx.call("POST", "/api/auth/login", { body: { username: "alice", password: "wrong-password" }, headers: attacker })).status).toBe(401);
    const limited = await ctx.call("GET", "/api/rooms", { headers: attacker });
    expect(limited.status).toBe(429);
    expect(errorCode(limited)).toBe("RATE_LIMITED");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Unknown routes and bodies that would be refused anyway count the same: nothing is done for them.
    expect((await ctx.call("POST", "/api/nope", { body: "{", headers: attacker })).status).toBe(429);

    // Probes, a valid token from the same address, and other addresses are not limited.
    for (let i = 0; i < 5; i++) {
      expect((await ctx.call("GET", "/health", { headers: attacker })).status).toBe(200);
      expect((await ctx.call("GET", "/ready", { headers: attacker })).status).toBe(200);
      expect((await ctx.call("GET", "/api/rooms", { token, headers: attacker })).status).toBe(200);
    }
    expect((await ctx.call("GET", "/api/rooms", { headers: from("10.0.0.2") })).status).toBe(401);

    // The bucket refills: 3 a minute.
    clock.advance(20_000);
    expect((await ctx.call("GET", "/api/rooms", { headers: attacker })).status).toBe(401);
    expect((await ctx.call("GET", "/api/rooms", { headers: attacker })).status).toBe(429);
  });

  test("a WebSocket upgrade with a valid token is not anonymous; one without a credential is", async () => {
    live = await startServer({ rateLimitAnon: 2 });
    // Users made without HTTP, so that no anonymous request is spent on them.
    const { accessToken } = await live.services.auth.register({ username: "sockets", password: "correct-horse-battery" });
    const user = { id: "", username: "sockets", token: accessToken, refreshToken: "" };
    for (let i = 0; i < 3; i++) {
      const client = await live.connect(user, i % 2 === 0 ? "token" : "protocol");
      client.close();
    }
    // A room's own socket too.
    const caller = (await live.services.auth.authenticate(accessToken))!;
    const { id: roomId } = await live.services.rooms.create(caller.userId, { name: "embed" });
    for (let i = 0; i < 3; i++) {
      const client = await live.open(`/rooms/${roomId}?token=${encodeURIComponent(accessToken)}`);
      await client.next("history");
      client.close();
    }
    expect((await live.refusedUpgrade("")).status).toBe(401);
    expect((await live.refusedUpgrade("?ticket=made-up")).status).toBe(401);
    const limited = await live.refusedUpgrade("");
    expect(limited.status).toBe(429);
    expect(errorCode(limited)).toBe("RATE_LIMITED");
    // Still open to the valid token.
    (await live.connect(user, "token")).close();
  });
});
