import type { Database as SQLite, Statement } from "bun:sqlite";
import { created, type Delivered, type DeliveryMark, type FileRow, type Membership, mutedAt, type NewMessage, newRow, type SenderRef, type SendOutcome } from "../store";
import { clientKey, type SqliteBacklog } from "./backlog";

/** Most memberships SqliteBatchStore keeps in memory (about 200 bytes each); past it, it starts over. */
const KNOWN_MEMBERS = 50_000;

/** Sets outer[a][b], making the inner map when it is missing. */
function setIn<V>(outer: Map<string, Map<string, V>>, a: string, b: string, value: V): void {
  let inner = outer.get(a);
  if (!inner) outer.set(a, (inner = new Map()));
  inner.set(b, value);
}

/** Rows per multi-row INSERT: 9 parameters each stays far below SQLite's limit on parameters. */
const INSERT_CHUNK = 100;
type InsertParam = string | number | null;

type FileColumns = Omit<FileRow, "createdAt" | "deletedAt"> & { createdAt: number };

/** The hot path on SQLite: statements prepared once, run synchronously inside the writer's transaction. */
export class SqliteBatchWriter {
  private readonly isMember: Statement<{ mutedUntil: number | null }, [string, string]>;
  private readonly roomKind: Statement<{ kind: string }, [string]>;
  private readonly sender: Statement<SenderRef, [string]>;
  private readonly liveParent: Statement<{ ok: number }, [string, string]>;
  private readonly reserveSeqs: Statement<{ seq: number }, [number, number, string]>;
  /** Multi-row INSERTs by row count (at most INSERT_CHUNK rows each), prepared on first use. */
  private readonly insertRows = new Map<number, Statement<unknown, InsertParam[]>>();
  private readonly countReply: Statement<unknown, [string]>;
  private readonly readOwn: Statement<unknown, [number, string, string]>;
  private readonly deliverOne: Statement<{ kind: string }, [number, string, string]>;
  private readonly readEpoch: Statement<{ n: number }, []>;
  private readonly ownFiles: Statement<FileColumns, [string, string]>;
  private readonly attach: Statement<unknown, [string, string]>;
  /**
   * Memberships of recent senders, by room and user, valid while membership_epoch keeps the
   * value they were read under (a trigger moves it on any change of a membership, a room or
   * a public name, from any connection): a send is then no query of membership at all.
   */
  private readonly known = new Map<string, Map<string, Membership>>();
  private knownCount = 0;
  private knownAt = -1;

  constructor(
    private readonly sqlite: SQLite,
    /** New messages are indexed (full text, clientIds) in batches, not in the commit that stores them. */
    private readonly backlog: SqliteBacklog,
  ) {
    // Three single-row lookups rather than one join: on SQLite the join costs about ten times
    // as much (about 12 µs against 2 µs a send, measured with 100 rooms of 5 members).
    this.isMember = sqlite.prepare("SELECT muted_until AS mutedUntil FROM room_members WHERE room_id = ? AND user_id = ?");
    this.roomKind = sqlite.prepare("SELECT kind FROM rooms WHERE id = ?");
    this.sender = sqlite.prepare("SELECT id, username, display_name AS displayName, avatar_url AS avatarUrl FROM users WHERE id = ?");
    this.liveParent = sqlite.prepare("SELECT 1 AS ok FROM messages WHERE id = ? AND room_id = ? AND deleted_at IS NULL");
    this.reserveSeqs = sqlite.prepare(
      "UPDATE rooms SET last_seq = last_seq + ?, last_activity_at = ? WHERE id = ? RETURNING last_seq AS seq",
    );
    this.countReply = sqlite.prepare("UPDATE messages SET reply_count = reply_count + 1 WHERE id = ?");
    // Own messages are never unread: the sender's read position moves to the new seq.
    this.readOwn = sqlite.prepare(
      "UPDATE room_members SET last_read_seq = ?1 WHERE room_id = ?2 AND user_id = ?3 AND last_read_seq < ?1",
    );
    this.deliverOne = sqlite.prepare(
      "UPDATE room_members SET last_delivered_seq = ?1 WHERE room_id = ?2 AND user_id = ?3 AND last_delivered_seq < ?1 " +
        "AND ?1 <= (SELECT last_seq FROM rooms WHERE id = ?2) RETURNING (SELECT kind FROM rooms WHERE id = ?2) AS kind",
    );
    this.readEpoch = sqlite.prepare("SELECT n FROM membership_epoch WHERE id = 1");
    this.ownFiles = sqlite.prepare(
      "SELECT id, owner_id AS ownerId, kind, name, content_type AS contentType, size, width, height, preview, created_at AS createdAt " +
        "FROM files WHERE id IN (SELECT value FROM json_each(?1)) AND owner_id = ?2 AND kind = 'upload' AND deleted_at IS NULL",
    );
    this.attach = sqlite.prepare("INSERT INTO message_files (message_id, file_id, position) SELECT ?1, value, key FROM json_each(?2)");
  }

