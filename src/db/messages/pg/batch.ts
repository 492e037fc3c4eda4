/**
 * The message write path on PostgreSQL: each send is one statement, and a batch's statements
 * are sent back to back on the writer's transaction without waiting for each answer, so a
 * batch costs about one round trip however many messages it holds.
 *
 * Seqs stay gap-free across processes: `UPDATE rooms SET last_seq = last_seq + 1 … RETURNING`
 * is the room's next seq, and a rolled-back batch gives its seqs back. Each batch first locks
 * the rows of its rooms (in id order, so two batches never wait for each other in a circle);
 * writers to one room in any process then take turns, in commit order. The transactions run at
 * READ COMMITTED, where every statement sees what committed before it began: the checks that
 * follow the lock see the previous writer's messages, so the same clientId sent to two
 * processes at once makes one message. (SERIALIZABLE would instead fail all but one of the
 * writers waiting for a room and run their batches again.)
 */
import { sql } from "drizzle-orm";
import type { PgDB } from "../../database";
import { created, type Delivered, type DeliveryMark, type FileRow, type Membership, newRow, type NewMessage, type SendOutcome } from "../store";

interface Outcome {
  existing_id: string | null;
  /** The sender's membership, with what presenting the message needs; null for a non-member. */
  member: Omit<Membership, "mutedUntil"> | null;
  /** Whether the member is muted past the batch's time. */
  muted: boolean | null;
  parent_ok: boolean;
  /** With attachments: whether each is a live upload of the sender's, and those files in order (JSON). */
  files_ok?: boolean;
  files?: (Omit<FileRow, "createdAt" | "deletedAt"> & { createdAt: string })[] | null;
  seq: number | null;
}

/** Runs inside a READ COMMITTED transaction on `pg` (see above). */
export class PgBatchWriter {
  async insert(pg: PgDB, batch: NewMessage[], at: Date): Promise<SendOutcome[]> {
    const roomIds = [...new Set(batch.map((m) => m.roomId))].sort();
    const lock = sql`SELECT id FROM rooms WHERE id IN (${sql.join(
      roomIds.map((id) => sql`${id}`),
      sql.raw(", "),
    )}) ORDER BY id FOR UPDATE`;
    // Issued together, run in this order on the transaction's one connection: the lock first,
    // and a later send sees an earlier one of the same batch (the same clientId twice, a reply).
    const [, ...outcomes] = await Promise.all([
      pg.execute(lock),
      ...batch.map((send) => pg.execute<Outcome & Record<string, unknown>>(sendOne(send, at))),
    ]);
    return batch.map((send, i): SendOutcome => {
      const found = outcomes[i]![0] as Outcome | undefined;
      if (!found) throw new Error("the message write returned no outcome");
      if (found.existing_id !== null) return { outcome: "duplicate", id: found.existing_id };
      if (!found.member) return { outcome: "not_member" };
      if (found.muted) return { outcome: "muted" };
      if (!found.parent_ok) return { outcome: "bad_parent" };
      if (found.files_ok === false) return { outcome: "bad_attachments" };
      if (found.seq === null) return { outcome: "not_member" }; // the room went away
      const files = send.attachments && (found.files ?? []).map((f): FileRow => ({ ...f, createdAt: new Date(f.createdAt), deletedAt: null }));
      return created(newRow(send, found.seq, at), { ...found.member, mutedUntil: null }, files);
    });
  }

  async deliver(pg: PgDB, marks: DeliveryMark[]): Promise<(Delivered | null)[]> {
    const moved = await Promise.all(
      marks.map((mark) =>
        pg.execute<{ kind: string }>(sql`
          UPDATE room_members rm SET last_delivered_seq = ${mark.seq}
          FROM rooms r
          WHERE rm.room_id = ${mark.roomId} AND rm.user_id = ${mark.userId} AND rm.last_delivered_seq < ${mark.seq}
            AND r.id = rm.room_id AND ${mark.seq} <= r.last_seq
          RETURNING r.kind`),
      ),
    );
    return marks.map((mark, i) => {
      const row = moved[i]![0];
      return row ? { ...mark, roomKind: row.kind } : null;
    });
  }
}

/**
 * One send, checked and written in one statement: an earlier message with this clientId wins;
 * otherwise, for a member and a live parent (if any), the room's next seq, the row, the
 * parent's reply count and the sender's own read position. It also answers with the room's
 * kind and the sender's profile, read with the membership check.
 */
