/**
 * Full-text search over message content: the one place that speaks each dialect's text
 * search. SQLite has an FTS5 index, filled in batches from a backlog of new messages and kept
 * in step by triggers after that (sqlite-backlog.ts, drizzle/sqlite/0001_messages_fts.sql, 0006, 0010);
 * PostgreSQL has a GIN index over `to_tsvector('public.chat_search', content)`
 * (drizzle/pg/0001_messages_search.sql). Both leave soft-deleted messages out.
 */
import { and, desc, eq, isNull, lt, or, sql } from "drizzle-orm";
import type { Database, SqliteDatabase } from "../../db";
import { messages, roomMembers } from "../../db/schema";
import { decodeCursor, encodeCursor } from "../../lib/cursor";
import { backlogOf } from "./sqlite-backlog";

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

/** Most rowids one catch-up transaction covers, so that a large backlog does not hold the write lock long. */
const CATCH_UP_SPAN = 20_000;

/**
 * Indexes every message committed before the search began (see sqlite-backlog.ts), in
 * transactions of at most CATCH_UP_SPAN rowids that take turns with the writer's.
 */
async function catchUp(database: SqliteDatabase): Promise<void> {
  const backlog = backlogOf(database.sqlite);
  const end = backlog.backlogEnd();
  if (end === null) return;
  while (await database.tx(async () => backlog.index(end, CATCH_UP_SPAN)));
}
