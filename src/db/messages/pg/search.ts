/**
 * Full-text search on PostgreSQL: a GIN index over `to_tsvector('public.chat_search', content)`
 * (drizzle/pg/0001_messages_search.sql). Soft-deleted messages are left out.
 */
import { and, desc, eq, isNull, lt, or, sql } from "drizzle-orm";
import { decodeCursor, encodeCursor } from "../../../lib/cursor";
import type { PgDB } from "../../database";
import type * as pgSchema from "../../schema.pg";
import type { SearchQuery } from "../store";

/** The words as a to_tsquery: quoted lexemes joined by &, the last a prefix. */
export function tsQuery(terms: string[]): string {
  return terms.map((term, i) => `'${term}'${i === terms.length - 1 ? ":*" : ""}`).join(" & ");
}

export async function searchPg(db: PgDB, t: typeof pgSchema, query: SearchQuery): Promise<{ ids: string[]; nextCursor: string | null }> {
  const { messages, roomMembers } = t;
  const after = query.cursor ? (decodeCursor(query.cursor, ["time", "string"]) as [number, string]) : undefined;
  // Expression and predicate repeat the index's, so the GIN index answers the match.
  const matches = sql`to_tsvector('public.chat_search'::regconfig, ${messages.content}) @@ to_tsquery('public.chat_search'::regconfig, ${tsQuery(query.terms)})`;
  const hits = await db
    .select({ id: messages.id, createdAt: messages.createdAt })
    .from(messages)
    .innerJoin(roomMembers, and(eq(roomMembers.roomId, messages.roomId), eq(roomMembers.userId, query.userId)))
    .where(
      and(
        matches,
        isNull(messages.deletedAt),
        query.roomId !== undefined ? eq(messages.roomId, query.roomId) : undefined,
        after
          ? or(lt(messages.createdAt, new Date(after[0])), and(eq(messages.createdAt, new Date(after[0])), lt(messages.id, after[1])))
          : undefined,
      ),
    )
    .orderBy(desc(messages.createdAt), desc(messages.id))
    .limit(query.limit + 1);
  const page = hits.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    ids: page.map((h) => h.id),
    nextCursor: hits.length > query.limit && last ? encodeCursor([last.createdAt.getTime(), last.id]) : null,
  };
}
