// Conventions for new code (dialect-neutral data access, events, git): CONTRIBUTING.md.
import { and, asc, countDistinct, eq, gte, inArray, isNull, ne, type SQL, sql } from "drizzle-orm";
import type { Config } from "../../config";
import type { Database, DB, Tables } from "../../db";
import { nextChange } from "../../db/changes";
import { first } from "../../db";
import { AppError, Conflict, Forbidden, NotFound, ValidationFailed } from "../../errors";
import { type Events, messageDeleted } from "../../events";
import { isUniqueViolation } from "../../lib/db-errors";
import { JSON_MAX_DEPTH } from "../../lib/json-scan";
import { type Metrics, noMetrics } from "../../metrics";
import { RateLimiter, type SharedRateLimiter } from "../../plugins/rate-limit";
import { audit, isServerAdmin } from "../admin/audit";
import { atLeast, RoomAccess } from "../rooms/access";
import { showsNothing } from "../text";
import type { UserRef } from "../users/model";
import type { Message, MessageEdit, MessagePage, MessageRead, MessageStatus, Reaction, SearchPage } from "./model";
import type { MessageRecord, NewMessage, RecordPage } from "../../db/messages/store";
import type { FileView } from "../files/model";
import type { FileService } from "../files/service";
import { type Delivered, GroupCommitWriter, type MessageRow, type WriteOutcome } from "./writer";

/** What a client sends; the service checks every field itself (REST and WebSocket alike). */
export interface SendInput {
  content: string;
  /** A JSON object or null; anything else is refused. */
  metadata?: unknown;
  replyToId?: string | null;
  clientId?: string | null;
  /** Ids of the sender's own files to attach, at most ATTACHMENTS_MAX; content may then be empty. */
  attachments?: unknown;
}

/** Files one message may attach. */
export const ATTACHMENTS_MAX = 10;

export interface HistoryOptions {
  before?: number;
  after?: number;
  limit: number;
}

const CLIENT_ID_MAX = 128;
const ID_MAX = 64;
/** The WebSocket sync pages up to 500; REST caps its own limits in the schema. */
const PAGE_MAX = 1000;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** A field-level refusal in the same shape as schema validation errors. */
function invalid(field: string, problem: string): ValidationFailed {
  return new ValidationFailed(`Invalid body: ${field} ${problem}`, { in: "body", fields: [{ field, message: problem }] });
}

/** Counts code points only when UTF-16 length alone cannot decide. */
function longerThan(text: string, max: number): boolean {
  if (text.length <= max) return false;
  let count = 0;
  for (const _ of text) if (++count > max) return true;
  return false;
}

/**
 * What is wrong with a metadata object, walked in a loop (never recursively) and at most
 * `maxBytes` values far: nesting deeper than JSON_MAX_DEPTH; more values than the JSON may have
 * bytes (each takes one at least); or a key `__proto__`, which JSON.parse keeps but a copy into
 * a plain object would turn into a prototype and lose. Null when nothing is.
 */
function metadataProblem(metadata: object, maxBytes: number): string | null {
  const stack: [value: object, depth: number][] = [[metadata, 1]];
  let values = 1;
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [value, depth] = next;
    if (depth > JSON_MAX_DEPTH) return `must be nested at most ${JSON_MAX_DEPTH} levels deep`;
    if (!Array.isArray(value) && Object.hasOwn(value, "__proto__")) return 'must not have a key "__proto__"';
    for (const child of Object.values(value)) {
      if (++values > maxBytes) return `must be at most ${maxBytes} bytes as JSON`;
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
    }
  }
  return null;
}

const MAX_TERMS = 16;
/** Most messages one search page holds, whatever limit is asked. */
export const SEARCH_PAGE_MAX = 100;

/** The user's words for a search: runs of letters, marks and digits; everything else separates them. */
export function searchTerms(q: string): string[] {
  return (q.normalize("NFKC").match(/[\p{L}\p{M}\p{N}]+/gu) ?? []).slice(0, MAX_TERMS);
}

