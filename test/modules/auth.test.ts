import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { errorCode, setup, type TestContext } from "../helpers";

let ctx: TestContext;
beforeEach(() => {
  ctx = setup();
});
afterEach(() => ctx.close());

describe("auth smoke", () => {
  test("register, me, refresh rotates, reuse revokes", async () => {
    const u = await ctx.user("alice");
    const me = await ctx.call("GET", "/api/auth/me", { token: u.token });
    expect(me.status).toBe(200);
    expect(me.body.username).toBe("alice");
    const r1 = await ctx.call("POST", "/api/auth/refresh", { body: { refreshToken: u.refreshToken } });
    expect(r1.status).toBe(200);
    const reuse = await ctx.call("POST", "/api/auth/refresh", { body: { refreshToken: u.refreshToken } });
    expect(reuse.status).toBe(401);
    expect(errorCode(reuse)).toBe("UNAUTHENTICATED");
    const r2 = await ctx.call("POST", "/api/auth/refresh", { body: { refreshToken: r1.body.refreshToken } });
    expect(r2.status).toBe(401);
    const after = await ctx.call("GET", "/api/auth/me", { token: r1.body.accessToken });
    expect(after.status).toBe(401);
    expect(ctx.events.log).toContainEqual({ to: "sessionRevoked", sessionId: expect.any(String) });
  });
});
