import { t } from "elysia";
import { CodeParam, IdParam, Text } from "../schemas";
import { Limit, PublicUser } from "../users/model";

export const RoomKind = t.Union([t.Literal("group"), t.Literal("direct"), t.Literal("channel")]);
export const Visibility = t.Union([t.Literal("public"), t.Literal("private")]);
export type Visibility = typeof Visibility.static;
export const Role = t.Union([t.Literal("owner"), t.Literal("admin"), t.Literal("member")]);

export const Id = Text({ minLength: 1, maxLength: 64 });
export const RoomName = Text({ minLength: 1, maxLength: 80, description: "1–80 characters after trimming" });
export const Topic = Text({ maxLength: 500 });

export const LastMessage = t.Object(
  {
    id: t.String(),
    seq: t.Integer(),
    senderId: t.String(),
    content: t.String({ description: "empty when the message was deleted" }),
    createdAt: t.String({ format: "date-time" }),
    deletedAt: t.Nullable(t.String({ format: "date-time" })),
  },
  { description: "A compact summary of the room's newest message" },
);
export type LastMessage = typeof LastMessage.static;

export const Room = t.Object(
  {
    id: t.String(),
    kind: RoomKind,
    name: t.Nullable(t.String({ description: "null for direct chats: clients show the other member instead" })),
    topic: t.Nullable(t.String()),
    teamId: t.Nullable(t.String({ description: "the team of a channel; null otherwise" })),
    visibility: Visibility,
    createdBy: t.String(),
    createdAt: t.String({ format: "date-time" }),
    memberCount: t.Integer(),
    lastMessage: t.Nullable(LastMessage),
    lastSeq: t.Integer({ description: "seq of the newest message, 0 when there is none" }),
    unreadCount: t.Integer({ description: "lastSeq − myLastReadSeq, at least 0; 0 when not a member" }),
    myRole: t.Nullable(Role),
    myLastReadSeq: t.Nullable(t.Integer()),
    lastActivityAt: t.String({ format: "date-time", description: "when the newest message was sent; the room's creation when it has none" }),
    hidden: t.Boolean({ description: "mine: I hid this direct chat and no message came since (false when not a member)" }),
    muted: t.Boolean({ description: "mine: I muted the room's notifications; it still counts unread (false when not a member)" }),
  },
  {
    description:
      "A conversation. The my*/unreadCount fields are the caller's (null/0 when not a member). In a " +
      "channel, myRole is at least the caller's team role. In `room.updated` events, which go to every member " +
      "at once, myRole and myLastReadSeq are null, unreadCount is 0 and hidden and muted are false: clients merge only the shared fields.",
  },
);
export type Room = typeof Room.static;

export const RoomPage = t.Object({ rooms: t.Array(Room), nextCursor: t.Nullable(t.String()) });
export type RoomPage = typeof RoomPage.static;

export const RoomListQuery = t.Object({
  kind: t.Optional(RoomKind),
  teamId: t.Optional(t.String({ format: "uuid", description: "only the channels of this team" })),
  limit: t.Optional(Limit),
  cursor: t.Optional(t.String({ maxLength: 200 })),
});
export type RoomListQuery = typeof RoomListQuery.static;

