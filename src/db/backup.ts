/**
 * Online backups of the database named by DATABASE_URL. SQLite: `VACUUM INTO` on a connection
 * of its own, which is one read transaction: the copy is the database as of the moment it
 * began (every transaction committed by then, none after), and in WAL mode a reader never
 * blocks the server's writer, which goes on committing to the WAL meanwhile (the WAL only
 * grows until the copy ends, since a checkpoint cannot pass a reader's snapshot).
 * PostgreSQL: not done here; pg_dump does it.
 */
import { Database as SQLite } from "bun:sqlite";
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync } from "node:fs";

/** A backup this database cannot take; the message says what to do instead. */
export class BackupUnsupported extends Error {}

export interface BackupResult {
  /** Messages in the copy. */
  messages: number;
  bytes: number;
  seconds: number;
}

/** Copies the database at `databaseUrl` to the new file `target` (which must not exist). */
export function backupDatabase(databaseUrl: string, target: string): BackupResult {
  if (databaseUrl.startsWith("sqlite://")) return backupSqlite(databaseUrl.slice("sqlite://".length), target);
  throw new BackupUnsupported(
    "bunchat backup copies SQLite databases only. For PostgreSQL use pg_dump, e.g. " +
      "`pg_dump --format=custom --file=bunchat.dump \"$DATABASE_URL\"` (restore with pg_restore); it is consistent while the server runs.",
  );
}

function backupSqlite(path: string, target: string): BackupResult {
  if (path === ":memory:") throw new BackupUnsupported("An in-memory database (sqlite://:memory:) has nothing to back up.");
  if (!existsSync(path)) throw new Error(`No database at ${path} (DATABASE_URL).`);
  if (existsSync(target)) throw new Error(`${target} exists already; name a new file.`);
  const started = performance.now();
  // Written beside the target and renamed at the end: a file at `target` is always a whole copy.
  const partial = `${target}.partial-${process.pid}`;
  rmSync(partial, { force: true });
  // Its own connection: it writes nothing, and waits (busy_timeout) rather than fail while a
  // checkpoint or a schema change holds a lock for a moment.
  const source = new SQLite(path, { readwrite: true, create: false, strict: true });
  try {
    source.exec("PRAGMA busy_timeout = 10000");
    source.query("VACUUM INTO ?").run(partial);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    source.close();
  }
  let messages = 0;
  const copy = new SQLite(partial, { readwrite: true, create: false, strict: true });
  try {
    // A single file, whatever the source's journal mode: the copy is restored by copying it alone.
    copy.exec("PRAGMA journal_mode = DELETE");
    const check = copy.query<{ quick_check: string }, []>("PRAGMA quick_check").all();
    if (check.length !== 1 || check[0]!.quick_check !== "ok") throw new Error(`The copy failed its check: ${check.map((r) => r.quick_check).join("; ")}`);
    messages = copy.query<{ n: number }, []>("SELECT count(*) AS n FROM messages").get()!.n;
  } catch (error) {
    copy.close();
    rmSync(partial, { force: true });
    throw error;
  }
  copy.close();
  const fd = openSync(partial, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(partial, target);
  return { messages, bytes: Bun.file(target).size, seconds: (performance.now() - started) / 1000 };
}
