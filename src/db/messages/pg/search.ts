/**
 * Full-text search on PostgreSQL: a GIN index over `to_tsvector('public.chat_search', content)`
 * (drizzle/pg/0001_messages_search.sql). Soft-deleted messages are left out.
 *
 * The index holds no room, so a query on it costs what the whole server's matches cost. A
 * search therefore starts from the user's rooms (the scope, see SearchLimits): a small scope
 * is read whole through its rooms' index and each message matched as it is; a larger one asks
 * the GIN index, restricted to the scope's rooms, within a time budget (statement_timeout). A
 * query that runs out of it gives way to reading the scope's newest messages below the cursor.
 */
import { and, desc, eq, inArray, isNull, lt, or, type SQL, sql } from "drizzle-orm";
import { decodeCursor, encodeCursor } from "../../../lib/cursor";
import { sqlState } from "../../../lib/db-errors";
import type { PgDB, TxOptions } from "../../database";
import type * as pgSchema from "../../schema.pg";
import { type ScopeRoom, type SearchLimits, type SearchQuery, type SearchResult, scopeSize } from "../store";

/** The words as a to_tsquery: quoted lexemes joined by &, the last a prefix. */
export function tsQuery(terms: string[]): string {
  return terms.map((term, i) => `'${term}'${i === terms.length - 1 ? ":*" : ""}`).join(" & ");
}

/** query_canceled: what statement_timeout raises. */
const QUERY_CANCELED = "57014";

type Position = [at: number, id: string];

/** A message of a window: where it stands, and whether it matches. */
type WindowRow = { id: string; created_at: string | Date; hit: boolean } & Record<string, unknown>;

export class PgSearch {
  constructor(
    /** The active builder: the transaction's inside one, else the pool's. */
    private readonly pg: () => PgDB,
    private readonly t: typeof pgSchema,
    private readonly tx: <T>(fn: () => Promise<T>, options?: TxOptions) => Promise<T>,
    /** The rooms a search of the user reads. */
    private readonly scope: (userId: string, roomId?: string) => Promise<ScopeRoom[]>,
  ) {}

  async search(query: SearchQuery, limits: SearchLimits): Promise<SearchResult> {
    const after = query.cursor ? (decodeCursor(query.cursor, ["time", "string"]) as Position) : undefined;
    const rooms = await this.scope(query.userId, query.roomId);
    if (rooms.length === 0) return { ids: [], nextCursor: null, examined: 0 };
    const ids = rooms.map((r) => r.id);
    if (scopeSize(rooms) <= limits.scanRows) return this.window(ids, query, after, limits.scanRows);
    try {
      return await this.tx(async () => {
        await this.pg().execute(sql.raw(`SET LOCAL statement_timeout = ${Math.max(1, Math.ceil(limits.timeBudgetMs))}`));
        return this.fromIndex(ids, query, after);
      }, { readCommitted: true });
    } catch (error) {
      if (sqlState(error) !== QUERY_CANCELED) throw error;
    }
    // Out of time in the index: a window of at least one message, so that each page moves on.
    return this.window(ids, query, after, Math.max(1, limits.scanRows));
  }

  /** The index's own expression (with deleted_at IS NULL beside it, its predicate), so that the GIN index can answer the match. */
  private matches(content: SQL | typeof this.t.messages.content, query: SearchQuery): SQL {
    return sql`to_tsvector('public.chat_search'::regconfig, ${content}) @@ to_tsquery('public.chat_search'::regconfig, ${tsQuery(query.terms)})`;
  }

  private below(after: Position | undefined): SQL | undefined {
    if (!after) return undefined;
    const { messages } = this.t;
    const at = new Date(after[0]);
    return or(lt(messages.createdAt, at), and(eq(messages.createdAt, at), lt(messages.id, after[1])));
  }

  /** The scope's matches through the GIN index; the planner may combine it with the rooms' index. */
  private async fromIndex(rooms: string[], query: SearchQuery, after: Position | undefined): Promise<SearchResult> {
    const { messages } = this.t;
    const hits = await this.pg()
      .select({ id: messages.id, createdAt: messages.createdAt })
      .from(messages)
      .where(and(inArray(messages.roomId, rooms), this.matches(messages.content, query), isNull(messages.deletedAt), this.below(after)))
      .orderBy(desc(messages.createdAt), desc(messages.id))
      .limit(query.limit + 1);
    const page = hits.slice(0, query.limit);
    const last = page.at(-1);
    return {
      ids: page.map((h) => h.id),
      nextCursor: hits.length > query.limit && last ? encodeCursor([last.createdAt.getTime(), last.id]) : null,
      examined: hits.length,
    };
  }

  /**
   * The scope's newest `size` live messages below the cursor, read through the rooms' index
   * (never the GIN index) and each matched as it is. The cursor then is where the window ended:
   * every message above it was looked at.
   */
  private async window(rooms: string[], query: SearchQuery, after: Position | undefined, size: number): Promise<SearchResult> {
    const { messages } = this.t;
    const newest = this.pg()
      .select({ id: messages.id, createdAt: messages.createdAt, content: messages.content })
      .from(messages)
      .where(and(inArray(messages.roomId, rooms), isNull(messages.deletedAt), this.below(after)))
      .orderBy(desc(messages.createdAt), desc(messages.id))
      .limit(size + 1);
    // The driver's raw rows are untyped.
    const rows = (await this.pg().execute(
      sql`WITH w AS MATERIALIZED (${newest}) SELECT id, created_at, ${this.matches(sql`content`, query)} AS hit FROM w ORDER BY created_at DESC, id DESC`,
    )) as WindowRow[];
    const window = rows.slice(0, size);
    const hits = window.filter((r) => r.hit);
    const page = hits.slice(0, query.limit);
    const position = (r: WindowRow) => encodeCursor([new Date(r.created_at).getTime(), r.id]);
    let nextCursor: string | null = null;
    if (hits.length > query.limit) nextCursor = position(page.at(-1)!);
    else if (rows.length > size) nextCursor = position(window.at(-1)!);
    return { ids: page.map((h) => h.id), nextCursor, examined: window.length };
  }
}
