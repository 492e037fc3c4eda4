/**
 * The client's types, all taken from the server's own schemas (type-only imports: nothing of
 * the server is bundled with the client).
 */
import type { Static } from "@sinclair/typebox";
import type { Message as MessageSchema } from "../modules/messages/model";
import type { Room as RoomSchema } from "../modules/rooms/model";
import type { OwnUser as OwnUserSchema } from "../modules/users/model";
import type { ClientFrame, ServerFrame } from "../realtime/protocol";

export type Message = Static<typeof MessageSchema>;
export type Room = Static<typeof RoomSchema>;
export type OwnUser = Static<typeof OwnUserSchema>;
export type { ClientFrame, ServerFrame };

/** The server frame of a given `type`. */
export type FrameOf<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;

/** Where a live session stands: opening its first socket, open, between sockets, or stopped for good. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** Why a session stopped: `close()`, a logout or a session the server no longer accepts, or a close code that forbids retrying. */
export type ClosedReason = "closed" | "signed-out" | "too-many-connections";

/** An error as the server words it. */
export interface ServerError {
  code: string;
  message: string;
  details?: unknown;
}

/** What a live session tells its listeners (see `Session.on`). */
export interface SessionEvents {
  /** The connection moved to another state; `code` is the close code that caused it, when one did. */
  state: { state: ConnectionState; code?: number; reason?: string; closedReason?: ClosedReason };
  /** The session has caught up after (re)connecting: the store holds everything up to each room's last seq. */
  synced: { rooms: string[] };
  /** A message joined the store: once per message, in seq order within a room (live, replayed or fetched). */
  message: Message;
  /** A held message was edited, or changed while the session was away (edit, reactions). */
  edit: Message;
  /** A held message was deleted: it keeps its id and seq, with content, metadata and reactions cleared. */
  delete: Message;
  /** A reaction was added or removed (live). */
  reaction: FrameOf<"reaction.added"> | FrameOf<"reaction.removed">;
  typing: FrameOf<"typing">;
  presence: FrameOf<"presence">;
  /** A member's read position moved (the held messages' readCount already counts it). */
  read: FrameOf<"read">;
  /** Direct rooms: the other member's socket received messages up to `seq`. */
  delivered: FrameOf<"delivered">;
  /** Rooms and memberships: a room was created, updated or deleted; a member joined, left or changed role. */
  room:
    | FrameOf<"room.created">
    | FrameOf<"room.updated">
    | FrameOf<"room.deleted">
    | FrameOf<"member.joined">
    | FrameOf<"member.left">
    | FrameOf<"member.updated">;
  team: FrameOf<"team.updated"> | FrameOf<"team.deleted">;
  /**
   * A user's username, display name, avatar or status changed (the signed-in user included): the
   * senders of held messages and `session.user` already show it.
   */
  user: FrameOf<"user.updated">;
  /**
   * The session follows a room it did not follow before (created, or joined while connected): its
   * messages join the store from now on, and `messages(roomId)` / `loadOlder(roomId)` read it.
   */
  followed: { roomId: string };
  /** An error frame that answers no send, edit, deletion or reaction of this session (their errors reject their promises instead). */
  error: ServerError;
  /** Every frame the server sent, as it came (for what the other events do not cover). */
  frame: ServerFrame;
}
