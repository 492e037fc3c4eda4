/**
 * The WebSocket protocol: every frame either side may send, as t-schemas. Client frames
 * are checked with TypeBox's compiled checkers; server frames are documented here and
 * checked by the tests.
 */
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { t, type TSchema } from "elysia";
import { JSON_MAX_DEPTH, mayNestDeeperThan, scanJson, shownKey } from "../lib/json-scan";
import { Message } from "../modules/messages/model";
import { Role, Room } from "../modules/rooms/model";
import { Team } from "../modules/teams/model";
import { Text } from "../modules/schemas";
import { OwnUser, Presence, PublicUser } from "../modules/users/model";

const Id = Text({ minLength: 1, maxLength: 64 });
/** Bounded so a claimed seq stays an exact integer (1e300 is an "integer" too). */
const Seq = t.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

// ---- client → server ----

const ClientId = Text({ minLength: 1, maxLength: 128, description: "the client's id for this request; its ack or error carries it back" });

export const MessageSendFrame = t.Object({
  type: t.Literal("message.send"),
  roomId: t.Optional({ ...Id, description: "required on /ws; on a room-scoped socket (/ws/rooms/:id) it defaults to that room" }),
  content: t.String({ description: "the message service checks the length after trimming, as for REST" }),
  metadata: t.Optional(t.Nullable(t.Record(t.String(), t.Unknown()))),
  replyToId: t.Optional(t.Nullable(Id)),
  clientId: Text({ minLength: 1, maxLength: 128, description: "the client's id for this send; a retry reuses it" }),
  attachments: t.Optional(t.Array(Id, { maxItems: 10, description: "ids of at most 10 of the sender's own files; content may then be empty" })),
});
export type MessageSendFrame = typeof MessageSendFrame.static;

export const MessageEditFrame = t.Object(
  {
    type: t.Literal("message.edit"),
    clientId: ClientId,
    messageId: Id,
    content: t.String({ description: "the new content; checked as for PATCH /api/messages/:id" }),
  },
  { description: "As PATCH /api/messages/:id (author only): `ack { clientId, message }` with the edited message, or `error { clientId, error }`" },
);
export type MessageEditFrame = typeof MessageEditFrame.static;

export const MessageDeleteFrame = t.Object(
  { type: t.Literal("message.delete"), clientId: ClientId, messageId: Id },
  { description: "As DELETE /api/messages/:id (author, room admin or owner): `ack { clientId }`, or `error { clientId, error }`" },
);
export type MessageDeleteFrame = typeof MessageDeleteFrame.static;

const Emoji = Text({ minLength: 1, maxLength: 128, description: "one emoji or a :shortcode:, as in the REST path" });

export const ReactionAddFrame = t.Object(
  { type: t.Literal("reaction.add"), clientId: ClientId, messageId: Id, emoji: Emoji },
  { description: "As PUT /api/messages/:id/reactions/:emoji (idempotent): `ack { clientId, message }`, or `error { clientId, error }`" },
);
export const ReactionRemoveFrame = t.Object(
  { type: t.Literal("reaction.remove"), clientId: ClientId, messageId: Id, emoji: Emoji },
  { description: "As DELETE /api/messages/:id/reactions/:emoji: `ack { clientId, message }`, or `error { clientId, error }`" },
);
export type ReactionFrame = typeof ReactionAddFrame.static | typeof ReactionRemoveFrame.static;

export const TypingFrame = t.Object({ type: t.Literal("typing"), roomId: Id });
export type TypingFrame = typeof TypingFrame.static;

export const ReadFrame = t.Object({ type: t.Literal("read"), roomId: Id, seq: Seq });
export type ReadFrame = typeof ReadFrame.static;