/** Different emoji one user may put on one message. */
export const REACTIONS_PER_USER = 20;
/** Different emoji one message may carry. */
export const REACTIONS_PER_MESSAGE = 50;

/** 409 for a reaction over one of the limits; `details` names it and its maximum. */
function reactionLimit(limit: "emojiPerUser" | "emojiPerMessage", max: number, message: string): AppError {
  return new AppError(409, "CONFLICT", message, { limit, max });
}

const SHORTCODE = /^:[a-z0-9_+-]{1,32}:$/;
/** Emoji as Unicode recommends them for general interchange: whole sequences, fully qualified. */
const RGI_EMOJI = /^\p{RGI_Emoji}$/v;
/** A skin tone is RGI alone, but only colours the emoji before it. */
const SKIN_TONE = /^\p{Emoji_Modifier}$/u;
const VS16 = "\uFE0F";
const EMOJI_MAX_CODE_POINTS = 16;

/**
 * The one spelling of an emoji that reactions store, or null. Clients differ in their
 * emoji-presentation selectors (U+FE0F): "👍", "👍\uFE0F" and "👍\uFE0F\uFE0F" look alike, so
 * they are one reaction, stored as the RGI form. Text without any selector is taken as
 * typed: "©" is text, "©\uFE0F" the emoji.
 */
function canonicalEmoji(raw: string): string | null {
  if (longerThan(raw, EMOJI_MAX_CODE_POINTS)) return null;
  const candidates = [raw];
  if (raw.includes(VS16)) {
    const single = raw.replace(/\uFE0F+/g, VS16);
    const bare = raw.replaceAll(VS16, "");
    candidates.push(single, single.replace(/\uFE0F$/, ""), bare, bare + VS16);
  }
  return candidates.find((c) => RGI_EMOJI.test(c) && !SKIN_TONE.test(c)) ?? null;
}

/** One emoji, as its canonical RGI form, or a `:shortcode:`; otherwise VALIDATION_FAILED. */
export function checkEmoji(raw: string): string {
  if (SHORTCODE.test(raw)) return raw;
  const emoji = canonicalEmoji(raw);
  if (emoji !== null) return emoji;
  throw new ValidationFailed("Invalid params: emoji must be one emoji or a :shortcode:", {
    in: "params",
    fields: [{ field: "emoji", message: "must be one emoji or a :shortcode: of 1–32 of a–z 0–9 _ + -" }],
  });
}

export function toMessage(
  row: MessageRow,
  sender: UserRef | null,
  reactionList: Reaction[],
  status?: MessageStatus,
  readCount?: number,
  attachments: FileView[] = [],
): Message {
  const message: Message = {
    id: row.id,
    roomId: row.roomId,
    seq: row.seq,
    senderId: row.senderId,
    sender: sender ?? { id: row.senderId, username: "deleted", displayName: "Deleted user", avatarUrl: null },
    content: row.content,
    metadata: row.metadata === null ? null : (JSON.parse(row.metadata) as Record<string, unknown>),
    replyToId: row.replyToId,
    replyCount: row.replyCount,
    reactions: reactionList,
    attachments,
    clientId: row.clientId,
    createdAt: row.createdAt.toISOString(),
    editedAt: iso(row.editedAt),
    deletedAt: iso(row.deletedAt),
  };
  if (status) message.status = status;
  if (readCount !== undefined) message.readCount = readCount;
  return message;
}

/** The same message as every member sees it in a broadcast: `me` is relative to nobody. */
function forEveryone(message: Message): Message {
  return { ...message, reactions: message.reactions.map((r) => ({ ...r, me: false })) };
}

export class MessageService {
  /** This database's tables. */
  private get t(): Tables {
    return this.database.tables;
  }

  private readonly access: RoomAccess;
  private readonly writer: GroupCommitWriter;
  /** RATE_LIMIT_SEARCH: searches per minute per user. */
  private readonly searchLimiter: RateLimiter;

