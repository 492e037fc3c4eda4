import { t } from "elysia";
import { Id, Role, RoomName, Topic, Visibility } from "../rooms/model";
import { CodeParam, IdParam, Text } from "../schemas";
import { Limit, PublicUser } from "../users/model";

export const TeamName = Text({ minLength: 1, maxLength: 80, description: "1–80 characters after trimming" });
export const Description = Text({ maxLength: 1000 });

export const Team = t.Object(
  {
    id: t.String(),
    name: t.String(),
    description: t.Nullable(t.String()),
    createdBy: t.String(),
    createdAt: t.String({ format: "date-time" }),
    memberCount: t.Integer(),
    myRole: t.Nullable(Role),
  },
  { description: "A team: members and channels. `myRole` is the caller's (or, in events, the recipient's) role." },
);
export type Team = typeof Team.static;

export const TeamPage = t.Object({ teams: t.Array(Team), nextCursor: t.Nullable(t.String()) });
export type TeamPage = typeof TeamPage.static;

export const TeamListQuery = t.Object({ limit: t.Optional(Limit), cursor: t.Optional(t.String({ maxLength: 200 })) });

export const CreateTeam = t.Object(
  { name: TeamName, description: t.Optional(t.Nullable(Description)) },
  { additionalProperties: false },
);
export type CreateTeam = typeof CreateTeam.static;

export const UpdateTeam = t.Object(
  { name: t.Optional(TeamName), description: t.Optional(t.Nullable(Description)) },
  { additionalProperties: false },
);
export type UpdateTeam = typeof UpdateTeam.static;

export const TeamMember = t.Object({ user: PublicUser, role: Role, joinedAt: t.String({ format: "date-time" }) });
export type TeamMember = typeof TeamMember.static;

export const AddTeamMember = t.Object(
  { userId: Id, role: t.Optional(Role) },
  { additionalProperties: false },
);
export type AddTeamMember = typeof AddTeamMember.static;

export const CreateChannel = t.Object(
  {
    name: RoomName,
    topic: t.Optional(t.Nullable(Topic)),
    visibility: t.Optional(t.Union([t.Literal("public"), t.Literal("private")], { default: "public" })),
  },
  { additionalProperties: false },
);
export type CreateChannel = typeof CreateChannel.static;
export type ChannelVisibility = typeof Visibility.static;

export const DEFAULT_INVITATION_TTL = 7 * 24 * 3600;

export const CreateInvitation = t.Object(
  {
    expiresInSeconds: t.Optional(
      t.Integer({ minimum: 1, maximum: 30 * 24 * 3600, default: DEFAULT_INVITATION_TTL, description: "default 7 days, at most 30 days" }),
    ),
    maxUses: t.Optional(t.Nullable(t.Integer({ minimum: 1, maximum: 1_000_000, description: "null or absent: unlimited" }))),
  },
  { additionalProperties: false },
);
export type CreateInvitation = typeof CreateInvitation.static;

export const Invitation = t.Object(
  {
    code: t.String({ description: "256 random bits, base64url" }),
    teamId: t.String(),
    createdBy: t.String(),
    createdAt: t.String({ format: "date-time" }),
    expiresAt: t.String({ format: "date-time" }),
    maxUses: t.Nullable(t.Integer()),
    uses: t.Integer(),
    revokedAt: t.Nullable(t.String({ format: "date-time" })),
  },
  { description: "An invite code to a team" },
);
export type Invitation = typeof Invitation.static;

export const TeamParams = t.Object({ id: IdParam("Team") });
export const TeamMemberParams = t.Object({ id: IdParam("Team"), userId: IdParam("Member") });
export const InvitationParams = t.Object({ id: IdParam("Team"), code: CodeParam });
export const CodeParams = t.Object({ code: CodeParam });
