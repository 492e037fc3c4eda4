import { AppError, ValidationFailed } from "../errors";
import { messageDeleted } from "../events";
import type { Logger } from "../logger";
import type { Metrics } from "../metrics";
import type { Message } from "../modules/messages/model";
import type { MessageService } from "../modules/messages/service";
import type { RoomService } from "../modules/rooms/service";
import { isStorableTime } from "../lib/cursor";
import type { Connection } from "./connection";
import type { ClientFrame, ErrorFrame, MessageSendFrame, ReadFrame, SyncDoneFrame, SyncFrame, TypingFrame } from "./protocol";
import { messageJson, type Publisher } from "./publisher";

/** The most messages one `sync` replays per room; beyond it the client pages over REST. */
export const SYNC_PAGE = 500;

export interface FrameContext {
  messages: Pick<MessageService, "send" | "history" | "changedSince" | "edit" | "delete" | "react">;
  rooms: Pick<RoomService, "markRead" | "syncStateOf" | "access">;
  publisher: Publisher;
  typing: TypingThrottle;
  /** Bytes of frames one sync replays at most, across its rooms (WS_SYNC_MAX_BYTES). */
  syncMaxBytes: number;
  /** Records that a socket of the member received `seq` (the live path's way too); never rejects. */
  markDelivered(userId: string, roomId: string, seq: number): Promise<void>;
  metrics: Pick<Metrics, "message">;
  logger: Logger;
}

/** Carries out one well-formed frame for the socket that sent it. */
export async function handleFrame(connection: Connection, frame: ClientFrame, ctx: FrameContext): Promise<void> {
  try {
    switch (frame.type) {
      case "message.send":
        return await send(connection, frame, ctx);
      case "message.edit":
        return ack(connection, frame.clientId, await ctx.messages.edit(connection.userId, frame.messageId, frame.content));
      case "message.delete":
        await ctx.messages.delete(connection.userId, frame.messageId);
        return ack(connection, frame.clientId);
      case "reaction.add":
      case "reaction.remove":
        return ack(connection, frame.clientId, await ctx.messages.react(connection.userId, frame.messageId, frame.emoji, frame.type === "reaction.add"));
      case "typing":
        return await typing(connection, frame, ctx);
      case "read":
        return await read(connection, frame, ctx);
      case "sync":
        return await sync(connection, frame, ctx);
      case "ping":
        return connection.send({ type: "pong" });
    }
  } catch (error) {
    connection.send(errorFrame(error, ctx.logger, clientIdOf(frame)));
  }
}

/** The clientId a frame carries, which its ack or error names. */
export function clientIdOf(frame: ClientFrame): string | undefined {
  return "clientId" in frame ? frame.clientId : undefined;
}

/** The answer to a frame with a clientId: what its REST route answers, as `message` (none for a delete). */
function ack(connection: Connection, clientId: string, message?: Message) {
  connection.send(message ? { type: "ack", clientId, message } : { type: "ack", clientId });
}

/**
 * The same path as REST: the service validates, rate-limits, commits and publishes
 * `message.new` to every socket of every member (this one included) before the ack.
 * MessageService.send queues the message for the writer before its first await, which is
 * what lets the socket's next send join the same batch (a Connection pipelines sends).
 */
async function send(connection: Connection, frame: MessageSendFrame, ctx: FrameContext) {
  const { content, metadata, replyToId, clientId, attachments } = frame;
  const roomId = frame.roomId ?? connection.scope;
  if (roomId === undefined)
    throw new ValidationFailed("Invalid message.send frame: roomId is required", {
      frame: "message.send",
      fields: [{ field: "roomId", message: "is required (only a room-scoped socket may leave it out)" }],
    });
  const { message, created } = await ctx.messages.send(connection.userId, roomId, { content, metadata, replyToId, clientId, attachments });
  if (created) ctx.metrics.message("ws");
  // The message as its message.new carried it: encoded once for the room and the ack alike.
  connection.post(`{"type":"ack","clientId":${JSON.stringify(clientId)},"message":${messageJson(message)}}`);
}