  constructor(
    private readonly database: Database,
    private readonly config: Config,
    private readonly events: Events,
    /** RATE_LIMIT_MESSAGES, counted across processes when shared. */
    private readonly limiter: SharedRateLimiter,
    private readonly files: FileService,
    private readonly now: () => number = Date.now,
    metrics: Metrics = noMetrics,
  ) {
    this.access = new RoomAccess(database);
    this.searchLimiter = new RateLimiter(config.rateLimitSearch, 60_000, now, metrics.limited("search"));
    this.writer = new GroupCommitWriter(database.messages, {
      now,
      onDelivered: (d) => this.delivered(d),
      metrics: metrics.commits,
      // Sends were counted in this process as they came; the deployment's count is asked once per batch.
      admit: limiter.shares ? (batch) => limiter.admit(batch.map((m) => m.senderId)) : undefined,
    });
  }

  /**
   * Sends a message (REST and WebSocket alike). Answers once it is committed; a retry with
   * the clientId of an earlier send returns that message with `created: false`.
   */
  async send(userId: string, roomId: string, input: SendInput): Promise<{ message: Message; created: boolean }> {
    this.limiter.takeLocal(userId);
    const attachments = input.attachments === undefined || input.attachments === null ? undefined : checkAttachments(input.attachments);
    const content = this.checkContent(input.content, attachments !== undefined);
    const metadata = this.checkMetadata(input.metadata);
    const replyToId = optionalString(input.replyToId, "replyToId", ID_MAX);
    const clientId = optionalString(input.clientId, "clientId", CLIENT_ID_MAX);
    // Membership is checked inside the write transaction, which also reads the room's kind
    // and the sender's name, so a send costs no queries of its own outside the batch.
    // Nothing is awaited before the write is queued: WebSocket sends rely on it to pipeline
    // (src/realtime/connection.ts).
    let outcome: WriteOutcome;
    try {
      const message: NewMessage = { id: Bun.randomUUIDv7(), roomId, senderId: userId, content, metadata, replyToId, clientId };
      if (attachments) message.attachments = attachments;
      outcome = await this.writer.write(message);
    } catch (error) {
      // Not a member (or no such room): the room rules say which answer an outsider gets (404, or 403 in a public room).
      if (error instanceof AppError && error.status === 404) await this.access.member(roomId, userId);
      throw error;
    }
    if (!outcome.created) return { message: await this.getById(userId, outcome.id), created: false };
    // No await between the commit and this event: the writer resolves a batch in seq order,
    // so message.new events leave in seq order too.
    // Nobody else's read position can be past a message that was just given the room's newest seq.
    // Links are the same for every reader within a window (FileLinks): one message serves them all.
    const direct = outcome.roomKind === "direct";
    const files = outcome.files ? outcome.files.map((f) => this.files.view(f)) : undefined;
    const message = toMessage(outcome.row, outcome.sender, [], direct ? "sent" : undefined, direct ? undefined : 0, files);
    this.events.toRoom(roomId, { type: "message.new", message });
    return { message, created: true };
  }

  /** A page of a room's messages in ascending seq (see MessagePage for `hasMore`). */
  async history(userId: string, roomId: string, opts: HistoryOptions): Promise<MessagePage> {
    const { room } = await this.access.canRead(roomId, userId);
    const page = await this.database.messages.history(roomId, room.kind, { ...opts, limit: clampLimit(opts.limit) });
    return this.presentPage(userId, page, true);
  }

  /** One message the caller may read. */
  async get(userId: string, messageId: string): Promise<Message> {
    return this.getById(userId, messageId);
  }

  /** Replies to a message, oldest first. */
  async replies(userId: string, messageId: string, opts: { after?: number; limit: number }): Promise<MessagePage> {
    await this.readable(userId, messageId);
    return this.presentPage(userId, await this.database.messages.replies(messageId, opts.after, clampLimit(opts.limit)));
  }

