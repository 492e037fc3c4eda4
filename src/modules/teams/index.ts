import { Elysia, t } from "elysia";
import { ErrorResponse } from "../../errors";
import { authPlugin } from "../../plugins/auth";
import type { AuthService } from "../auth/service";
import { ChangeRole, Room } from "../rooms/model";
import {
  AddTeamMember,
  CodeParams,
  CreateChannel,
  CreateInvitation,
  CreateTeam,
  Invitation,
  InvitationParams,
  Team,
  TeamListQuery,
  TeamMember,
  TeamMemberParams,
  TeamPage,
  TeamParams,
  UpdateTeam,
} from "./model";
import type { RoomInvitations } from "../rooms/invitations";
import type { TeamService } from "./service";

const E = ErrorResponse;
const NO_CONTENT = t.Void({ description: "Done" });

/** An accepted code: the room or the team it joined. */
const AcceptedInvitation = t.Union([t.Object({ room: Room }), t.Object({ team: Team })], {
  description: "`{ room }` for a room's invite code, `{ team }` for a team's",
});

/** `/api/teams/…` and `POST /api/invitations/:code/accept` (team and room codes alike). */
export function teamsModule(auth: AuthService, teams: TeamService, roomInvitations: Pick<RoomInvitations, "accept">) {
  return new Elysia({ prefix: "/api", tags: ["Teams"] })
    .use(authPlugin(auth))
    .post(
      "/teams",
      async ({ caller, body, set }) => {
        set.status = 201;
        return teams.create(caller.userId, body);
      },
      {
        auth: true,
        body: CreateTeam,
        response: { 201: Team, 400: E, 401: E, 422: E },
        detail: { summary: "Create a team", description: "The caller becomes owner; a public `general` channel is created with them in it." },
      },
    )
    .get("/teams", ({ caller, query }) => teams.list(caller.userId, query.limit ?? 50, query.cursor), {
      auth: true,
      query: TeamListQuery,
      response: { 200: TeamPage, 400: E, 401: E, 422: E },
      detail: { summary: "My teams", description: "Oldest first, paged with `limit` and `nextCursor`." },
    })
    .get("/teams/:id", ({ caller, params }) => teams.get(caller.userId, params.id), {
      auth: true,
      params: TeamParams,
      response: { 200: Team, 401: E, 404: E },
      detail: { summary: "Get a team", description: "Members only; 404 for anyone else." },
    })
    .patch("/teams/:id", ({ caller, params, body }) => teams.update(caller.userId, params.id, body), {
      auth: true,
      params: TeamParams,
      body: UpdateTeam,
      response: { 200: Team, 400: E, 401: E, 403: E, 404: E, 422: E },
      detail: { summary: "Update a team", description: "Admin or owner. Every member hears `team.updated`." },
    })
    .delete(
      "/teams/:id",
      async ({ caller, params, set }) => {
        await teams.remove(caller.userId, params.id);
        set.status = 204;
      },
      {
        auth: true,
        params: TeamParams,
        response: { 204: NO_CONTENT, 401: E, 403: E, 404: E },
        detail: {
          summary: "Delete a team",
          description: "Owner only, with its channels and invitations. Channel members hear `room.deleted`; team members `team.deleted`.",
        },
      },
    )
    .get("/teams/:id/members", ({ caller, params }) => teams.members(caller.userId, params.id), {
      auth: true,
      params: TeamParams,
      response: { 200: t.Array(TeamMember), 401: E, 404: E },
      detail: { summary: "Members of a team", description: "Members only, in joining order." },
    })
    .post(
      "/teams/:id/members",
      async ({ caller, params, body, set }) => {
        set.status = 201;
        return teams.addMember(caller.userId, params.id, body);
      },
      {
        auth: true,
        params: TeamParams,
        body: AddTeamMember,
        response: { 201: TeamMember, 400: E, 401: E, 403: E, 404: E, 409: E, 422: E },
        detail: {
          summary: "Add a team member",
          description: "Admin or owner; only an owner may add an owner. The new member joins every public channel. 409 if already a member.",
        },
      },
    )
    .patch(
      "/teams/:id/members/:userId",
      ({ caller, params, body }) => teams.changeRole(caller.userId, params.id, params.userId, body.role),
      {
        auth: true,
        params: TeamMemberParams,
        body: ChangeRole,
        response: { 200: TeamMember, 400: E, 401: E, 403: E, 404: E, 409: E, 422: E },
        detail: {
          summary: "Change a team member's role",
          description:
            "Admin or owner; only an owner may make or unmake owners; 409 when it would leave the team without an owner. " +
            "This is how an owner hands a team over before leaving it. Members hear `team.updated`; in each channel where the " +
            "member's role follows (a channel role is at least the team role), the channel hears `member.updated { roomId, userId, role }`.",
        },
      },
    )
    .delete(
      "/teams/:id/members/:userId",
      async ({ caller, params, set }) => {
        await teams.removeMember(caller.userId, params.id, params.userId);
        set.status = 204;
      },
      {
        auth: true,
        params: TeamMemberParams,
        response: { 204: NO_CONTENT, 401: E, 403: E, 404: E, 409: E },
        detail: {
          summary: "Remove a team member",
          description:
            "Admin or owner; an admin can't remove an owner. Removing yourself is leaving. The member leaves every channel of " +
            "the team (channel members hear `member.left`) and hears `team.deleted`.",
        },
      },
    )
    .post(
      "/teams/:id/leave",
      async ({ caller, params, set }) => {
        await teams.leave(caller.userId, params.id);
        set.status = 204;
      },
      {
        auth: true,
        params: TeamParams,
        response: { 204: NO_CONTENT, 401: E, 404: E, 409: E },
        detail: {
          summary: "Leave a team",
          description:
            "Leaves the team and every channel of it. 409 for the last owner: make someone else owner first, or delete the team.",
        },
      },
    )
    .get("/teams/:id/channels", ({ caller, params }) => teams.channels(caller.userId, params.id), {
      auth: true,
      params: TeamParams,
      response: { 200: t.Array(Room), 401: E, 404: E },
      detail: { summary: "Channels I can see", description: "Every public channel of the team and the private ones I am in, oldest first." },
    })
    .post(
      "/teams/:id/channels",
      async ({ caller, params, body, set }) => {
        set.status = 201;
        return teams.createChannel(caller.userId, params.id, body);
      },
      {
        auth: true,
        params: TeamParams,
        body: CreateChannel,
        response: { 201: Room, 400: E, 401: E, 403: E, 404: E, 422: E },
        detail: {
          summary: "Create a channel",
          description:
            "Admin or owner. The creator runs the channel through their team role (`myRole` is it), which follows any later " +
            "change of that role. `visibility` defaults to public: a public channel holds every team " +
            "member; a private one only its creator until members are added (team members only).",
        },
      },
    )
    .post(
      "/teams/:id/invitations",
      async ({ caller, params, body, set }) => {
        set.status = 201;
        return teams.createInvitation(caller.userId, params.id, body);
      },
      {
        auth: true,
        params: TeamParams,
        body: CreateInvitation,
        response: { 201: Invitation, 400: E, 401: E, 403: E, 404: E, 422: E },
        detail: { summary: "Create an invite code", description: "Admin or owner. Expires in 7 days unless told; unlimited uses unless `maxUses`." },
      },
    )
    .get("/teams/:id/invitations", ({ caller, params }) => teams.listInvitations(caller.userId, params.id), {
      auth: true,
      params: TeamParams,
      response: { 200: t.Array(Invitation), 401: E, 403: E, 404: E },
      detail: { summary: "Invite codes of a team", description: "Admin or owner; newest first, spent, expired and revoked ones included." },
    })
    .delete(
      "/teams/:id/invitations/:code",
      async ({ caller, params, set }) => {
        await teams.revokeInvitation(caller.userId, params.id, params.code);
        set.status = 204;
      },
      {
        auth: true,
        params: InvitationParams,
        response: { 204: NO_CONTENT, 401: E, 403: E, 404: E },
        detail: { summary: "Revoke an invite code", description: "Admin or owner; idempotent. The code stops working at once." },
      },
    )
    .post(
      "/invitations/:code/accept",
      async ({ caller, params }) => {
        // A room code names its room; any other code is a team's (or unknown: 404).
        const room = await roomInvitations.accept(caller.userId, params.code);
        if (room) return { room };
        return { team: await teams.accept(caller.userId, params.code) };
      },
      {
        auth: true,
        params: CodeParams,
        response: { 200: AcceptedInvitation, 401: E, 403: E, 404: E },
        tags: ["Teams", "Rooms"],
        detail: {
          summary: "Accept an invite code",
          description:
            "A team's code joins the team and its public channels and answers `{ team }`; a room's code joins that room " +
            "(members hear `member.joined`) and answers `{ room }`. 404 for an unknown, expired, revoked or used-up code; " +
            "403 for a user banned from the room (or from a public channel of the team). Accepting again as a member " +
            "answers the same and spends no use.",
        },
      },
    );
}
