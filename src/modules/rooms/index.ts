import { Elysia, t } from "elysia";
import { ErrorResponse } from "../../errors";
import { authPlugin } from "../../plugins/auth";
import type { AuthService } from "../auth/service";
import {
  AddMember,
  Ban,
  BanBody,
  CreateRoom,
  CreateRoomInvitation,
  MemberParams,
  MySettings,
  PublicRoomQuery,
  ReadBody,
  ReadState,
  Room,
  RoomListQuery,
  RoomInvitation,
  RoomInvitationParams,
  RoomMember,
  RoomPage,
  RoomParams,
  StartDirect,
  UpdateMember,
  UpdateRoom,
} from "./model";
import type { RoomInvitations } from "./invitations";
import type { RoomModeration } from "./moderation";
import type { RoomService } from "./service";

const E = ErrorResponse;
const NO_CONTENT = t.Void({ description: "Done" });

export function roomsModule(auth: AuthService, rooms: RoomService, moderation: RoomModeration, invitations: RoomInvitations) {
  return new Elysia({ prefix: "/api/rooms", tags: ["Rooms"] })
    .use(authPlugin(auth))
    .get("", ({ caller, query }) => rooms.list(caller.userId, query), {
      auth: true,
      query: RoomListQuery,
      response: { 200: RoomPage, 400: E, 401: E, 422: E },
      detail: {
        summary: "My rooms",
        description:
          "Every room I belong to (group rooms, direct chats, channels), most recent activity (`lastActivityAt`) first, " +
          "with lastMessage, lastSeq, unreadCount, myRole, myLastReadSeq and my `hidden` and `muted` settings. " +
          "`kind` keeps one kind of room, `teamId` the channels of one team (422 for any other value). Direct chats I hid " +
          "are left out until their next message. Paged with `limit` and `nextCursor`.",
      },
    })
    .patch("/:id/me", ({ caller, params, body }) => rooms.updateMine(caller.userId, params.id, body), {
      auth: true,
      params: RoomParams,
      body: MySettings,
      response: { 200: Room, 400: E, 401: E, 403: E, 404: E, 422: E },
      detail: {
        summary: "My settings for a room",
        description:
          "Members only. `hidden: true` (direct chats only, else 403) leaves the chat out of my room list until its next message, " +
          "whoever sends it; `hidden: false` shows it again. `muted: true` marks the room `muted` for me: clients do not notify " +
          "for it, it still counts unread. Answers the room as I see it.",
      },
    })
    .post(
      "",
      async ({ caller, body, set }) => {
        set.status = 201;
        return rooms.create(caller.userId, body);
      },
      {
        auth: true,
        body: CreateRoom,
        response: { 201: Room, 400: E, 401: E, 404: E, 422: E },
        detail: {
          summary: "Create a group room",
          description:
            "The caller becomes owner; `memberIds` join as members (404 if one is not a user). " +
            "`visibility` defaults to private. Each initial member hears `room.created`.",
        },
      },
    )
    .post(
      "/direct",
      async ({ caller, body, set }) => {
        const { room, created } = await rooms.startDirect(caller.userId, body.userId);
        set.status = created ? 201 : 200;
        return room;
      },
      {
        auth: true,
        body: StartDirect,
        response: { 200: Room, 201: Room, 400: E, 401: E, 404: E, 422: E },
        detail: {
          summary: "Open the direct chat with a user",
          description:
            "There is exactly one direct room per pair of users, whoever starts it: 201 when this call created it, " +
            "200 after. Its `name` is null (clients show the other member). A direct chat can't be left, deleted, " +
            "renamed or given more members. 422 for yourself, 404 for an unknown user.",
        },
      },
    )
    .get("/public", ({ caller, query }) => rooms.listPublic(caller.userId, query.q, query.limit ?? 50, query.cursor), {
      auth: true,
      query: PublicRoomQuery,
      response: { 200: RoomPage, 400: E, 401: E, 422: E },
      detail: {
        summary: "Discover public rooms",
        description: "Public group rooms whose name contains `q` (ignoring case), most recent activity first.",
      },
    })
    .get("/:id", ({ caller, params }) => rooms.get(caller.userId, params.id), {
      auth: true,
      params: RoomParams,
      response: { 200: Room, 401: E, 404: E },
      detail: {
        summary: "Get a room",
        description: "Members, and anyone for a public group room (any team member for a public channel); 404 otherwise.",
      },
    })
    .patch("/:id", ({ caller, params, body }) => rooms.update(caller.userId, params.id, body), {
      auth: true,
      params: RoomParams,
      body: UpdateRoom,
      response: { 200: Room, 400: E, 401: E, 403: E, 404: E, 422: E },
      detail: {
        summary: "Update a room",
        description:
          "Admin or owner (in a channel, team admins and owners too). Members hear `room.updated`. " +
          "A private channel made public takes in the whole team.",
      },
    })
    .delete(
      "/:id",
      async ({ caller, params, set }) => {
        await rooms.remove(caller.userId, params.id);
        set.status = 204;
      },
      {
        auth: true,
        params: RoomParams,
        response: { 204: NO_CONTENT, 401: E, 403: E, 404: E },
        detail: {
          summary: "Delete a room",
          description:
            "Owner only (in a channel, the team owner too), with its messages; a channel only when none of its members ranks " +
            "above the caller in the team (403). Members hear `room.deleted` and are unsubscribed.",
        },
      },
    )
    .post("/:id/join", ({ caller, params }) => rooms.join(caller.userId, params.id), {
      auth: true,
      params: RoomParams,
      response: { 200: Room, 401: E, 404: E },
      detail: {
        summary: "Join a public room",
        description: "Any user for a public group room; idempotent (a member gets the room back). Members hear `member.joined`.",
      },
    })
    .post(
      "/:id/leave",
      async ({ caller, params, set }) => {
        await rooms.leave(caller.userId, params.id);
        set.status = 204;
      },
      {
        auth: true,
        params: RoomParams,
        response: { 204: NO_CONTENT, 401: E, 403: E, 404: E, 409: E },
        detail: {
          summary: "Leave a room",
          description:
            "Members hear `member.left`. 403 for a direct chat (it keeps its two members) and for a public channel " +
            "(leave the team instead); 409 for the last owner of a group room (make someone else owner first) and for " +
            "the last member of a room (delete it instead).",
        },
      },
    )
    .get("/:id/members", ({ caller, params }) => rooms.members(caller.userId, params.id), {
      auth: true,
      params: RoomParams,
      response: { 200: t.Array(RoomMember), 401: E, 403: E, 404: E },
      detail: {
        summary: "Members of a room",
        description: "Members only, in joining order. In a channel, a role is at least the member's team role.",
      },
    })
    .post(
      "/:id/members",
      async ({ caller, params, body, set }) => {
        set.status = 201;
        return rooms.addMember(caller.userId, params.id, body);
      },
      {
        auth: true,
        params: RoomParams,
        body: AddMember,
        response: { 201: RoomMember, 400: E, 401: E, 403: E, 404: E, 409: E, 422: E },
        detail: {
          summary: "Add a member",
          description:
            "Admin or owner; only an owner may add an owner. 403 for a direct chat and, in a channel, for someone " +
            "outside the team; 409 if already a member. The new member's sockets subscribe, then members hear `member.joined`.",
        },
      },
    )
    .patch("/:id/members/:userId", async ({ caller, params, body }) => {
      if (body.role !== undefined) await rooms.changeRole(caller.userId, params.id, params.userId, body.role);
      if (body.mutedUntil !== undefined) await moderation.mute(caller.userId, params.id, params.userId, body.mutedUntil);
      return rooms.member(params.id, params.userId);
    }, {
      auth: true,
      params: MemberParams,
      body: UpdateMember,
      response: { 200: RoomMember, 400: E, 401: E, 403: E, 404: E, 409: E, 422: E },
      detail: {
        summary: "Change a member's role or mute",
        description:
          "Admin or owner; only an owner may make or unmake owners; in a channel, not for a member who ranks above the " +
          "caller in the team (403). 409 when it would leave a group room without an owner. " +
          "`mutedUntil` (an ISO time, null to unmute): until then the member's sends are refused with 403; not for an admin " +
          "or owner, not in a direct chat (403). Members hear `member.updated { roomId, userId, role, mutedUntil }`.",
      },
    })
    .delete(
      "/:id/members/:userId",
      async ({ caller, params, set }) => {
        await rooms.removeMember(caller.userId, params.id, params.userId);
        set.status = 204;
      },
      {
        auth: true,
        params: MemberParams,
        response: { 204: NO_CONTENT, 401: E, 403: E, 404: E, 409: E },
        detail: {
          summary: "Remove a member",
          description:
            "Admin or owner; an admin can't remove an owner, and in a channel nobody removes a member who ranks above them " +
            "in the team (403). Removing yourself is leaving. 403 in a direct chat and in a " +
            "public channel (remove them from the team instead). Members hear `member.left`.",
        },
      },
    )
    .post(
      "/:id/bans",
      async ({ caller, params, body, set }) => {
        set.status = 201;
        return moderation.ban(caller.userId, params.id, body);
      },
      {
        auth: true,
        params: RoomParams,
        body: BanBody,
        response: { 201: Ban, 400: E, 401: E, 403: E, 404: E, 422: E },
        detail: {
          summary: "Ban a user from a room",
          description:
            "Admin or owner; not of an admin or owner, not in a direct chat or a public channel (403). A member is removed " +
            "(members hear `member.left`). Until lifted or `expiresInSeconds` pass, joining, being added or accepting an " +
            "invitation into the room is 403. Banning again replaces the ban.",
        },
      },
    )
    .get("/:id/bans", ({ caller, params }) => moderation.bans(caller.userId, params.id), {
      auth: true,
      params: RoomParams,
      response: { 200: t.Array(Ban), 401: E, 403: E, 404: E },
      detail: { summary: "Bans of a room", description: "Admin or owner: the bans in force, newest first." },
    })
    .delete(
      "/:id/bans/:userId",
      async ({ caller, params, set }) => {
        await moderation.unban(caller.userId, params.id, params.userId);
        set.status = 204;
      },
      {
        auth: true,
        params: MemberParams,
        response: { 204: NO_CONTENT, 401: E, 403: E, 404: E },
        detail: { summary: "Lift a ban", description: "Admin or owner; 404 when the user has no ban in force." },
      },
    )
    .post(
      "/:id/invitations",
      async ({ caller, params, body, set }) => {
        set.status = 201;
        return invitations.create(caller.userId, params.id, body);
      },
      {
        auth: true,
        params: RoomParams,
        body: CreateRoomInvitation,
        response: { 201: RoomInvitation, 400: E, 401: E, 403: E, 404: E, 422: E },
        detail: {
          summary: "Create a room invite code",
          description:
            "Admin or owner of a private group room (403 for a public room, a direct chat or a channel). Expires in 7 days " +
            "unless told, at most 30; unlimited uses unless `maxUses`. Anyone with the code joins at " +
            "`POST /api/invitations/:code/accept`, unless banned from the room.",
        },
      },
    )
    .get("/:id/invitations", ({ caller, params }) => invitations.list(caller.userId, params.id), {
      auth: true,
      params: RoomParams,
      response: { 200: t.Array(RoomInvitation), 401: E, 403: E, 404: E },
      detail: { summary: "Invite codes of a room", description: "Admin or owner; newest first, spent, expired and revoked ones included." },
    })
    .delete(
      "/:id/invitations/:code",
      async ({ caller, params, set }) => {
        await invitations.revoke(caller.userId, params.id, params.code);
        set.status = 204;
      },
      {
        auth: true,
        params: RoomInvitationParams,
        response: { 204: NO_CONTENT, 401: E, 403: E, 404: E },
        detail: { summary: "Revoke a room invite code", description: "Admin or owner; idempotent. The code stops working at once (404 on accept)." },
      },
    )
    .post("/:id/read", ({ caller, params, body }) => rooms.markRead(caller.userId, params.id, body.seq), {
      auth: true,
      params: RoomParams,
      body: ReadBody,
      response: { 200: ReadState, 400: E, 401: E, 403: E, 404: E, 422: E },
      detail: {
        summary: "Move my read position",
        description:
          "Forward only: a lower seq leaves it where it is. Capped at the room's lastSeq. Members hear `read { roomId, userId, seq }` when it moves.",
      },
    });
}
