import { Database as SQLite } from "bun:sqlite";
import { AsyncLocalStorage } from "node:async_hooks";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { sqliteMigrations } from "./migrations.generated";
import * as sqliteSchema from "./schema.sqlite";
import { useDialect } from "./schema";

export type DB = BunSQLiteDatabase<typeof sqliteSchema>;

export interface Database {
  dialect: "sqlite";
  db: DB;
  /** The raw connection, for hand-written prepared statements on hot paths. */
  sqlite: SQLite;
  /**
   * Runs `fn` in a transaction. Every write goes through here: on SQLite the one
   * connection is shared, so transactions are queued and never interleave.
   * Nested calls join the outer transaction.
   */
  tx<T>(fn: (db: DB) => Promise<T>): Promise<T>;
  ping(): Promise<boolean>;
  close(): void;
}

/** Opens the database named by DATABASE_URL and brings its schema up to date. */
export function openDatabase(url: string): Database {
  if (!url.startsWith("sqlite://"))
    throw new Error("DATABASE_URL: only sqlite:// databases are supported by this build.");
  const path = url.slice("sqlite://".length);
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path, { create: true, strict: true });
  // WAL lets readers run beside the single writer; synchronous=NORMAL with WAL never
  // corrupts and loses nothing on a process crash (only on power loss since the last sync).
  sqlite.exec("PRAGMA journal_mode = WAL");
  sqlite.exec("PRAGMA synchronous = NORMAL");
  sqlite.exec("PRAGMA foreign_keys = ON");
  sqlite.exec("PRAGMA busy_timeout = 5000");
  sqlite.exec("PRAGMA temp_store = MEMORY");
  sqlite.exec("PRAGMA cache_size = -32000");
  migrateSqlite(sqlite);
  useDialect("sqlite");
  const db = drizzle({ client: sqlite, schema: sqliteSchema });

  const inTx = new AsyncLocalStorage<true>();
  let tail: Promise<unknown> = Promise.resolve();
  const tx = <T>(fn: (db: DB) => Promise<T>): Promise<T> => {
    if (inTx.getStore()) return fn(db);
    const run = async () => {
      sqlite.exec("BEGIN IMMEDIATE");
      try {
        const result = await inTx.run(true, () => fn(db));
        sqlite.exec("COMMIT");
        return result;
      } catch (error) {
        if (sqlite.inTransaction) sqlite.exec("ROLLBACK");
        throw error;
      }
    };
    const result = tail.then(run, run);
    tail = result.catch(() => {});
    return result;
  };

  return {
    dialect: "sqlite",
    db,
    sqlite,
    tx,
    async ping() {
      try {
        sqlite.query("SELECT 1").get();
        return true;
      } catch {
        return false;
      }
    },
    close() {
      sqlite.close();
    },
  };
}

/** Applies the embedded migrations that this database has not seen, each in its own transaction. */
export function migrateSqlite(sqlite: SQLite): string[] {
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
    sqlite.transaction(() => {
      for (const statement of migration.sql.split("--> statement-breakpoint"))
        if (statement.trim()) sqlite.exec(statement);
      sqlite.query("INSERT INTO __migrations (tag, applied_at) VALUES (?, ?)").run(migration.tag, Date.now());
    })();
    done.push(migration.tag);
  }
  return done;
}
