import { describe, expect, test } from "bun:test";
import { getTableColumns, is, type SQL, sql, Table } from "drizzle-orm";
import { getTableConfig as pgConfig, PgDialect, PgTable } from "drizzle-orm/pg-core";
import { getTableConfig as sqliteConfig, SQLiteSyncDialect, SQLiteTable } from "drizzle-orm/sqlite-core";
import * as pg from "../../src/db/schema.pg";
import * as sqlite from "../../src/db/schema.sqlite";

const dialects = { pg: new PgDialect(), sqlite: new SQLiteSyncDialect() };

/**
 * A partial index's WHERE as both dialects can agree on it: rendered as the migration would
 * (parameters inlined), then quoting, table qualifiers, case and spacing left out, so
 * `"messages"."client_id" IS NOT NULL` and `client_id is  not null` are the same predicate.
 */
function predicate(where: SQL | undefined, dialect: PgDialect | SQLiteSyncDialect, table: string): string | null {
  if (!where) return null;
  return normalisePredicate(dialect.sqlToQuery(where, "indexes").sql, table);
}

function normalisePredicate(text: string, table: string): string {
  const qualifier = new RegExp(`\\b${table.toLowerCase()}\\.`, "g");
  // Odd parts are inside '…' string literals: those are kept as written.
  return text
    .split("'")
    .map((part, i) =>
      i % 2 === 1
        ? part
        : part
            .replace(/["`\[\]]/g, "")
            .toLowerCase()
            .replace(qualifier, "")
            .replace(/\s+/g, " ")
            .replace(/\s*([(),=<>!])\s*/g, "$1"),
    )
    .join("'")
    .trim();
}

/** The shape both dialects must agree on, with dialect-specific types left out. */
function describeTable(table: Table, config: ReturnType<typeof pgConfig> | ReturnType<typeof sqliteConfig>) {
  const dialect = is(table, PgTable) ? dialects.pg : dialects.sqlite;
  const keys = Object.fromEntries(Object.entries(getTableColumns(table)).map(([key, column]) => [column.name, key]));
  return {
    name: config.name,
    columns: config.columns
      .map((c) => ({ name: c.name, key: keys[c.name], notNull: c.notNull, primary: c.primary, default: c.default ?? null, enum: c.enumValues ?? null }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    primaryKeys: config.primaryKeys.map((pk) => pk.columns.map((c) => c.name)),
    indexes: config.indexes
      .map((i) => ({
        name: i.config.name,
        unique: i.config.unique,
        columns: i.config.columns.map((c) => ("name" in c ? c.name : "(expression)")),
        where: predicate(i.config.where, dialect, config.name),
      }))
      .sort((a, b) => a.name!.localeCompare(b.name!)),
    foreignKeys: config.foreignKeys
      .map((fk) => {
        const ref = fk.reference();
        return {
          columns: ref.columns.map((c) => c.name),
          table: (ref.foreignTable as unknown as { [k: symbol]: string })[Symbol.for("drizzle:Name")],
          foreignColumns: ref.foreignColumns.map((c) => c.name),
          onDelete: fk.onDelete ?? null,
        };
      })
      .sort((a, b) => a.columns.join().localeCompare(b.columns.join())),
  };
}

/**
 * Services see PostgreSQL rows through the SQLite tables' types (src/db/schema.ts), so the rows
 * must have the same TypeScript types too: this fails `tsc` when they drift.
 */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Rows<S> = { [K in keyof S]: S[K] extends Table ? [S[K]["$inferSelect"], S[K]["$inferInsert"]] : never };
const sameRowTypes: Same<Rows<typeof pg>, Rows<typeof sqlite>> = true;

/**
 * Indexes one dialect has on purpose, with the reason. SQLite keeps clientIds in its own
 * table, filled in batches (src/db/messages/sqlite/backlog.ts, migrations 0007 and 0008), where
 * PostgreSQL has a unique index on messages.
 */
const ONLY_IN_PG: Record<string, string[]> = { messages: ["messages_client_id_uq"] };

/** A table as describeTable sees it, without the indexes only PostgreSQL has. */
function comparable(table: PgTable) {
  const described = describeTable(table, pgConfig(table));
  const only = ONLY_IN_PG[described.name] ?? [];
  return { ...described, indexes: described.indexes.filter((i) => !only.includes(i.name!)) };
}

const pgTables = Object.entries(pg).filter(([, v]) => is(v, PgTable)) as [string, PgTable][];
const sqliteTables = Object.entries(sqlite).filter(([, v]) => is(v, SQLiteTable)) as [string, SQLiteTable][];

describe("the PostgreSQL and SQLite schemas", () => {
  test("export the same tables under the same names", () => {
    expect(sameRowTypes).toBe(true);
    expect(pgTables.map(([key]) => key).sort()).toEqual(sqliteTables.map(([key]) => key).sort());
    expect(sqliteTables.length).toBeGreaterThan(0);
  });

  for (const [key, sqliteTable] of sqliteTables) {
    test(`declare ${key} alike: columns, keys, indexes, foreign keys`, () => {
      const pgTable = (pg as unknown as Record<string, PgTable | undefined>)[key];
      expect(pgTable).toBeDefined();
      expect(comparable(pgTable!)).toEqual(describeTable(sqliteTable, sqliteConfig(sqliteTable)));
    });
  }

  test("a drifted table is told apart", () => {
    // The comparison itself must see a difference in nullability, index uniqueness and names.
    const a = describeTable(sqlite.users, sqliteConfig(sqlite.users));
    const b = describeTable(pg.users, pgConfig(pg.users));
    expect(b).toEqual(a);
    const drifted = structuredClone(b);
    drifted.columns[0]!.notNull = !drifted.columns[0]!.notNull;
    expect(drifted).not.toEqual(a);
    const reindexed = structuredClone(b);
    reindexed.indexes[0]!.unique = !reindexed.indexes[0]!.unique;
    expect(reindexed).not.toEqual(a);
  });

  test("partial indexes are compared by their WHERE, however each dialect quotes and spaces it", () => {
    const a = describeTable(sqlite.messages, sqliteConfig(sqlite.messages));
    const b = comparable(pg.messages);
    const replyTo = b.indexes.find((i) => i.name === "messages_reply_to_idx")!;
    expect(replyTo.where).toBe("reply_to_id is not null");
    expect(a.indexes.find((i) => i.name === "messages_reply_to_idx")!.where).toBe(replyTo.where);
    expect(normalisePredicate('"messages"."client_id"   IS NOT NULL', "messages")).toBe(normalisePredicate("`client_id` is not null", "messages"));
    expect(normalisePredicate("( T.a = 1 )", "t")).toBe(normalisePredicate("(a=1)", "t"));
    expect(normalisePredicate("kind = 'Direct'", "rooms")).not.toBe(normalisePredicate("kind = 'direct'", "rooms"));

    // A table whose partial index lost or changed its condition in one dialect is told apart.
    const unconditional = structuredClone(b);
    unconditional.indexes.find((i) => i.name === "messages_reply_to_idx")!.where = null;
    expect(unconditional).not.toEqual(a);
    const drifted = pgConfig(pg.messages).indexes.find((i) => i.config.name === "messages_reply_to_idx")!;
    expect(predicate(sql`${pg.messages.replyToId} IS NULL`, dialects.pg, "messages")).not.toBe(
      predicate(drifted.config.where, dialects.pg, "messages"),
    );
  });

  test("the indexes only PostgreSQL has are there, and only there", () => {
    for (const [table, names] of Object.entries(ONLY_IN_PG)) {
      const pgIndexes = describeTable(pg[table as keyof typeof pg] as PgTable, pgConfig(pg[table as keyof typeof pg] as PgTable)).indexes;
      const sqliteTable = sqlite[table as keyof typeof sqlite] as SQLiteTable;
      const sqliteIndexes = describeTable(sqliteTable, sqliteConfig(sqliteTable)).indexes;
      for (const name of names) {
        expect(pgIndexes.map((i) => i.name)).toContain(name);
        expect(sqliteIndexes.map((i) => i.name)).not.toContain(name);
      }
    }
  });
});