  /** Changes the content (author only); the previous version is kept. */
  async edit(userId: string, messageId: string, rawContent: string): Promise<Message> {
    const content = this.checkContent(rawContent);
    const { record, changed } = await this.database.tx(async (db) => {
      // Membership and the message are read in the transaction that writes: a removal that
      // committed first wins, and the version kept is the one replaced.
      const record = await this.actable(userId, messageId);
      const current = record.message;
      if (current.senderId !== userId) throw new Forbidden("Only the author may edit a message.");
      if (current.deletedAt) throw new Conflict("The message was deleted.");
      if (current.content === content) return { record, changed: false };
      let now = new Date(this.now());
      const previous = current.editedAt ?? current.createdAt;
      if (now <= previous) now = new Date(previous.getTime() + 1); // versions stay in time order
      await db.insert(this.t.messageEdits).values({ id: Bun.randomUUIDv7(), messageId, content: current.content, editedAt: previous });
      const changeSeq = await nextChange(db, this.t);
      const updated = first(await db.update(this.t.messages).set({ content, editedAt: now, changedAt: now, changeSeq }).where(eq(this.t.messages.id, messageId)).returning())!;
      return { record: { ...record, message: updated }, changed: true };
    });
    const message = first(await this.present(userId, [record]))!;
    if (changed) this.events.toRoom(record.message.roomId, { type: "message.updated", message: forEveryone(message) });
    return message;
  }

  /** Earlier versions of a message, oldest first (none once it is deleted). */
  async edits(userId: string, messageId: string): Promise<MessageEdit[]> {
    await this.readable(userId, messageId);
    const rows = await this.database.db
      .select({ content: this.t.messageEdits.content, editedAt: this.t.messageEdits.editedAt })
      .from(this.t.messageEdits)
      .where(eq(this.t.messageEdits.messageId, messageId))
      .orderBy(asc(this.t.messageEdits.editedAt), asc(this.t.messageEdits.id));
    return rows.map((r) => ({ content: r.content, editedAt: r.editedAt.toISOString() }));
  }

  /**
   * Soft delete (author, or room admin+): id and seq stay, content, metadata, earlier
   * versions and reactions go, and the search index drops it. Deleting twice is a no-op.
   */
  async delete(userId: string, messageId: string): Promise<void> {
    const deleted = await this.database.tx(async (db) => {
      // A server admin may delete any message; deleting another's is audited.
      const serverAdmin = await isServerAdmin(db, this.t, userId);
      let record: MessageRecord;
      if (serverAdmin) {
        record = await this.record(messageId);
      } else {
        // The caller's membership and role as of this transaction: a removal or demotion that committed first wins.
        const found = await this.actable(userId, messageId);
        if (found.message.senderId !== userId && !atLeast(found.role, "admin"))
          throw new Forbidden("Only the author or a room admin may delete a message.");
        record = found;
      }
      if (record.message.deletedAt) return null;
      const at = new Date(this.now());
      if (serverAdmin && record.message.senderId !== userId) {
        const details = { roomId: record.message.roomId, seq: record.message.seq, senderId: record.message.senderId };
        await audit(db, this.t, { actorId: userId, action: "message.delete", targetType: "message", targetId: messageId, details }, at);
      }
      const done = first(
        await db
          .update(this.t.messages)
          .set({ content: "", metadata: null, deletedAt: at, changedAt: at, changeSeq: await nextChange(db, this.t) })
          .where(and(eq(this.t.messages.id, messageId), isNull(this.t.messages.deletedAt)))
          .returning({ id: this.t.messages.id, roomId: this.t.messages.roomId, seq: this.t.messages.seq }),
      );
      if (!done) return null;
      await db.delete(this.t.messageEdits).where(eq(this.t.messageEdits.messageId, messageId));
      await db.delete(this.t.reactions).where(eq(this.t.reactions.messageId, messageId));
      const detached = await db
        .delete(this.t.messageFiles)
        .where(eq(this.t.messageFiles.messageId, messageId))
        .returning({ fileId: this.t.messageFiles.fileId });
      return { ...done, fileIds: detached.map((d) => d.fileId) };
    });
    if (!deleted) return;
    this.events.toRoom(deleted.roomId, messageDeleted(deleted));
    // Its files go with it, unless another message attaches them.
    await this.files.removeUnattached(deleted.fileIds);
  }

