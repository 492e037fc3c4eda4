// The server's own schemas, as types only: nothing from the server reaches the bundle.
import type { AdminUser as AdminUserSchema, Stats as StatsSchema } from "../modules/admin/model";
import type { AuthResult as AuthResultSchema } from "../modules/auth/model";
import type { Message as MessageSchema, Reaction as ReactionSchema } from "../modules/messages/model";
import type { FileView as FileViewSchema } from "../modules/files/model";
import type { Ban as BanSchema, Room as RoomSchema, RoomInvitation as RoomInvitationSchema, RoomMember as RoomMemberSchema } from "../modules/rooms/model";
import type { Invitation as InvitationSchema, Team as TeamSchema, TeamMember as TeamMemberSchema } from "../modules/teams/model";
import type { OwnUser as OwnUserSchema, PublicUser as PublicUserSchema } from "../modules/users/model";

export type Room = typeof RoomSchema.static;
export type RoomInvitation = typeof RoomInvitationSchema.static;
export type FileView = typeof FileViewSchema.static;
export type RoomMember = typeof RoomMemberSchema.static;
export type Ban = typeof BanSchema.static;
export type Message = typeof MessageSchema.static;
export type Reaction = typeof ReactionSchema.static;
export type OwnUser = typeof OwnUserSchema.static;
export type PublicUser = typeof PublicUserSchema.static;
export type AuthResult = typeof AuthResultSchema.static;
export type Team = typeof TeamSchema.static;
export type TeamMember = typeof TeamMemberSchema.static;
export type Invitation = typeof InvitationSchema.static;
export type AdminUser = typeof AdminUserSchema.static;
export type Stats = typeof StatsSchema.static;

/** What the app shows of any user: a sender, a member, a search result. */
export type UserRef = Pick<PublicUser, "id" | "username" | "displayName"> & Partial<Pick<PublicUser, "avatarUrl">>;
