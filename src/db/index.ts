import { Database as SQLite } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { sqliteMigrations } from "./migrations.generated";
import * as schema from "./schema.sqlite";

export { schema };
export type DB = BunSQLiteDatabase<typeof schema> & { $client: SQLite };

export interface Database {
  dialect: "sqlite";
  db: DB;
  /** The raw connection, for hand-written prepared statements on hot paths. */
  sqlite: SQLite;
  ping(): Promise<boolean>;
  close(): void;
}

export function sqlitePath(url: string): string {
  return url.slice("sqlite://".length);
}

/** Opens the database named by DATABASE_URL and brings its schema up to date. */
export function openDatabase(url: string): Database {
  if (!url.startsWith("sqlite://"))
    throw new Error("Only sqlite:// databases are supported by this build (DATABASE_URL).");
  const path = sqlitePath(url);
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path, { create: true, strict: true });
  // WAL lets readers run beside the single writer; NORMAL sync is durable at each
  // checkpoint and safe against corruption, the usual choice with WAL.
  sqlite.exec("PRAGMA journal_mode = WAL");
  sqlite.exec("PRAGMA synchronous = NORMAL");
  sqlite.exec("PRAGMA foreign_keys = ON");
  sqlite.exec("PRAGMA busy_timeout = 5000");
  sqlite.exec("PRAGMA temp_store = MEMORY");
  sqlite.exec("PRAGMA cache_size = -32000");
  migrateSqlite(sqlite);
  const db = drizzle({ client: sqlite, schema }) as DB;
  return {
    dialect: "sqlite",
    db,
    sqlite,
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
  sqlite.exec(
    "CREATE TABLE IF NOT EXISTS __migrations (tag TEXT PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL)",
  );
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
      for (const statement of migration.sql.split("--> statement-breakpoint")) {
        if (statement.trim()) sqlite.exec(statement);
      }
      sqlite.query("INSERT INTO __migrations (tag, applied_at) VALUES (?, ?)").run(migration.tag, Date.now());
    })();
    done.push(migration.tag);
  }
  return done;
}