  /**
   * The uploader removed a file (FileService.remove): each message that attached it is announced
   * again, without it, to its room.
   */
  async announceChanged(messageIds: string[]): Promise<void> {
    if (messageIds.length === 0) return;
    const records = await this.database.messages.byIds(messageIds);
    const messages = await this.present("", records);
    for (const message of messages) this.events.toRoom(message.roomId, { type: "message.updated", message: forEveryone(message) });
  }

  /**
   * Reports a message the caller can read to the server admins. One open report per reporter
   * and message: a repeat gets that report back, `created` false. Each request counts against
   * the message rate limit.
   */
  async report(userId: string, messageId: string, reason: string): Promise<{ id: string; status: "open"; created: boolean }> {
    await this.limiter.take(userId);
    if (showsNothing(reason)) throw invalid("reason", "must show something");
    await this.readable(userId, messageId);
    const { messageReports } = this.t;
    const open = async () =>
      first(
        await this.database.db
          .select({ id: messageReports.id })
          .from(messageReports)
          .where(and(eq(messageReports.messageId, messageId), eq(messageReports.reporterId, userId), eq(messageReports.status, "open")))
          .limit(1),
      );
    const existing = await open();
    if (existing) return { id: existing.id, status: "open", created: false };
    const id = Bun.randomUUIDv7();
    try {
      await this.database.tx((db) =>
        db.insert(messageReports).values({ id, messageId, reporterId: userId, reason, status: "open", createdAt: new Date(this.now()) }),
      );
    } catch (error) {
      // The same report, sent twice at once: the first one written is the open report.
      const first = isUniqueViolation(error) ? await open() : undefined;
      if (first) return { id: first.id, status: "open", created: false };
      throw error;
    }
    return { id, status: "open", created: true };
  }

  /**
   * Adds (idempotently) or removes the caller's reaction; the event goes out only when something
   * changed. Each request, add or remove, counts against the message rate limit; a new emoji is
   * refused (409) past REACTIONS_PER_USER of the caller's or REACTIONS_PER_MESSAGE on the message.
   */
  async react(userId: string, messageId: string, rawEmoji: string, add: boolean): Promise<Message> {
    await this.limiter.take(userId);
    const emoji = checkEmoji(rawEmoji);
    const { record, changed } = await this.database.tx(async (db) => {
      // The caller's membership as of this transaction: a removal that committed first wins.
      const record = await this.actable(userId, messageId);
      if (record.message.deletedAt) throw new Conflict("The message was deleted.");
      if (add) await this.checkReactionLimits(db, messageId, userId, emoji);
      const mine = and(eq(this.t.reactions.messageId, messageId), eq(this.t.reactions.emoji, emoji), eq(this.t.reactions.userId, userId));
      const rows = add
        ? await db
            .insert(this.t.reactions)
            .values({ messageId, userId, emoji, createdAt: new Date(this.now()) })
            .onConflictDoNothing()
            .returning({ emoji: this.t.reactions.emoji })
        : await db.delete(this.t.reactions).where(mine).returning({ emoji: this.t.reactions.emoji });
      if (rows.length === 0) return { record, changed: false };
      await db.update(this.t.messages).set({ changedAt: new Date(this.now()), changeSeq: await nextChange(db, this.t) }).where(eq(this.t.messages.id, messageId));
      return { record, changed: true };
    });
    if (changed)
      this.events.toRoom(record.message.roomId, {
        type: add ? "reaction.added" : "reaction.removed",
        roomId: record.message.roomId,
        messageId,
        emoji,
        userId,
      });
    return first(await this.present(userId, [record]))!;
  }