async function typing(connection: Connection, frame: TypingFrame, ctx: FrameContext) {
  // The socket's rooms are the user's memberships, kept current by joined/left; a room-scoped
  // socket's room may be a public one its user only reads, so membership is asked there.
  if (!connection.rooms.has(frame.roomId)) throw new AppError(404, "NOT_FOUND", "Room not found.");
  if (connection.scope !== undefined) await ctx.rooms.access.member(frame.roomId, connection.userId);
  if (ctx.typing.allow(connection.userId, frame.roomId)) ctx.publisher.typing(frame.roomId, connection.userId);
}

async function read(connection: Connection, frame: ReadFrame, ctx: FrameContext) {
  // Members (this socket included) hear `read` when the position moved; nothing else is sent back.
  await ctx.rooms.markRead(connection.userId, frame.roomId, frame.seq);
}

/**
 * Replays, per room and in seq order, every message after the seq the client last saw,
 * from the database. Live `message.new` frames may arrive in between: clients keep
 * messages by (roomId, seq), so a duplicate is harmless. With `since`, then the changes
 * to the messages up to that seq (see replayChanges). Rooms the user is not a member
 * of are left out of `sync.done` and named in one NOT_FOUND error frame.
 *
 * One sync replays at most `syncMaxBytes` of frames (the first always goes): once they are
 * spent, the room being replayed stops there and later rooms are not read; their entries
 * say what is left (hasMore, changesHaveMore), so another sync or REST continues.
 */
async function sync(connection: Connection, frame: SyncFrame, ctx: FrameContext) {
  const since = frame.since === undefined ? undefined : sinceTime(frame.since);
  const done: SyncDoneFrame = { type: "sync.done", rooms: {} };
  const unknown: string[] = [];
  const marks: Promise<void>[] = [];
  const budget = new Budget(ctx.syncMaxBytes);
  // The last seqs of all the user's rooms, read once per sync the first time one is needed.
  let lastSeqs: Map<string, number> | undefined;
  const lastSeqOf = async (roomId: string) => {
    lastSeqs ??= new Map((await ctx.rooms.syncStateOf(connection.userId)).map((r) => [r.id, r.lastSeq]));
    return lastSeqs.get(roomId);
  };
  for (const [roomId, after] of Object.entries(frame.rooms)) {
    if (!connection.rooms.has(roomId)) {
      unknown.push(roomId);
      continue;
    }
    if (budget.spent) {
      // Not read: the room's last seq tells whether anything was missed.
      const last = await lastSeqOf(roomId);
      if (last === undefined) unknown.push(roomId);
      else done.rooms[roomId] = { lastSeq: Math.min(after, last), hasMore: last > after, ...(since && changesLeft(after)) };
      continue;
    }
    let page: Awaited<ReturnType<FrameContext["messages"]["history"]>>;
    let lastSeq = after;
    try {
      page = await ctx.messages.history(connection.userId, roomId, { after, limit: SYNC_PAGE });
      // Nothing after the claimed seq: it may be beyond the room's last seq, which bounds it (most
      // rooms of a reconnecting client are up to date); a message committed since only makes the
      // bound lower than it could be, never higher than the client holds.
      if (page.messages.length === 0 && after > 0) lastSeq = Math.min(after, (await lastSeqOf(roomId)) ?? 0);
    } catch (error) {
      // Deleted or left since the socket was subscribed: reported like any room that is not the user's.
      if (!(error instanceof AppError && error.status === 404)) throw error;
      unknown.push(roomId);
      continue;
    }
    let delivered = 0;
    let cut = false;
    for (const message of page.messages) {
      if (budget.spent) {
        cut = true;
        break;
      }
      if (!(await connection.sendPaced(budget.take(JSON.stringify({ type: "message.new", message }))))) return;
      lastSeq = message.seq;
      // As for live messages: those with a status (direct rooms) from the other member are now delivered.
      if (message.status !== undefined && message.senderId !== connection.userId) delivered = message.seq;
    }
    if (delivered > 0) marks.push(ctx.markDelivered(connection.userId, roomId, delivered));
    const room: SyncDoneFrame["rooms"][string] = { lastSeq, hasMore: page.hasMore || cut };
    if (since) {
      const changes = cut ? changesLeft(after) : await replayChanges(connection, roomId, since, after, budget, ctx);
      if (changes === "closed") return;
      if (changes === "gone") {
        unknown.push(roomId);
        continue;
      }
      Object.assign(room, changes);
    }
    done.rooms[roomId] = room;
  }
  // Once sync.done is out, the replayed messages read `delivered` (the writer batches the rooms' marks).
  await Promise.all(marks);
  if (unknown.length > 0)
    connection.send({
      type: "error",
      error: { code: "NOT_FOUND", message: `Not a member of ${unknown.length === 1 ? "this room" : "these rooms"}; not synced.`, details: { roomIds: unknown } },
    } satisfies ErrorFrame);
  connection.send(done);
}

