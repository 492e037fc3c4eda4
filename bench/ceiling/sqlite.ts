/**
 * Ceiling (b): ceiling (a) plus one SQLite commit per message, before the message is
 * published and acknowledged. Same pragmas as our server (WAL, synchronous=NORMAL); one
 * prepared INSERT, run outside any transaction, so each message is its own commit.
 *
 *   bun bench/ceiling/sqlite.ts <database file>
 */
import { Database } from "bun:sqlite";
import { serveCeiling } from "./pubsub";

const path = process.argv[2];
if (!path) {
  console.error("usage: bun bench/ceiling/sqlite.ts <database file>");
  process.exit(1);
}
const db = new Database(path, { create: true, strict: true });
db.exec("PRAGMA journal_mode = WAL");
db.exec("PRAGMA synchronous = NORMAL");
db.exec(`CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY NOT NULL,
  room_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  sender_id TEXT NOT NULL,
  content TEXT NOT NULL,
  client_id TEXT,
  created_at INTEGER NOT NULL
)`);
db.exec("CREATE UNIQUE INDEX IF NOT EXISTS messages_room_seq_uq ON messages (room_id, seq)");
const insert = db.prepare(
  "INSERT INTO messages (id, room_id, seq, sender_id, content, client_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
);

serveCeiling((m) => void insert.run(m.id, m.roomId, m.seq, m.senderId, m.content, m.clientId, m.createdAt));