function sendOne(m: NewMessage, at: Date) {
  const atIso = at.toISOString();
  const ids = m.attachments && sql`ARRAY[${sql.join(m.attachments.map((id) => sql`${id}`), sql.raw(", "))}]::text[]`;
  // Attachments: the sender's live uploads, locked FOR SHARE so that a removal (which updates the
  // row) waits for this commit and then sees the attachment, or this send waits for the removal
  // and then finds the file gone.
  const files = ids
    ? sql`,
    own_files AS (
      SELECT id, owner_id, kind, name, content_type, size, width, height, preview, created_at FROM files
      WHERE id = ANY(${ids}) AND owner_id = ${m.senderId} AND kind = 'upload' AND deleted_at IS NULL
      FOR SHARE
    ),
    files_ok AS (SELECT count(*) = ${m.attachments!.length} AS ok FROM own_files)`
    : sql``;
  const filesOk = ids ? sql` AND (SELECT ok FROM files_ok)` : sql``;
  const attach = ids
    ? sql`,
    attached AS (
      INSERT INTO message_files (message_id, file_id, position)
      SELECT ${m.id}, f.id, f.position - 1 FROM unnest(${ids}) WITH ORDINALITY AS f(id, position) WHERE EXISTS (SELECT 1 FROM inserted)
    )`
    : sql``;
  const filesOut = ids
    ? sql`,
      (SELECT ok FROM files_ok) AS files_ok,
      (SELECT json_agg(json_build_object('id', f.id, 'ownerId', f.owner_id, 'kind', f.kind, 'name', f.name, 'contentType', f.content_type,
        'size', f.size, 'width', f.width, 'height', f.height, 'preview', f.preview, 'createdAt', f.created_at) ORDER BY a.position)
        FROM own_files f JOIN unnest(${ids}) WITH ORDINALITY AS a(id, position) ON a.id = f.id) AS files`
    : sql``;
  return sql`
    WITH existing AS (
      SELECT id FROM messages
      WHERE ${m.clientId}::text IS NOT NULL AND room_id = ${m.roomId} AND sender_id = ${m.senderId} AND client_id = ${m.clientId}
    ),
    member AS (
      SELECT json_build_object('roomKind', r.kind, 'id', u.id, 'username', u.username, 'displayName', u.display_name,
        'avatarUrl', u.avatar_url) AS who,
        (rm.muted_until IS NOT NULL AND rm.muted_until > ${atIso}::timestamptz) AS muted
      FROM room_members rm JOIN rooms r ON r.id = rm.room_id JOIN users u ON u.id = rm.user_id
      WHERE rm.room_id = ${m.roomId} AND rm.user_id = ${m.senderId}
    ),
    parent AS (
      SELECT 1 FROM messages WHERE id = ${m.replyToId}::text AND room_id = ${m.roomId} AND deleted_at IS NULL
    )${files},
    ok AS (
      SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM existing) AND EXISTS (SELECT 1 FROM member WHERE NOT muted)
        AND (${m.replyToId}::text IS NULL OR EXISTS (SELECT 1 FROM parent))${filesOk}
    ),
    next AS (
      UPDATE rooms SET last_seq = last_seq + 1, last_activity_at = ${atIso}::timestamptz
      WHERE id = ${m.roomId} AND EXISTS (SELECT 1 FROM ok)
      RETURNING last_seq
    ),
    inserted AS (
      INSERT INTO messages (id, room_id, seq, sender_id, content, metadata, reply_to_id, client_id, created_at, reply_count)
      SELECT ${m.id}, ${m.roomId}, last_seq, ${m.senderId}, ${m.content}, ${m.metadata}::text, ${m.replyToId}::text, ${m.clientId}::text,
        ${atIso}::timestamptz, 0
      FROM next
      RETURNING seq
    ),
    replied AS (
      UPDATE messages SET reply_count = reply_count + 1
      WHERE id = ${m.replyToId}::text AND EXISTS (SELECT 1 FROM inserted)
    ),
    read_own AS (
      UPDATE room_members SET last_read_seq = (SELECT seq FROM inserted)
      WHERE room_id = ${m.roomId} AND user_id = ${m.senderId} AND last_read_seq < (SELECT seq FROM inserted)
    )${attach}
    SELECT (SELECT id FROM existing LIMIT 1) AS existing_id,
      (SELECT who FROM member) AS member,
      (SELECT muted FROM member) AS muted,
      (${m.replyToId}::text IS NULL OR EXISTS (SELECT 1 FROM parent)) AS parent_ok,
      (SELECT seq FROM inserted) AS seq${filesOut}`;
}
