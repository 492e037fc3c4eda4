import type { BunSQLDatabase } from "drizzle-orm/bun-sql";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type * as pgSchema from "./schema.pg";
import type * as sqliteSchema from "./schema.sqlite";

/**
 * The tables as services see them. Services build one query for both dialects; each database
 * hands them its own table objects under these types (./portable.ts says why that holds).
 */
export type Tables = typeof sqliteSchema;
/** The query builder as services see it; each database hands out its own under this type. */
export type DB = BunSQLiteDatabase<Tables>;
/** The PostgreSQL query builder with its own types, for the PostgreSQL store and lookups. */
export type PgDB = BunSQLDatabase<typeof pgSchema>;
