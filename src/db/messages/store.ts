/**
 * Messages in storage: one interface, one implementation per dialect (./sqlite, ./pg), each
 * owning its own queries, indexes and side tables. The group-commit writer
 * (src/modules/messages/writer.ts) and the message service talk only to this interface.
 */
import type * as sqliteSchema from "../schema.sqlite";

export type MessageRow = typeof sqliteSchema.messages.$inferSelect;
export type FileRow = typeof sqliteSchema.files.$inferSelect;

/** A sender as messages show them. */
export interface SenderRef {
  id: string;
  username: string;
  displayName: string;
  avatarUrl: string | null;
}

/** A message row with what presenting it needs: its sender (null once the account is gone) and its room's kind. */
export interface MessageRecord {
  message: MessageRow;
  sender: SenderRef | null;
  roomKind: string;
}

/** Records in ascending seq, and whether more lie beyond the page in the direction it was read. */
export interface RecordPage {
  records: MessageRecord[];
  hasMore: boolean;
}

/** A send the service has validated, waiting for its seq. */
export interface NewMessage {
  id: string;
  roomId: string;
  senderId: string;
  content: string;
  /** JSON text of an object, or null. */
  metadata: string | null;
  replyToId: string | null;
  clientId: string | null;
  /** Ids of files to attach, in order, distinct; absent for most messages (no attachment work at all then). */
  attachments?: string[];
}

/**
 * Per send in a batch: `created` with the committed row, its room's kind and its sender (read
 * in the transaction that checked membership); `duplicate` when the sender already sent this
 * clientId into this room (the first message's id); or why it was refused.
 */
export type SendOutcome =
  | { outcome: "created"; row: MessageRow; roomKind: string; sender: SenderRef; files?: FileRow[] }
  | { outcome: "duplicate"; id: string }
  /** An attachment is not a live upload of the sender's. */
  | { outcome: "bad_attachments" }
  | { outcome: "not_member" }
  /** The sender is a member muted past the batch's time. */
  | { outcome: "muted" }
  | { outcome: "bad_parent" };

export interface DeliveryMark {
  roomId: string;
  userId: string;
  seq: number;
}

/** A delivery position that moved forward, with the kind of its room. */
export interface Delivered extends DeliveryMark {
  roomKind: string;
}

/** One emoji on one message: how many reacted with it and whether the viewer did. */
export interface ReactionCount {
  messageId: string;
  emoji: string;
  count: number;
  me: boolean;
}

export interface HistoryRange {
  /** Only seqs below this. */
  before?: number;
  /** Only seqs above this: the page is the oldest such messages; without it, the newest. */
  after?: number;
  limit: number;
}

export interface SearchQuery {
  userId: string;
  /** The user's words (at least one), the last one also matched as a prefix. */
  terms: string[];
  roomId?: string;
  limit: number;
  /** Opaque, from this store's previous page. */
  cursor?: string;
}

/**
 * What one search may cost. A search reads only the rooms the user belongs to (its scope); a
 * scope of at most `scanRows` messages is read whole and each message matched as it is, with no
 * full-text index work at all; a larger one is searched through the index, restricted to the
 * scope, until the page is full, `indexRows` matches were walked or `timeBudgetMs` passed; then
 * it answers what it found with a cursor to go on from where it stopped.
 */
export interface SearchLimits {
  scanRows: number;
  indexRows: number;
  timeBudgetMs: number;
}

export const SEARCH_LIMITS: SearchLimits = { scanRows: 2_000, indexRows: 20_000, timeBudgetMs: 50 };

export interface SearchResult {
  /** Newest first; fewer than the limit (even none) with a cursor when the search stopped at a limit. */
  ids: string[];
  nextCursor: string | null;
  /**
   * Messages the search read to answer: each message of the scope it matched, or each full-text
   * match it walked (on PostgreSQL's index query, each one it returned). 0 for a user in no room.
   */
  examined: number;
}

