import { SQL } from "bun";
import { AsyncLocalStorage } from "node:async_hooks";
import { drizzle } from "drizzle-orm/bun-sql";
import type { Logger } from "../logger";
import type { DB, OpenOptions, PgDatabase, PgDB, TxOptions } from "./database";
import { sqlState } from "../lib/db-errors";
import { pgMigrations } from "./migrations.generated";
import { pgLookups } from "./lookups";
import { PgMessageStore } from "./messages/pg";
import { portableBuilder, portableTables } from "./portable";
import * as pgSchema from "./schema.pg";

/** SQLSTATEs after which a whole transaction may simply be run again. */
const RETRYABLE = new Set(["40001", "40P01"]); // serialization_failure, deadlock_detected
const MAX_ATTEMPTS = 10;

/**
 * Connects a pool to PostgreSQL. The returned database is usable at once: queries issued
 * before the schema is up to date wait for `ready` (connect, migrate) and then run.
 * Services get this database's own tables and builder under the types they are written
 * against (see ./portable.ts).
 */
export function openPg(url: string, options: OpenOptions = {}): PgDatabase {
  const sql = new SQL(url, { max: options.poolSize ?? 10, idleTimeout: 60, connectionTimeout: 10 });
  let isReady = false;
  const ready = (async () => {
    await options.before;
    await migratePg(sql);
    await checkCollation(sql, options.logger);
    isReady = true;
  })();
  ready.catch(() => {}); // reported to whoever awaits `ready` or a query

  const root = drizzle({ client: gate(sql, ready, () => isReady), schema: pgSchema });

  // The transaction a piece of async work runs in; see `db` below. `open` turns false when it
  // ends, so work that outlives it (a timer started inside one) falls back to the pool.
  const current = new AsyncLocalStorage<{ db: PgDB; open: boolean }>();
  const inTransaction = (): PgDB | undefined => {
    const scope = current.getStore();
    return scope?.open ? scope.db : undefined;
  };
  const active = (): PgDB => inTransaction() ?? root;
  const tables = portableTables(pgSchema);
  const db = () => portableBuilder(active());

  /**
   * SERIALIZABLE gives services the guarantee SQLite's one-writer-at-a-time transactions
   * give them: the outcome is that of some serial order, or the transaction fails with
   * 40001 and is run again from the start. So `fn` may run more than once: it must only
   * touch the database, and tell the real-time layer what happened after `tx` resolves.
   */
  async function tx<T>(fn: (db: DB) => Promise<T>, options: TxOptions = {}): Promise<T> {
    const scope = current.getStore();
    if (scope?.open) return fn(portableBuilder(scope.db));
    for (let attempt = 1; ; attempt++) {
      try {
        return await root.transaction(
          async (t) => {
            const inner: { db: PgDB; open: boolean } = { db: t, open: true };
            try {
              return await current.run(inner, () => fn(portableBuilder(t)));
            } finally {
              inner.open = false;
            }
          },
          { isolationLevel: options.readCommitted ? "read committed" : "serializable" },
        );
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS || !RETRYABLE.has(sqlState(error) ?? "")) throw error;
        // Back off a little, randomly, so the transactions that collided do not collide again.
        await Bun.sleep(Math.random() * Math.min(2 ** attempt, 50));
      }
    }
  }

  return {
    dialect: "pg",
    tables,
    pgTables: pgSchema,
    get db() {
      return db();
    },
    get pg() {
      return active();
    },
    messages: new PgMessageStore(active, pgSchema, db, tables, tx),
    lookups: pgLookups(root, inTransaction, pgSchema),
    ready,
    tx,
    /** True when the database is migrated and answers within two seconds. */
    async ping() {
      const answered = ready.then(() => sql`SELECT 1`).then(
        () => true,
        () => false,
      );
      let timer: Timer | undefined;
      const late = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, 2000, false)));
      return Promise.race([answered, late]).finally(() => clearTimeout(timer));
    },
    async close() {
      await ready.catch(() => {});
      await sql.close({ timeout: 5 });
    },
  };
}

/**
 * Applies the embedded migrations this database has not seen, in one transaction. The
 * advisory lock makes processes that start together take turns: the first migrates, the
 * others then find nothing left to do.
 */
export async function migratePg(sql: SQL): Promise<string[]> {
  return sql.begin(async (t) => {
    await t`SELECT pg_advisory_xact_lock(hashtext('bunchat.migrations'))`;
    await t`CREATE TABLE IF NOT EXISTS __migrations (tag text PRIMARY KEY NOT NULL, applied_at bigint NOT NULL)`;
    const applied = new Set((await t`SELECT tag FROM __migrations`).map((r: { tag: string }) => r.tag));
    const done: string[] = [];
    for (const migration of pgMigrations) {
      if (applied.has(migration.tag)) continue;
      for (const statement of migration.sql.split("--> statement-breakpoint"))
        if (statement.trim()) await t.unsafe(statement);
      await t`INSERT INTO __migrations (tag, applied_at) VALUES (${migration.tag}, ${Date.now()})`;
      done.push(migration.tag);
    }
    return done;
  });
}

/**
 * Text is compared by code point on SQLite; a PostgreSQL database created with a linguistic
 * collation sorts names and matches prefix ranges differently. Say so rather than differ quietly.
 */
async function checkCollation(sql: SQL, logger?: Logger) {
  const [row] = await sql`SELECT datcollate FROM pg_database WHERE datname = current_database()`;
  const collation = String(row?.datcollate ?? "");
  if (logger && !/^(C|POSIX|C\.UTF-?8)$/i.test(collation))
    logger.warn("database collation is not C: names sort linguistically, unlike on SQLite", { collation });
}

/**
 * The client Drizzle talks through: the pool itself once `ready`, and until then the same
 * calls deferred until it is. Drizzle uses `unsafe(query, params)` (awaited, or `.values()`)
 * and `begin()`; nothing else of the client.
 */
function gate(sql: SQL, ready: Promise<void>, isReady: () => boolean): SQL {
  const later = (run: () => SQL.Query<any>) => ({
    values: () => ready.then(() => run().values()),
    then: (ok?: (v: any) => unknown, fail?: (e: unknown) => unknown) => ready.then(run).then(ok, fail),
  });
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(sql, {
    get(target, prop) {
      if (!isReady()) {
        if (prop === "unsafe") return (query: string, params?: unknown[]) => later(() => target.unsafe(query, params));
        if (prop === "begin") return (...args: unknown[]) => ready.then(() => (target.begin as (...a: unknown[]) => unknown)(...args));
      }
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      // Bun's methods want the real client as `this`, not the proxy.
      if (!bound.has(prop)) bound.set(prop, value.bind(target));
      return bound.get(prop);
    },
  });
}
