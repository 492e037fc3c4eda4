import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import type { SqliteDatabase } from "../../src/db";
import { SqliteMessageStore } from "../../src/db/messages/sqlite";
import type { MessageStore } from "../../src/db/messages/store";
import { AppError } from "../../src/errors";
import { type Delivered, GroupCommitWriter, type NewMessage, type WriteOutcome } from "../../src/modules/messages/writer";
import { ReferenceMessageStore } from "../db/reference-store";
import { setup, type TestContext, type TestUser } from "../helpers";
import { lastSeq, makeRoom, member, withTwoConnections } from "./messages-fixtures";

let ctx: TestContext;
let alice: TestUser;
let bob: TestUser;
let room: string;
beforeEach(async () => {
  ctx = setup();
  alice = await ctx.user();
  bob = await ctx.user();
  room = await makeRoom(ctx, alice, { members: [bob] });
});
afterEach(() => ctx.close());

/** The store, counting the batches it was given: one transaction each. */
function counting(store: MessageStore) {
  const counter = { transactions: 0 };
  const wrapped: MessageStore = Object.create(store);
  wrapped.insert = (batch, now) => {
    counter.transactions++;
    return store.insert(batch, now);
  };
  return { store: wrapped, counter };
}

const draft = (senderId: string, content: string, extra: Partial<NewMessage> = {}): NewMessage => ({
  id: Bun.randomUUIDv7(),
  roomId: room,
  senderId,
  content,
  metadata: null,
  replyToId: null,
  clientId: null,
  ...extra,
});

/** The messages table of the database this suite runs on. */
const messagesTable = () => ctx.services.database.tables.messages;

const settle = (writes: Promise<WriteOutcome>[]) => Promise.allSettled(writes);
const seqOf = (r: PromiseSettledResult<WriteOutcome>) =>
  r.status === "fulfilled" && r.value.created ? r.value.row.seq : null;

// The database's own store (SQLite, or PostgreSQL when TEST_DATABASE_URL is set) keeps the reference's rules.
const stores: [string, () => MessageStore][] = [
  [Bun.env.TEST_DATABASE_URL ? "pg" : "sqlite", () => ctx.services.database.messages],
  ["reference", () => new ReferenceMessageStore(ctx.services.database)],
];

