/**
 * Edit, react and delete check the caller's membership and role inside the transaction that
 * writes: a removal or demotion that commits between an earlier look and the write wins.
 * Each case commits the change right before the action's transaction begins, which is after
 * any check made outside it.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { Database } from "../../src/db";
import { errorCode, setup, type TestContext, type TestUser } from "../helpers";
import { makeRoom, send } from "../modules/messages-fixtures";

let ctx: TestContext;
let alice: TestUser;
let bob: TestUser;
let room: string;

beforeEach(async () => {
  ctx = setup();
  [alice, bob] = [await ctx.user(), await ctx.user()];
  room = await makeRoom(ctx, alice, { admins: [bob] });
});
afterEach(() => ctx.close());

/** Commits `change` just before the next transaction of the app begins; `hooked` tells that it ran. */
function beforeNextTransaction(change: () => Promise<unknown>) {
  const database: Database = ctx.services.database;
  const tx = database.tx;
  const seen = { hooked: false };
  database.tx = async (fn, options) => {
    database.tx = tx;
    await change();
    seen.hooked = true;
    return tx(fn, options);
  };
  return seen;
}

const removeBob = () => ctx.services.rooms.removeMember(alice.id, room, bob.id);
const demoteBob = () => ctx.services.rooms.changeRole(alice.id, room, bob.id, "member");
const message = async (id: string) => (await ctx.call("GET", `/api/messages/${id}`, { token: alice.token })).body;

describe("a removal or demotion that commits first wins", () => {
  test("edit: a member removed just before the write can't edit", async () => {
    const mine = await send(ctx, bob, room, "before");
    const hook = beforeNextTransaction(removeBob);
    const res = await ctx.call("PATCH", `/api/messages/${mine.id}`, { token: bob.token, body: { content: "after" } });
    expect(hook.hooked).toBe(true);
    expect([res.status, errorCode(res)]).toEqual([404, "NOT_FOUND"]);
    expect((await message(mine.id)).content).toBe("before");
    expect(ctx.events.ofType("message.updated")).toEqual([]);
  });

  test("react: a member removed just before the write can't react", async () => {
    const theirs = await send(ctx, alice, room, "react to me");
    const hook = beforeNextTransaction(removeBob);
    const res = await ctx.call("PUT", `/api/messages/${theirs.id}/reactions/${encodeURIComponent("👍")}`, { token: bob.token });
    expect(hook.hooked).toBe(true);
    expect([res.status, errorCode(res)]).toEqual([404, "NOT_FOUND"]);
    expect((await message(theirs.id)).reactions).toEqual([]);
    expect(ctx.events.ofType("reaction.added")).toEqual([]);
  });

  test("react: removing a reaction, likewise", async () => {
    const theirs = await send(ctx, alice, room, "react to me");
    await ctx.services.messages.react(bob.id, theirs.id, "👍", true);
    const hook = beforeNextTransaction(removeBob);
    const res = await ctx.call("DELETE", `/api/messages/${theirs.id}/reactions/${encodeURIComponent("👍")}`, { token: bob.token });
    expect(hook.hooked).toBe(true);
    expect(res.status).toBe(404);
    expect((await message(theirs.id)).reactions).toEqual([{ emoji: "👍", count: 1, me: false }]);
  });

  test("delete: an admin demoted just before the write can't delete someone else's message", async () => {
    const theirs = await send(ctx, alice, room, "keep me");
    const hook = beforeNextTransaction(demoteBob);
    const res = await ctx.call("DELETE", `/api/messages/${theirs.id}`, { token: bob.token });
    expect(hook.hooked).toBe(true);
    expect([res.status, errorCode(res)]).toEqual([403, "FORBIDDEN"]);
    expect(await message(theirs.id)).toMatchObject({ content: "keep me", deletedAt: null });
    expect(ctx.events.ofType("message.deleted")).toEqual([]);
  });

  test("delete: a member removed just before the write can't delete even their own message", async () => {
    const mine = await send(ctx, bob, room, "mine");
    const hook = beforeNextTransaction(removeBob);
    const res = await ctx.call("DELETE", `/api/messages/${mine.id}`, { token: bob.token });
    expect(hook.hooked).toBe(true);
    expect(res.status).toBe(404);
    expect(await message(mine.id)).toMatchObject({ content: "mine", deletedAt: null });
  });

  test("without a change in between, the same calls succeed", async () => {
    const mine = await send(ctx, bob, room, "before");
    const theirs = await send(ctx, alice, room, "theirs");
    expect((await ctx.call("PATCH", `/api/messages/${mine.id}`, { token: bob.token, body: { content: "after" } })).status).toBe(200);
    expect((await ctx.call("PUT", `/api/messages/${theirs.id}/reactions/${encodeURIComponent("👍")}`, { token: bob.token })).status).toBe(200);
    expect((await ctx.call("DELETE", `/api/messages/${theirs.id}`, { token: bob.token })).status).toBe(204);
  });
});
