/**
 * Two tabs refreshing at once: both present the same refresh token. They must both get the same
 * new pair, and it must work; only a reuse outside that (later, or after the new pair was used)
 * ends the session, and no 200 ever carries tokens that are already dead.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { REFRESH_GRACE_MS } from "../../src/modules/auth/service";
import { unseal } from "../../src/modules/auth/successor";
import { errorCode, manualClock, setup, type TestContext, type TestResponse } from "../helpers";

let ctx: TestContext;
afterEach(async () => {
  await ctx?.close();
});

const refresh = (refreshToken: string) => ctx.call("POST", "/api/auth/refresh", { body: { refreshToken } });
const me = (token: string) => ctx.call("GET", "/api/auth/me", { token });
const sid = (token: string): string => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")).sid;

function expectUnauthenticated(res: TestResponse) {
  expect(res.status).toBe(401);
  expect(errorCode(res)).toBe("UNAUTHENTICATED");
}

/** Every answer is 200 with one and the same pair, and that pair works. */
async function expectOnePair(answers: TestResponse[]) {
  for (const res of answers) expect(res.status).toBe(200);
  const [first] = answers;
  for (const res of answers) {
    expect(res.body.accessToken).toBe(first!.body.accessToken);
    expect(res.body.refreshToken).toBe(first!.body.refreshToken);
  }
  expect((await me(first!.body.accessToken)).status).toBe(200);
  const next = await refresh(first!.body.refreshToken);
  expect(next.status).toBe(200);
  expect((await me(next.body.accessToken)).status).toBe(200);
  return first!.body as { accessToken: string; refreshToken: string };
}

describe("a double submit of a refresh token", () => {
  for (const count of [2, 5])
    test(`${count} concurrent refreshes with one token all get the same working pair`, async () => {
      ctx = setup();
      const u = await ctx.user("alice");
      const answers = await Promise.all(Array.from({ length: count }, () => refresh(u.refreshToken)));
      await expectOnePair(answers);
      expect(ctx.events.log.filter((e) => e.to === "sessionRevoked")).toEqual([]);
      expect((await me(u.token)).status).toBe(200);
    });

  test("within 10 s, one after the other, gets the same pair again", async () => {
    const clock = manualClock();
    ctx = setup({}, { now: clock.now });
    const u = await ctx.user("alice");
    const first = await refresh(u.refreshToken);
    clock.advance(REFRESH_GRACE_MS);
    const again = await refresh(u.refreshToken);
    expect(again.body.expiresIn).toBe(first.body.expiresIn - REFRESH_GRACE_MS / 1000);
    await expectOnePair([first, again]);
  });

  test("after 10 s ends the session: the new pair dies too", async () => {
    const clock = manualClock();
    ctx = setup({}, { now: clock.now });
    const u = await ctx.user("alice");
    const first = await refresh(u.refreshToken);
    expect(first.status).toBe(200);
    clock.advance(REFRESH_GRACE_MS + 1);
    expectUnauthenticated(await refresh(u.refreshToken));
    expect(ctx.events.log).toContainEqual({ to: "sessionRevoked", sessionId: sid(u.token) });
    expectUnauthenticated(await me(first.body.accessToken));
    expectUnauthenticated(await refresh(first.body.refreshToken));
  });

  test("after the new refresh token was used ends the session, even within 10 s", async () => {
    ctx = setup();
    const u = await ctx.user("alice");
    const first = await refresh(u.refreshToken);
    const second = await refresh(first.body.refreshToken);
    expect(second.status).toBe(200);
    expectUnauthenticated(await refresh(u.refreshToken));
    expectUnauthenticated(await me(second.body.accessToken));
    expectUnauthenticated(await refresh(second.body.refreshToken));
    // And the token of the middle generation, used once already, is no good either.
    expectUnauthenticated(await refresh(first.body.refreshToken));
  });

  test("never answers 200 for a session that has ended", async () => {
    ctx = setup();
    const u = await ctx.user("alice");
    const first = await refresh(u.refreshToken);
    await ctx.call("POST", "/api/auth/logout", { token: first.body.accessToken, body: { refreshToken: first.body.refreshToken } });
    const answers = await Promise.all(Array.from({ length: 3 }, () => refresh(u.refreshToken)));
    for (const res of answers) expectUnauthenticated(res);
  });

  test("an access token that expired within the window is replaced by a working one", async () => {
    const clock = manualClock();
    ctx = setup({ accessTokenTtl: 5 }, { now: clock.now });
    const u = await ctx.user("alice");
    const first = await refresh(u.refreshToken);
    clock.advance(6_000);
    expectUnauthenticated(await me(first.body.accessToken));
    const again = await refresh(u.refreshToken);
    expect(again.status).toBe(200);
    expect(again.body.refreshToken).toBe(first.body.refreshToken);
    expect(again.body.expiresIn).toBe(5);
    expect((await me(again.body.accessToken)).status).toBe(200);
  });
});

describe("what the database keeps of the new pair", () => {
  test("nothing a reader of it can use, and only for the newest exchange", async () => {
    ctx = setup();
    const u = await ctx.user("alice");
    const first = await refresh(u.refreshToken);
    const { database } = ctx.services;
    const { refreshTokens } = database.tables;
    const rows = await database.db.select().from(refreshTokens).where(eq(refreshTokens.sessionId, sid(u.token)));
    const dump = JSON.stringify(rows);
    for (const secret of [u.refreshToken, first.body.refreshToken, first.body.accessToken, first.body.accessToken.split(".")[2]!])
      expect(dump).not.toContain(secret);
    const used = rows.find((r) => r.usedAt !== null)!;
    expect(used.successorSealed).not.toBeNull();
    // The stored hash does not open it; only the token itself does.
    expect(unseal(used.tokenHash, used.successorSealed!)).toBeNull();
    expect(unseal(u.refreshToken, used.successorSealed!)).toEqual({ accessToken: first.body.accessToken, refreshToken: first.body.refreshToken });

    // Once the session rotates again, the older sealed pair is gone.
    await refresh(first.body.refreshToken);
    const after = await database.db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, used.tokenHash));
    expect(after[0]!.successorSealed).toBeNull();
  });
});
