/**
 * WAL checkpoints run on a worker thread, not in the server's commits: the server's
 * connection has automatic checkpoints off, and committed pages still reach the database file.
 */
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqlite } from "../../src/db/sqlite";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "bunchat-checkpoint-"));
  dirs.push(dir);
  return join(dir, "chat.db");
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await Bun.sleep(20)) if (condition()) return true;
  return condition();
}

test("a file database leaves checkpoints to the worker, which copies committed pages into the file", async () => {
  const path = tempFile();
  const database = openSqlite(path);
  try {
    expect(database.sqlite.query<{ wal_autocheckpoint: number }, []>("PRAGMA wal_autocheckpoint").get()!.wal_autocheckpoint).toBe(0);
    database.sqlite.exec("CREATE TABLE filler (x TEXT)");
    const before = statSync(path).size;
    const insert = database.sqlite.prepare("INSERT INTO filler (x) VALUES (?)");
    database.sqlite.transaction(() => {
      for (let i = 0; i < 2000; i++) insert.run("x".repeat(1000));
    })();
    // Only a checkpoint writes to the database file itself; the commit went to the WAL.
    expect(await until(() => statSync(path).size >= before + 1_000_000)).toBe(true);
  } finally {
    await database.close();
  }
});

test("an in-memory database keeps SQLite's own checkpoints (there is no file to checkpoint)", async () => {
  const database = openSqlite(":memory:");
  try {
    expect(database.sqlite.query<{ wal_autocheckpoint: number }, []>("PRAGMA wal_autocheckpoint").get()!.wal_autocheckpoint).toBe(1000);
  } finally {
    await database.close();
  }
});
