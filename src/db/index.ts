import type { Database as SQLite } from "bun:sqlite";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type { Logger } from "../logger";
import { openPg, type PgDB } from "./pg";
import type * as sqliteSchema from "./schema.sqlite";
import { openSqlite } from "./sqlite";

export { migrateSqlite } from "./sqlite";
export { migratePg, type PgDB } from "./pg";

/**
 * The query builder services use. It is the SQLite builder's type on both dialects: on
 * PostgreSQL the Drizzle builder for Bun's SQL client stands in under this type (see
 * `openPg` in ./pg.ts), which holds because services only build the queries both have.
 */
export type DB = BunSQLiteDatabase<typeof sqliteSchema>;

interface Common {
  /**
   * The query builder. Inside `tx()` it is that transaction's, so code that reaches for
   * `database.db` in the middle of a transaction still runs inside it.
   */
  readonly db: DB;
  /** Resolves once the database is connected and migrated; queries issued earlier wait for it. */
  ready: Promise<void>;
  /**
   * Runs `fn` in a transaction. Every write goes through here. Nested calls join the outer
   * transaction. SQLite shares one connection, so transactions are queued and never
   * interleave; PostgreSQL runs them concurrently at SERIALIZABLE and runs one again when it
   * collided with another, so `fn` must not have effects outside the database.
   */
  tx<T>(fn: (db: DB) => Promise<T>, options?: TxOptions): Promise<T>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface TxOptions {
  /**
   * PostgreSQL: READ COMMITTED instead of SERIALIZABLE, for code whose statements take the
   * row locks they need and tolerate a concurrent commit between them (the message writer:
   * `UPDATE rooms … RETURNING last_seq` queues writers to a room behind its row lock, where
   * SERIALIZABLE would fail all but one and run them again). Ignored by SQLite, whose
   * transactions run one at a time anyway.
   */
  readCommitted?: boolean;
}

export interface SqliteDatabase extends Common {
  dialect: "sqlite";
  /** The raw connection, for hand-written prepared statements on hot paths. */
  sqlite: SQLite;
  pg?: undefined;
}

export interface PgDatabase extends Common {
  dialect: "pg";
  sqlite?: undefined;
  /** The same builder as `db` with its PostgreSQL types, for dialect-specific queries. */
  readonly pg: PgDB;
}

export type Database = SqliteDatabase | PgDatabase;

export interface OpenOptions {
  /** PostgreSQL: the database is not touched before this settles (tests create it first). */
  before?: Promise<unknown>;
  /** PostgreSQL: connections in the pool (default 10). */
  poolSize?: number;
  logger?: Logger;
}

/** Opens the database named by DATABASE_URL and brings its schema up to date. */
export function openDatabase(url: string, options: OpenOptions = {}): Database {
  if (url.startsWith("sqlite://")) return openSqlite(url.slice("sqlite://".length));
  if (/^postgres(ql)?:\/\//.test(url)) return openPg(url, options);
  throw new Error("DATABASE_URL must be sqlite://<path> or postgres://…");
}
