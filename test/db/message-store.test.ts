/**
 * The MessageStore contract, one suite for every store: the database's own (SQLite, or
 * PostgreSQL when TEST_DATABASE_URL is set) and the Drizzle-only reference (./reference-store.ts).
 * Each case runs against both on the same data and expects the same answer.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import type { MessageRecord, MessageStore, NewMessage, SearchLimits } from "../../src/db/messages/store";
import { setup, type TestContext, type TestUser } from "../helpers";
import { makeRoom } from "../modules/messages-fixtures";
import { ReferenceMessageStore } from "./reference-store";

let ctx: TestContext;
let alice: TestUser;
let bob: TestUser;
let outsider: TestUser;
let room: string;
/** seq → message id of the room's ten messages. */
let ids: string[];

const own = () => ctx.services.database.messages;
const stores: [string, () => MessageStore][] = [
  [Bun.env.TEST_DATABASE_URL ? "pg" : "sqlite", own],
  ["reference", () => new ReferenceMessageStore(ctx.services.database)],
];

beforeEach(async () => {
  ctx = setup();
  [alice, bob, outsider] = [await ctx.user(), await ctx.user(), await ctx.user()];
  room = await makeRoom(ctx, alice, { members: [bob] });
  ids = [""];
  for (let i = 1; i <= 10; i++) {
    const { message } = await ctx.services.messages.send(i % 2 ? alice.id : bob.id, room, {
      content: `note ${i} ${i % 3 === 0 ? "heron" : "finch"}`,
      replyToId: i > 6 ? ids[2] : null,
    });
    ids.push(message.id);
  }
  await ctx.services.messages.react(bob.id, ids[4]!, "👍", true);
  await ctx.services.messages.react(alice.id, ids[4]!, "👍", true);
  await ctx.services.messages.react(alice.id, ids[5]!, "🎉", true);
  await ctx.services.messages.edit(alice.id, ids[1]!, "note 1 edited");
  await ctx.services.messages.delete(bob.id, ids[8]!);
});
afterEach(() => ctx.close());

const seqs = (records: MessageRecord[]) => records.map((r) => r.message.seq);
const draft = (senderId: string, extra: Partial<NewMessage> = {}): NewMessage => ({
  id: Bun.randomUUIDv7(),
  roomId: room,
  senderId,
  content: "stored",
  metadata: null,
  replyToId: null,
  clientId: null,
  ...extra,
});

