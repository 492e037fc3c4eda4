import { Elysia, t } from "elysia";
import { ErrorResponse } from "../../errors";
import type { PresenceView } from "../../events";
import { authPlugin } from "../../plugins/auth";
import type { AccountService } from "../auth/account";
import { DeleteAccountBody } from "../auth/model";
import type { AuthService } from "../auth/service";
import { OwnUser, PublicUser, UpdateProfile, UserPage, UserParams, UserSearchQuery } from "./model";
import { toOwnUser, toPublicUser, type UserService } from "./service";

export function usersModule(auth: AuthService, users: UserService, presence: PresenceView, accounts: AccountService) {
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
      response: { 200: OwnUser, 400: ErrorResponse, 401: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse },
      detail: {
        summary: "Update my profile",
        description:
          "Send only the fields to change; null clears one. Unknown fields are ignored. A new `email` is unverified " +
          "(`emailVerified: false`) whoever else has it; when the server sends codes (SMTP_URL), one goes to the address, " +
          "to confirm with `POST /api/auth/email/verify`. Setting the same unverified address again sends a new code. " +
          "At most 5 new addresses or codes an hour per user (429 with Retry-After). A new `username` follows the " +
          "register rules (names starting with `deleted-` are reserved: 422), is unique ignoring case (409 when taken), " +
          "and may change at most 3 times an hour (429 with Retry-After); a change of case only is a change too.",
      },
    })
    .delete(
      "/me",
      async ({ caller, body, set }) => {
        await accounts.deleteAccount(caller, body.password);
        set.status = 204;
      },
      {
        auth: true,
        body: DeleteAccountBody,
        response: { 204: t.Void({ description: "Account deleted" }), 400: ErrorResponse, 401: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse },
        detail: {
          summary: "Delete my account",
          description:
            "With the password (401 when wrong; repeated failures get 429). Every session ends (WebSockets close with 4001; " +
            "access and refresh tokens are refused from then on) and the profile is anonymised: `username` becomes " +
            "`deleted-<id prefix>`, `displayName` \"Deleted user\", avatar, status and email are cleared and no password " +
            "logs in. Messages stay with their seqs and show the anonymised author; direct rooms stay readable by the other " +
            "member; memberships stay, so rooms keep their owners. The account no longer appears in user search. 409 for " +
            "the last active server admin.",
        },
      },
    )
    .get("/:id", async ({ params }) => toPublicUser(await users.get(params.id), presence), {
      auth: true,
      params: UserParams,
      response: { 200: PublicUser, 401: ErrorResponse, 404: ErrorResponse },
      detail: { summary: "Get a user" },
    });
}