  /**
   * The room's messages up to seq `through` that were edited, deleted or had a reaction added or
   * removed at or after `since` (a time), or after it (a change position, see `changePosition`),
   * in seq order, as the live events carry them (`me` relative to nobody); `hasMore` when more
   * than `limit` were. What a resuming socket missed of messages it holds.
   */
  async changedSince(userId: string, roomId: string, opts: { since: Date | number; through: number; limit: number }): Promise<MessagePage> {
    await this.access.canRead(roomId, userId);
    const page = await this.database.messages.changedSince(roomId, opts.since, opts.through, clampLimit(opts.limit));
    return { messages: (await this.present(userId, page.records)).map(forEveryone), hasMore: page.hasMore };
  }

  /** The position of the last committed message change: every change committed later is after it, whatever the clocks say. */
  changePosition(): Promise<number> {
    return this.database.lookups.changePosition();
  }

  /**
   * Full-text search over the rooms the caller belongs to, newest first; RATE_LIMIT_SEARCH per
   * user, at most SEARCH_PAGE_MAX a page. What one search reads is bounded by the caller's rooms
   * and the store's SearchLimits: a page may hold fewer than asked, even none, with a cursor.
   */
  async search(userId: string, opts: { q: string; roomId?: string; limit: number; cursor?: string }): Promise<SearchPage> {
    this.searchLimiter.take(userId);
    const terms = searchTerms(opts.q);
    if (terms.length === 0) return { messages: [], nextCursor: null };
    const { ids, nextCursor } = await this.database.messages.search({
      userId,
      terms,
      roomId: opts.roomId,
      limit: Math.min(clampLimit(opts.limit), SEARCH_PAGE_MAX),
      cursor: opts.cursor,
    });
    const byId = new Map((await this.database.messages.byIds(ids)).map((r) => [r.message.id, r]));
    const records = ids.map((id) => byId.get(id)).filter((r): r is MessageRecord => r !== undefined);
    return { messages: await this.present(userId, records), nextCursor };
  }

  /**
   * A socket of `userId` received message `seq` of the room: the member's delivery position
   * moves forward (never back). Calls for one member coalesce into one write.
   */
  async markDelivered(userId: string, roomId: string, seq: number): Promise<void> {
    if (!Number.isSafeInteger(seq) || seq < 1) return;
    await this.writer.markDelivered({ roomId, userId, seq });
  }

  /** Resolves when every queued write is committed (shutdown, benchmarks). */
  drain(): Promise<void> {
    return this.writer.drain();
  }

  // In direct rooms the sender's messages turn "delivered"; tell the room so the sender's ticks update.
  private delivered(d: Delivered) {
    if (d.roomKind === "direct") this.events.toRoom(d.roomId, { type: "delivered", roomId: d.roomId, userId: d.userId, seq: d.seq });
  }

  /**
   * Refuses a new emoji past the limits, read in the transaction that adds it (concurrent adds
   * are serialised: SQLite's one writer, PostgreSQL's SERIALIZABLE). One pass over the message's
   * reactions, which the limits keep to REACTIONS_PER_MESSAGE emoji per member.
   */
  private async checkReactionLimits(db: DB, messageId: string, userId: string, emoji: string): Promise<void> {
    const { reactions } = this.t;
    const flag = (condition: SQL) => sql<number>`cast(max(case when ${condition} then 1 else 0 end) as integer)`;
    const [row] = await db
      .select({
        emoji: countDistinct(reactions.emoji),
        mine: sql<number>`cast(sum(case when ${reactions.userId} = ${userId} then 1 else 0 end) as integer)`,
        mineAlready: flag(and(eq(reactions.userId, userId), eq(reactions.emoji, emoji))!),
        onMessage: flag(eq(reactions.emoji, emoji)),
      })
      .from(reactions)
      .where(eq(reactions.messageId, messageId));
    if (!row || Number(row.mineAlready) === 1) return; // adding again changes nothing
    if (Number(row.mine) >= REACTIONS_PER_USER)
      throw reactionLimit("emojiPerUser", REACTIONS_PER_USER, `You already reacted to this message with ${REACTIONS_PER_USER} different emoji: remove one first.`);
    if (Number(row.onMessage) !== 1 && Number(row.emoji) >= REACTIONS_PER_MESSAGE)
      throw reactionLimit(
        "emojiPerMessage",
        REACTIONS_PER_MESSAGE,
        `This message already has ${REACTIONS_PER_MESSAGE} different reactions: react with one of those.`,
      );
  }

