/**
 * Message reads through Drizzle, for either dialect: the read half of a MessageStore. What
 * PostgreSQL runs, and what SQLite runs off its hot paths (its store prepares history pages
 * and their reactions by hand). Stores extend it with their writes and their search.
 */
import { and, asc, desc, eq, gt, gte, inArray, lt, lte, type SQL, sql } from "drizzle-orm";
import type { DB, Tables } from "../tables";
import type { HistoryRange, MessageRecord, ReactionCount, RecordPage, ScopeRoom } from "./store";

export abstract class MessageQueries {
  constructor(
    /** The active builder: the transaction's inside one. */
    private readonly builder: () => DB,
    private readonly t: Tables,
  ) {}

  async history(roomId: string, _roomKind: string, range: HistoryRange): Promise<RecordPage> {
    const { messages } = this.t;
    const inRoom = eq(messages.roomId, roomId);
    const below = range.before !== undefined ? lt(messages.seq, range.before) : undefined;
    if (range.after !== undefined) return this.page(and(inRoom, gt(messages.seq, range.after), below), range.limit);
    const rows = await this.records(and(inRoom, below), desc(messages.seq), range.limit + 1);
    return { records: rows.slice(0, range.limit).reverse(), hasMore: rows.length > range.limit };
  }

  byIds(ids: string[]): Promise<MessageRecord[]> {
    return ids.length === 0 ? Promise.resolve([]) : this.records(inArray(this.t.messages.id, ids));
  }

  replies(parentId: string, after: number | undefined, limit: number): Promise<RecordPage> {
    const { messages } = this.t;
    return this.page(and(eq(messages.replyToId, parentId), after !== undefined ? gt(messages.seq, after) : undefined), limit);
  }

  changedSince(roomId: string, since: Date | number, through: number, limit: number): Promise<RecordPage> {
    const { messages } = this.t;
    const changed = typeof since === "number" ? gt(messages.changeSeq, since) : gte(messages.changedAt, since);
    // `seq + 0`: the bound must not make the (room, seq) index look better than the partial ones of
    // changed messages (SQLite has no statistics to tell): that would read every message up to it.
    return this.page(and(eq(messages.roomId, roomId), changed, lte(sql`${messages.seq} + 0`, through)), limit);
  }

  async reactions(viewerId: string, records: MessageRecord[], _contiguous = false): Promise<ReactionCount[]> {
    if (records.length === 0) return [];
    const { reactions } = this.t;
    const rows = await this.builder()
      .select({
        messageId: reactions.messageId,
        emoji: reactions.emoji,
        count: sql<number>`cast(count(*) as integer)`,
        mine: sql<number>`cast(sum(case when ${reactions.userId} = ${viewerId} then 1 else 0 end) as integer)`,
      })
      .from(reactions)
      .where(
        inArray(
          reactions.messageId,
          records.map((r) => r.message.id),
        ),
      )
      .groupBy(reactions.messageId, reactions.emoji)
      .orderBy(sql`min(${reactions.createdAt})`, reactions.emoji);
    return rows.map((r) => ({ messageId: r.messageId, emoji: r.emoji, count: Number(r.count), me: Number(r.mine) > 0 }));
  }

  /** The rooms with messages a search of `userId` reads: theirs, or only `roomId` when it is theirs. */
  protected searchScope(userId: string, roomId?: string): Promise<ScopeRoom[]> {
    const { roomMembers, rooms } = this.t;
    return this.builder()
      .select({ id: rooms.id, lastSeq: rooms.lastSeq })
      .from(roomMembers)
      .innerJoin(rooms, eq(rooms.id, roomMembers.roomId))
      .where(and(eq(roomMembers.userId, userId), roomId !== undefined ? eq(roomMembers.roomId, roomId) : undefined, gt(rooms.lastSeq, 0)));
  }

  /** The first `limit` matching messages in ascending seq. */
  private async page(where: SQL | undefined, limit: number): Promise<RecordPage> {
    const rows = await this.records(where, asc(this.t.messages.seq), limit + 1);
    return { records: rows.slice(0, limit), hasMore: rows.length > limit };
  }

  /** Messages with their senders and room kinds; the caller's where/order decides which. */
  private records(where: SQL | undefined, order?: SQL, limit?: number): Promise<MessageRecord[]> {
    const { messages, rooms, users } = this.t;
    const query = this.builder()
      .select({
        message: messages,
        sender: { id: users.id, username: users.username, displayName: users.displayName, avatarUrl: users.avatarUrl },
        roomKind: rooms.kind,
      })
      .from(messages)
      .innerJoin(rooms, eq(rooms.id, messages.roomId))
      .leftJoin(users, eq(users.id, messages.senderId))
      .where(where)
      .$dynamic();
    if (order) query.orderBy(order);
    if (limit !== undefined) query.limit(limit);
    return query;
  }
}
