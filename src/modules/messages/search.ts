/**
 * Full-text search over message content: the one place that speaks each dialect's text
 * search. SQLite has an FTS5 index, filled in batches from a backlog of new messages and kept
 * in step by triggers after that (drizzle/sqlite/0001_messages_fts.sql, 0006_search_backlog.sql);
 * PostgreSQL has a GIN index over `to_tsvector('public.chat_search', content)`
 * (drizzle/pg/0001_messages_search.sql). Both leave soft-deleted messages out.
 */
import type { Database as SQLite, Statement } from "bun:sqlite";
import { and, desc, eq, isNull, lt, or, sql } from "drizzle-orm";
import type { Database } from "../../db";
import { messages, roomMembers } from "../../db/schema";
import { decodeCursor, encodeCursor } from "../users/service";

const MAX_TERMS = 16;

/** The user's words: runs of letters, marks and digits; everything else separates them. */
export function searchTerms(q: string): string[] {
  return (q.normalize("NFKC").match(/[\p{L}\p{M}\p{N}]+/gu) ?? []).slice(0, MAX_TERMS);
}

/**
 * The words as a safe FTS5 query: each a quoted term (so operators, quotes, `*`, `NEAR` or
 * column filters in the input mean nothing), all required, the last also as a prefix.
 */
export function fts5Query(terms: string[]): string {
  return terms.map((term, i) => `"${term}"${i === terms.length - 1 ? "*" : ""}`).join(" ");
}

/** The same for PostgreSQL's to_tsquery: quoted lexemes joined by &, the last a prefix. */
export function tsQuery(terms: string[]): string {
  return terms.map((term, i) => `'${term}'${i === terms.length - 1 ? ":*" : ""}`).join(" & ");
}

export interface SearchOptions {
  userId: string;
  q: string;
  roomId?: string;
  limit: number;
  cursor?: string;
}

/**
 * Ids of live messages matching `q` in rooms the user belongs to, newest first, and the
 * cursor of the next page. Cursors are opaque and belong to the dialect that made them.
 */
export async function searchMessageIds(database: Database, opts: SearchOptions): Promise<{ ids: string[]; nextCursor: string | null }> {
  const terms = searchTerms(opts.q);
  if (terms.length === 0) return { ids: [], nextCursor: null };
  switch (database.dialect) {
    case "sqlite": {
      await catchUp(database);
      // The FTS rowid grows with every insert, so it orders by age and the index walks it backwards.
      const before = opts.cursor ? (decodeCursor(opts.cursor, ["number"])[0] as number) : undefined;
      const where = ["messages_fts MATCH ?", "m.deleted_at IS NULL"];
      const params: (string | number)[] = [opts.userId, fts5Query(terms)];
      if (opts.roomId !== undefined) {
        where.push("m.room_id = ?");
        params.push(opts.roomId);
      }
      if (before !== undefined) {
        where.push("messages_fts.rowid < ?");
        params.push(before);
      }
      params.push(opts.limit + 1);
      const hits = database.sqlite
        .query<{ id: string; rank: number }, (string | number)[]>(
          "SELECT m.id AS id, messages_fts.rowid AS rank FROM messages_fts " +
            "JOIN messages m ON m.rowid = messages_fts.rowid " +
            "JOIN room_members rm ON rm.room_id = m.room_id AND rm.user_id = ? " +
            `WHERE ${where.join(" AND ")} ORDER BY messages_fts.rowid DESC LIMIT ?`,
        )
        .all(...params);
      const page = hits.slice(0, opts.limit);
      const last = page[page.length - 1];
      return { ids: page.map((h) => h.id), nextCursor: hits.length > opts.limit && last ? encodeCursor([last.rank]) : null };
    }
    case "pg": {
      const after = opts.cursor ? (decodeCursor(opts.cursor, ["time", "string"]) as [number, string]) : undefined;
      // Expression and predicate repeat the index's, so the GIN index answers the match.
      const matches = sql`to_tsvector('public.chat_search'::regconfig, ${messages.content}) @@ to_tsquery('public.chat_search'::regconfig, ${tsQuery(terms)})`;
      const hits = await database.db
        .select({ id: messages.id, createdAt: messages.createdAt })
        .from(messages)
        .innerJoin(roomMembers, and(eq(roomMembers.roomId, messages.roomId), eq(roomMembers.userId, opts.userId)))
        .where(
          and(
            matches,
            isNull(messages.deletedAt),
            opts.roomId !== undefined ? eq(messages.roomId, opts.roomId) : undefined,
            after
              ? or(
                  lt(messages.createdAt, new Date(after[0])),
                  and(eq(messages.createdAt, new Date(after[0])), lt(messages.id, after[1])),
                )
              : undefined,
          ),
        )
        .orderBy(desc(messages.createdAt), desc(messages.id))
        .limit(opts.limit + 1);
      const page = hits.slice(0, opts.limit);
      const last = page[page.length - 1];
      return {
        ids: page.map((h) => h.id),
        nextCursor: hits.length > opts.limit && last ? encodeCursor([last.createdAt.getTime(), last.id]) : null,
      };
    }
  }
}

