import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { SqliteDatabase } from "../../src/db";
import { openSqlite } from "../../src/db/sqlite";
import { GroupCommitWriter, type NewMessage } from "../../src/modules/messages/writer";
import { CLIENT_KEY_SQL, decodeBlock, FingerprintTable, fingerprint } from "../../src/db/messages/sqlite/client-ids";
import { BACKLOG_ROWS, clientKey, SqliteBacklog, WRITER_SPAN } from "../../src/db/messages/sqlite/backlog";
import { setup, type TestContext, type TestUser } from "../helpers";
import { makeRoom, withTwoConnections } from "./messages-fixtures";

// SQLite's backlog of new messages; PostgreSQL indexes every row in its own commit.
describe.if(!Bun.env.TEST_DATABASE_URL)("SQLite backlog", () => {
  let ctx: TestContext;
  let alice: TestUser;
  let room: string;
  let db: SqliteDatabase;
  beforeEach(async () => {
    ctx = setup();
    alice = await ctx.user();
    room = await makeRoom(ctx, alice);
    db = ctx.services.database as SqliteDatabase;
  });
  afterEach(() => ctx.close());

  describe("full-text search", () => {
    const send = (content: string, roomId = room) => ctx.services.messages.send(alice.id, roomId, { content });
    const search = async (q: string) =>
      (await ctx.services.messages.search(alice.id, { q, limit: 100 })).messages.map((m) => m.content).sort();
    /** Messages in the index (its own table of documents: reading messages_fts itself reads the messages). */
    const indexed = () => db.sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM messages_fts_docsize").get()!.n;
    const upto = () => db.sqlite.query<{ upto: number }, []>("SELECT indexed_upto AS upto FROM search_state").get()!.upto;
    /**
     * The index, read term by term from the index itself, holds exactly the live messages up to
     * indexed_upto, each with the words of its content as it is now (the test's contents are
     * ASCII words, which the tokenizer only lowercases).
     */
    const consistent = () => {
      db.sqlite.run("CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_terms USING fts5vocab(main, messages_fts, 'instance')");
      const actual = new Map<number, string[]>();
      for (const { doc, term } of db.sqlite.query<{ doc: number; term: string }, []>("SELECT doc, term FROM temp.fts_terms").all())
        actual.set(doc, [...(actual.get(doc) ?? []), term]);
      const expected = new Map<number, string[]>();
      const live = db.sqlite
        .query<{ rowid: number; content: string }, [number]>("SELECT rowid, content FROM messages WHERE deleted_at IS NULL AND rowid <= ?")
        .all(upto());
      for (const { rowid, content } of live) expected.set(rowid, content.toLowerCase().match(/[a-z0-9]+/g) ?? []);
      const sorted = (m: Map<number, string[]>) => [...m].map(([doc, terms]) => [doc, [...terms].sort()] as const).sort((a, b) => a[0] - b[0]);
      expect(sorted(actual)).toEqual(sorted(expected));
    };

    test("new messages wait outside the index, and a search indexes them first: it finds every committed message", async () => {
      await send("kiwi one");
      await send("kiwi two");
      expect(indexed()).toBe(0);
      expect(await search("kiwi")).toEqual(["kiwi one", "kiwi two"]);
      expect(indexed()).toBe(2);
      await send("kiwi three");
      expect(await search("kiwi")).toEqual(["kiwi one", "kiwi three", "kiwi two"]);
      consistent();
    });

    test("the writer indexes the backlog in its own transaction once enough messages wait", async () => {
      await Promise.all(Array.from({ length: BACKLOG_ROWS - 1 }, (_, i) => send(`mango ${i}`)));
      expect(indexed()).toBe(0);
      await send("mango last");
      expect(indexed()).toBe(BACKLOG_ROWS);
      expect(upto()).toBe(db.sqlite.query<{ n: number }, []>("SELECT max(rowid) AS n FROM messages").get()!.n);
      consistent();
    });

    test("a backlog the writer did not make (rows written straight into the file) is indexed a bounded span per batch", async () => {
      const imported = 3 * WRITER_SPAN;
      const insert = db.sqlite.prepare(
        "INSERT INTO messages (id, room_id, seq, sender_id, content, created_at, reply_count) VALUES (?, ?, ?, ?, ?, ?, 0)",
      );
      db.sqlite.transaction(() => {
        for (let i = 1; i <= imported; i++) insert.run(Bun.randomUUIDv7(), room, i, alice.id, `quince ${i}`, Date.now());
        db.sqlite.run("UPDATE rooms SET last_seq = ? WHERE id = ?", [imported, room]);
      })();
      expect(indexed()).toBe(0);
      await Promise.all(Array.from({ length: BACKLOG_ROWS }, (_, i) => send(`lime ${i}`)));
      // One indexing of at most WRITER_SPAN rows, the oldest first: the rest still waits.
      expect(indexed()).toBe(WRITER_SPAN);
      expect(upto()).toBeLessThan(db.sqlite.query<{ n: number }, []>("SELECT max(rowid) AS n FROM messages").get()!.n);
      consistent();
      await Promise.all(Array.from({ length: BACKLOG_ROWS }, (_, i) => send(`lemon ${i}`)));
      expect(indexed()).toBe(2 * WRITER_SPAN);
      // A search still finds every message: it indexes what is left first.
      expect(await search("quince")).toHaveLength(100);
      expect((await ctx.services.messages.search(alice.id, { q: "lemon", limit: 5 })).messages).toHaveLength(5);
      expect(indexed()).toBe(imported + 2 * BACKLOG_ROWS);
      consistent();
    });

    test("edits and deletes are searched as they are now, whether the message was indexed yet or not", async () => {
      const waiting = (await send("papaya waiting")).message;
      const early = (await send("papaya early")).message;
      const gone = (await send("papaya gone")).message;
      expect(await search("papaya")).toHaveLength(3); // indexes all three
      const late = (await send("papaya late")).message;
      const lateGone = (await send("papaya late gone")).message;
      await ctx.services.messages.edit(alice.id, early.id, "guava early");
      await ctx.services.messages.edit(alice.id, late.id, "guava late");
      await ctx.services.messages.delete(alice.id, gone.id);
      await ctx.services.messages.delete(alice.id, lateGone.id);
      expect(await search("papaya")).toEqual(["papaya waiting"]);
      expect(await search("guava")).toEqual(["guava early", "guava late"]);
      expect(waiting.content).toBe("papaya waiting");
      consistent();
    });

    test("deleting the newest messages brings indexed_upto down with them: messages that take their rowids wait like any other", async () => {
      const other = await makeRoom(ctx, alice);
      await send("plum keep");
      for (let i = 0; i < 3; i++) await send(`plum doomed ${i}`, other);
      expect(await search("plum")).toHaveLength(4);
      const maxRowid = () => db.sqlite.query<{ n: number }, []>("SELECT max(rowid) AS n FROM messages").get()!.n;
      const before = maxRowid();
      // Deleting the room deletes its messages, the newest rows: their rowids are free again.
      expect((await ctx.call("DELETE", `/api/rooms/${other}`, { token: alice.token })).status).toBe(204);
      expect(maxRowid()).toBe(before - 3);
      expect(upto()).toBe(maxRowid());
      // Left the full-text index first: no term of theirs is left to match a message that reuses a rowid.
      consistent();
      await send("plum reborn");
      await send("plum again");
      expect(upto()).toBe(before - 3);
      expect(indexed()).toBe(1);
      expect(await search("plum")).toEqual(["plum again", "plum keep", "plum reborn"]);
      expect(await search("doomed")).toEqual([]);
      consistent();
    });

    test("a catch-up moves in steps of at most its span and stops at the end it was given", async () => {
      for (let i = 0; i < 5; i++) await send(`fig ${i}`);
      const index = new SqliteBacklog(db.sqlite);
      const end = index.backlogEnd()!;
      expect(end).toBeGreaterThan(upto());
      const steps: boolean[] = [];
      for (let i = 0; i < 10; i++) {
        const more = await db.tx(async () => index.index(end, 2));
        steps.push(more);
        if (!more) break;
      }
      expect(steps).toEqual([true, true, false]);
      expect(upto()).toBe(end);
      expect(index.backlogEnd()).toBeNull();
      expect(indexed()).toBe(5);
      consistent();
    });
  });

  describe("clientIds", () => {
    const send = (content: string, clientId: string, roomId = room) => ctx.services.messages.send(alice.id, roomId, { content, clientId });
    /** Entries in the clientId blocks (12 bytes each). */
    const recorded = () => db.sqlite.query<{ n: number }, []>("SELECT coalesce(sum(length(data)), 0) / 12 AS n FROM client_id_blocks").get()!.n;
    /** The messages the blocks point at that still carry the clientId they were filed under. */
    const filed = () => {
      const out: string[] = [];
      for (const { data } of db.sqlite.query<{ data: Uint8Array }, []>("SELECT data FROM client_id_blocks ORDER BY id").all()) {
        const { rowids, prints } = decodeBlock(data);
        rowids.forEach((rowid, i) => {
          const row = db.sqlite
            .query<{ key: string; c: string }, [number]>(`SELECT ${CLIENT_KEY_SQL} AS key, client_id AS c FROM messages WHERE rowid = ?`)
            .get(rowid);
          if (row && fingerprint(row.key, db.messages.backlog.clientIds.seed) === prints[i]) out.push(row.c);
        });
      }
      return out.sort();
    };
    const flush = () => ctx.services.messages.search(alice.id, { q: "anything", limit: 1 });

    test("a retry finds its first message while it waits in the backlog, and after it was indexed", async () => {
      const first = await send("one", "k1");
      expect(first.created).toBe(true);
      expect(recorded()).toBe(0);
      const retry = await send("one again", "k1");
      expect(retry).toMatchObject({ created: false, message: { id: first.message.id, content: "one" } });
      await flush();
      expect(recorded()).toBe(1);
      expect(await send("one more time", "k1")).toMatchObject({ created: false, message: { id: first.message.id } });
      expect((await send("other", "k2")).created).toBe(true);
      expect(db.sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM messages").get()!.n).toBe(2);
    });

    test("the writer records clientIds in batches, and a retry of any of them is answered with its message", async () => {
      const sent = await Promise.all(Array.from({ length: BACKLOG_ROWS }, (_, i) => send(`m${i}`, `c${i}`)));
      expect(recorded()).toBe(BACKLOG_ROWS);
      const again = await Promise.all([0, 100, BACKLOG_ROWS - 1].map((i) => send("retry", `c${i}`)));
      expect(again.map((r) => [r.created, r.message.id])).toEqual([0, 100, BACKLOG_ROWS - 1].map((i) => [false, sent[i]!.message.id]));
    });

    test("messages deleted with their room match nothing, indexed or waiting", async () => {
      const other = await makeRoom(ctx, alice);
      await send("stays", "s1");
      const goes = await send("goes", "g1", other);
      await flush();
      await send("goes too", "g2", other);
      await send("stays too", "s2");
      expect((await ctx.call("DELETE", `/api/rooms/${other}`, { token: alice.token })).status).toBe(204);
      await flush();
      expect(filed()).toEqual(["s1", "s2"]);
      const backlog = db.messages.backlog;
      db.sqlite.transaction(() => {
        backlog.begin();
        expect(backlog.find(other, alice.id, "g1")).toBeUndefined();
        expect(backlog.find(other, alice.id, "g2")).toBeUndefined();
        expect(backlog.find(room, alice.id, "s1")).toBeString();
      })();
      expect(goes.created).toBe(true);
    });

    test("a message that takes a deleted one's rowid waits in the backlog, and a retry still finds it", async () => {
      const other = await makeRoom(ctx, alice);
      await send("keep", "k");
      await send("doomed", "d", other);
      await flush();
      expect((await ctx.call("DELETE", `/api/rooms/${other}`, { token: alice.token })).status).toBe(204);
      const reborn = await send("reborn", "r");
      // It took the rowid of "doomed", whose block entry now points at it under another fingerprint.
      expect(filed()).toEqual(["k"]);
      expect(await send("reborn again", "r")).toMatchObject({ created: false, message: { id: reborn.message.id } });
      await flush();
      expect(filed()).toEqual(["k", "r"]);
      expect(await send("reborn once more", "r")).toMatchObject({ created: false, message: { id: reborn.message.id } });
    });

    test("messages that share a fingerprint are told apart by their row", () => {
      const table = new FingerprintTable();
      for (let i = 1; i <= 5000; i++) table.add(i % 7 === 0 ? 42 : i * 2654435761, i);
      expect(table.size).toBe(5000);
      expect(table.candidates(42)).toEqual(Array.from({ length: 714 }, (_, i) => (i + 1) * 7));
      expect(table.candidates(1)).toEqual([]);
    });

    test("two clientIds with one fingerprint each get their own message back", async () => {
      // A pair of clientIds whose keys collide in 32 bits under this database's key: about 77,000 tries on average.
      const seed = db.messages.backlog.clientIds.seed;
      const seen = new Map<number, string>();
      let pair: [string, string] | undefined;
      for (let i = 0; i < 1_000_000 && !pair; i++) {
        const clientId = `c${i}`;
        const print = fingerprint(clientKey(room, alice.id, clientId), seed);
        const earlier = seen.get(print);
        if (earlier !== undefined) pair = [earlier, clientId];
        else seen.set(print, clientId);
      }
      expect(pair).toBeDefined();
      const [x, y] = pair!;
      const first = await send("x", x);
      await flush();
      expect(await send("y", y)).toMatchObject({ created: true });
      const second = await send("y again", y);
      await flush();
      expect(recorded()).toBe(2);
      expect(await send("x again", x)).toMatchObject({ created: false, message: { id: first.message.id, content: "x" } });
      expect(await send("y once more", y)).toMatchObject({ created: false, message: { id: second.message.id, content: "y" } });
    });

    test("a retry through another connection (another process) finds a message still waiting", async () => {
      await withTwoConnections(async (mine, theirs) => {
        const draft = (clientId: string): NewMessage => ({
          id: Bun.randomUUIDv7(),
          roomId: "r",
          senderId: "u",
          content: clientId,
          metadata: null,
          replyToId: null,
          clientId,
        });
        const a = new GroupCommitWriter(mine.messages);
        const b = new GroupCommitWriter(theirs.messages);
        // Each writer first sees the file as it is (b reads an empty backlog).
        expect((await b.write(draft("warm-up"))).created).toBe(true);
        const first = await a.write(draft("x"));
        expect(first.created).toBe(true);
        expect(await b.write(draft("x"))).toEqual({ created: false, id: (first as { row: { id: string } }).row.id });
        const second = await b.write(draft("y"));
        expect(await a.write(draft("y"))).toEqual({ created: false, id: (second as { row: { id: string } }).row.id });
        expect(mine.sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM messages").get()!.n).toBe(3);
      });
    });

    test("a retry through another connection finds a message that connection has indexed since", async () => {
      await withTwoConnections(async (mine, theirs) => {
        const draft = (clientId: string): NewMessage => ({
          id: Bun.randomUUIDv7(),
          roomId: "r",
          senderId: "u",
          content: clientId,
          metadata: null,
          replyToId: null,
          clientId,
        });
        const a = new GroupCommitWriter(mine.messages);
        const b = new GroupCommitWriter(theirs.messages);
        expect((await b.write(draft("warm-up"))).created).toBe(true);
        const first = (await a.write(draft("x"))) as { created: true; row: { id: string } };
        // The first connection indexes its backlog: "x" leaves it for a block the second has not loaded.
        mine.sqlite.transaction(() => mine.messages.backlog.index())();
        expect(mine.messages.backlog.backlogEnd()).toBeNull();
        expect(await b.write(draft("x"))).toEqual({ created: false, id: first.row.id });
        expect(theirs.sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM messages").get()!.n).toBe(2);
        // A process that opens the database afterwards holds the indexed clientIds before its first write.
        const later = openSqlite(mine.sqlite.filename);
        try {
          expect(later.messages.backlog.clientIds.entries).toBe(2);
        } finally {
          await later.close();
        }
      });
    });
  });
});
