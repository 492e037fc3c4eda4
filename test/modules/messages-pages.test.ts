import { afterEach, beforeEach, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import type { MessageService } from "../../src/modules/messages/service";
import { setup, type TestContext, type TestUser } from "../helpers";
import { makeRoom, send } from "./messages-fixtures";

let ctx: TestContext;
let alice: TestUser;
let bob: TestUser;
beforeEach(async () => {
  ctx = setup();
  alice = await ctx.user();
  bob = await ctx.user();
});
afterEach(() => ctx.close());

/** The service with its SQLite page statements switched off: the Drizzle queries PostgreSQL runs. */
function withoutPages(service: MessageService): MessageService {
  const reference = Object.create(service) as MessageService;
  Object.defineProperty(reference, "pages", { value: null });
  return reference;
}

/**
 * History pages have a hand-mapped SQLite path; it must answer exactly what the Drizzle
 * queries answer, for every window and every kind of message.
 */
test("history pages on SQLite's prepared statements equal the Drizzle queries, message for message", async () => {
  const direct = await makeRoom(ctx, alice, { kind: "direct", members: [bob] });
  const group = await makeRoom(ctx, alice, { members: [bob] });
  const carol = await ctx.user();
  await ctx.call("POST", `/api/rooms/${group}/members`, { token: alice.token, body: { userId: carol.id } });
  for (const room of [direct, group]) {
    const sent = [];
    for (let i = 0; i < 12; i++) {
      const who = i % 3 === 0 ? bob : alice;
      sent.push(await send(ctx, who, room, { content: `message ${i}`, metadata: i % 4 === 0 ? { i, tags: ["x"] } : undefined, clientId: `c${i}` }));
    }
    await send(ctx, bob, room, { content: "a reply", replyToId: sent[2].id });
    await ctx.call("PATCH", `/api/messages/${sent[1].id}`, { token: alice.token, body: { content: "edited" } });
    await ctx.call("DELETE", `/api/messages/${sent[4].id}`, { token: alice.token });
    for (const [user, message, emoji] of [[bob, 3, "👍"], [alice, 3, "👍"], [alice, 3, "🎉"], [bob, 7, "🎉"], [alice, 0, "❤️"]] as const)
      expect((await ctx.call("PUT", `/api/messages/${sent[message].id}/reactions/${encodeURIComponent(emoji)}`, { token: user.token })).status).toBe(200);
    await ctx.call("POST", `/api/rooms/${room}/read`, { token: bob.token, body: { seq: 6 } });
  }
  // A sender whose account is gone is shown as a deleted user.
  if (ctx.services.database.dialect === "sqlite") {
    await send(ctx, carol, group, "from carol");
    const { users } = ctx.services.database.tables;
    await ctx.services.database.db.delete(users).where(eq(users.id, carol.id));
  }

  const fast = ctx.services.messages;
  const reference = withoutPages(fast);
  const windows = [
    { limit: 50 },
    { limit: 5 },
    { before: 9, limit: 4 },
    { before: 2, limit: 10 },
    { before: 1, limit: 10 },
    { after: 0, limit: 5 },
    { after: 3, before: 9, limit: 50 },
    { after: 11, limit: 3 },
    { after: 40, limit: 3 },
  ];
  let compared = 0;
  for (const room of [direct, group])
    for (const viewer of [alice, bob])
      for (const window of windows) {
        const expected = await reference.history(viewer.id, room, window);
        expect(await fast.history(viewer.id, room, window)).toEqual(expected);
        compared += expected.messages.length;
      }
  // The windows did reach reactions, edits, deletions, replies, metadata and statuses.
  const page = await fast.history(bob.id, direct, { limit: 50 });
  expect(page.messages.find((m) => m.seq === 4)!.reactions).toEqual([{ emoji: "👍", count: 2, me: true }, { emoji: "🎉", count: 1, me: false }]);
  expect(page.messages.map((m) => m.status)).toContain("read");
  expect(page.messages.some((m) => m.deletedAt !== null && m.content === "")).toBe(true);
  expect(page.messages.some((m) => m.editedAt !== null)).toBe(true);
  expect(page.messages.find((m) => m.seq === 3)!.replyCount).toBe(1);
  expect(compared).toBeGreaterThan(100);
  if (ctx.services.database.dialect === "sqlite") {
    const last = (await fast.history(alice.id, group, { limit: 1 })).messages[0]!;
    expect(last.sender).toEqual({ id: carol.id, username: "deleted", displayName: "Deleted user", avatarUrl: null });
  }
});
