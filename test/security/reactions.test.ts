/**
 * Reactions are bounded: at most 20 different emoji from one user on a message and 50 on a
 * message (409 CONFLICT naming the limit), and each reaction request, add or remove, counts
 * against the message rate limit.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { errorCode, manualClock, setup, type TestContext, type TestUser } from "../helpers";
import { makeRoom, send } from "../modules/messages-fixtures";

let ctx: TestContext;
afterEach(() => ctx.close());

const path = (messageId: string, emoji: string) => `/api/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`;
const react = (user: TestUser, messageId: string, emoji: string) => ctx.call("PUT", path(messageId, emoji), { token: user.token });
const unreact = (user: TestUser, messageId: string, emoji: string) => ctx.call("DELETE", path(messageId, emoji), { token: user.token });
const code = (n: number) => `:e${n}:`;

describe("reaction limits", () => {
  test("the attack: one user reacting with many different emoji gets 20 on the message, and a small page", async () => {
    ctx = setup();
    const [alice, mallory] = [await ctx.user(), await ctx.user()];
    const room = await makeRoom(ctx, alice, { members: [mallory] });
    const target = await send(ctx, alice, room, "hello");
    const statuses: number[] = [];
    for (let i = 1; i <= 60; i++) statuses.push((await react(mallory, target.id, code(i))).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
    expect(statuses.filter((s) => s === 409)).toHaveLength(40);
    const page = await ctx.call("GET", `/api/rooms/${room}/messages`, { token: alice.token });
    expect(page.body.messages[0].reactions).toHaveLength(20);
    expect(ctx.events.ofType("reaction.added")).toHaveLength(20);
  });

  test("20 different emoji per user: the 21st is 409 naming the limit; the same ones again, or after removing one, are fine", async () => {
    ctx = setup();
    const [alice, bob] = [await ctx.user(), await ctx.user()];
    const room = await makeRoom(ctx, alice, { members: [bob] });
    const target = await send(ctx, alice, room, "hello");
    for (let i = 1; i <= 20; i++) expect((await react(bob, target.id, code(i))).status).toBe(200);
    const over = await react(bob, target.id, code(21));
    expect([over.status, errorCode(over)]).toEqual([409, "CONFLICT"]);
    expect(over.body.error).toMatchObject({ message: expect.stringContaining("20 different emoji"), details: { limit: "emojiPerUser", max: 20 } });
    expect((await react(bob, target.id, code(5))).status).toBe(200);
    // Another user is not held back by bob's.
    expect((await react(alice, target.id, code(21))).status).toBe(200);
    expect((await unreact(bob, target.id, code(1))).status).toBe(200);
    expect((await react(bob, target.id, code(21))).status).toBe(200);
  });

  test("50 different emoji per message: a new one is 409 naming the limit; one the message carries is fine", async () => {
    ctx = setup();
    const [alice, bob, carol] = [await ctx.user(), await ctx.user(), await ctx.user()];
    const room = await makeRoom(ctx, alice, { members: [bob, carol] });
    const target = await send(ctx, alice, room, "hello");
    for (let i = 1; i <= 20; i++) expect((await react(alice, target.id, code(i))).status).toBe(200);
    for (let i = 21; i <= 40; i++) expect((await react(bob, target.id, code(i))).status).toBe(200);
    for (let i = 41; i <= 50; i++) expect((await react(carol, target.id, code(i))).status).toBe(200);
    const over = await react(carol, target.id, code(51));
    expect([over.status, errorCode(over)]).toEqual([409, "CONFLICT"]);
    expect(over.body.error).toMatchObject({ message: expect.stringContaining("50 different reactions"), details: { limit: "emojiPerMessage", max: 50 } });
    expect((await react(carol, target.id, code(1))).status).toBe(200);
    const message = await ctx.call("GET", `/api/messages/${target.id}`, { token: carol.token });
    expect(message.body.reactions).toHaveLength(50);
    expect(message.body.reactions[0]).toEqual({ emoji: code(1), count: 2, me: true });
  });
});

test("concurrent reactions stay within the limits", async () => {
  ctx = setup();
  const [alice, bob] = [await ctx.user(), await ctx.user()];
  const room = await makeRoom(ctx, alice, { members: [bob] });
  const target = await send(ctx, alice, room, "hello");
  const statuses = (await Promise.all(Array.from({ length: 30 }, (_, i) => react(bob, target.id, code(i))))).map((r) => r.status);
  expect(statuses.filter((s) => s === 200)).toHaveLength(20);
  expect(statuses.filter((s) => s === 409)).toHaveLength(10);
  expect((await ctx.call("GET", `/api/messages/${target.id}`, { token: bob.token })).body.reactions).toHaveLength(20);
});

describe("reaction requests count against the message rate limit", () => {
  test("adds and removes share RATE_LIMIT_MESSAGES with sends: 429 with Retry-After", async () => {
    const clock = manualClock();
    ctx = setup({ rateLimitMessages: 4 }, { now: clock.now });
    const [alice, bob] = [await ctx.user(), await ctx.user()];
    const room = await makeRoom(ctx, alice, { members: [bob] });
    const target = await send(ctx, alice, room, "hello");
    expect((await react(bob, target.id, "👍")).status).toBe(200);
    expect((await unreact(bob, target.id, "👍")).status).toBe(200);
    expect((await react(bob, target.id, "🎉")).status).toBe(200);
    expect((await react(bob, target.id, "🎉")).status).toBe(200); // a repeat counts too
    const limited = await unreact(bob, target.id, "🎉");
    expect([limited.status, errorCode(limited)]).toEqual([429, "RATE_LIMITED"]);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await react(bob, target.id, "👍")).status).toBe(429);
    const sent = await ctx.call("POST", `/api/rooms/${room}/messages`, { token: bob.token, body: { content: "and a send" } });
    expect(sent.status).toBe(429);
    // Alice's bucket is her own.
    expect((await react(alice, target.id, "👍")).status).toBe(200);
    clock.advance(10_000);
    expect((await unreact(bob, target.id, "🎉")).status).toBe(200);
  });
});