export const MySettings = t.Object(
  {
    hidden: t.Optional(t.Boolean({ description: "direct chats only: hide it from my list until its next message" })),
    muted: t.Optional(t.Boolean({ description: "mute the room's notifications for me; unread still counts" })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type MySettings = typeof MySettings.static;

export const PublicRoomQuery = t.Object({
  q: t.Optional(Text({ maxLength: 80, description: "case-insensitive substring of the name" })),
  limit: t.Optional(Limit),
  cursor: t.Optional(t.String({ maxLength: 200 })),
});

export const CreateRoom = t.Object(
  {
    name: RoomName,
    topic: t.Optional(t.Nullable(Topic)),
    visibility: t.Optional(t.Union([t.Literal("public"), t.Literal("private")], { default: "private" })),
    memberIds: t.Optional(t.Array(Id, { maxItems: 100, description: "users to add as members (max 100)" })),
  },
  { additionalProperties: false },
);
export type CreateRoom = typeof CreateRoom.static;

export const StartDirect = t.Object({ userId: Id }, { additionalProperties: false });

export const UpdateRoom = t.Object(
  { name: t.Optional(RoomName), topic: t.Optional(t.Nullable(Topic)), visibility: t.Optional(Visibility) },
  { additionalProperties: false },
);
export type UpdateRoom = typeof UpdateRoom.static;

export const RoomMember = t.Object({
  user: PublicUser,
  role: Role,
  joinedAt: t.String({ format: "date-time" }),
  lastReadSeq: t.Integer(),
  mutedUntil: t.Nullable(t.String({ format: "date-time", description: "until when the member's sends are refused; null when not muted" })),
});
export type RoomMember = typeof RoomMember.static;

export const AddMember = t.Object(
  { userId: Id, role: t.Optional(t.Union([t.Literal("owner"), t.Literal("admin"), t.Literal("member")], { default: "member" })) },
  { additionalProperties: false },
);
export type AddMember = typeof AddMember.static;

export const ChangeRole = t.Object({ role: Role }, { additionalProperties: false });

export const UpdateMember = t.Object(
  {
    role: t.Optional(Role),
    mutedUntil: t.Optional(t.Nullable(t.String({ format: "date-time", description: "refuse the member's sends until then; null unmutes" }))),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateMember = typeof UpdateMember.static;

export const ReadBody = t.Object(
  { seq: t.Integer({ minimum: 0, description: "read up to and including this seq; beyond lastSeq counts as lastSeq" }) },
  { additionalProperties: false },
);

export const ReadState = t.Object({ roomId: t.String(), lastReadSeq: t.Integer(), unreadCount: t.Integer() });
export type ReadState = typeof ReadState.static;

export const RoomParams = t.Object({ id: IdParam("Room") });
export const MemberParams = t.Object({ id: IdParam("Room"), userId: IdParam("Member") });

export const BanBody = t.Object(
  {
    userId: Id,
    reason: t.Optional(t.Nullable(Text({ maxLength: 500 }))),
    expiresInSeconds: t.Optional(t.Integer({ minimum: 1, maximum: 10 * 365 * 86400, description: "omitted: until lifted" })),
  },
  { additionalProperties: false },
);
export type BanBody = typeof BanBody.static;

export const Ban = t.Object({
  userId: t.String(),
  reason: t.Nullable(t.String()),
  bannedBy: t.String(),
  createdAt: t.String({ format: "date-time" }),
  expiresAt: t.Nullable(t.String({ format: "date-time", description: "null: until lifted" })),
});
export type Ban = typeof Ban.static;

export const CreateRoomInvitation = t.Object(
  {
    expiresInSeconds: t.Optional(
      t.Integer({ minimum: 1, maximum: 30 * 24 * 3600, default: 7 * 24 * 3600, description: "default 7 days, at most 30 days" }),
    ),
    maxUses: t.Optional(t.Nullable(t.Integer({ minimum: 1, maximum: 1_000_000, description: "null or absent: unlimited" }))),
  },
  { additionalProperties: false },
);
export type CreateRoomInvitation = typeof CreateRoomInvitation.static;

export const RoomInvitation = t.Object(
  {
    code: t.String({ description: "256 random bits, base64url" }),
    roomId: t.String(),
    createdBy: t.String(),
    createdAt: t.String({ format: "date-time" }),
    expiresAt: t.String({ format: "date-time" }),
    maxUses: t.Nullable(t.Integer()),
    uses: t.Integer(),
    revokedAt: t.Nullable(t.String({ format: "date-time" })),
  },
  { description: "An invite code to a private group room" },
);
export type RoomInvitation = typeof RoomInvitation.static;

export const RoomInvitationParams = t.Object({ id: IdParam("Room"), code: CodeParam });