/** A room a search reads: one the user belongs to, with its newest seq (how many messages it has at most). */
export interface ScopeRoom {
  id: string;
  lastSeq: number;
}

/** The scope's size in messages, at most: deleted messages keep their seqs. */
export const scopeSize = (rooms: ScopeRoom[]) => rooms.reduce((n, r) => n + r.lastSeq, 0);

export interface MessageStore {
  /**
   * Writes a batch in one transaction. Within it a send is refused, not written, when the
   * sender is not a member of the room, its parent is not a live message of the room or an
   * attachment is not a live upload of the sender's (attached in the same transaction); its
   * seq is the room's next (gap-free, in commit order); a clientId already used by the sender
   * in the room (committed, or earlier in the batch) yields the first message. `now` is read
   * inside the transaction, so createdAt follows seq order. A throw fails the whole batch.
   */
  insert(batch: NewMessage[], now: () => number): Promise<SendOutcome[]>;
  /** Moves each member's delivery position forward (never back, never past the room's last seq); null where it did not move. */
  deliver(marks: DeliveryMark[]): Promise<(Delivered | null)[]>;
  /** A page of a room's history (the room's kind is the caller's, already looked up). */
  history(roomId: string, roomKind: string, range: HistoryRange): Promise<RecordPage>;
  /** The messages with these ids that exist, in no particular order. */
  byIds(ids: string[]): Promise<MessageRecord[]>;
  /** Replies to a message above seq `after`, oldest first. */
  replies(parentId: string, after: number | undefined, limit: number): Promise<RecordPage>;
  /**
   * The room's messages up to seq `through` that changed (edit, delete, reaction) at or after
   * `since` (a time), or after change position `since` (a number: see src/db/changes.ts), in seq order.
   */
  changedSince(roomId: string, since: Date | number, through: number, limit: number): Promise<RecordPage>;
  /**
   * Reactions on these messages per emoji, in the order they were first made. `contiguous`:
   * the records are one room's messages with no seq missing between the first and the last.
   */
  reactions(viewerId: string, records: MessageRecord[], contiguous: boolean): Promise<ReactionCount[]>;
  /**
   * The readCount of each message: the members other than its sender whose read position is at
   * or past its seq. For group rooms and channels; `contiguous` as for reactions.
   */
  readCounts(records: MessageRecord[], contiguous: boolean): Promise<Map<string, number>>;
  /** The ids of those messages that may have attachments (a superset of those that have). */
  withFiles(records: MessageRecord[], contiguous: boolean): Promise<string[]>;
  /**
   * Ids of live messages matching the query in rooms the user belongs to, newest first, and the
   * next page's cursor; at a cost bounded by `limits` and by what the user can read.
   */
  search(query: SearchQuery, limits?: SearchLimits): Promise<SearchResult>;
}

/** The sender as a member of the room: the room's kind and the sender's public name. */
export type Membership = SenderRef & { roomKind: string; /** ms; null when not muted */ mutedUntil: number | null };

/** Whether the member may not send at `now` (ms). */
export const mutedAt = (member: Pick<Membership, "mutedUntil">, now: number) => member.mutedUntil !== null && member.mutedUntil > now;

export function created(row: MessageRow, member: Membership, files?: FileRow[]): SendOutcome {
  const { roomKind, mutedUntil: _, ...sender } = member;
  return files ? { outcome: "created", row, roomKind, sender, files } : { outcome: "created", row, roomKind, sender };
}

/** The row a send becomes once it has its seq. */
export function newRow(send: NewMessage, seq: number, at: Date): MessageRow {
  return {
    id: send.id,
    roomId: send.roomId,
    seq,
    senderId: send.senderId,
    content: send.content,
    metadata: send.metadata,
    replyToId: send.replyToId,
    replyCount: 0,
    clientId: send.clientId,
    createdAt: at,
    editedAt: null,
    deletedAt: null,
    changedAt: null,
    changeSeq: null,
  };
}
