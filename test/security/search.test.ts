/**
 * Search is bounded: searches per user are rate-limited (RATE_LIMIT_SEARCH), and what one
 * search reads is bounded by what the caller can read, not by the server's messages.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { errorCode, manualClock, setup, type TestContext } from "../helpers";
import { makeRoom, send } from "../modules/messages-fixtures";

let ctx: TestContext;
afterEach(() => ctx.close());

describe("RATE_LIMIT_SEARCH", () => {
  test("searches per user and minute: beyond it 429 with Retry-After, and a minute later searches again", async () => {
    const clock = manualClock();
    ctx = setup({ rateLimitSearch: 3 }, { now: clock.now });
    const [alice, bob] = [await ctx.user(), await ctx.user()];
    const room = await makeRoom(ctx, alice);
    await send(ctx, alice, room, "find me");
    const search = (token: string) => ctx.call("GET", "/api/search/messages?q=find", { token });
    for (let i = 0; i < 3; i++) expect((await search(alice.token)).body.messages).toHaveLength(1);
    const limited = await search(alice.token);
    expect([limited.status, errorCode(limited)]).toEqual([429, "RATE_LIMITED"]);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    // A query that finds nothing counts too; other users have their own count.
    expect((await ctx.call("GET", "/api/search/messages?q=%21%21", { token: alice.token })).status).toBe(429);
    expect((await search(bob.token)).status).toBe(200);
    clock.advance(60_000);
    expect((await search(alice.token)).status).toBe(200);
  });

  test("0 turns it off", async () => {
    ctx = setup({ rateLimitSearch: 0 });
    const alice = await ctx.user();
    for (let i = 0; i < 50; i++) expect((await ctx.call("GET", "/api/search/messages?q=x", { token: alice.token })).status).toBe(200);
  });
});