for (const [name, store] of stores) {
  describe(`${name} message store`, () => {
    test("history: the newest page, the page below a seq, the page above one, a window", async () => {
      const newest = await store().history(room, "group", { limit: 4 });
      expect([seqs(newest.records), newest.hasMore]).toEqual([[7, 8, 9, 10], true]);
      const below = await store().history(room, "group", { before: 3, limit: 4 });
      expect([seqs(below.records), below.hasMore]).toEqual([[1, 2], false]);
      const above = await store().history(room, "group", { after: 8, limit: 4 });
      expect([seqs(above.records), above.hasMore]).toEqual([[9, 10], false]);
      const window = await store().history(room, "group", { after: 2, before: 7, limit: 3 });
      expect([seqs(window.records), window.hasMore]).toEqual([[3, 4, 5], true]);
      const first = (await store().history(room, "group", { before: 2, limit: 1 })).records[0]!;
      expect(first.message).toMatchObject({ id: ids[1], content: "note 1 edited", senderId: alice.id });
      expect(first.message.editedAt).toBeInstanceOf(Date);
      expect([first.sender?.id, first.roomKind]).toEqual([alice.id, "group"]);
      const deleted = (await store().history(room, "group", { after: 7, limit: 1 })).records[0]!.message;
      expect([deleted.content, deleted.deletedAt instanceof Date]).toEqual(["", true]);
    });

    test("byIds, replies and changedSince answer alike", async () => {
      expect(seqs(await store().byIds([ids[3]!, ids[9]!, "missing"])).sort((a, b) => a - b)).toEqual([3, 9]);
      expect(await store().byIds([])).toEqual([]);
      const replies = await store().replies(ids[2]!, undefined, 2);
      expect([seqs(replies.records), replies.hasMore]).toEqual([[7, 8], true]);
      expect(seqs((await store().replies(ids[2]!, 8, 10)).records)).toEqual([9, 10]);
      const changed = await store().changedSince(room, new Date(0), 10, 10);
      expect([seqs(changed.records), changed.hasMore]).toEqual([[1, 4, 5, 8], false]);
      expect(seqs((await store().changedSince(room, new Date(0), 4, 1)).records)).toEqual([1]);
    });

    test("reactions per emoji with the viewer's own, for a page and for loose messages", async () => {
      const page = (await store().history(room, "group", { after: 3, before: 6, limit: 10 })).records;
      const expected = [
        { messageId: ids[4], emoji: "👍", count: 2, me: true },
        { messageId: ids[5], emoji: "🎉", count: 1, me: false },
      ];
      // Ordered by when each emoji was first used on its message (ties by emoji): these may share a millisecond.
      const byMessage = (list: { messageId: string }[]) => list.sort((a, b) => a.messageId.localeCompare(b.messageId));
      expect(byMessage(await store().reactions(bob.id, page, true))).toEqual(expected);
      expect(byMessage(await store().reactions(bob.id, page, false))).toEqual(expected);
      expect(await store().reactions(outsider.id, await store().byIds([ids[4]!]), false)).toEqual([{ messageId: ids[4], emoji: "👍", count: 2, me: false }]);
    });

    test("search: members' live messages, newest first, paged by cursor", async () => {
      const first = await store().search({ userId: bob.id, terms: ["heron"], limit: 2 });
      // 3, 6 and 9 say heron; none is deleted.
      expect(first.ids).toEqual([ids[9], ids[6]]);
      const next = await store().search({ userId: bob.id, terms: ["heron"], limit: 2, cursor: first.nextCursor! });
      expect([next.ids, next.nextCursor]).toEqual([[ids[3]], null]);
      expect((await store().search({ userId: outsider.id, terms: ["heron"], limit: 10 })).ids).toEqual([]);
      // finch, as a prefix: 1 lost it in its edit and 8 was deleted.
      const finches = await store().search({ userId: bob.id, terms: ["fin"], limit: 10, roomId: room });
      expect(finches.ids).toEqual([10, 7, 5, 4, 2].map((seq) => ids[seq]));
    });

    // Read whole, through the full-text index, or stopped by a budget: followed by its cursors, a search finds the same.
    const LIMITS: [string, SearchLimits][] = [
      ["the scope read whole", { scanRows: 1_000, indexRows: 1_000, timeBudgetMs: 60_000 }],
      ["through the index", { scanRows: 0, indexRows: 1_000, timeBudgetMs: 60_000 }],
      ["through the index, stopping every 2 matches", { scanRows: 0, indexRows: 2, timeBudgetMs: 60_000 }],
      ["through the index, out of time at each look at the clock", { scanRows: 0, indexRows: 1_000, timeBudgetMs: 0 }],
      ["windows of 3 messages", { scanRows: 3, indexRows: 3, timeBudgetMs: 60_000 }],
    ];
    for (const [label, limits] of LIMITS)
      test(`search, ${label}: the same answers, page after page`, async () => {
        const all = async (terms: string[], userId = bob.id) => {
          const found: string[] = [];
          let cursor: string | undefined;
          for (let pages = 0; pages < 50; pages++) {
            const page = await store().search({ userId, terms, limit: 2, cursor }, limits);
            expect(page.ids.length).toBeLessThanOrEqual(2);
            found.push(...page.ids);
            if (!page.nextCursor) return found;
            cursor = page.nextCursor;
          }
          throw new Error("the cursors never ended");
        };
        expect(await all(["heron"])).toEqual([9, 6, 3].map((seq) => ids[seq]));
        expect(await all(["fin"])).toEqual([10, 7, 5, 4, 2].map((seq) => ids[seq]));
        expect(await all(["note"])).toEqual([10, 9, 7, 6, 5, 4, 3, 2, 1].map((seq) => ids[seq]));
        expect(await all(["heron"], outsider.id)).toEqual([]);
      });

    test("insert: a member muted past the batch's time is answered muted, whatever the store remembered of them", async () => {
      const at = 1_700_000_000_000;
      expect((await store().insert([draft(bob.id)], () => at)).map((r) => r.outcome)).toEqual(["created"]);
      const { roomMembers } = ctx.services.database.tables;
      const bobIn = and(eq(roomMembers.roomId, room), eq(roomMembers.userId, bob.id));
      await ctx.services.database.db.update(roomMembers).set({ mutedUntil: new Date(at + 60_000) }).where(bobIn);
      const muted = await store().insert([draft(bob.id), draft(alice.id)], () => at + 59_999);
      expect(muted.map((r) => r.outcome)).toEqual(["muted", "created"]);
      expect((await store().insert([draft(bob.id)], () => at + 60_000)).map((r) => r.outcome)).toEqual(["created"]);
      await ctx.services.database.db.update(roomMembers).set({ mutedUntil: new Date(at + 120_000) }).where(bobIn);
      expect((await store().insert([draft(bob.id)], () => at + 60_001)).map((r) => r.outcome)).toEqual(["muted"]);
      await ctx.services.database.db.update(roomMembers).set({ mutedUntil: null }).where(bobIn);
      expect((await store().insert([draft(bob.id)], () => at + 60_002)).map((r) => r.outcome)).toEqual(["created"]);
    });

    test("insert: created rows take the next seqs; a clientId again, a non-member and a dead parent are answered as such", async () => {
      const retry = draft(alice.id, { clientId: "once" });
      const results = await store().insert(
        [retry, draft(outsider.id), draft(bob.id, { replyToId: ids[8]! }), draft(bob.id, { replyToId: ids[3]! }), { ...retry, id: Bun.randomUUIDv7() }],
        () => 1_700_000_000_000,
      );
      expect(results.map((r) => r.outcome)).toEqual(["created", "not_member", "bad_parent", "created", "duplicate"]);
      expect(results.map((r) => (r.outcome === "created" ? r.row.seq : null))).toEqual([11, null, null, 12, null]);
      expect(results[4]).toEqual({ outcome: "duplicate", id: retry.id });
      const stored = results[0]!.outcome === "created" ? results[0]! : null;
      expect(stored).toMatchObject({ roomKind: "group", sender: { id: alice.id }, row: { createdAt: new Date(1_700_000_000_000) } });
      expect(await store().insert([{ ...retry, id: Bun.randomUUIDv7() }], Date.now)).toEqual([{ outcome: "duplicate", id: retry.id }]);
    });

    test("deliver moves positions forward only, never past the room's last seq", async () => {
      const moved = await store().deliver([
        { roomId: room, userId: bob.id, seq: 6 },
        { roomId: room, userId: alice.id, seq: 11 },
      ]);
      expect(moved).toEqual([{ roomId: room, userId: bob.id, seq: 6, roomKind: "group" }, null]);
      expect(await store().deliver([{ roomId: room, userId: bob.id, seq: 5 }])).toEqual([null]);
    });
  });
}