/**
 * Messages waiting to be indexed before the writer indexes them, inside its own transaction.
 * Indexing a message on its own, in the commit that stores it, cost about half of the
 * message's share of that commit: the index writes a new segment (pages in the log) every
 * commit, however few rows it holds. In batches of this many, that cost is shared.
 */
export const SEARCH_BACKLOG = 512;

/** Most rowids one catch-up transaction covers, so that a large backlog does not hold the write lock long. */
const CATCH_UP_SPAN = 20_000;

/**
 * SQLite's full-text backlog: the messages above search_state.indexed_upto, which the insert
 * trigger leaves out. The message writer adds to it and indexes it once SEARCH_BACKLOG rows
 * wait; a search indexes what is left first, so it always finds every committed message.
 */
export class SqliteSearchIndex {
  /** Rows added by this connection's writer since its last catch-up; the database holds the real backlog. */
  private added = 0;
  private readonly state: Statement<{ upto: number; last: number | null }, []>;
  private readonly indexRange: Statement<unknown, [number, number]>;
  private readonly moveTo: Statement<unknown, [number]>;

  constructor(sqlite: SQLite) {
    this.state = sqlite.prepare(
      "SELECT indexed_upto AS upto, (SELECT max(rowid) FROM messages) AS last FROM search_state WHERE id = 1",
    );
    this.indexRange = sqlite.prepare(
      "INSERT INTO messages_fts(rowid, content) SELECT rowid, content FROM messages WHERE rowid > ?1 AND rowid <= ?2 AND deleted_at IS NULL",
    );
    this.moveTo = sqlite.prepare("UPDATE search_state SET indexed_upto = ?1 WHERE id = 1");
  }

  /** The last rowid of messages when committed ones wait to be indexed, else null. */
  backlogEnd(): number | null {
    const state = this.state.get();
    return state && state.last !== null && state.last > state.upto ? state.last : null;
  }

  /** Counts rows the caller's transaction inserted; indexes the backlog there once SEARCH_BACKLOG wait. */
  inserted(rows: number): void {
    this.added += rows;
    if (this.added >= SEARCH_BACKLOG) this.index();
  }

  /**
   * Indexes the backlog, up to rowid `until` and `span` rowids at most; runs inside the caller's
   * write transaction. Returns whether rows up to `until` are left.
   */
  index(until = Number.MAX_SAFE_INTEGER, span = Number.MAX_SAFE_INTEGER): boolean {
    this.added = 0;
    const state = this.state.get();
    if (!state || state.last === null) return false;
    const end = Math.min(state.last, until);
    if (end <= state.upto) return false;
    const to = Math.min(end, state.upto + span);
    this.indexRange.run(state.upto, to);
    this.moveTo.run(to);
    return to < end;
  }
}

const searchIndexes = new WeakMap<SQLite, SqliteSearchIndex>();

/**
 * Indexes every message committed before the search began, in transactions of at most
 * CATCH_UP_SPAN rowids that take turns with the writer's.
 */
async function catchUp(database: Extract<Database, { dialect: "sqlite" }>): Promise<void> {
  let index = searchIndexes.get(database.sqlite);
  if (!index) searchIndexes.set(database.sqlite, (index = new SqliteSearchIndex(database.sqlite)));
  const searchIndex = index;
  const end = searchIndex.backlogEnd();
  if (end === null) return;
  while (await database.tx(async () => searchIndex.index(end, CATCH_UP_SPAN)));
}
