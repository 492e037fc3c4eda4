import type { Database as SQLite, Statement } from "bun:sqlite";
import type { MessageRecord, ReactionCount } from "../store";

interface RawRow {
  id: string;
  room_id: string;
  seq: number;
  sender_id: string;
  content: string;
  metadata: string | null;
  reply_to_id: string | null;
  reply_count: number;
  client_id: string | null;
  created_at: number;
  edited_at: number | null;
  deleted_at: number | null;
  changed_at: number | null;
  change_seq: number | null;
  username: string | null;
  display_name: string | null;
  avatar_url: string | null;
}

const SELECT =
  "SELECT m.id, m.room_id, m.seq, m.sender_id, m.content, m.metadata, m.reply_to_id, m.reply_count, m.client_id, " +
  "m.created_at, m.edited_at, m.deleted_at, m.changed_at, m.change_seq, u.username, u.display_name, u.avatar_url " +
  "FROM messages m LEFT JOIN users u ON u.id = m.sender_id WHERE m.room_id = ?1 ";

/**
 * History pages on SQLite, the route clients call most: statements prepared once and rows
 * mapped by hand. Through Drizzle, building each page's SQL, compiling it and mapping its
 * rows cost more than reading them. They return what MessageQueries (../queries.ts) returns.
 */
export class SqlitePages {
  private readonly before: Statement<RawRow, [string, number, number]>;
  private readonly after: Statement<RawRow, [string, number, number, number]>;
  private readonly reactions: Statement<{ messageId: string; emoji: string; count: number; mine: number }, [string, string, number, number]>;

  constructor(sqlite: SQLite) {
    this.before = sqlite.prepare(`${SELECT}AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3`);
    this.after = sqlite.prepare(`${SELECT}AND m.seq > ?2 AND m.seq < ?3 ORDER BY m.seq ASC LIMIT ?4`);
    // Seqs are gap-free, so a page is exactly the room's messages between its first and last seq.
    this.reactions = sqlite.prepare(
      "SELECT r.message_id AS messageId, r.emoji, count(*) AS count, sum(r.user_id = ?1) AS mine " +
        "FROM messages m JOIN reactions r ON r.message_id = m.id WHERE m.room_id = ?2 AND m.seq BETWEEN ?3 AND ?4 " +
        "GROUP BY r.message_id, r.emoji ORDER BY min(r.created_at), r.emoji",
    );
  }

  /** Up to `limit` messages below `before`, newest first. */
  newestBelow(roomId: string, roomKind: string, before: number, limit: number): MessageRecord[] {
    return this.before.all(roomId, before, limit).map((r) => toRecord(r, roomKind));
  }

  /** Up to `limit` messages between `after` and `before` (both excluded), oldest first. */
  oldestAbove(roomId: string, roomKind: string, after: number, before: number, limit: number): MessageRecord[] {
    return this.after.all(roomId, after, before, limit).map((r) => toRecord(r, roomKind));
  }

  /** Reactions on the room's messages from seq `from` to `to`, in the order they were first made. */
  reactionsBetween(viewerId: string, roomId: string, from: number, to: number): ReactionCount[] {
    return this.reactions.all(viewerId, roomId, from, to).map((r) => ({ messageId: r.messageId, emoji: r.emoji, count: r.count, me: r.mine > 0 }));
  }
}

function toRecord(r: RawRow, roomKind: string): MessageRecord {
  return {
    message: {
      id: r.id,
      roomId: r.room_id,
      seq: r.seq,
      senderId: r.sender_id,
      content: r.content,
      metadata: r.metadata,
      replyToId: r.reply_to_id,
      replyCount: r.reply_count,
      clientId: r.client_id,
      createdAt: new Date(r.created_at),
      editedAt: r.edited_at === null ? null : new Date(r.edited_at),
      deletedAt: r.deleted_at === null ? null : new Date(r.deleted_at),
      changedAt: r.changed_at === null ? null : new Date(r.changed_at),
      changeSeq: r.change_seq,
    },
    sender:
      r.username === null ? null : { id: r.sender_id, username: r.username, displayName: r.display_name!, avatarUrl: r.avatar_url },
    roomKind,
  };
}