export const SyncFrame = t.Object({
  type: t.Literal("sync"),
  rooms: t.Record(Id, Seq, { description: "room id → the last seq the client has seen in it" }),
  since: t.Optional(
    t.String({
      minLength: 1,
      maxLength: 64,
      description:
        "The `position` of the `ready` of the client's previous connection: messages it holds (seq up to its last seq) that were " +
        "edited, deleted or had a reaction added or removed after it are replayed too. The `at` of that `ready` (an ISO-8601 " +
        "time) is still taken, with changes at or after it, but reads the clocks of the processes that made the changes",
    }),
  ),
});
export type SyncFrame = typeof SyncFrame.static;

export const PingFrame = t.Object({ type: t.Literal("ping") });
export type PingFrame = typeof PingFrame.static;

export type ClientFrame = MessageSendFrame | MessageEditFrame | MessageDeleteFrame | ReactionFrame | TypingFrame | ReadFrame | SyncFrame | PingFrame;

/** The schema of each client frame type: parseFrame checks with these, the AsyncAPI document is made of them. */
export const clientFrames: Record<ClientFrame["type"], TSchema> = {
  "message.send": MessageSendFrame,
  "message.edit": MessageEditFrame,
  "message.delete": MessageDeleteFrame,
  "reaction.add": ReactionAddFrame,
  "reaction.remove": ReactionRemoveFrame,
  typing: TypingFrame,
  read: ReadFrame,
  sync: SyncFrame,
  ping: PingFrame,
};
/** Every frame type a client may send. */
export const clientFrameTypes = Object.keys(clientFrames) as ClientFrame["type"][];
const checkers = Object.fromEntries(
  Object.entries(clientFrames).map(([type, schema]) => [type, TypeCompiler.Compile(schema)]),
) as Record<ClientFrame["type"], TypeCheck<TSchema>>;

export interface FrameError {
  code: "BAD_REQUEST" | "VALIDATION_FAILED";
  message: string;
  details?: { frame: string; fields: { field: string; message: string }[] };
}

export type Parsed = { ok: true; frame: ClientFrame } | { ok: false; error: FrameError; clientId?: string };

const EXPECTED = Object.keys(clientFrames).join(", ");

/**
 * Turns what arrived on the socket into a client frame, or says what is wrong with it.
 * `data` is the raw text, or a value Elysia already parsed from JSON text. Text nested deeper
 * than a frame holding free JSON may (one level above JSON_MAX_DEPTH) is refused before it is
 * parsed: the scan is a loop, so nothing recursive ever sees such a value.
 */