  /** Trimmed content; content that shows nothing (see showsNothing) counts as empty, allowed only with attachments. */
  private checkContent(raw: unknown, attaches = false): string {
    if (typeof raw !== "string") throw invalid("content", "must be a string");
    // PostgreSQL can't store U+0000; the WebSocket path has no HTTP schema to catch it.
    if (raw.includes("\u0000")) throw invalid("content", "must not contain U+0000");
    const content = raw.trim();
    if (showsNothing(content)) {
      if (attaches) return "";
      throw invalid("content", "must not be empty");
    }
    const max = this.config.limits.contentMax;
    if (longerThan(content, max)) throw invalid("content", `must be at most ${max} characters`);
    return content;
  }

  /**
   * The metadata as JSON text, or null. Its shape is checked first, in a loop (see
   * metadataProblem), so that JSON.stringify never meets a value nested too deep or too many.
   */
  private checkMetadata(raw: unknown): string | null {
    if (raw === undefined || raw === null) return null;
    if (typeof raw !== "object" || Array.isArray(raw)) throw invalid("metadata", "must be a JSON object");
    const max = this.config.limits.metadataMaxBytes;
    const problem = metadataProblem(raw, max);
    if (problem) throw invalid("metadata", problem);
    let json: string;
    try {
      json = JSON.stringify(raw);
    } catch {
      throw invalid("metadata", "must be a JSON object");
    }
    if (Buffer.byteLength(json) > max) throw invalid("metadata", `must be at most ${max} bytes as JSON`);
    return json;
  }

  private async record(messageId: string): Promise<MessageRecord> {
    const [record] = await this.database.messages.byIds([messageId]);
    if (!record) throw new NotFound("Message");
    return record;
  }

  /** The message, when the caller may read its room (messages of hidden rooms are simply not found). */
  private async readable(userId: string, messageId: string): Promise<MessageRecord> {
    const record = await this.record(messageId);
    await hideRoom(this.access.canRead(record.message.roomId, userId));
    return record;
  }

  /** The message and the caller's role, when the caller is a member of its room; inside a transaction, as it sees them. */
  private async actable(userId: string, messageId: string) {
    const record = await this.record(messageId);
    const { role } = await hideRoom(this.access.member(record.message.roomId, userId));
    return { ...record, role };
  }

  private async getById(userId: string, messageId: string): Promise<Message> {
    return first(await this.present(userId, [await this.readable(userId, messageId)]))!;
  }

  private async presentPage(viewerId: string, page: RecordPage, contiguous = false): Promise<MessagePage> {
    return { messages: await this.present(viewerId, page.records, contiguous), hasMore: page.hasMore };
  }

