import { AppError, ValidationFailed } from "../errors";
import { messageDeleted } from "../events";
import type { Logger } from "../logger";
import type { MessageService } from "../modules/messages/service";
import type { RoomService } from "../modules/rooms/service";
import { isStorableTime } from "../lib/cursor";
import type { Connection } from "./connection";
import type { ClientFrame, ErrorFrame, MessageSendFrame, ReadFrame, SyncDoneFrame, SyncFrame, TypingFrame } from "./protocol";
import { messageJson, type Publisher } from "./publisher";

/** The most messages one `sync` replays per room; beyond it the client pages over REST. */
export const SYNC_PAGE = 500;

export interface FrameContext {
  messages: Pick<MessageService, "send" | "history" | "changedSince">;
  rooms: Pick<RoomService, "markRead" | "syncStateOf">;
  publisher: Publisher;
  typing: TypingThrottle;
  /** Records that a socket of the member received `seq` (the live path's way too); never rejects. */
  markDelivered(userId: string, roomId: string, seq: number): Promise<void>;
  logger: Logger;
}

/** Carries out one well-formed frame for the socket that sent it. */
export async function handleFrame(connection: Connection, frame: ClientFrame, ctx: FrameContext): Promise<void> {
  try {
    switch (frame.type) {
      case "message.send":
        return await send(connection, frame, ctx);
      case "typing":
        return typing(connection, frame, ctx);
      case "read":
        return await read(connection, frame, ctx);
      case "sync":
        return await sync(connection, frame, ctx);
      case "ping":
        return connection.send({ type: "pong" });
    }
  } catch (error) {
    connection.send(errorFrame(error, ctx.logger, frame.type === "message.send" ? frame.clientId : undefined));
  }
}

/**
 * The same path as REST: the service validates, rate-limits, commits and publishes
 * `message.new` to every socket of every member (this one included) before the ack.
 * MessageService.send queues the message for the writer before its first await, which is
 * what lets the socket's next send join the same batch (a Connection pipelines sends).
 */
async function send(connection: Connection, frame: MessageSendFrame, ctx: FrameContext) {
  const { roomId, content, metadata, replyToId, clientId } = frame;
  const { message } = await ctx.messages.send(connection.userId, roomId, { content, metadata, replyToId, clientId });
  // The message as its message.new carried it: encoded once for the room and the ack alike.
  connection.post(`{"type":"ack","clientId":${JSON.stringify(clientId)},"message":${messageJson(message)}}`);
}

function typing(connection: Connection, frame: TypingFrame, ctx: FrameContext) {
  // The socket's rooms are the user's memberships, kept current by joined/left.
  if (!connection.rooms.has(frame.roomId)) throw new AppError(404, "NOT_FOUND", "Room not found.");
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
 */
async function sync(connection: Connection, frame: SyncFrame, ctx: FrameContext) {
  const since = frame.since === undefined ? undefined : sinceTime(frame.since);
  const done: SyncDoneFrame = { type: "sync.done", rooms: {} };
  const unknown: string[] = [];
  const marks: Promise<void>[] = [];
  let lastSeqs: Map<string, number> | undefined;
  for (const [roomId, after] of Object.entries(frame.rooms)) {
    if (!connection.rooms.has(roomId)) {
      unknown.push(roomId);
      continue;
    }
    let page: Awaited<ReturnType<FrameContext["messages"]["history"]>>;
    let lastSeq = after;
    try {
      page = await ctx.messages.history(connection.userId, roomId, { after, limit: SYNC_PAGE });
      // Nothing after the claimed seq: it may be beyond the room's last seq, which bounds it. The
      // last seqs of all the user's rooms are read once per sync, the first time one is needed
      // (most rooms of a reconnecting client are up to date); a message committed since only
      // makes the bound lower than it could be, never higher than the client holds.
      if (page.messages.length === 0 && after > 0) {
        lastSeqs ??= new Map((await ctx.rooms.syncStateOf(connection.userId)).map((r) => [r.id, r.lastSeq]));
        lastSeq = Math.min(after, lastSeqs.get(roomId) ?? 0);
      }
    } catch (error) {
      // Deleted or left since the socket was subscribed: reported like any room that is not the user's.
      if (!(error instanceof AppError && error.status === 404)) throw error;
      unknown.push(roomId);
      continue;
    }
    let delivered = 0;
    for (const message of page.messages) {
      if (!(await connection.sendPaced(JSON.stringify({ type: "message.new", message })))) return;
      lastSeq = message.seq;
      // As for live messages: those with a status (direct rooms) from the other member are now delivered.
      if (message.status !== undefined && message.senderId !== connection.userId) delivered = message.seq;
    }
    if (delivered > 0) marks.push(ctx.markDelivered(connection.userId, roomId, delivered));
    const room: SyncDoneFrame["rooms"][string] = { lastSeq, hasMore: page.hasMore };
    if (since) {
      const changes = await replayChanges(connection, roomId, since, after, ctx);
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

/**
 * The messages up to seq `through` that changed at or after `since`, in seq order, each as the
 * live path tells it: `message.deleted` for a deleted one, else `message.updated` with the whole
 * message as everyone sees it. So the client ends with what a socket that never closed heard.
 */
async function replayChanges(
  connection: Connection,
  roomId: string,
  since: Date,
  through: number,
  ctx: FrameContext,
): Promise<{ changesHaveMore: boolean; changesLastSeq?: number } | "gone" | "closed"> {
  let page: Awaited<ReturnType<FrameContext["messages"]["changedSince"]>>;
  try {
    page = await ctx.messages.changedSince(connection.userId, roomId, { since, through, limit: SYNC_PAGE });
  } catch (error) {
    if (!(error instanceof AppError && error.status === 404)) throw error;
    return "gone";
  }
  for (const message of page.messages) {
    const frame = message.deletedAt ? messageDeleted(message) : { type: "message.updated", message };
    if (!(await connection.sendPaced(JSON.stringify(frame)))) return "closed";
  }
  if (!page.hasMore) return { changesHaveMore: false };
  return { changesHaveMore: true, changesLastSeq: page.messages.at(-1)!.seq };
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
