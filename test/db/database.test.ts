/**
 * The database layer itself, on whichever database this run uses (SQLite in memory, or
 * PostgreSQL when TEST_DATABASE_URL is set): transactions, migrations, health.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Database as SQLite } from "bun:sqlite";
import { eq, sql } from "drizzle-orm";
import { type Database, migrateSqlite, openDatabase, type Tables } from "../../src/db";
import { applyMigration, openSqlite } from "../../src/db/sqlite";
import { pgMigrations, sqliteMigrations } from "../../src/db/migrations.generated";
import { first } from "../../src/db";
import { clientKey, SqliteBacklog } from "../../src/db/messages/sqlite/backlog";
import { decodeBlock, encodeBlock, fingerprint } from "../../src/db/messages/sqlite/client-ids";
import { freshDatabase } from "../helpers";
import { freshPgDatabase } from "../pg";

let fresh: ReturnType<typeof freshDatabase>;
let database: Database;
let users: Tables["users"];
let rooms: Tables["rooms"];
beforeEach(async () => {
  fresh = freshDatabase();
  database = fresh.database;
  ({ users, rooms } = database.tables);
  await database.ready;
});
afterEach(() => fresh.close());

const newUser = (name: string) => {
  const id = Bun.randomUUIDv7();
  return { id, username: name, usernameLower: name, passwordHash: "x", displayName: name, displayNameLower: name, createdAt: new Date() };
};

async function newRoom(): Promise<string> {
  const owner = newUser(`owner_${Bun.randomUUIDv7()}`);
  const id = Bun.randomUUIDv7();
  await database.tx(async (db) => {
    await db.insert(users).values(owner);
    await db.insert(rooms).values({ id, kind: "group", name: "r", visibility: "public", createdBy: owner.id, createdAt: new Date(), lastActivityAt: new Date() });
  });
  return id;
}

async function appliedMigrations(db: Database): Promise<string[]> {
  if (db.dialect === "sqlite") return db.sqlite.query<{ tag: string }, []>("SELECT tag FROM __migrations ORDER BY tag").all().map((r) => r.tag);
  const result = await db.pg.execute<{ tag: string }>(sql`SELECT tag FROM __migrations ORDER BY tag`);
  return [...result].map((r) => r.tag);
}

describe("transactions", () => {
  test("a failing transaction leaves nothing behind", async () => {
    const u = newUser("rolled_back");
    await expect(
      database.tx(async (db) => {
        await db.insert(users).values(u);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await database.db.select().from(users).where(eq(users.id, u.id))).toEqual([]);
  });

  test("database.db inside a transaction is that transaction, and a nested tx joins it", async () => {
    const u = newUser("inside");
    await expect(
      database.tx(async (db) => {
        await db.insert(users).values(u);
        // Reached through the shared handle, not the one passed in: still this transaction.
        expect(first(await database.db.select({ id: users.id }).from(users).where(eq(users.id, u.id)))).toEqual({ id: u.id });
        await database.tx(async (inner) => {
          await inner.update(users).set({ displayName: "renamed" }).where(eq(users.id, u.id));
        });
        throw new Error("undo all of it");
      }),
    ).rejects.toThrow("undo all of it");
    // The nested transaction's write went with the outer one.
    expect(await database.db.select().from(users).where(eq(users.id, u.id))).toEqual([]);
  });

  test("concurrent read-modify-write transactions lose no update", async () => {
    const roomId = await newRoom();
    // Each reads the counter and writes back the value it read plus one: only serial
    // execution (SQLite's queue, PostgreSQL's SERIALIZABLE with retries) counts all 20.
    await Promise.all(
      Array.from({ length: 20 }, () =>
        database.tx(async (db) => {
          const row = first(await db.select({ lastSeq: rooms.lastSeq }).from(rooms).where(eq(rooms.id, roomId)));
          await Bun.sleep(0);
          await db.update(rooms).set({ lastSeq: row!.lastSeq + 1 }).where(eq(rooms.id, roomId));
        }),
      ),
    );
    expect(first(await database.db.select({ lastSeq: rooms.lastSeq }).from(rooms).where(eq(rooms.id, roomId)))!.lastSeq).toBe(20);
  });

  test("work started inside a transaction that runs after it ended uses the database, not the dead transaction", async () => {
    const u = newUser("later");
    let later!: Promise<unknown>;
    await database.tx(async (db) => {
      await db.insert(users).values(u);
      later = new Promise((resolve, reject) =>
        setTimeout(() => database.db.select({ id: users.id }).from(users).where(eq(users.id, u.id)).then(resolve, reject), 1),
      );
    });
    expect(await later).toEqual([{ id: u.id }]);
    // And a transaction begun there is a transaction of its own.
    const inTimer = await new Promise((resolve, reject) =>
      setTimeout(() => database.tx((db) => db.update(users).set({ statusText: "x" }).where(eq(users.id, u.id)).returning({ s: users.statusText })).then(resolve, reject), 1),
    );
    expect(inTimer).toEqual([{ s: "x" }]);
  });

  test("transactions are SERIALIZABLE on PostgreSQL unless asked for READ COMMITTED", async () => {
    const level = async (readCommitted?: boolean) =>
      database.tx(async () => {
        if (database.dialect === "sqlite") return database.sqlite.inTransaction ? "one at a time" : "none";
        const [row] = await database.pg.execute<{ level: string }>(sql`SELECT current_setting('transaction_isolation') AS level`);
        return row!.level;
      }, { readCommitted });
    if (database.dialect === "pg") {
      expect(await level()).toBe("serializable");
      expect(await level(true)).toBe("read committed");
    } else {
      expect(await level()).toBe("one at a time");
      expect(await level(true)).toBe("one at a time");
    }
  });

  test("times come back as the same instants, to the millisecond", async () => {
    const u = { ...newUser("clock"), createdAt: new Date("2024-02-29T23:59:59.123Z") };
    await database.tx((db) => db.insert(users).values(u));
    const row = first(await database.db.select().from(users).where(eq(users.id, u.id)));
    expect(row!.createdAt).toBeInstanceOf(Date);
    expect(row!.createdAt.toISOString()).toBe("2024-02-29T23:59:59.123Z");
    expect(row!.lastSeenAt).toBeNull();
  });
});

describe("migrations", () => {
  test("every embedded migration is recorded once, and opening again applies none", async () => {
    const expected = (database.dialect === "sqlite" ? sqliteMigrations : pgMigrations).map((m) => m.tag).sort();
    expect(expected.length).toBeGreaterThan(0);
    expect(await appliedMigrations(database)).toEqual(expected);
    if (database.dialect === "sqlite") {
      expect(migrateSqlite(database.sqlite)).toEqual([]);
    } else {
      const again = openDatabase(fresh.url);
      await again.ready;
      await again.close();
    }
    expect(await appliedMigrations(database)).toEqual(expected);
  });

  test("servers opening an empty database together migrate it once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bunchat-migrate-"));
    const target =
      database.dialect === "pg"
        ? freshPgDatabase(Bun.env.TEST_DATABASE_URL!, { empty: true })
        : { url: `sqlite://${join(dir, "chat.db")}`, created: Promise.resolve(), drop: async () => {} };
    await target.created;
    const opened = Array.from({ length: 3 }, () => openDatabase(target.url));
    try {
      // Each must come up: on PostgreSQL they start at once and take turns on the advisory lock.
      await Promise.all(opened.map((d) => d.ready));
      const expected = (database.dialect === "sqlite" ? sqliteMigrations : pgMigrations).map((m) => m.tag).sort();
      for (const d of opened) expect(await appliedMigrations(d)).toEqual(expected);
    } finally {
      for (const d of opened) await d.close();
      await target.drop();
      rmSync(dir, { force: true, recursive: true });
    }
  });

  test.if(!Bun.env.TEST_DATABASE_URL)(
    "a new SQLite file another connection holds locked is opened once the lock goes (SQLite refuses WAL at once then)",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "bunchat-locked-"));
      const path = join(dir, "chat.db");
      const holder = new Worker(new URL("./hold-lock.worker.ts", import.meta.url).href);
      const locked = new Promise<void>((resolve) => {
        holder.onmessage = ({ data }) => data === "locked" && resolve();
      });
      try {
        holder.postMessage({ path, holdMs: 300 });
        await locked;
        const opened = openDatabase(`sqlite://${path}`);
        try {
          await opened.ready;
          if (opened.dialect !== "sqlite") throw new Error("expected SQLite");
          expect(opened.sqlite.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()?.journal_mode).toBe("wal");
          const expected = sqliteMigrations.map((m) => m.tag).sort();
          expect(await appliedMigrations(opened)).toEqual(expected);
        } finally {
          await opened.close();
        }
      } finally {
        holder.terminate();
        rmSync(dir, { force: true, recursive: true });
      }
    },
  );

  test.if(!Bun.env.TEST_DATABASE_URL)(
    "a database migrated before client_id_blocks keeps every clientId: retries of indexed and waiting messages still find them",
    () => {
      const sqlite = new SQLite(":memory:");
      try {
        sqlite.exec("CREATE TABLE __migrations (tag TEXT PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL)");
        const before = sqliteMigrations.findIndex((m) => m.tag === "0011_client_id_blocks");
        expect(before).toBeGreaterThan(0);
        for (const migration of sqliteMigrations.slice(0, before)) applyMigration(sqlite, migration);
        // Foreign keys are off on this bare connection: messages need no users or rooms here.
        const insert = sqlite.prepare(
          "INSERT INTO messages (id, room_id, seq, sender_id, content, client_id, created_at) VALUES (?, ?, ?, 'u', 'm', ?, 0)",
        );
        const ids = Array.from({ length: 300 }, (_, i) => {
          const id = Bun.randomUUIDv7();
          insert.run(id, `r${i % 3}`, i + 1, i % 2 === 0 ? `c${i}` : null);
          return id;
        });
        // The first 200 were indexed before the upgrade (into message_client_ids, which 0011 drops); 100 wait.
        sqlite.exec("UPDATE search_state SET indexed_upto = 200 WHERE id = 1");
        expect(migrateSqlite(sqlite)).toEqual(sqliteMigrations.slice(before).map((m) => m.tag));
        expect(sqlite.query<{ n: number }, []>("SELECT sum(length(data)) / 12 AS n FROM client_id_blocks").get()!.n).toBe(100);
        const backlog = new SqliteBacklog(sqlite);
        sqlite.transaction(() => {
          backlog.begin();
          for (let i = 0; i < 300; i++) {
            const found = backlog.find(`r${i % 3}`, "u", `c${i}`);
            expect(found).toBe(i % 2 === 0 ? ids[i] : undefined);
            // Another room or sender with the same clientId is another key.
            expect(backlog.find(`r${(i + 1) % 3}`, "u", `c${i}`)).toBeUndefined();
          }
        })();
      } finally {
        sqlite.close();
      }
    },
  );

  test.if(!Bun.env.TEST_DATABASE_URL)("the clientId fingerprints are keyed by a random seed of each database, also for blocks written before the key", () => {
    const sqlite = new SQLite(":memory:");
    try {
      sqlite.exec("CREATE TABLE __migrations (tag TEXT PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL)");
      const keyed = sqliteMigrations.findIndex((m) => m.tag === "0012_client_id_seed");
      expect(keyed).toBeGreaterThan(0);
      for (const migration of sqliteMigrations.slice(0, keyed)) applyMigration(sqlite, migration);
      const insert = sqlite.prepare("INSERT INTO messages (id, room_id, seq, sender_id, content, client_id, created_at) VALUES (?, 'r', ?, 'u', 'm', ?, 0)");
      const ids = Array.from({ length: 50 }, (_, i) => {
        const id = Bun.randomUUIDv7();
        insert.run(id, i + 1, `c${i}`);
        return id;
      });
      // Indexed before the key existed: one block of unkeyed fingerprints.
      sqlite.exec("UPDATE search_state SET indexed_upto = 50 WHERE id = 1");
      const unkeyed = encodeBlock(
        ids.map((_, i) => i + 1),
        ids.map((_, i) => Bun.hash.xxHash32(clientKey("r", "u", `c${i}`))),
      );
      sqlite.query("INSERT INTO client_id_blocks (data) VALUES (?)").run(unkeyed);
      migrateSqlite(sqlite);
      const seed = sqlite.query<{ seed: number }, []>("SELECT client_id_seed AS seed FROM search_state").get()!.seed;
      const blocks = sqlite.query<{ data: Uint8Array }, []>("SELECT data FROM client_id_blocks").all();
      expect(blocks).toHaveLength(1);
      expect([...decodeBlock(blocks[0]!.data).prints]).toEqual(ids.map((_, i) => fingerprint(clientKey("r", "u", `c${i}`), seed)));
      const backlog = new SqliteBacklog(sqlite);
      expect(backlog.clientIds.seed).toBe(seed);
      sqlite.transaction(() => {
        backlog.begin();
        ids.forEach((id, i) => expect(backlog.find("r", "u", `c${i}`)).toBe(id));
      })();
      // Each database draws its own key.
      const seeds = new Set([seed]);
      for (let i = 0; i < 3; i++) {
        const other = openSqlite(":memory:");
        seeds.add(other.sqlite.query<{ seed: number }, []>("SELECT client_id_seed AS seed FROM search_state").get()!.seed);
        void other.close();
      }
      expect(seeds.size).toBe(4);
    } finally {
      sqlite.close();
    }
  });

  test("ping answers while open and not after close", async () => {
    expect(await database.ping()).toBe(true);
    const other = freshDatabase();
    await other.database.ready;
    await other.database.close();
    expect(await other.database.ping()).toBe(false);
    await other.close();
  });
});