  /**
   * Checks every message, numbers the accepted ones with one UPDATE per room, inserts them with
   * one INSERT per INSERT_CHUNK rows and moves each sender's read position once per room. What
   * is the same for many messages is done once: a sender's membership is read once and kept
   * until a membership changes (see `known`), a room's seqs are reserved together (a burst into
   * one room is one UPDATE, not one per message), and the new rows are indexed (full text and
   * clientIds) with hundreds of others (SqliteBacklog), not in pages of their own every commit.
   */
  insert(batch: NewMessage[], at: Date): SendOutcome[] {
    const now = at.getTime();
    const results: SendOutcome[] = new Array(batch.length);
    const accepted: { send: NewMessage; index: number; member: Membership; files?: FileRow[] }[] = [];
    // A retry can arrive in the same batch as its first send, which is not inserted yet.
    const inBatch = new Map<string, string>();
    // Read inside the writer's transaction, which holds the write lock: nothing changes it until the commit.
    const epoch = this.readEpoch.get()?.n ?? -1;
    this.backlog.begin();
    if (epoch !== this.knownAt) {
      this.forgetMembers();
      this.knownAt = epoch;
    }
    batch.forEach((send, index) => {
      const key = send.clientId === null ? null : clientKey(send.roomId, send.senderId, send.clientId);
      if (key !== null) {
        const existing = inBatch.get(key) ?? this.backlog.find(send.roomId, send.senderId, send.clientId!, key);
        if (existing) return (results[index] = { outcome: "duplicate", id: existing });
      }
      const member = this.membership(send.roomId, send.senderId);
      if (!member) return (results[index] = { outcome: "not_member" });
      if (mutedAt(member, now)) return (results[index] = { outcome: "muted" });
      if (send.replyToId !== null && !this.liveParent.get(send.replyToId, send.roomId)) return (results[index] = { outcome: "bad_parent" });
      let files: FileRow[] | undefined;
      if (send.attachments) {
        files = this.attachable(send.attachments, send.senderId) ?? undefined;
        if (!files) return (results[index] = { outcome: "bad_attachments" });
      }
      if (key !== null) inBatch.set(key, send.id);
      accepted.push({ send, index, member, files });
    });
    // Each room's seqs for this batch at once: the UPDATE returns the last, they run up to it in batch order.
    const next = new Map<string, number>();
    for (const { send } of accepted) next.set(send.roomId, (next.get(send.roomId) ?? 0) + 1);
    for (const [roomId, count] of next) {
      // A member row implies its room (foreign key), and both are read in this transaction.
      const last = this.reserveSeqs.get(count, now, roomId)!.seq;
      next.set(roomId, last - count + 1);
    }
    const rows: InsertParam[][] = [];
    // By room, then sender: the ids are strings already hashed (a key made of both is a new string to hash each time).
    const readTo = new Map<string, Map<string, number>>();
    for (const { send, index, member, files } of accepted) {
      const seq = next.get(send.roomId)!;
      next.set(send.roomId, seq + 1);
      rows.push([send.id, send.roomId, seq, send.senderId, send.content, send.metadata, send.replyToId, send.clientId, now]);
      setIn(readTo, send.roomId, send.senderId, seq);
      results[index] = created(newRow(send, seq, at), member, files);
    }
    let lastRowid = 0;
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const chunk = rows.slice(i, i + INSERT_CHUNK);
      lastRowid = Number(this.insertStatement(chunk.length).run(...chunk.flat()).lastInsertRowid);
    }
    if (rows.length > 0) this.backlog.inserted(rows.length, lastRowid, inBatch);
    for (const { send } of accepted) if (send.replyToId !== null) this.countReply.run(send.replyToId);
    for (const { send } of accepted) if (send.attachments) this.attach.run(send.id, JSON.stringify(send.attachments));
    // Own messages are never unread: each sender's read position moves to their last new seq.
    for (const [roomId, senders] of readTo) for (const [senderId, seq] of senders) this.readOwn.run(seq, roomId, senderId);
    return results;
  }

  private insertStatement(rows: number): Statement<unknown, InsertParam[]> {
    let statement = this.insertRows.get(rows);
    if (!statement) {
      statement = this.sqlite.prepare(
        "INSERT INTO messages (id, room_id, seq, sender_id, content, metadata, reply_to_id, client_id, created_at, reply_count) VALUES " +
          Array.from({ length: rows }, () => "(?, ?, ?, ?, ?, ?, ?, ?, ?, 0)").join(", "),
      );
      this.insertRows.set(rows, statement);
    }
    return statement;
  }

  /** The files in the order given, when every one is a live upload of the sender's; else null. */
  private attachable(ids: string[], senderId: string): FileRow[] | null {
    const rows = this.ownFiles.all(JSON.stringify(ids), senderId);
    if (rows.length !== ids.length) return null;
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => {
      const r = byId.get(id)!;
      return { ...r, createdAt: new Date(r.createdAt), deletedAt: null };
    });
  }

  private forgetMembers(): void {
    this.known.clear();
    this.knownCount = 0;
  }

  /** The sender as a member of the room (a member row implies its room and user exist), or null. */
  private membership(roomId: string, userId: string): Membership | null {
    const known = this.known.get(roomId)?.get(userId);
    if (known) return known;
    const row = this.isMember.get(roomId, userId);
    if (!row) return null;
    const room = this.roomKind.get(roomId);
    const sender = this.sender.get(userId);
    if (!room || !sender) return null;
    const member = { roomKind: room.kind, ...sender, mutedUntil: row.mutedUntil };
    if (this.knownCount >= KNOWN_MEMBERS) this.forgetMembers();
    if (this.knownAt !== -1) {
      setIn(this.known, roomId, userId, member);
      this.knownCount++;
    }
    return member;
  }

  deliver(marks: DeliveryMark[]): (Delivered | null)[] {
    return marks.map((mark) => {
      const moved = this.deliverOne.get(mark.seq, mark.roomId, mark.userId);
      return moved ? { ...mark, roomKind: moved.kind } : null;
    });
  }
}

