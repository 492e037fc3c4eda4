import { Elysia } from "elysia";
import { ErrorResponse } from "../../errors";
import type { PresenceView } from "../../events";
import { authPlugin } from "../../plugins/auth";
import type { AuthService } from "../auth/service";
import { OwnUser, PublicUser, UpdateProfile, UserPage, UserParams, UserSearchQuery } from "./model";
import { toOwnUser, toPublicUser, type UserService } from "./service";

export function usersModule(auth: AuthService, users: UserService, presence: PresenceView) {
  return new Elysia({ prefix: "/api/users", tags: ["Users"] })
    .use(authPlugin(auth))
    .get("", ({ query }) => users.search(query.q, query.limit ?? 50, query.cursor), {
      auth: true,
      query: UserSearchQuery,
      response: { 200: UserPage, 400: ErrorResponse, 401: ErrorResponse, 422: ErrorResponse },
      detail: {
        summary: "Search users",
        description: "By username or display-name prefix, ignoring case; ordered by username.",
      },
    })
    .patch("/me", async ({ caller, body }) => toOwnUser(await users.update(caller.userId, body), presence), {
      auth: true,
      body: UpdateProfile,
      response: { 200: OwnUser, 400: ErrorResponse, 401: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse },
      detail: {
        summary: "Update my profile",
        description:
          "Send only the fields to change; null clears one. Unknown fields are ignored. A new `email` is unverified " +
          "(`emailVerified: false`) whoever else has it; when the server sends codes (SMTP_URL), one goes to the address, " +
          "to confirm with `POST /api/auth/email/verify`. Setting the same unverified address again sends a new code. " +
          "At most 5 new addresses or codes an hour per user (429 with Retry-After).",
      },
    })
    .get("/:id", async ({ params }) => toPublicUser(await users.get(params.id), presence), {
      auth: true,
      params: UserParams,
      response: { 200: PublicUser, 401: ErrorResponse, 404: ErrorResponse },
      detail: { summary: "Get a user" },
    });
}