/** What a sync may still send, in bytes of frames; spent once they are used up. */
class Budget {
  constructor(private left: number) {}

  get spent(): boolean {
    return this.left <= 0;
  }

  /** Counts `text` against the budget and returns it. */
  take(text: string): string {
    this.left -= Buffer.byteLength(text);
    return text;
  }
}

/** A room whose changes were not replayed: none to replay when the client held nothing. */
function changesLeft(through: number): { changesHaveMore: boolean; changesLastSeq?: number } {
  return through > 0 ? { changesHaveMore: true, changesLastSeq: 0 } : { changesHaveMore: false };
}

/**
 * The messages up to seq `through` that changed at or after `since`, in seq order, each as the
 * live path tells it: `message.deleted` for a deleted one, else `message.updated` with the whole
 * message as everyone sees it. So the client ends with what a socket that never closed heard.
 * Stops where the sync's budget is spent.
 */
async function replayChanges(
  connection: Connection,
  roomId: string,
  since: Date,
  through: number,
  budget: Budget,
  ctx: FrameContext,
): Promise<{ changesHaveMore: boolean; changesLastSeq?: number } | "gone" | "closed"> {
  if (through === 0) return { changesHaveMore: false };
  if (budget.spent) return changesLeft(through);
  let page: Awaited<ReturnType<FrameContext["messages"]["changedSince"]>>;
  try {
    page = await ctx.messages.changedSince(connection.userId, roomId, { since, through, limit: SYNC_PAGE });
  } catch (error) {
    if (!(error instanceof AppError && error.status === 404)) throw error;
    return "gone";
  }
  let replayed = 0;
  for (const message of page.messages) {
    if (budget.spent) return { changesHaveMore: true, changesLastSeq: replayed };
    const frame = message.deletedAt ? messageDeleted(message) : { type: "message.updated", message };
    if (!(await connection.sendPaced(budget.take(JSON.stringify(frame))))) return "closed";
    replayed = message.seq;
  }
  if (!page.hasMore) return { changesHaveMore: false };
  return { changesHaveMore: true, changesLastSeq: replayed };
}

/** `since` as a time; the schema checked its form, but not every such string is a time both databases take. */
function sinceTime(text: string): Date {
  const ms = Date.parse(text);
  if (!isStorableTime(ms))
    throw new ValidationFailed("Invalid sync frame: since must be a time of the years 1–9999", {
      frame: "sync",
      fields: [{ field: "since", message: "must be an ISO-8601 time of the years 1–9999" }],
    });
  return new Date(ms);
}

/** The error frame for a failure: the service's code and sentence, or INTERNAL without details. */
export function errorFrame(error: unknown, logger: Logger, clientId?: string): ErrorFrame {
  const frame: ErrorFrame = { type: "error", error: { code: "INTERNAL", message: "Something went wrong on our side." } };
  if (clientId !== undefined) frame.clientId = clientId;
  if (error instanceof AppError) {
    frame.error = { code: error.code, message: error.message };
    if (error.details !== undefined) frame.error.details = error.details;
  } else {
    logger.error("websocket frame failed", { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
  return frame;
}

/** At most one `typing` per user and room per interval; the rest are dropped quietly. */
export class TypingThrottle {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {}

  allow(userId: string, roomId: string): boolean {
    const key = `${userId}\n${roomId}`;
    const now = this.now();
    const last = this.last.get(key);
    if (last !== undefined && now - last < this.intervalMs) return false;
    this.last.set(key, now);
    if (this.last.size > 10_000) this.prune(now);
    return true;
  }

  private prune(now: number) {
    for (const [key, at] of this.last) if (now - at >= this.intervalMs) this.last.delete(key);
  }
}
