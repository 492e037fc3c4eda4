import type { Database, OpenOptions } from "./database";
import { openPg } from "./pg";
import { openSqlite } from "./sqlite";

export * from "./database";
export { migrateSqlite } from "./sqlite";
export { migratePg } from "./pg";

/** Opens the database named by DATABASE_URL and brings its schema up to date. */
export function openDatabase(url: string, options: OpenOptions = {}): Database {
  if (url.startsWith("sqlite://")) return openSqlite(url.slice("sqlite://".length));
  if (/^postgres(ql)?:\/\//.test(url)) return openPg(url, options);
  throw new Error("DATABASE_URL must be sqlite://<path> or postgres://…");
}