for (const [name, makeStore] of stores) {
  describe(`group commit (${name} store)`, () => {
    test("concurrent writes share transactions and take seqs in arrival order", async () => {
      const { store, counter } = counting(makeStore());
      const writer = new GroupCommitWriter(store, { maxBatch: 100 });
      const results = await Promise.all(Array.from({ length: 300 }, (_, i) => writer.write(draft(i % 2 ? bob.id : alice.id, `m${i}`))));
      expect(results.map((r) => (r.created ? r.row.seq : 0))).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      // Three full batches, one transaction each (not one per message).
      expect(counter.transactions).toBe(3);
      expect(await lastSeq(ctx, room)).toBe(300);
      const stored = await ctx.services.database.db.select({ seq: messagesTable().seq, content: messagesTable().content }).from(messagesTable()).where(eq(messagesTable().roomId, room));
      expect(stored.sort((a, b) => a.seq - b.seq).map((r) => r.content)).toEqual(results.map((r) => (r.created ? r.row.content : "")));
      // Sends that arrive while a batch commits go in the next one.
      const second = await Promise.all([writer.write(draft(alice.id, "late 1")), writer.write(draft(bob.id, "late 2"))]);
      expect(second.map((r) => (r.created ? r.row.seq : 0))).toEqual([301, 302]);
      expect(counter.transactions).toBe(4);
    });

    test("under sustained load a commit lingers for more sends; light load and a full batch never wait", async () => {
      const { store, counter } = counting(makeStore());
      const timers: { fire: () => void; ms: number; cancelled: boolean }[] = [];
      const schedule = (fire: () => void, ms: number) => {
        const timer = { fire, ms, cancelled: false };
        timers.push(timer);
        return () => void (timer.cancelled = true);
      };
      const writer = new GroupCommitWriter(store, { maxBatch: 20, lingerFrom: 5, maxLingerMs: 3, schedule });
      // Light load: a batch of 2 commits at the end of the turn, with no timer.
      await Promise.all([writer.write(draft(alice.id, "a")), writer.write(draft(bob.id, "b"))]);
      expect(timers).toHaveLength(0);
      // A batch of 6 (at least lingerFrom): the next commit waits for the timer...
      await Promise.all(Array.from({ length: 6 }, (_, i) => writer.write(draft(alice.id, `burst ${i}`))));
      expect(counter.transactions).toBe(2);
      const lingering = [writer.write(draft(alice.id, "c")), writer.write(draft(bob.id, "d"))];
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      expect(counter.transactions).toBe(2);
      expect(timers).toHaveLength(1);
      expect(timers[0]!.ms).toBe(3);
      // ...and everything sent meanwhile joins it: one commit for all of them.
      lingering.push(writer.write(draft(alice.id, "e")));
      timers[0]!.fire();
      expect((await Promise.all(lingering)).map((r) => (r.created ? r.row.seq : 0))).toEqual([9, 10, 11]);
      expect(counter.transactions).toBe(3);
      // That batch was small (3): the next one does not wait.
      await writer.write(draft(bob.id, "f"))
      expect(timers).toHaveLength(1);
      // A batch that fills while lingering starts at once and cancels the wait.
      await Promise.all(Array.from({ length: 6 }, (_, i) => writer.write(draft(alice.id, `again ${i}`))));
      await new Promise((resolve) => setImmediate(resolve));
      const full = await Promise.all(Array.from({ length: 20 }, (_, i) => writer.write(draft(bob.id, `full ${i}`))));
      expect(full.map((r) => (r.created ? r.row.seq : 0)).at(-1)).toBe(38);
      expect(timers).toHaveLength(2);
      expect(timers[1]!.cancelled).toBe(true);
      expect(await lastSeq(ctx, room)).toBe(38);
    });

    test("a wait that brought no new send (senders that wait for their answers) is not repeated for the next commits", async () => {
      const timers: (() => void)[] = [];
      const schedule = (fire: () => void) => {
        timers.push(fire);
        return () => {};
      };
      const writer = new GroupCommitWriter(makeStore(), { maxBatch: 50, lingerFrom: 5, maxLingerMs: 3, schedule });
      const turn = () => new Promise((resolve) => setImmediate(resolve));
      await Promise.all(Array.from({ length: 6 }, (_, i) => writer.write(draft(alice.id, `burst ${i}`))));
      const waiting = Promise.all([writer.write(draft(alice.id, "a")), writer.write(draft(bob.id, "b"))]);
      await turn();
      await turn();
      expect(timers).toHaveLength(1);
      timers[0]!(); // nothing arrived while it waited
      await waiting;
      // Another large batch, then more sends: they commit at the end of the turn, with no wait.
      await Promise.all(Array.from({ length: 6 }, (_, i) => writer.write(draft(bob.id, `again ${i}`))));
      expect((await writer.write(draft(alice.id, "c"))).created).toBe(true);
      expect(timers).toHaveLength(1);
      expect(await lastSeq(ctx, room)).toBe(15);
    });

    test("a lingering wait lasts about as long as sends kept arriving in the waits before it", async () => {
      const timers: { fire: () => void; ms: number }[] = [];
      const schedule = (fire: () => void, ms: number) => {
        timers.push({ fire, ms });
        return () => {};
      };
      let clock = 0;
      const writer = new GroupCommitWriter(makeStore(), { maxBatch: 100, lingerFrom: 5, maxLingerMs: 20, schedule, clock: () => clock });
      const turn = () => new Promise((resolve) => setImmediate(resolve));
      await Promise.all(Array.from({ length: 6 }, (_, i) => writer.write(draft(alice.id, `first ${i}`))));
      /** One lingering commit: a send opens the wait, five more arrive `after` ms into it. */
      const round = async (after: (wait: number) => number) => {
        const sends = [writer.write(draft(alice.id, "opens"))];
        await turn();
        await turn();
        const timer = timers.at(-1)!;
        const start = clock;
        clock = start + after(timer.ms);
        for (let i = 0; i < 5; i++) sends.push(writer.write(draft(bob.id, `late ${i}`)));
        timer.fire();
        await Promise.all(sends);
        return timer.ms;
      };
      // The first wait is the longest allowed.
      expect(await round(() => 2)).toBe(20);
      // Sends that stop 2 ms into each wait: the waits shorten toward 1.5 × 2 + 1 ms.
      const shortening: number[] = [];
      for (let i = 0; i < 16; i++) shortening.push(await round(() => 2));
      for (let i = 1; i < shortening.length; i++) expect(shortening[i]!).toBeLessThanOrEqual(shortening[i - 1]!);
      expect(shortening.at(-1)!).toBeGreaterThanOrEqual(4);
      expect(shortening.at(-1)!).toBeLessThan(5);
      // Sends that keep arriving to each wait's end: the waits lengthen back to the longest.
      const lengthening: number[] = [];
      for (let i = 0; i < 16; i++) lengthening.push(await round((wait) => wait));
      for (let i = 1; i < lengthening.length; i++) expect(lengthening[i]!).toBeGreaterThanOrEqual(lengthening[i - 1]!);
      expect(lengthening.at(-1)!).toBe(20);
      expect(await lastSeq(ctx, room)).toBe(6 + 33 * 6);
    });

    test("each caller gets its own error; the rest of the batch commits without gaps", async () => {
      const writer = new GroupCommitWriter(makeStore());
      const eve = await ctx.user();
      const parent = await writer.write(draft(alice.id, "parent"));
      if (!parent.created) throw new Error("parent not created");
      const results = await settle([
        writer.write(draft(alice.id, "ok 1")),
        writer.write(draft(eve.id, "not a member")),
        writer.write(draft(bob.id, "reply", { replyToId: parent.row.id })),
        writer.write(draft(bob.id, "bad parent", { replyToId: Bun.randomUUIDv7() })),
        // Breaks the batch inside the database (primary key taken): retried alone, it fails alone.
        writer.write(draft(alice.id, "duplicate id", { id: parent.row.id })),
        writer.write(draft(bob.id, "ok 2")),
        writer.write(draft(alice.id, "wrong room", { roomId: Bun.randomUUIDv7() })),
      ]);
      expect(results.map(seqOf)).toEqual([2, null, 3, null, null, 4, null]);
      const reason = (i: number) => (results[i] as PromiseRejectedResult).reason;
      expect(reason(1)).toBeInstanceOf(AppError);
      expect(reason(1).code).toBe("NOT_FOUND");
      expect(reason(3).code).toBe("VALIDATION_FAILED");
      expect(reason(4)).not.toBeInstanceOf(AppError); // a database error, rendered as 500 by the app
      expect(reason(6).code).toBe("NOT_FOUND");
      expect(await lastSeq(ctx, room)).toBe(4);
      const [stored] = await ctx.services.database.db.select().from(messagesTable()).where(eq(messagesTable().id, parent.row.id));
      expect(stored).toMatchObject({ content: "parent", replyCount: 1 });
    });

    test("a batch of more rows than one INSERT takes is numbered in order, and every row is searchable", async () => {
      const writer = new GroupCommitWriter(makeStore(), { maxBatch: 512 });
      const results = await Promise.all(Array.from({ length: 250 }, (_, i) => writer.write(draft(alice.id, `zebra number ${i}`))));
      expect(results.map((r) => (r.created ? r.row.seq : 0))).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
      const db = ctx.services.database;
      // A search first indexes what waits (SQLite indexes new messages in batches).
      expect((await ctx.services.messages.search(alice.id, { q: "zebra", limit: 1 })).messages).toHaveLength(1);
      if (db.dialect === "sqlite") {
        const found = db.sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM messages_fts WHERE messages_fts MATCH 'zebra'").get();
        expect(found!.n).toBe(250);
      }
      expect((await member(ctx, room, alice.id))!.lastReadSeq).toBe(250);
    });

    test("one batch across rooms and senders: each room numbered gap-free in arrival order, read positions at each sender's last", async () => {
      const carol = await ctx.user();
      const other = await makeRoom(ctx, bob, { members: [alice, carol] });
      const { store, counter } = counting(makeStore());
      const writer = new GroupCommitWriter(store, { maxBatch: 100 });
      const plan: [string, TestUser][] = [
        [room, alice], [other, bob], [room, bob], [other, carol], [other, alice], [room, alice],
        [other, bob], [room, carol], [room, bob], [other, carol], [room, alice], [other, alice],
      ];
      const results = await settle(plan.map(([roomId, sender], i) => writer.write(draft(sender.id, `m${i}`, { roomId }))));
      expect(counter.transactions).toBe(1);
      // carol is not a member of the first room: refused, and no seq is spent on her.
      expect(results.map(seqOf)).toEqual([1, 1, 2, 2, 3, 3, 4, null, 4, 5, 5, 6]);
      expect((results[7] as PromiseRejectedResult).reason.code).toBe("NOT_FOUND");
      expect(await lastSeq(ctx, room)).toBe(5);
      expect(await lastSeq(ctx, other)).toBe(6);
      const stored = await ctx.services.database.db.select({ roomId: messagesTable().roomId, seq: messagesTable().seq, content: messagesTable().content }).from(messagesTable());
      const inRoom = (id: string) => stored.filter((r) => r.roomId === id).sort((a, b) => a.seq - b.seq).map((r) => r.content);
      expect(inRoom(room)).toEqual(["m0", "m2", "m5", "m8", "m10"]);
      expect(inRoom(other)).toEqual(["m1", "m3", "m4", "m6", "m9", "m11"]);
      expect((await member(ctx, room, alice.id))!.lastReadSeq).toBe(5);
      expect((await member(ctx, room, bob.id))!.lastReadSeq).toBe(4);
      expect((await member(ctx, other, bob.id))!.lastReadSeq).toBe(4);
      expect((await member(ctx, other, carol.id))!.lastReadSeq).toBe(5);
      expect((await member(ctx, other, alice.id))!.lastReadSeq).toBe(6);
    });

    test("the same clientId twice in one batch makes one message; the sender's read position follows", async () => {
      const writer = new GroupCommitWriter(makeStore());
      const results = await Promise.all([
        writer.write(draft(alice.id, "a", { clientId: "k" })),
        writer.write(draft(alice.id, "a", { clientId: "k" })),
        writer.write(draft(bob.id, "b", { clientId: "k" })),
      ]);
      expect(results[0]!.created).toBe(true);
      expect(results[1]).toEqual({ created: false, id: (results[0] as { row: { id: string } }).row.id });
      expect(results[2]!.created).toBe(true);
      expect(await lastSeq(ctx, room)).toBe(2);
      expect((await member(ctx, room, alice.id))!.lastReadSeq).toBe(1);
      expect((await member(ctx, room, bob.id))!.lastReadSeq).toBe(2);
    });

    test("a sender who left, or was renamed, since their last send is seen as they are now", async () => {
      const writer = new GroupCommitWriter(makeStore());
      const carol = await ctx.user();
      const other = await makeRoom(ctx, alice, { members: [carol] });
      expect((await writer.write(draft(bob.id, "before"))).created).toBe(true);
      expect((await writer.write(draft(carol.id, "before", { roomId: other }))).created).toBe(true);
      expect((await ctx.call("POST", `/api/rooms/${room}/leave`, { token: bob.token })).status).toBe(204);
      await expect(writer.write(draft(bob.id, "after leaving"))).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect((await ctx.call("PATCH", "/api/users/me", { token: carol.token, body: { displayName: "Carol Renamed" } })).status).toBe(200);
      const renamed = await writer.write(draft(carol.id, "after renaming", { roomId: other }));
      expect(renamed.created && renamed.sender.displayName).toBe("Carol Renamed");
      expect((await ctx.call("DELETE", `/api/rooms/${other}`, { token: alice.token })).status).toBe(204);
      await expect(writer.write(draft(carol.id, "room gone", { roomId: other }))).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect(await lastSeq(ctx, room)).toBe(1);
    });

    test("delivery marks coalesce per member, only move forward, and never past the last seq", async () => {
      const delivered: Delivered[] = [];
      const writer = new GroupCommitWriter(makeStore(), { onDelivered: (d) => delivered.push(d) });
      for (let i = 0; i < 3; i++) await writer.write(draft(alice.id, `m${i}`));
      const eve = await ctx.user();
      await Promise.all([
        writer.markDelivered({ roomId: room, userId: bob.id, seq: 1 }),
        writer.markDelivered({ roomId: room, userId: bob.id, seq: 3 }),
        writer.markDelivered({ roomId: room, userId: bob.id, seq: 2 }),
        writer.markDelivered({ roomId: room, userId: eve.id, seq: 1 }), // not a member: nothing to move
      ]);
      expect(delivered).toEqual([{ roomId: room, userId: bob.id, seq: 3, roomKind: "group" }]);
      expect((await member(ctx, room, bob.id))!.lastDeliveredSeq).toBe(3);
      await writer.markDelivered({ roomId: room, userId: bob.id, seq: 2 });
      await writer.markDelivered({ roomId: room, userId: bob.id, seq: 4 });
      expect((await member(ctx, room, bob.id))!.lastDeliveredSeq).toBe(3);
      expect(delivered).toHaveLength(1);
      await writer.drain();
    });
  });
}

