import { Elysia, t } from "elysia";
import { ErrorResponse } from "../../errors";
import { authPlugin, requireCaller } from "../../plugins/auth";
import type { AuthService } from "../auth/service";
import { RoomParams } from "../rooms/model";
import type { RoomService } from "../rooms/service";
import type { TeamService } from "../teams/service";
import { UserParams } from "../users/model";
import type { PresenceView } from "../../events";
import {
  AdminRoomPage,
  AdminRoomQuery,
  AdminUser,
  AdminUserPage,
  AdminUserQuery,
  AuditPage,
  PageQuery,
  ReportIdParams,
  ReportPage,
  ReportQuery,
  ReportView,
  ResetPassword,
  ResolveReport,
  Stats,
  TeamIdParams,
  UpdateAccount,
} from "./model";
import type { AdminService } from "./service";
import { toAdminUser, type AdminViews } from "./views";

const refused = { 401: ErrorResponse, 403: ErrorResponse };
const adminsOnly = "Server admins only (403 for anyone else).";

export interface AdminModuleDeps {
  auth: AuthService;
  admin: AdminService;
  views: AdminViews;
  rooms: RoomService;
  teams: TeamService;
  presence: PresenceView;
}

/** `/api/admin`: every route answers 401 without a valid token and 403 to anyone but an active server admin. */
export function adminModule({ auth, admin, views, rooms, teams, presence }: AdminModuleDeps) {
  return new Elysia({ prefix: "/api/admin", tags: ["Admin"] })
    .use(authPlugin(auth))
    .macro({
      serverAdmin: {
        detail: { security: [{ bearerAuth: [] }] },
        // In transform, before the query or body is validated: others learn nothing but 401 or 403.
        async transform({ request }) {
          await admin.requireAdmin((await requireCaller(auth, request)).userId);
        },
        async resolve({ request }) {
          return { caller: await requireCaller(auth, request) };
        },
        // Changes write their own entries in their transactions; reads are written once answered.
        async afterHandle({ request, route, query }) {
          if (request.method === "GET") await admin.recordRead((await requireCaller(auth, request)).userId, route, query);
        },
      },
    })
    .get("/stats", () => views.stats(), {
      serverAdmin: true,
      response: { 200: Stats, ...refused },
      detail: { summary: "Server statistics", description: `Counts of users, rooms and messages; this process's sockets. ${adminsOnly}` },
    })
    .get("/users", ({ query }) => views.users(query), {
      serverAdmin: true,
      query: AdminUserQuery,
      response: { 200: AdminUserPage, 400: ErrorResponse, ...refused, 422: ErrorResponse },
      detail: { summary: "Every user", description: `By username, with email, role and deactivation; \`q\` matches username or display name. ${adminsOnly}` },
    })
    .patch(
      "/users/:id",
      async ({ caller, params, body }) => {
        await admin.updateAccount({ id: params.id }, body, caller.userId);
        return toAdminUser(await admin.row(params.id), presence);
      },
      {
        serverAdmin: true,
        params: UserParams,
        body: UpdateAccount,
        response: { 200: AdminUser, 400: ErrorResponse, ...refused, 404: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse },
        detail: {
          summary: "Change a user's role or deactivation",
          description:
            "Deactivating ends every session of the user (their sockets close with 4001). The last active admin can be neither " +
            `demoted nor deactivated (409). Each change is written to the audit log. ${adminsOnly}`,
        },
      },
    )
    .post(
      "/users/:id/password",
      async ({ caller, params, body, set }) => {
        await admin.resetPassword({ id: params.id }, body.password, caller.userId);
        set.status = 204;
      },
      {
        serverAdmin: true,
        params: UserParams,
        body: ResetPassword,
        response: { 204: t.Void({ description: "Password set; sessions ended" }), 400: ErrorResponse, ...refused, 404: ErrorResponse, 422: ErrorResponse },
        detail: { summary: "Reset a user's password", description: `Checked as on register; every session of the user ends. Audited. ${adminsOnly}` },
      },
    )
    .get("/rooms", ({ query }) => views.rooms(query), {
      serverAdmin: true,
      query: AdminRoomQuery,
      response: { 200: AdminRoomPage, 400: ErrorResponse, ...refused, 422: ErrorResponse },
      detail: { summary: "Every room", description: `Private and direct rooms included, newest first; metadata only, never messages. ${adminsOnly}` },
    })
    .delete(
      "/rooms/:id",
      async ({ caller, params, set }) => {
        await rooms.remove(caller.userId, params.id, { asServerAdmin: true });
        set.status = 204;
      },
      {
        serverAdmin: true,
        params: RoomParams,
        response: { 204: t.Void({ description: "Deleted" }), ...refused, 404: ErrorResponse },
        detail: { summary: "Delete any room", description: `With the events of an owner's delete (\`room.deleted\`). Audited. ${adminsOnly}` },
      },
    )
    .delete(
      "/teams/:id",
      async ({ caller, params, set }) => {
        await teams.remove(caller.userId, params.id, { asServerAdmin: true });
        set.status = 204;
      },
      {
        serverAdmin: true,
        params: TeamIdParams,
        response: { 204: t.Void({ description: "Deleted" }), ...refused, 404: ErrorResponse },
        detail: { summary: "Delete any team", description: `With its channels, and the events of an owner's delete. Audited. ${adminsOnly}` },
      },
    )
    .get("/reports", ({ query }) => views.reports(query), {
      serverAdmin: true,
      query: ReportQuery,
      response: { 200: ReportPage, 400: ErrorResponse, ...refused, 422: ErrorResponse },
      detail: { summary: "The report queue", description: `Reports of messages, newest first, with the reported text. ${adminsOnly}` },
    })
    .patch(
      "/reports/:id",
      async ({ caller, params, body }) => {
        await admin.resolveReport(caller.userId, params.id, body.note ?? null);
        return views.report(params.id);
      },
      {
        serverAdmin: true,
        params: ReportIdParams,
        body: ResolveReport,
        response: { 200: ReportView, 400: ErrorResponse, ...refused, 404: ErrorResponse, 422: ErrorResponse },
        detail: { summary: "Resolve a report", description: `With an optional note; audited. A resolved report stays as it was. ${adminsOnly}` },
      },
    )
    .get("/audit", ({ query }) => views.audit(query), {
      serverAdmin: true,
      query: PageQuery,
      response: { 200: AuditPage, 400: ErrorResponse, ...refused, 422: ErrorResponse },
      detail: { summary: "The audit log", description: `What admins did, newest first; \`actor\` null for the command line. ${adminsOnly}` },
    });
}
