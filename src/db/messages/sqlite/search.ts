/**
 * Full-text search on SQLite: an FTS5 index (drizzle/sqlite/0001_messages_fts.sql), filled in
 * batches from the backlog of new messages (./backlog.ts) and kept in step by triggers after
 * that (0006, 0010). Soft-deleted messages are left out.
 */
import type { Database as SQLite } from "bun:sqlite";
import { decodeCursor, encodeCursor } from "../../../lib/cursor";
import type { SearchQuery } from "../store";
import type { SqliteBacklog } from "./backlog";

/**
 * The words as a safe FTS5 query: each a quoted term (so operators, quotes, `*`, `NEAR` or
 * column filters in the input mean nothing), all required, the last also as a prefix.
 */
export function fts5Query(terms: string[]): string {
  return terms.map((term, i) => `"${term}"${i === terms.length - 1 ? "*" : ""}`).join(" ");
}

/** Most rowids one catch-up transaction covers, so that a large backlog does not hold the write lock long. */
const CATCH_UP_SPAN = 20_000;

export class SqliteSearch {
  constructor(
    private readonly sqlite: SQLite,
    private readonly backlog: SqliteBacklog,
    /** Runs a write transaction in turn with the writer's. */
    private readonly tx: <T>(fn: () => Promise<T>) => Promise<T>,
  ) {}

  async search(query: SearchQuery): Promise<{ ids: string[]; nextCursor: string | null }> {
    await this.catchUp();
    // The FTS rowid grows with every insert, so it orders by age and the index walks it backwards.
    const before = query.cursor ? (decodeCursor(query.cursor, ["number"])[0] as number) : undefined;
    const where = ["messages_fts MATCH ?", "m.deleted_at IS NULL"];
    const params: (string | number)[] = [query.userId, fts5Query(query.terms)];
    if (query.roomId !== undefined) {
      where.push("m.room_id = ?");
      params.push(query.roomId);
    }
    if (before !== undefined) {
      where.push("messages_fts.rowid < ?");
      params.push(before);
    }
    params.push(query.limit + 1);
    const hits = this.sqlite
      .query<{ id: string; rank: number }, (string | number)[]>(
        "SELECT m.id AS id, messages_fts.rowid AS rank FROM messages_fts " +
          "JOIN messages m ON m.rowid = messages_fts.rowid " +
          "JOIN room_members rm ON rm.room_id = m.room_id AND rm.user_id = ? " +
          `WHERE ${where.join(" AND ")} ORDER BY messages_fts.rowid DESC LIMIT ?`,
      )
      .all(...params);
    const page = hits.slice(0, query.limit);
    const last = page[page.length - 1];
    return { ids: page.map((h) => h.id), nextCursor: hits.length > query.limit && last ? encodeCursor([last.rank]) : null };
  }

  /**
   * Indexes every message committed before the search began, in transactions of at most
   * CATCH_UP_SPAN rowids that take turns with the writer's.
   */
  private async catchUp(): Promise<void> {
    const end = this.backlog.backlogEnd();
    if (end === null) return;
    while (await this.tx(async () => this.backlog.index(end, CATCH_UP_SPAN)));
  }
}
