/**
 * Full-text search on SQLite: an FTS5 index (drizzle/sqlite/0001_messages_fts.sql), filled in
 * batches from the backlog of new messages (./backlog.ts) and kept in step by triggers after
 * that (0006, 0010). Soft-deleted messages are left out.
 *
 * The index holds no room, so any query on it costs what the whole server's matches cost (a
 * prefix, the last word, merges the postings of every word it begins). A search therefore
 * starts from the user's rooms (the scope, see SearchLimits): a small scope is read whole into
 * a scratch index of its own and matched there, without touching the big one; a large one
 * walks the big index newest first, keeping the scope's matches, until its page is full or
 * its budget is spent.
 */
import type { Database as SQLite, Statement } from "bun:sqlite";
import { decodeCursor, encodeCursor } from "../../../lib/cursor";
import { type ScopeRoom, type SearchLimits, type SearchQuery, type SearchResult, scopeSize } from "../store";
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
/**
 * Index matches walked between two looks at the clock. The first look is at the first match,
 * which comes once the index has set the query up (merged the postings of a prefix's words).
 */
const CLOCK_EVERY = 64;

interface Hit {
  id: string;
  /** The messages rowid: it grows with every insert, so it orders by age. */
  rank: number;
}

export class SqliteSearch {
  private readonly scratch: { fill: Statement; match: Statement<Hit, [string, number]>; clear: Statement };
  private readonly walkIndex: Statement<Hit & { roomId: string; live: number }, [string, number]>;

  constructor(
    sqlite: SQLite,
    private readonly backlog: SqliteBacklog,
    /** Runs a write transaction in turn with the writer's. */
    private readonly tx: <T>(fn: () => Promise<T>) => Promise<T>,
    /** The rooms a search of the user reads. */
    private readonly scope: (userId: string, roomId?: string) => Promise<ScopeRoom[]>,
  ) {
    // Same tokenizer as messages_fts, so both match alike; in temp, so it is no part of the file.
    // Made here, where no transaction is open: one that rolled back would take the table with it.
    sqlite.run("CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_scratch USING fts5(content, tokenize='unicode61 remove_diacritics 2', columnsize=0)");
    this.scratch = {
      // The scope's rooms through their (room_id, seq) index, whatever the planner would guess.
      fill: sqlite.prepare(
        "INSERT INTO temp.search_scratch(rowid, content) SELECT m.rowid, m.content FROM messages m INDEXED BY messages_room_seq_uq " +
          "WHERE m.room_id IN (SELECT value FROM json_each(?1)) AND m.deleted_at IS NULL AND m.rowid < ?2",
      ),
      match: sqlite.prepare(
        "SELECT s.rowid AS rank, m.id AS id FROM temp.search_scratch s JOIN messages m ON m.rowid = s.rowid " +
          "WHERE search_scratch MATCH ?1 ORDER BY s.rowid DESC LIMIT ?2",
      ),
      clear: sqlite.prepare("DELETE FROM temp.search_scratch"),
    };
    this.walkIndex = sqlite.prepare(
      "SELECT messages_fts.rowid AS rank, m.id AS id, m.room_id AS roomId, m.deleted_at IS NULL AS live FROM messages_fts " +
        "JOIN messages m ON m.rowid = messages_fts.rowid " +
        "WHERE messages_fts MATCH ?1 AND messages_fts.rowid < ?2 ORDER BY messages_fts.rowid DESC",
    );
  }

  async search(query: SearchQuery, limits: SearchLimits): Promise<SearchResult> {
    const before = query.cursor ? (decodeCursor(query.cursor, ["number"])[0] as number) : Number.MAX_SAFE_INTEGER;
    const rooms = await this.scope(query.userId, query.roomId);
    if (rooms.length === 0) return { ids: [], nextCursor: null, examined: 0 };
    // The backlog is indexed now rather than by the writer's next batches: what it costs is
    // work the writer would do anyway, bounded by how far the writer lets the backlog grow.
    await this.catchUp();
    if (scopeSize(rooms) <= limits.scanRows) return this.scan(rooms, query, before);
    return this.walk(new Set(rooms.map((r) => r.id)), query, before, limits);
  }

  /**
   * Every live message of the scope below the cursor, matched in a scratch index of their own
   * (in memory, on this connection): filled, matched and emptied without a pause, so no other
   * work on the connection sees it filled (and a transaction open around it, taking it in,
   * ends with it empty either way).
   */
  private scan(rooms: ScopeRoom[], query: SearchQuery, before: number): SearchResult {
    const scratch = this.scratch;
    const examined = scratch.fill.run(JSON.stringify(rooms.map((r) => r.id)), before).changes;
    let hits: Hit[];
    try {
      hits = scratch.match.all(fts5Query(query.terms), query.limit + 1);
    } finally {
      scratch.clear.run();
    }
    const page = hits.slice(0, query.limit);
    const last = page.at(-1);
    return { ids: page.map((h) => h.id), nextCursor: hits.length > query.limit && last ? encodeCursor([last.rank]) : null, examined };
  }

  /**
   * The full-text index newest first, keeping the scope's live matches, until the page is
   * full, `indexRows` matches were walked or `timeBudgetMs` passed; then the cursor is where it
   * stopped (every match above it was looked at).
   */
  private walk(scope: Set<string>, query: SearchQuery, before: number, limits: SearchLimits): SearchResult {
    const started = performance.now();
    const hits: Hit[] = [];
    let examined = 0;
    let stoppedAt: number | null = null;
    for (const row of this.walkIndex.iterate(fts5Query(query.terms), before)) {
      examined++;
      if (row.live && scope.has(row.roomId)) hits.push(row);
      if (hits.length > query.limit) break;
      if (examined >= limits.indexRows || ((examined - 1) % CLOCK_EVERY === 0 && performance.now() - started >= limits.timeBudgetMs)) {
        stoppedAt = row.rank;
        break;
      }
    }
    const page = hits.slice(0, query.limit);
    const last = page.at(-1);
    const nextCursor = hits.length > query.limit && last ? encodeCursor([last.rank]) : stoppedAt !== null ? encodeCursor([stoppedAt]) : null;
    return { ids: page.map((h) => h.id), nextCursor, examined };
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
