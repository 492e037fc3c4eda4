/**
 * The message store's write rules through Drizzle alone, for either dialect: the reference
 * the SQLite and PostgreSQL stores are checked against (test/db/message-store.test.ts,
 * test/modules/messages-writer.test.ts). One query per step, one send at a time; no
 * production path uses it.
 */
import { and, eq, isNull, lt, sql } from "drizzle-orm";
import { type Database, type DB, first } from "../../src/db";
import { MessageQueries } from "../../src/db/messages/queries";
import {
  created,
  type Delivered,
  type DeliveryMark,
  type MessageStore,
  newRow,
  type NewMessage,
  type SearchLimits,
  type SearchQuery,
  type SendOutcome,
} from "../../src/db/messages/store";

export class ReferenceMessageStore extends MessageQueries implements MessageStore {
  constructor(private readonly database: Database) {
    super(() => database.db, database.tables);
  }

  insert(batch: NewMessage[], now: () => number): Promise<SendOutcome[]> {
    return this.database.tx(async (db) => {
      const at = new Date(now());
      const results: SendOutcome[] = [];
      for (const send of batch) results.push(await this.insertOne(send, at, db));
      return results;
    });
  }

  private async insertOne(m: NewMessage, at: Date, db: DB): Promise<SendOutcome> {
    const { messages, roomMembers, rooms, users } = this.database.tables;
    if (m.clientId !== null) {
      const existing = first(
        await db
          .select({ id: messages.id })
          .from(messages)
          .where(and(eq(messages.roomId, m.roomId), eq(messages.senderId, m.senderId), eq(messages.clientId, m.clientId)))
          .limit(1),
      );
      if (existing) return { outcome: "duplicate", id: existing.id };
    }
    const member = first(
      await db
        .select({ roomKind: rooms.kind, id: users.id, username: users.username, displayName: users.displayName, avatarUrl: users.avatarUrl, mutedUntil: roomMembers.mutedUntil })
        .from(roomMembers)
        .innerJoin(rooms, eq(rooms.id, roomMembers.roomId))
        .innerJoin(users, eq(users.id, roomMembers.userId))
        .where(and(eq(roomMembers.roomId, m.roomId), eq(roomMembers.userId, m.senderId)))
        .limit(1),
    );
    if (!member) return { outcome: "not_member" };
    if (member.mutedUntil && member.mutedUntil > at) return { outcome: "muted" };
    if (m.replyToId !== null) {
      const parent = first(
        await db
          .select({ id: messages.id })
          .from(messages)
          .where(and(eq(messages.id, m.replyToId), eq(messages.roomId, m.roomId), isNull(messages.deletedAt)))
          .limit(1),
      );
      if (!parent) return { outcome: "bad_parent" };
    }
    const next = first(
      await db
        .update(rooms)
        .set({ lastSeq: sql`${rooms.lastSeq} + 1`, lastActivityAt: at })
        .where(eq(rooms.id, m.roomId))
        .returning({ seq: rooms.lastSeq }),
    );
    if (!next) return { outcome: "not_member" };
    const row = newRow(m, next.seq, at);
    await db.insert(messages).values(row);
    if (m.replyToId !== null)
      await db
        .update(messages)
        .set({ replyCount: sql`${messages.replyCount} + 1` })
        .where(eq(messages.id, m.replyToId));
    await db
      .update(roomMembers)
      .set({ lastReadSeq: next.seq })
      .where(and(eq(roomMembers.roomId, m.roomId), eq(roomMembers.userId, m.senderId), lt(roomMembers.lastReadSeq, next.seq)));
    return created(row, { ...member, mutedUntil: null });
  }

  deliver(marks: DeliveryMark[]): Promise<(Delivered | null)[]> {
    return this.database.tx((db) => this.deliverAll(marks, db));
  }

  private async deliverAll(marks: DeliveryMark[], db: DB): Promise<(Delivered | null)[]> {
    const { roomMembers, rooms } = this.database.tables;
    const results: (Delivered | null)[] = [];
    for (const mark of marks) {
      const room = first(
        await db.select({ kind: rooms.kind, lastSeq: rooms.lastSeq }).from(rooms).where(eq(rooms.id, mark.roomId)).limit(1),
      );
      if (!room || mark.seq > room.lastSeq) {
        results.push(null);
        continue;
      }
      const moved = await db
        .update(roomMembers)
        .set({ lastDeliveredSeq: mark.seq })
        .where(
          and(eq(roomMembers.roomId, mark.roomId), eq(roomMembers.userId, mark.userId), lt(roomMembers.lastDeliveredSeq, mark.seq)),
        )
        .returning({ roomId: roomMembers.roomId });
      results.push(moved.length > 0 ? { ...mark, roomKind: room.kind } : null);
    }
    return results;
  }

  /** Search is each dialect's own index; the reference defers to the database's store. */
  search(query: SearchQuery, limits?: SearchLimits) {
    return this.database.messages.search(query, limits);
  }
}
