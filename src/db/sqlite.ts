import { Database as SQLite } from "bun:sqlite";
import { AsyncLocalStorage } from "node:async_hooks";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { startCheckpointer } from "./checkpointer";
import type { DB, SqliteDatabase } from "./database";
import { sqliteLookups } from "./lookups";
import { rekeyBlocks } from "./messages/sqlite/client-ids";
import { SqliteMessageStore } from "./messages/sqlite";
import { sqliteMigrations } from "./migrations.generated";
import * as sqliteSchema from "./schema.sqlite";

/** Opens a SQLite file (or `:memory:`), tunes it, and brings its schema up to date. */
export function openSqlite(path: string): SqliteDatabase {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path, { create: true, strict: true });
  // First, so that a process opening the file while another holds a lock waits for it.
  sqlite.exec("PRAGMA busy_timeout = 5000");
  // WAL lets readers run beside the single writer; synchronous=NORMAL with WAL never
  // corrupts and loses nothing on a process crash (only on power loss since the last sync).
  untilUnlocked(() => sqlite.exec("PRAGMA journal_mode = WAL"));
  sqlite.exec("PRAGMA synchronous = NORMAL");
  sqlite.exec("PRAGMA foreign_keys = ON");
  sqlite.exec("PRAGMA temp_store = MEMORY");
  sqlite.exec("PRAGMA cache_size = -32000");
  untilUnlocked(() => migrateSqlite(sqlite));
  // Checkpoints run on a worker thread instead of inside a commit on the event loop (checkpointer.ts).
  const checkpointer = path === ":memory:" ? null : startCheckpointer(path);
  if (checkpointer) sqlite.exec("PRAGMA wal_autocheckpoint = 0");
  const db: DB = drizzle({ client: sqlite, schema: sqliteSchema });

  // The transaction a piece of async work runs in. `open` turns false at commit/rollback, so
  // work that outlives its transaction (a timer started inside one) does not think it is in it.
  const current = new AsyncLocalStorage<{ open: boolean }>();
  let tail: Promise<unknown> = Promise.resolve();
  const tx = <T>(fn: (db: DB) => Promise<T>): Promise<T> => {
    if (current.getStore()?.open) return fn(db);
    const run = async () => {
      const scope = { open: true };
      sqlite.exec("BEGIN IMMEDIATE");
      try {
        const result = await current.run(scope, () => fn(db));
        sqlite.exec("COMMIT");
        return result;
      } catch (error) {
        if (sqlite.inTransaction) sqlite.exec("ROLLBACK");
        throw error;
      } finally {
        scope.open = false;
      }
    };
    const result = tail.then(run, run);
    tail = result.catch(() => {});
    return result;
  };

  return {
    dialect: "sqlite",
    tables: sqliteSchema,
    db,
    sqlite,
    messages: new SqliteMessageStore(sqlite, db, sqliteSchema, tx),
    lookups: sqliteLookups(db, sqliteSchema),
    ready: Promise.resolve(),
    tx,
    async ping() {
      try {
        sqlite.query("SELECT 1").get();
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await checkpointer?.stop();
      sqlite.close();
    },
  };
}

/**
 * Runs `fn` again while SQLite answers BUSY at once, up to `timeoutMs`. busy_timeout covers
 * most waits, but not all: switching a new file to WAL needs its exclusive lock, and while
 * another connection holds a lock on it (a second process opening it at the same moment)
 * SQLite refuses without calling its busy handler, to rule out a deadlock.
 */
export function untilUnlocked<T>(fn: () => T, timeoutMs = 5000): T {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      return fn();
    } catch (error) {
      if ((error as { code?: unknown }).code !== "SQLITE_BUSY" || performance.now() >= deadline) throw error;
      Bun.sleepSync(5 + Math.random() * 20);
    }
  }
}

/** Steps a migration needs that SQL cannot do, run right after it, in its transaction. */
const afterMigration: Record<string, (sqlite: SQLite) => void> = {
  // Writes the blocks of the messages indexed so far, keyed (0011's own step, writing them
  // unkeyed, is covered by it: both run in the one transaction that migrates).
  "0012_client_id_seed": rekeyBlocks,
};

/** Runs one migration and records it in __migrations (which must exist), inside the caller's transaction. */
export function applyMigration(sqlite: SQLite, migration: { tag: string; sql: string }): void {
  for (const statement of migration.sql.split("--> statement-breakpoint")) if (statement.trim()) sqlite.exec(statement);
  afterMigration[migration.tag]?.(sqlite);
  sqlite.query("INSERT INTO __migrations (tag, applied_at) VALUES (?, ?)").run(migration.tag, Date.now());
}

/**
 * Applies the embedded migrations that this database has not seen, in one transaction that
 * takes the write lock first: processes opening one file together take turns (busy_timeout),
 * and the later ones find nothing left to do.
 */
export function migrateSqlite(sqlite: SQLite): string[] {
  return sqlite.transaction(() => {
    sqlite.exec("CREATE TABLE IF NOT EXISTS __migrations (tag TEXT PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL)");
    const applied = new Set(
      sqlite
        .query<{ tag: string }, []>("SELECT tag FROM __migrations")
        .all()
        .map((r) => r.tag),
    );
    const done: string[] = [];
    for (const migration of sqliteMigrations) {
      if (applied.has(migration.tag)) continue;
      applyMigration(sqlite, migration);
      done.push(migration.tag);
    }
    return done;
  }).immediate();
}
