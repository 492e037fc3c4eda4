/**
 * Fresh PostgreSQL databases for tests, one per app, as `:memory:` gives each app on SQLite.
 * Each is cloned from a template database that was migrated once (keyed by the migrations'
 * text, so a changed migration makes a new template), which is much faster than migrating
 * every database from empty.
 */
import { SQL } from "bun";
import { migratePg } from "../src/db";
import { pgMigrations } from "../src/db/migrations.generated";

let admin: SQL | undefined;
let template: Promise<string> | undefined;

const withDatabase = (url: string, name: string) => {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
};

async function ensureTemplate(adminUrl: string): Promise<string> {
  const name = `bunchat_test_tpl_${Bun.hash(pgMigrations.map((m) => m.tag + m.sql).join("\n")).toString(36)}`;
  // Two test runs may start together: they take turns creating the template.
  const conn = await admin!.reserve();
  try {
    await conn`SELECT pg_advisory_lock(hashtext('bunchat.test-template'))`;
    const [exists] = await conn`SELECT 1 FROM pg_database WHERE datname = ${name}`;
    if (!exists) {
      const building = `${name}_build_${process.pid}`;
      await conn.unsafe(`DROP DATABASE IF EXISTS "${building}"`);
      await conn.unsafe(`CREATE DATABASE "${building}" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C'`);
      const sql = new SQL(withDatabase(adminUrl, building), { max: 1 });
      try {
        await migratePg(sql);
      } finally {
        await sql.close();
      }
      // Renamed only once complete, so a half-migrated template is never cloned.
      await conn.unsafe(`ALTER DATABASE "${building}" RENAME TO "${name}"`);
      await conn.unsafe(`ALTER DATABASE "${name}" IS_TEMPLATE true`);
    }
  } finally {
    await conn`SELECT pg_advisory_unlock(hashtext('bunchat.test-template'))`;
    conn.release();
  }
  return name;
}

export interface TestDatabase {
  url: string;
  /** Settles once the database exists. */
  created: Promise<void>;
  drop(): Promise<void>;
}

/**
 * A new database on the server of `adminUrl` (which names any database there): migrated, or
 * with `empty`, without even the migrations table.
 */
export function freshPgDatabase(adminUrl: string, { empty = false } = {}): TestDatabase {
  admin ??= new SQL(adminUrl, { max: 2 });
  const name = `bunchat_test_${Bun.randomUUIDv7().replaceAll("-", "")}`;
  const created = (async () => {
    if (empty) return void (await admin!.unsafe(`CREATE DATABASE "${name}" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C'`));
    template ??= ensureTemplate(adminUrl);
    await admin!.unsafe(`CREATE DATABASE "${name}" TEMPLATE "${await template}"`);
  })();
  created.catch(() => {}); // reported through the database's `ready` and its queries
  return {
    url: withDatabase(adminUrl, name),
    created,
    async drop() {
      await created.catch(() => {});
      await admin!.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
  };
}