describe.if(!Bun.env.TEST_DATABASE_URL)("the SQLite store's memberships", () => {
  /** A store of its own on the test's connection, and how to count its membership queries. */
  const storeOf = (database: SqliteDatabase) =>
    new SqliteMessageStore(database.sqlite, database.db, database.tables, (fn) => database.tx(() => fn()));

  /** The store, counting its membership queries. */
  function countingStore() {
    const store = storeOf(ctx.services.database as SqliteDatabase);
    const counter = { lookups: 0 };
    const statement = (store as unknown as { writer: { isMember: { get: (...args: string[]) => unknown } } }).writer.isMember;
    const get = statement.get.bind(statement);
    statement.get = (...args: string[]) => {
      counter.lookups++;
      return get(...args);
    };
    return { store, counter };
  }

  test("are read once per sender and room, not per send, until any membership changes", async () => {
    const { store, counter } = countingStore();
    const writer = new GroupCommitWriter(store);
    for (let i = 0; i < 5; i++) await writer.write(draft(alice.id, `a${i}`));
    await Promise.all([writer.write(draft(bob.id, "b1")), writer.write(draft(bob.id, "b2"))]);
    expect(counter.lookups).toBe(2);
    // A membership change anywhere moves the epoch: every membership is read again.
    const carol = await ctx.user();
    expect((await ctx.call("POST", `/api/rooms/${room}/members`, { token: alice.token, body: { userId: carol.id } })).status).toBeLessThan(300);
    await writer.write(draft(alice.id, "after a join"));
    await writer.write(draft(alice.id, "and again"));
    expect(counter.lookups).toBe(3);
  });

  test("a change made by another connection to the same file is seen too", async () => {
    await withTwoConnections(async (mine, theirs) => {
      const writer = new GroupCommitWriter(storeOf(mine));
      const send = (content: string) => writer.write({ ...draft("u", content), roomId: "r" });
      expect((await send("one")).created).toBe(true);
      theirs.sqlite.run("UPDATE users SET display_name = 'U2' WHERE id = 'u'");
      const renamed = await send("two");
      expect(renamed.created && renamed.sender.displayName).toBe("U2");
      theirs.sqlite.run("DELETE FROM room_members WHERE room_id = 'r' AND user_id = 'u'");
      await expect(send("three")).rejects.toMatchObject({ code: "NOT_FOUND" });
    });
  });
});
