/**
 * Search is bounded: searches per user are rate-limited (RATE_LIMIT_SEARCH), and what one
 * search reads is bounded by what the caller can read, not by the server's messages.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { eq, sql } from "drizzle-orm";
import type { TxOptions } from "../../src/db/database";
import { PgSearch } from "../../src/db/messages/pg/search";
import type { MessageStore } from "../../src/db/messages/store";
import { searchTerms } from "../../src/modules/messages/service";
import { errorCode, manualClock, setup, type TestContext, type TestUser } from "../helpers";
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

describe("what a search reads is bounded by what the caller can read", () => {
  let alice: TestUser;
  let lonely: TestUser;
  let big: string;
  const terms = searchTerms("e");
  const store = () => ctx.services.database.messages;

  /** Writes `n` messages into a room at once, oldest first, as an import would. */
  async function fill(roomId: string, senderId: string, n: number, content: (i: number) => string) {
    const { messages, rooms } = ctx.services.database.tables;
    await ctx.services.database.tx(async (db) => {
      const [room] = await db.select({ lastSeq: rooms.lastSeq }).from(rooms).where(eq(rooms.id, roomId));
      const base = room!.lastSeq;
      const at = Date.now() - n;
      for (let from = 0; from < n; from += 500) {
        const rows = Array.from({ length: Math.min(500, n - from) }, (_, k) => from + k).map((i) => ({
          id: Bun.randomUUIDv7(),
          roomId,
          seq: base + i + 1,
          senderId,
          content: content(i),
          createdAt: new Date(at + i),
        }));
        await db.insert(messages).values(rows);
      }
      await db.update(rooms).set({ lastSeq: base + n }).where(eq(rooms.id, roomId));
    });
  }

  beforeEach(async () => {
    ctx = setup();
    [alice, lonely] = [await ctx.user(), await ctx.user()];
    big = await makeRoom(ctx, alice);
    await fill(big, alice.id, 3_000, (i) => `echo ${i} elephant`);
  });

  test("a caller in no room reads nothing: no message, no index work", async () => {
    const indexed = () =>
      ctx.services.database.dialect === "sqlite" ? ctx.services.database.sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM messages_fts_docsize").get()!.n : 0;
    const before = indexed();
    expect(await store().search({ userId: lonely.id, terms, limit: 50 })).toEqual({ ids: [], nextCursor: null, examined: 0 });
    expect(await store().search({ userId: lonely.id, terms, limit: 50, roomId: big })).toEqual({ ids: [], nextCursor: null, examined: 0 });
    // On SQLite the 3,000 messages wait in the backlog: nobody indexed them for this search.
    expect(indexed()).toBe(before);
    expect((await ctx.call("GET", "/api/search/messages?q=e", { token: lonely.token })).body).toEqual({ messages: [], nextCursor: null });
  });

  test("a caller in a small room reads that room's messages, whatever the rest of the server holds", async () => {
    const small = await makeRoom(ctx, lonely);
    const first = await send(ctx, lonely, small, "every");
    const second = await send(ctx, lonely, small, "elk");
    await send(ctx, lonely, small, "nothing here");
    const found = await store().search({ userId: lonely.id, terms, limit: 50 });
    expect(found).toEqual({ ids: [second.id, first.id], nextCursor: null, examined: 3 });
  });

  test("a caller in a large room searches a page at a time, of at most 100", async () => {
    const page = await store().search({ userId: alice.id, terms, limit: 50 });
    expect(page.ids).toHaveLength(50);
    expect(page.nextCursor).not.toBeNull();
    expect(page.examined).toBeLessThanOrEqual(51);
    const most = await ctx.call("GET", "/api/search/messages?q=e&limit=200", { token: alice.token });
    expect(most.body.messages).toHaveLength(100);
    expect(most.body.nextCursor).toEqual(expect.any(String));
  });

  test("a search through the index stops at its budget and answers with a cursor to go on from", async () => {
    // The small room's messages are older than the 3,000 others: found last, newest first.
    const small = await makeRoom(ctx, lonely);
    await fill(small, lonely.id, 2, (i) => `early ${i}`);
    const { messages } = ctx.services.database.tables;
    await ctx.services.database.db.update(messages).set({ createdAt: new Date(0) }).where(eq(messages.roomId, small));
    const limits = { scanRows: 0, indexRows: 100, timeBudgetMs: 60_000 };
    const found: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store().search({ userId: lonely.id, terms, limit: 50, cursor }, limits);
      expect(page.examined).toBeLessThanOrEqual(100);
      found.push(...page.ids);
      cursor = page.nextCursor ?? undefined;
    } while (cursor && ++pages < 100);
    expect(found).toHaveLength(2);
  });

  if (Bun.env.TEST_DATABASE_URL) {
    test("PostgreSQL: the index query runs under the time budget (statement_timeout)", async () => {
      const database = ctx.services.database;
      if (database.dialect !== "pg") throw new Error("PostgreSQL only");
      let budget: string | undefined;
      // The database's transactions, also reading the setting the query ran under.
      const tx = <T>(fn: () => Promise<T>, options?: TxOptions) =>
        database.tx(async () => {
          const result = await fn();
          budget = (await database.pg.execute(sql`SELECT current_setting('statement_timeout') AS v`))[0]!.v as string;
          return result;
        }, options);
      const search = new PgSearch(() => database.pg, database.pgTables, tx, async () => [{ id: big, lastSeq: 3_000 }]);
      const page = await search.search({ userId: alice.id, terms, limit: 10 }, { scanRows: 100, indexRows: 100, timeBudgetMs: 75 });
      expect(page.ids).toHaveLength(10);
      expect(budget).toBe("75ms");
    });

    test("PostgreSQL: an index query stopped at its budget gives way to the newest messages of the scope, with a cursor", async () => {
      // statement_timeout and pg_cancel_backend stop a query with the same error (57014); the
      // test cancels the index query while it waits for a lock, then lets the window that replaces it run.
      const locker = new SQL(ctx.services.config.databaseUrl, { max: 1 });
      const limits = { scanRows: 100, indexRows: 100, timeBudgetMs: 600_000 };
      const waiting = (tx: SQL) => tx`SELECT pid, virtualtransaction AS vxid FROM pg_locks WHERE NOT granted AND relation = 'messages'::regclass`;
      const until = async <T>(tx: SQL, found: (rows: { pid: number; vxid: string }[]) => T | undefined): Promise<T> => {
        for (let i = 0; i < 2_000; i++) {
          const hit = found(await waiting(tx));
          if (hit !== undefined) return hit;
          await Bun.sleep(5);
        }
        throw new Error("the search never waited for the lock");
      };
      try {
        let searching: ReturnType<MessageStore["search"]> | undefined;
        await locker.begin(async (tx) => {
          await tx`LOCK TABLE messages IN ACCESS EXCLUSIVE MODE`;
          searching = store().search({ userId: alice.id, terms, limit: 500 }, limits);
          const first = await until(tx, (rows) => rows[0]);
          await tx`SELECT pg_cancel_backend(${first.pid})`;
          await until(tx, (rows) => (rows.some((r) => r.vxid !== first.vxid) ? true : undefined));
        });
        const page = await searching!;
        expect(page.examined).toBe(100);
        expect(page.ids).toHaveLength(100);
        expect(page.nextCursor).not.toBeNull();
        const next = await store().search({ userId: alice.id, terms, limit: 500, cursor: page.nextCursor! }, limits);
        expect(next.ids).toHaveLength(500);
        expect(new Set([...page.ids, ...next.ids]).size).toBe(600);
      } finally {
        await locker.close();
      }
    });
  }
});
