/** What a database is to the rest of the server, whatever its dialect. */
import type { Database as SQLite } from "bun:sqlite";
import type { Logger } from "../logger";
import type { Lookups } from "./lookups";
import type { SqliteMessageStore } from "./messages/sqlite";
import type { MessageStore } from "./messages/store";
import type { DB, PgDB, Tables } from "./tables";
import type * as pgSchema from "./schema.pg";


export type { DB, PgDB, Tables } from "./tables";

/** The first row of a result, or undefined. */
export function first<T>(rows: T[]): T | undefined {
  return rows[0];
}

interface Common {
  /** This database's tables: the ones its builder compiles for its dialect. */
  readonly tables: Tables;
  /**
   * The query builder. Inside `tx()` it is that transaction's, so code that reaches for
   * `database.db` in the middle of a transaction still runs inside it.
   */
  readonly db: DB;
  /** Messages: writes, history, changes, search and delivery marks, in this dialect's own SQL. */
  readonly messages: MessageStore;
  /** The lookups every request makes, on statements prepared for this dialect. */
  readonly lookups: Lookups;
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
   * row locks they need and tolerate a concurrent commit between them. Ignored by SQLite,
   * whose transactions run one at a time anyway.
   */
  readCommitted?: boolean;
}

export interface SqliteDatabase extends Common {
  readonly dialect: "sqlite";
  /** The raw connection, for hand-written prepared statements on hot paths. */
  readonly sqlite: SQLite;
  readonly messages: SqliteMessageStore;
}

export interface PgDatabase extends Common {
  readonly dialect: "pg";
  /** The same builder as `db` with its PostgreSQL types, for dialect-specific queries. */
  readonly pg: PgDB;
  /** The same tables as `tables` with their PostgreSQL types. */
  readonly pgTables: typeof pgSchema;
}

export type Database = SqliteDatabase | PgDatabase;

export interface OpenOptions {
  /** PostgreSQL: the database is not touched before this settles (tests create it first). */
  before?: Promise<unknown>;
  /** PostgreSQL: connections in the pool (default 10). */
  poolSize?: number;
  logger?: Logger;
}
