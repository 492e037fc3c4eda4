/** The SQLite store's side tables, as declared for drizzle-kit, are the tables the migrations made. */
import { expect, test } from "bun:test";
import { is } from "drizzle-orm";
import { getTableConfig, SQLiteTable } from "drizzle-orm/sqlite-core";
import { openSqlite } from "../../src/db/sqlite";
import * as state from "../../src/db/schema.sqlite-state";

test("every side table declared in schema.sqlite-state.ts has the migrated table's columns", async () => {
  const database = openSqlite(":memory:");
  try {
    const tables = Object.values(state).filter((v) => is(v, SQLiteTable)) as SQLiteTable[];
    expect(tables.map((t) => getTableConfig(t).name).sort()).toEqual(["client_id_blocks", "membership_epoch", "search_state"]);
    for (const table of tables) {
      const config = getTableConfig(table);
      const declared = config.columns.map((c) => ({ name: c.name, notNull: c.notNull || c.primary, primary: c.primary })).sort((a, b) => a.name.localeCompare(b.name));
      const actual = database.sqlite
        .query<{ name: string; notnull: number; pk: number }, []>(`PRAGMA table_info(${config.name})`)
        .all()
        .map((c) => ({ name: c.name, notNull: c.notnull === 1 || c.pk > 0, primary: c.pk > 0 }))
        .sort((a, b) => a.name.localeCompare(b.name));
      expect({ table: config.name, columns: actual }).toEqual({ table: config.name, columns: declared });
    }
  } finally {
    await database.close();
  }
});
