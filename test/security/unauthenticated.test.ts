/**
 * Work before authentication: a request to a route that needs a token is refused with 401
 * before its body is read.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { needsToken } from "../../src/plugins/auth";
import { errorCode, readResponse, setup, type TestContext } from "../helpers";

let ctx: TestContext | undefined;
afterEach(async () => {
  await ctx?.close();
  ctx = undefined;
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
