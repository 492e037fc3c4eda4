/**
 * Holds a write lock on a SQLite file for a while, as a second process opening the same new
 * file does while it switches it to WAL: posts "locked" once it holds it.
 */
import { Database } from "bun:sqlite";

declare const self: Worker;

self.onmessage = ({ data }: MessageEvent<{ path: string; holdMs: number }>) => {
  const db = new Database(data.path, { create: true });
  db.exec("CREATE TABLE IF NOT EXISTS held (at INTEGER)");
  db.exec("BEGIN IMMEDIATE");
  db.query("INSERT INTO held VALUES (?)").run(Date.now());
  postMessage("locked");
  setTimeout(() => {
    db.exec("COMMIT");
    db.close();
  }, data.holdMs);
};
