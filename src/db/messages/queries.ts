/**
 * Message reads through Drizzle, for either dialect: the read half of a MessageStore. What
 * PostgreSQL runs, and what SQLite runs off its hot paths (its store prepares history pages
 * and their reactions by hand). Stores extend it with their writes and their search.
 */
import { and, asc, count, desc, eq, gt, gte, inArray, lt, lte, ne, type SQL, sql } from "drizzle-orm";
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

  /**
   * readCount of each message, in two queries whatever the page: the members of the page's rooms
   * whose read position is at or past the page's lowest seq, counted per position (positions past
   * its highest seq count as that one, so there are at most as many groups as messages), off
   * room_members_read_idx; and the senders' own positions, which do not count for their messages.
   */
  async readCounts(records: MessageRecord[], _contiguous = false): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    if (records.length === 0) return counts;
    const { roomMembers } = this.t;
    if (records.length === 1) {
      // One message (an edit, a reaction, a single read): one count off the index.
      const { message } = records[0]!;
      const [row] = await this.builder()
        .select({ n: count() })
        .from(roomMembers)
        .where(and(eq(roomMembers.roomId, message.roomId), gte(roomMembers.lastReadSeq, message.seq), ne(roomMembers.userId, message.senderId)));
      return counts.set(message.id, Number(row?.n ?? 0));
    }
    const rooms = [...new Set(records.map((r) => r.message.roomId))];
    const senders = [...new Set(records.map((r) => r.message.senderId))];
    const { low, high } = seqRange(records);
    // `high` is a seq read from the database (a safe integer), written inline so that the select and
    // the GROUP BY are the same text on PostgreSQL (two parameters would be two expressions there).
    const position = sql<number>`case when ${roomMembers.lastReadSeq} > ${sql.raw(String(high))} then ${sql.raw(String(high))} else ${roomMembers.lastReadSeq} end`;
    const [groups, own] = await Promise.all([
      this.builder()
        .select({ roomId: roomMembers.roomId, position, n: count() })
        .from(roomMembers)
        .where(and(inArray(roomMembers.roomId, rooms), gte(roomMembers.lastReadSeq, low)))
        .groupBy(roomMembers.roomId, position),
      this.builder()
        .select({ roomId: roomMembers.roomId, userId: roomMembers.userId, read: roomMembers.lastReadSeq })
        .from(roomMembers)
        .where(and(inArray(roomMembers.roomId, rooms), inArray(roomMembers.userId, senders))),
    ]);
    return countReads(records, groups, own);
  }

  /**
   * Which of these messages may have attachments: here all of them (the files are then read by
   * id); a store that can tell cheaply answers only those that have.
   */
  async withFiles(records: MessageRecord[], _contiguous = false): Promise<string[]> {
    return records.map((r) => r.message.id);
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

/** The lowest and highest seq among the records. */
export function seqRange(records: MessageRecord[]): { low: number; high: number } {
  let low = Infinity;
  let high = 0;
  for (const { message } of records) {
    low = Math.min(low, message.seq);
    high = Math.max(high, message.seq);
  }
  return { low, high };
}

/**
 * readCounts from the members counted per room and read position (capped at the page's highest
 * seq) and the senders' own positions: a message's count is the members at or past its seq,
 * less its sender.
 */
export function countReads(
  records: MessageRecord[],
  groups: { roomId: string; position: number | string; n: number | string }[],
  own: { roomId: string; userId: string; read: number }[],
): Map<string, number> {
  const byRoom = new Map<string, { position: number; n: number }[]>();
  for (const g of groups) {
    let list = byRoom.get(g.roomId);
    if (!list) byRoom.set(g.roomId, (list = []));
    list.push({ position: Number(g.position), n: Number(g.n) });
  }
  const ownRead = new Map(own.map((o) => [`${o.roomId}\n${o.userId}`, o.read]));
  const counts = new Map<string, number>();
  for (const { message } of records) {
    let n = 0;
    for (const g of byRoom.get(message.roomId) ?? []) if (g.position >= message.seq) n += g.n;
    if ((ownRead.get(`${message.roomId}\n${message.senderId}`) ?? 0) >= message.seq) n -= 1;
    counts.set(message.id, n);
  }
  return counts;
}
