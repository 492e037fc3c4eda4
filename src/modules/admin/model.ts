import { t } from "elysia";
import { IdParam, Text } from "../schemas";
import { RoomKind, Visibility } from "../rooms/model";
import { Limit, PublicUser, ServerRole, UserRef } from "../users/model";

export const Stats = t.Object(
  {
    version: t.String(),
    database: t.String({ description: "The database's dialect: sqlite or pg" }),
    uptimeSeconds: t.Integer(),
    users: t.Integer(),
    deactivatedUsers: t.Integer(),
    rooms: t.Integer(),
    messages: t.Integer(),
    files: t.Integer({ description: "Stored files: uploads and avatars" }),
    fileBytes: t.Integer({ description: "Bytes of the stored files" }),
    onlineUsers: t.Integer({ description: "Users with a socket open on this process" }),
    connections: t.Integer({ description: "Sockets open on this process" }),
  },
  { description: "What this server holds and serves" },
);
export type Stats = typeof Stats.static;

export const AdminUser = t.Composite(
  [PublicUser, t.Object({ email: t.Nullable(t.String()), role: ServerRole, deactivatedAt: t.Nullable(t.String({ format: "date-time" })) })],
  { description: "A user as server admins see them" },
);
export type AdminUser = typeof AdminUser.static;

const Cursor = t.String({ maxLength: 512, description: "`nextCursor` of the previous page" });

export const AdminUserQuery = t.Object({
  q: t.Optional(t.String({ maxLength: 64, description: "Part of the username or display name, ignoring case" })),
  status: t.Optional(t.Union([t.Literal("active"), t.Literal("deactivated")])),
  limit: t.Optional(Limit),
  cursor: t.Optional(Cursor),
});
export type AdminUserQuery = typeof AdminUserQuery.static;

export const AdminUserPage = t.Object({ users: t.Array(AdminUser), nextCursor: t.Nullable(t.String()) });
export type AdminUserPage = typeof AdminUserPage.static;

export const UpdateAccount = t.Object({ role: t.Optional(ServerRole), deactivated: t.Optional(t.Boolean()) });

export const ResetPassword = t.Object({ password: t.String({ maxLength: 1024 }) });

export const AdminRoom = t.Object(
  {
    id: t.String(),
    kind: RoomKind,
    name: t.Nullable(t.String()),
    teamId: t.Nullable(t.String()),
    visibility: Visibility,
    memberCount: t.Integer(),
    lastSeq: t.Integer(),
    createdBy: t.String(),
    createdAt: t.String({ format: "date-time" }),
  },
  { description: "A room's metadata, never its messages" },
);
export type AdminRoom = typeof AdminRoom.static;

export const AdminRoomQuery = t.Object({
  q: t.Optional(t.String({ maxLength: 80, description: "Part of the room's name, ignoring case" })),
  kind: t.Optional(RoomKind),
  limit: t.Optional(Limit),
  cursor: t.Optional(Cursor),
});
export type AdminRoomQuery = typeof AdminRoomQuery.static;

export const AdminRoomPage = t.Object({ rooms: t.Array(AdminRoom), nextCursor: t.Nullable(t.String()) });
export type AdminRoomPage = typeof AdminRoomPage.static;

export const AuditEntryView = t.Object({
  id: t.String(),
  actor: t.Nullable(UserRef, { description: "null: done from the command line" }),
  action: t.String({ description: "e.g. user.role, user.deactivate, user.reactivate, user.password_reset, room.delete, team.delete" }),
  targetType: t.String(),
  targetId: t.String(),
  details: t.Nullable(t.Record(t.String(), t.Unknown())),
  createdAt: t.String({ format: "date-time" }),
});
export type AuditEntryView = typeof AuditEntryView.static;

export const PageQuery = t.Object({ limit: t.Optional(Limit), cursor: t.Optional(Cursor) });

export const AuditPage = t.Object({ entries: t.Array(AuditEntryView), nextCursor: t.Nullable(t.String()) });
export type AuditPage = typeof AuditPage.static;

export const TeamIdParams = t.Object({ id: IdParam("Team") });
export const ReportIdParams = t.Object({ id: IdParam("Report") });

export const ReportStatus = t.Union([t.Literal("open"), t.Literal("resolved")]);

export const ReportView = t.Object(
  {
    id: t.String(),
    message: t.Object({
      id: t.String(),
      roomId: t.String(),
      seq: t.Integer(),
      senderId: t.String(),
      content: t.String({ description: "The reported text; empty once the message is deleted" }),
      deletedAt: t.Nullable(t.String({ format: "date-time" })),
    }),
    reporter: UserRef,
    reason: t.String(),
    status: ReportStatus,
    createdAt: t.String({ format: "date-time" }),
    resolvedBy: t.Nullable(t.String({ description: "The id of the admin who resolved it" })),
    resolvedAt: t.Nullable(t.String({ format: "date-time" })),
    note: t.Nullable(t.String()),
  },
  { description: "A report of a message, as the report queue shows it" },
);
export type ReportView = typeof ReportView.static;

export const ReportQuery = t.Object({ status: t.Optional(ReportStatus), limit: t.Optional(Limit), cursor: t.Optional(Cursor) });
export type ReportQuery = typeof ReportQuery.static;

export const ReportPage = t.Object({ reports: t.Array(ReportView), nextCursor: t.Nullable(t.String()) });
export type ReportPage = typeof ReportPage.static;

export const ResolveReport = t.Object({ status: t.Literal("resolved"), note: t.Optional(Text({ maxLength: 1000 })) });