export function parseFrame(data: unknown): Parsed {
  if (typeof data === "string") {
    if (mayNestDeeperThan(data, JSON_MAX_DEPTH + 1)) {
      const scan = scanJson(data, JSON_MAX_DEPTH + 1, ["type", "clientId"]);
      if (scan.tooDeepAt !== undefined) return tooDeep(scan.tooDeepAt, scan.strings.type, scan.strings.clientId);
    }
    try {
      data = JSON.parse(data);
    } catch {
      return bad("The frame is not valid JSON.");
    }
  } else if (data instanceof Uint8Array || data instanceof ArrayBuffer) {
    return bad("Binary frames are not supported; send JSON text.");
  }
  if (typeof data !== "object" || data === null || Array.isArray(data))
    return bad("A frame must be a JSON object with a string `type`.");
  const frame = data as Record<string, unknown>;
  const clientId = typeof frame.clientId === "string" ? frame.clientId.slice(0, 128) : undefined;
  if (typeof frame.type !== "string") return bad("A frame must be a JSON object with a string `type`.", clientId);
  if (!Object.hasOwn(checkers, frame.type))
    return bad(`Unknown frame type "${frame.type.slice(0, 40)}"; expected one of ${EXPECTED}.`, clientId);
  const type = frame.type as ClientFrame["type"];
  const checker = checkers[type];
  if (checker.Check(frame)) return { ok: true, frame: frame as unknown as ClientFrame };

  const fields: { field: string; message: string }[] = [];
  const seen = new Set<string>();
  for (const issue of checker.Errors(frame)) {
    const field = issue.path.replace(/^\//, "").replaceAll("/", ".") || "frame";
    if (seen.has(field)) continue;
    seen.add(field);
    fields.push({ field, message: issue.message });
    if (fields.length >= 10) break;
  }
  const first = fields[0]!;
  return {
    ok: false,
    clientId,
    error: {
      code: "VALIDATION_FAILED",
      message: `Invalid ${type} frame: ${first.field} ${first.message.toLowerCase()}`,
      details: { frame: type, fields },
    },
  };
}

function bad(message: string, clientId?: string): Parsed {
  return { ok: false, clientId, error: { code: "BAD_REQUEST", message } };
}

/** The refusal of a frame that nests too deep under top-level `key`, named by what the scan saw of it. */
function tooDeep(key: string, type: string | undefined, clientId: string | undefined): Parsed {
  const field = key === "" ? "frame" : shownKey(key);
  const problem = `must be nested at most ${JSON_MAX_DEPTH} levels deep`;
  const known = type !== undefined && Object.hasOwn(checkers, type) ? type : undefined;
  return {
    ok: false,
    clientId: clientId?.slice(0, 128),
    error: {
      code: "VALIDATION_FAILED",
      message: `Invalid ${known ? `${known} frame` : "frame"}: ${field} ${problem}`,
      details: { frame: known ?? "unknown", fields: [{ field, message: problem }] },
    },
  };
}

// ---- server → client ----

export const ErrorBody = t.Object({
  code: t.String({ examples: ["VALIDATION_FAILED"] }),
  message: t.String(),
  details: t.Optional(t.Unknown()),
});

export const ErrorFrame = t.Object(
  {
    type: t.Literal("error"),
    clientId: t.Optional(
      t.String({ description: "set when the failed frame carried one (message.send, message.edit, message.delete, reaction.add, reaction.remove)" }),
    ),
    error: ErrorBody,
  },
  { description: "A frame could not be carried out; the socket stays open" },
);
export type ErrorFrame = typeof ErrorFrame.static;

export const ReadyFrame = t.Object({
  type: t.Literal("ready"),
  user: OwnUser,
  rooms: t.Array(t.Object({ id: t.String(), lastSeq: t.Integer() })),
  at: t.String({
    format: "date-time",
    description: "When the socket was subscribed, by this process's clock (see `position`)",
  }),
  position: t.String({
    pattern: "^p[0-9]{1,15}$",
    description:
      "Where the database's sequence of message changes stood when the socket was subscribed: every change after it reaches " +
      "this socket. After a reconnect (to any process), send it as sync's `since`",
  }),
});
export type ReadyFrame = typeof ReadyFrame.static;

export const AckFrame = t.Object(
  {
    type: t.Literal("ack"),
    clientId: t.String(),
    message: t.Optional(Message),
  },
  {
    description:
      "A frame with a clientId was carried out: `message` is the sent, edited or reacted-to message (as the REST route answers " +
      "it); a message.delete's ack has none",
  },
);

export const MessageNewFrame = t.Object({
  type: t.Literal("message.new"),
  message: Message,
});

export const MessageUpdatedFrame = t.Object(
  { type: t.Literal("message.updated"), message: Message },
  {
    description:
      "Live: a message was edited. Replayed by a sync with `since`: a message the client holds was edited or had a reaction " +
      "added or removed while it was away. The whole message as everyone sees it (`me` is always false)",
  },
);

export const MessageDeletedFrame = t.Object(
  { type: t.Literal("message.deleted"), roomId: t.String(), id: t.String(), seq: t.Integer() },
  { description: "A message was deleted (live, or replayed by a sync with `since`): it keeps id and seq; content, metadata and reactions go" },
);

export const ReadEvent = t.Object(
  {
    type: t.Literal("read"),
    roomId: t.String(),
    userId: t.String(),
    seq: t.Integer({ description: "the member's read position now" }),
    previousSeq: t.Integer({
      description: "where it was: messages with previousSeq < seq' ≤ seq not sent by userId gain one readCount",
    }),
  },
  { description: "A member's read position moved forward (to every member's sockets)" },
);

export const HistoryFrame = t.Object(
  {
    type: t.Literal("history"),
    roomId: t.String(),
    messages: t.Array(Message, { description: "the room's latest 50 messages, ascending seq" }),
  },
  {
    description:
      "Room-scoped sockets (/ws/rooms/:id) only, instead of `ready`: sent once subscribed. Messages committed while it was " +
      "being read follow as `message.new` (keep messages by seq: one may come twice)",
  },
);

export const TypingEvent = t.Object({ type: t.Literal("typing"), roomId: t.String(), userId: t.String() });

export const PresenceEvent = t.Object({
  type: t.Literal("presence"),
  userId: t.String(),
  presence: Presence,
  lastSeenAt: t.Nullable(t.String({ format: "date-time" })),
});
export type PresenceEvent = typeof PresenceEvent.static;

export const SyncDoneFrame = t.Object({
  type: t.Literal("sync.done"),
  rooms: t.Record(
    t.String(),
    t.Object({
      lastSeq: t.Integer({ description: "the newest seq the client now has in this room" }),
      hasMore: t.Boolean({
        description:
          "more were missed than this sync replayed (500 per room, or the sync reached WS_SYNC_MAX_BYTES): page the rest over " +
          "REST from lastSeq, or send sync again from lastSeq",
      }),
      changesHaveMore: t.Optional(
        t.Boolean({
          description:
            "With `since` only: more messages the client holds changed than this sync replayed (500 per room, or the sync reached " +
            "WS_SYNC_MAX_BYTES). The replay covers those up to changesLastSeq; " +
            "re-read the later ones over REST (GET /api/rooms/:id/messages?after=<changesLastSeq>&before=<the seq you synced from + 1>)",
        }),
      ),
      changesLastSeq: t.Optional(t.Integer({ description: "With changesHaveMore: the seq of the last change replayed (0: none was)" })),
    }),
  ),
});
export type SyncDoneFrame = typeof SyncDoneFrame.static;

export const PongFrame = t.Object({ type: t.Literal("pong") });

// The helpers are generic so that each schema's `type` stays one literal: ServerFrame discriminates on it.
const Receipt = <T extends "read" | "delivered">(type: T, description: string) =>
  t.Object({ type: t.Literal(type), roomId: t.String(), userId: t.String(), seq: t.Integer() }, { description });
export const DeliveredEvent = Receipt("delivered", "Direct rooms: a socket of the other member received the messages up to seq");

const ReactionEvent = <T extends "reaction.added" | "reaction.removed">(type: T) =>
  t.Object(
    { type: t.Literal(type), roomId: t.String(), messageId: t.String(), emoji: t.String(), userId: t.String() },
    { description: `A user's reaction was ${type === "reaction.added" ? "added to" : "removed from"} a message` },
  );
export const ReactionAddedEvent = ReactionEvent("reaction.added");
export const ReactionRemovedEvent = ReactionEvent("reaction.removed");

export const RoomCreatedEvent = t.Object(
  { type: t.Literal("room.created"), room: Room },
  { description: "To each member: a room they are in was created, or they joined it (the room as that member sees it)" },
);
export const RoomUpdatedEvent = t.Object(
  { type: t.Literal("room.updated"), room: Room },
  { description: "To the room: its name, topic or settings changed (member-specific fields are left out)" },
);
export const RoomDeletedEvent = t.Object(
  { type: t.Literal("room.deleted"), roomId: t.String() },
  { description: "To the room: it was deleted; its sockets stop receiving its events" },
);

const MembershipEvent = <T extends "member.joined" | "member.left">(type: T) =>
  t.Object(
    { type: t.Literal(type), roomId: t.String(), userId: t.String() },
    { description: `To the room: a member ${type === "member.joined" ? "joined or was added" : "left or was removed"}` },
  );
export const MemberJoinedEvent = MembershipEvent("member.joined");
export const MemberLeftEvent = MembershipEvent("member.left");
export const MemberUpdatedEvent = t.Object(
  {
    type: t.Literal("member.updated"),
    roomId: t.String(),
    userId: t.String(),
    role: Role,
    mutedUntil: t.Optional(t.Nullable(t.String({ format: "date-time", description: "set when a moderator muted or unmuted the member" }))),
  },
  { description: "To the room: a member's role changed (also when a team role carries into the team's channels), or a mute" },
);

export const TeamUpdatedEvent = t.Object(
  { type: t.Literal("team.updated"), team: Team },
  { description: "To each member of the team: the team as that member sees it" },
);
export const TeamDeletedEvent = t.Object(
  { type: t.Literal("team.deleted"), teamId: t.String() },
  { description: "To each member of the team, and to a member who leaves or is removed" },
);

export const UserUpdatedEvent = t.Object(
  { type: t.Literal("user.updated"), user: PublicUser },
  {
    description:
      "To every /ws socket of the user and of everyone who shares a room with them: their username, displayName, avatarUrl or " +
      "statusText changed (the user as GET /api/users/:id answers). Not replayed by sync: after a reconnect, read users again",
  },
);

/**
 * The schema of each frame type the server sends: answers to client frames, and the events
 * services publish. The AsyncAPI document is made of these; a test checks that every type the
 * server code sends is here.
 */
export const serverFrames: Record<string, TSchema> = {
  ready: ReadyFrame,
  history: HistoryFrame,
  ack: AckFrame,
  error: ErrorFrame,
  pong: PongFrame,
  "sync.done": SyncDoneFrame,
  "message.new": MessageNewFrame,
  "message.updated": MessageUpdatedFrame,
  "message.deleted": MessageDeletedFrame,
  "reaction.added": ReactionAddedEvent,
  "reaction.removed": ReactionRemovedEvent,
  typing: TypingEvent,
  read: ReadEvent,
  delivered: DeliveredEvent,
  presence: PresenceEvent,
  "room.created": RoomCreatedEvent,
  "room.updated": RoomUpdatedEvent,
  "room.deleted": RoomDeletedEvent,
  "member.joined": MemberJoinedEvent,
  "member.left": MemberLeftEvent,
  "member.updated": MemberUpdatedEvent,
  "team.updated": TeamUpdatedEvent,
  "team.deleted": TeamDeletedEvent,
  "user.updated": UserUpdatedEvent,
};

/** Every frame the server sends, by its schema: what a client switches on. */
export type ServerFrame =
  | ReadyFrame
  | typeof AckFrame.static
  | ErrorFrame
  | typeof MessageNewFrame.static
  | typeof MessageUpdatedFrame.static
  | typeof MessageDeletedFrame.static
  | typeof ReactionAddedEvent.static
  | typeof ReactionRemovedEvent.static
  | typeof TypingEvent.static
  | typeof ReadEvent.static
  | typeof DeliveredEvent.static
  | PresenceEvent
  | typeof RoomCreatedEvent.static
  | typeof RoomUpdatedEvent.static
  | typeof RoomDeletedEvent.static
  | typeof MemberJoinedEvent.static
  | typeof MemberLeftEvent.static
  | typeof MemberUpdatedEvent.static
  | typeof TeamUpdatedEvent.static
  | typeof TeamDeletedEvent.static
  | typeof UserUpdatedEvent.static
  | SyncDoneFrame
  | typeof HistoryFrame.static
  | typeof PongFrame.static;

/** Close codes the server uses besides the standard ones (1001 going away, 1008 policy, 1009 too big, 1011 error). */
export const CloseCode = {
  goingAway: 1001,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
  sessionRevoked: 4001,
  /** The user or the client address holds as many sockets as it may (WS_MAX_PER_USER, WS_MAX_PER_ADDRESS). */
  tooManyConnections: 4008,
  /** A room-scoped socket's room was deleted, or its user left or was removed from it. */
  roomGone: 4004,
} as const;

export const roomTopic = (roomId: string) => `room:${roomId}`;
export const userTopic = (userId: string) => `user:${userId}`;
