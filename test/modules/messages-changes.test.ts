/** messages.changed_at: set by edits, deletes and reaction changes that changed something; what sync replays. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { asc, eq } from "drizzle-orm";
import { manualClock, setup, type TestContext, type TestUser } from "../helpers";
import { makeRoom, send } from "./messages-fixtures";

let ctx: TestContext;
let clock: ReturnType<typeof manualClock>;
beforeEach(() => {
  clock = manualClock();
  ctx = setup({}, { now: clock.now });
});
afterEach(() => ctx.close());

/** seq → changed_at (ms, or null) of the room's messages. */
async function changedAt(roomId: string): Promise<Record<number, number | null>> {
  const { messages } = ctx.services.database.tables;
  const rows = await ctx.services.database.db
    .select({ seq: messages.seq, changedAt: messages.changedAt })
    .from(messages)
    .where(eq(messages.roomId, roomId))
    .orderBy(asc(messages.seq));
  return Object.fromEntries(rows.map((r) => [r.seq, r.changedAt?.getTime() ?? null]));
}

async function roomWith(owner: TestUser, others: TestUser[], count: number) {
  const roomId = await makeRoom(ctx, owner, { members: others });
  const ids: string[] = [];
  for (let i = 1; i <= count; i++) ids.push((await send(ctx, owner, roomId, `message ${i}`)).id);
  return { roomId, ids };
}

const ok = async (res: Promise<{ status: number; body: unknown }>, status = 200) => expect((await res).status).toBe(status);

test("a new message has none; an edit, a delete, an added and a removed reaction set it to their time", async () => {
  const [a, b] = [await ctx.user(), await ctx.user()];
  const { roomId, ids } = await roomWith(a, [b], 5);
  expect(await changedAt(roomId)).toEqual({ 1: null, 2: null, 3: null, 4: null, 5: null });

  const t0 = clock.now();
  clock.advance(10);
  await ok(ctx.call("PATCH", `/api/messages/${ids[0]}`, { token: a.token, body: { content: "edited" } }));
  clock.advance(10);
  await ok(ctx.call("DELETE", `/api/messages/${ids[1]}`, { token: a.token }), 204);
  clock.advance(10);
  await ok(ctx.call("PUT", `/api/messages/${ids[2]}/reactions/👍`, { token: b.token }));
  clock.advance(10);
  await ok(ctx.call("PUT", `/api/messages/${ids[3]}/reactions/👍`, { token: b.token }));
  clock.advance(10);
  await ok(ctx.call("DELETE", `/api/messages/${ids[3]}/reactions/👍`, { token: b.token }));

  expect(await changedAt(roomId)).toEqual({ 1: t0 + 10, 2: t0 + 20, 3: t0 + 30, 4: t0 + 50, 5: null });
});

test("what changes nothing leaves it: the same content, a reaction added twice or removed when absent, a second delete", async () => {
  const [a, b] = [await ctx.user(), await ctx.user()];
  const { roomId, ids } = await roomWith(a, [b], 3);
  await ok(ctx.call("PATCH", `/api/messages/${ids[0]}`, { token: a.token, body: { content: "message 1" } }));
  await ok(ctx.call("DELETE", `/api/messages/${ids[1]}/reactions/👍`, { token: b.token }));
  expect(await changedAt(roomId)).toEqual({ 1: null, 2: null, 3: null });

  const t0 = clock.now();
  await ok(ctx.call("PUT", `/api/messages/${ids[1]}/reactions/👍`, { token: b.token }));
  await ok(ctx.call("DELETE", `/api/messages/${ids[2]}`, { token: a.token }), 204);
  clock.advance(10);
  await ok(ctx.call("PUT", `/api/messages/${ids[1]}/reactions/👍`, { token: b.token }));
  await ok(ctx.call("DELETE", `/api/messages/${ids[2]}`, { token: a.token }), 204);
  expect(await changedAt(roomId)).toEqual({ 1: null, 2: t0, 3: t0 });
});

test("changedSince: the room's messages up to a seq changed at or after a time, in seq order, as everyone sees them", async () => {
  const [a, b, outsider] = [await ctx.user(), await ctx.user(), await ctx.user()];
  const { roomId, ids } = await roomWith(a, [b], 6);
  await ok(ctx.call("PATCH", `/api/messages/${ids[3]}`, { token: a.token, body: { content: "before since" } }));
  clock.advance(10);
  const since = new Date(clock.now());
  await ok(ctx.call("PUT", `/api/messages/${ids[2]}/reactions/🎉`, { token: b.token }));
  await ok(ctx.call("DELETE", `/api/messages/${ids[1]}`, { token: a.token }), 204);
  clock.advance(10);
  await ok(ctx.call("PATCH", `/api/messages/${ids[0]}`, { token: a.token, body: { content: "after since" } }));
  await ok(ctx.call("PATCH", `/api/messages/${ids[5]}`, { token: a.token, body: { content: "beyond through" } }));

  const page = await ctx.services.messages.changedSince(b.id, roomId, { since, through: 5, limit: 500 });
  expect(page.hasMore).toBe(false);
  expect(page.messages.map((m) => [m.seq, m.content, m.deletedAt !== null])).toEqual([
    [1, "after since", false],
    [2, "", true],
    [3, "message 3", false],
  ]);
  // The reacting member's own reaction reads as everyone's: `me` is relative to nobody, as in live events.
  expect(page.messages[2]!.reactions).toEqual([{ emoji: "🎉", count: 1, me: false }]);
  const fresh = await ctx.call("GET", `/api/messages/${ids[0]}`, { token: b.token });
  expect(page.messages[0]).toEqual(fresh.body);

  const capped = await ctx.services.messages.changedSince(b.id, roomId, { since, through: 6, limit: 2 });
  expect([capped.messages.map((m) => m.seq), capped.hasMore]).toEqual([[1, 2], true]);
  expect((await ctx.services.messages.changedSince(b.id, roomId, { since: new Date(clock.now() + 1), through: 6, limit: 10 })).messages).toEqual([]);
  await expect(ctx.services.messages.changedSince(outsider.id, roomId, { since, through: 6, limit: 10 })).rejects.toMatchObject({ status: 404 });
});
