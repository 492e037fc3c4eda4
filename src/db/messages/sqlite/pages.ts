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
  private readonly readGroups: Statement<{ position: number; n: number }, [string, number, number]>;
  private readonly readOwn: Statement<{ userId: string; read: number }, [string, string]>;
  private readonly attached: Statement<{ id: string }, [string, number, number]>;

  constructor(sqlite: SQLite) {
    this.before = sqlite.prepare(`${SELECT}AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3`);
    this.after = sqlite.prepare(`${SELECT}AND m.seq > ?2 AND m.seq < ?3 ORDER BY m.seq ASC LIMIT ?4`);
    // Seqs are gap-free, so a page is exactly the room's messages between its first and last seq.
    this.reactions = sqlite.prepare(
      "SELECT r.message_id AS messageId, r.emoji, count(*) AS count, sum(r.user_id = ?1) AS mine " +
        "FROM messages m JOIN reactions r ON r.message_id = m.id WHERE m.room_id = ?2 AND m.seq BETWEEN ?3 AND ?4 " +
        "GROUP BY r.message_id, r.emoji ORDER BY min(r.created_at), r.emoji",
    );
    // Members at or past the page's lowest seq, per read position capped at its highest (off
    // room_members_read_idx); and the senders' own positions (off the primary key).
    this.readGroups = sqlite.prepare(
      "SELECT min(last_read_seq, ?3) AS position, count(*) AS n FROM room_members " +
        "WHERE room_id = ?1 AND last_read_seq >= ?2 GROUP BY 1",
    );
    this.readOwn = sqlite.prepare(
      "SELECT user_id AS userId, last_read_seq AS read FROM room_members WHERE room_id = ?1 AND user_id IN (SELECT value FROM json_each(?2))",
    );
    this.attached = sqlite.prepare(
      "SELECT DISTINCT m.id FROM messages m JOIN message_files mf ON mf.message_id = m.id WHERE m.room_id = ?1 AND m.seq BETWEEN ?2 AND ?3",
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

  /** Read positions for readCounts (../queries.ts countReads) of the room's messages from seq `low` to `high`. */
  readPositions(roomId: string, low: number, high: number, senders: string[]) {
    return {
      groups: this.readGroups.all(roomId, low, high).map((g) => ({ roomId, position: g.position, n: g.n })),
      own: this.readOwn.all(roomId, JSON.stringify(senders)).map((o) => ({ roomId, userId: o.userId, read: o.read })),
    };
  }

  /** The ids of the room's messages from seq `from` to `to` that have attachments. */
  withFilesBetween(roomId: string, from: number, to: number): string[] {
    return this.attached.all(roomId, from, to).map((r) => r.id);
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
