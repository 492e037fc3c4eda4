/**
 * Fills a room with messages straight into the database file while the server is stopped:
 * one transaction around one prepared INSERT, then the room's last_seq so the next send
 * continues the sequence. The full-text index is rebuilt once at the end instead of row by
 * row (8 s instead of 30 s for a million rows), merged, and marked as indexed (until then
 * the new rows are the search backlog, as any new message is).
 */
import { Database } from "bun:sqlite";

const WORDS = ["lorem", "ipsum", "dolor", "sit", "amet", "chat", "room", "message", "history", "page", "bench", "seq"];

/** `onProgress` hears each millionth row, and the index build. */
export function seedRoom(dbPath: string, roomId: string, senderId: string, count: number, onProgress?: (text: string) => void): { seconds: number } {
  const started = performance.now();
  const db = new Database(dbPath, { strict: true });
  try {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    // A large page cache keeps the indexes being filled in memory until the one commit.
    db.exec("PRAGMA cache_size = -262144");
    const insert = db.prepare(
      "INSERT INTO messages (id, room_id, seq, sender_id, content, metadata, reply_to_id, reply_count, client_id, created_at, edited_at, deleted_at) " +
        "VALUES (?, ?, ?, ?, ?, NULL, NULL, 0, NULL, ?, NULL, NULL)",
    );
    const last = db.query<{ last_seq: number }, [string]>("SELECT last_seq FROM rooms WHERE id = ?").get(roomId);
    if (!last) throw new Error(`seed: no room ${roomId}`);
    const from = last.last_seq + 1;
    // One message a second up to now, so createdAt grows with seq as it would have.
    const base = Date.now() - count * 1000;
    db.transaction(() => {
      // New rows wait in the search backlog (no trigger indexes them): the index is built once below.
      for (let i = 0; i < count; i++) {
        const seq = from + i;
        const content = `message ${seq}: ${WORDS[seq % WORDS.length]} ${WORDS[(seq * 7) % WORDS.length]} ${WORDS[(seq * 13) % WORDS.length]}`;
        insert.run(Bun.randomUUIDv7(), roomId, seq, senderId, content, base + i * 1000);
        if (onProgress && (i + 1) % 1_000_000 === 0) onProgress(`${((i + 1) / 1e6).toFixed(0)}M rows in ${((performance.now() - started) / 1000).toFixed(0)} s`);
      }
      db.query("UPDATE rooms SET last_seq = ?, last_activity_at = ? WHERE id = ?").run(from + count - 1, base + count * 1000, roomId);
      onProgress?.("building the full-text index");
      db.exec("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')");
      // A rebuild leaves its output in many small segments of one level; the first sends
      // after it would then merge them all, inside their commits (p99 at 2,000 deliveries/s
      // 14–20 ms instead of 3–4). An index grown message by message is kept merged as it
      // grows, so merge this one into one segment, as "optimize" does.
      db.exec("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')");
      // Every row is indexed now: nothing waits in the backlog (src/db/messages/sqlite/backlog.ts).
      db.exec("UPDATE search_state SET indexed_upto = (SELECT coalesce(max(rowid), 0) FROM messages) WHERE id = 1");
    })();
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
  return { seconds: (performance.now() - started) / 1000 };
}