  /**
   * Records as API messages for `viewerId`, in a bounded number of queries whatever the page
   * size, issued together: one for the reactions of all of them, one for their attachments (none
   * on SQLite for a history page without any), two for read counts in group rooms and channels,
   * one for delivery positions in direct rooms.
   * `contiguous`: one room's messages with no seq missing (a history page).
   */
  private async present(viewerId: string, records: MessageRecord[], contiguous = false): Promise<Message[]> {
    if (records.length === 0) return [];
    const { roomMembers } = this.t;
    const directRooms = [...new Set(records.filter((r) => r.roomKind === "direct").map((r) => r.message.roomId))];
    const [reactions, attachments, readCounts, positions] = await Promise.all([
      this.database.messages.reactions(viewerId, records, contiguous),
      this.database.messages.withFiles(records, contiguous).then((ids) => this.files.ofMessages(ids)),
      this.database.messages.readCounts(
        records.filter((r) => r.roomKind !== "direct"),
        contiguous,
      ),
      directRooms.length === 0
        ? []
        : this.database.db
            .select({
              roomId: roomMembers.roomId,
              userId: roomMembers.userId,
              read: roomMembers.lastReadSeq,
              delivered: roomMembers.lastDeliveredSeq,
            })
            .from(roomMembers)
            .where(inArray(roomMembers.roomId, directRooms)),
    ]);
    const byMessage = new Map<string, Reaction[]>();
    for (const r of reactions) {
      let list = byMessage.get(r.messageId);
      if (!list) byMessage.set(r.messageId, (list = []));
      list.push({ emoji: r.emoji, count: r.count, me: r.me });
    }

    return records.map(({ message, sender, roomKind }) => {
      let status: MessageStatus | undefined;
      if (roomKind === "direct") {
        // Seen from the sender: how far the other member has got.
        const other = positions.find((p) => p.roomId === message.roomId && p.userId !== message.senderId);
        status = other && other.read >= message.seq ? "read" : other && other.delivered >= message.seq ? "delivered" : "sent";
      }
      return toMessage(message, sender, byMessage.get(message.id) ?? [], status, readCounts.get(message.id), attachments.get(message.id));
    });
  }

  /**
   * The members other than the sender whose read position covers the message (its readCount),
   * in joining order. Members only: anyone else gets 404, public room or not.
   */
  async reads(userId: string, messageId: string): Promise<MessageRead[]> {
    const record = await this.record(messageId);
    if (!(await this.access.lookup(record.message.roomId, userId))?.role) throw new NotFound("Message");
    const { roomMembers, users } = this.t;
    const rows = await this.database.db
      .select({ id: users.id, username: users.username, displayName: users.displayName, avatarUrl: users.avatarUrl })
      .from(roomMembers)
      .innerJoin(users, eq(users.id, roomMembers.userId))
      .where(
        and(
          eq(roomMembers.roomId, record.message.roomId),
          gte(roomMembers.lastReadSeq, record.message.seq),
          ne(roomMembers.userId, record.message.senderId),
        ),
      )
      .orderBy(asc(roomMembers.joinedAt), asc(roomMembers.userId));
    return rows.map((user) => ({ user }));
  }
}

/** Room lookups answer NOT_FOUND "Room"; on message routes that must read "Message" so nothing leaks. */
async function hideRoom<T>(lookup: Promise<T>): Promise<T> {
  try {
    return await lookup;
  } catch (error) {
    if (error instanceof AppError && error.status === 404) throw new NotFound("Message");
    throw error;
  }
}

/** Distinct file ids, at least one and at most ATTACHMENTS_MAX, in the order given. */
function checkAttachments(raw: unknown): string[] | undefined {
  const problem = `must be a list of at most ${ATTACHMENTS_MAX} file ids`;
  if (!Array.isArray(raw) || raw.length > ATTACHMENTS_MAX) throw invalid("attachments", problem);
  if (raw.some((id) => typeof id !== "string" || id.length === 0 || id.length > ID_MAX)) throw invalid("attachments", problem);
  const ids = [...new Set(raw as string[])];
  return ids.length === 0 ? undefined : ids;
}

function optionalString(raw: unknown, field: string, max: number): string | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== "string" || raw.length === 0 || raw.length > max)
    throw invalid(field, `must be a string of 1–${max} characters`);
  return raw;
}

function clampLimit(limit: number): number {
  return Number.isSafeInteger(limit) ? Math.min(Math.max(limit, 1), PAGE_MAX) : 50;
}
