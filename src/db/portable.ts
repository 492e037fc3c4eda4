/**
 * Services build each query once for both dialects, typed by the SQLite schema (`Tables`,
 * `DB` in ./index.ts). A PostgreSQL database hands them its own tables and builder under those
 * types. That holds because both schemas declare the same tables with the same property
 * names and the same TypeScript types for every row read and written (checked below when
 * compiling, and column by column, with indexes and keys, by test/db/schema-parity.test.ts),
 * and because services only build what both builders have: select, insert, update and delete
 * with where, joins, order, limit, returning and onConflict, awaited. This module is the one
 * place where a PostgreSQL object is given a SQLite type.
 */
import type { DB, PgDB, Tables } from "./database";
import type * as pgSchema from "./schema.pg";

type Rows<S, Kind extends "$inferSelect" | "$inferInsert"> = { [K in keyof S]: S[K] extends Record<Kind, infer R> ? R : never };
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** Fails to compile when a table's row types differ between the two schemas. */
const rowsAgree: Same<Rows<Tables, "$inferSelect">, Rows<typeof pgSchema, "$inferSelect">> &
  Same<Rows<Tables, "$inferInsert">, Rows<typeof pgSchema, "$inferInsert">> &
  Same<keyof Tables, keyof typeof pgSchema> = true;
void rowsAgree;

export const portableTables = (tables: typeof pgSchema): Tables => tables as unknown as Tables;
export const portableBuilder = (db: PgDB): DB => db as unknown as DB;
