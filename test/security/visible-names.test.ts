/**
 * Names that show nothing: the rule message content follows (only whitespace, format characters
 * such as zero-width spaces and bidi overrides, or Hangul fillers) holds for display names and
 * for the names of rooms, channels and teams too.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { errorCode, setup, type TestContext } from "../helpers";

const INVISIBLE = ["\u200B", "\u202E\u2066", " \u200D\u3164 ", "\uFEFF\u00AD", "\u115F\u1160\uFFA0"];

let ctx: TestContext;
afterEach(async () => {
  await ctx?.close();
});

/** Asserts a 422 naming `field` as blank. */
function expectBlank(res: { status: number; body: any }, field: string) {
  expect(res.status).toBe(422);
  expect(errorCode(res as never)).toBe("VALIDATION_FAILED");
  expect(res.body.error.details.fields).toEqual([{ field, message: "must not be blank" }]);
}

describe("names that show nothing are refused", () => {
  test("display names, at registration and in a profile update", async () => {
    ctx = setup();
    const alice = await ctx.user();
    for (const name of INVISIBLE) {
      expectBlank(await ctx.call("POST", "/api/auth/register", { body: { username: "ghost", password: "correct-horse-battery", displayName: name } }), "displayName");
      expectBlank(await ctx.call("PATCH", "/api/users/me", { token: alice.token, body: { displayName: name } }), "displayName");
    }
    // No account was made under that name.
    expect((await ctx.call("POST", "/api/auth/login", { body: { username: "ghost", password: "correct-horse-battery" } })).status).toBe(401);
    // Visible text with invisible characters in it is kept as sent (trimmed).
    const ok = await ctx.call("PATCH", "/api/users/me", { token: alice.token, body: { displayName: " \u200BAlice\u2060 " } });
    expect(ok.status).toBe(200);
    expect(ok.body.displayName).toBe("\u200BAlice\u2060");
  });

  test("room names, at creation and in an update", async () => {
    ctx = setup();
    const alice = await ctx.user();
    const room = await ctx.call("POST", "/api/rooms", { token: alice.token, body: { name: "visible" } });
    for (const name of INVISIBLE) {
      expectBlank(await ctx.call("POST", "/api/rooms", { token: alice.token, body: { name } }), "name");
      expectBlank(await ctx.call("PATCH", `/api/rooms/${room.body.id}`, { token: alice.token, body: { name } }), "name");
    }
    expect((await ctx.call("GET", `/api/rooms/${room.body.id}`, { token: alice.token })).body.name).toBe("visible");
  });

  test("team and channel names", async () => {
    ctx = setup();
    const alice = await ctx.user();
    const team = await ctx.call("POST", "/api/teams", { token: alice.token, body: { name: "visible" } });
    expect(team.status).toBe(201);
    for (const name of INVISIBLE) {
      expectBlank(await ctx.call("POST", "/api/teams", { token: alice.token, body: { name } }), "name");
      expectBlank(await ctx.call("PATCH", `/api/teams/${team.body.id}`, { token: alice.token, body: { name } }), "name");
      expectBlank(await ctx.call("POST", `/api/teams/${team.body.id}/channels`, { token: alice.token, body: { name } }), "name");
    }
    const channels = await ctx.call("GET", `/api/teams/${team.body.id}/channels`, { token: alice.token });
    expect(channels.body.map((c: { name: string }) => c.name)).toEqual(["general"]);
  });
});
