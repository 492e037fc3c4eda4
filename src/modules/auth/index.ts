import { Elysia, t } from "elysia";
import { ErrorResponse } from "../../errors";
import { authPlugin, OPEN_ROUTES, pathOf } from "../../plugins/auth";
import { clientAddress } from "../../plugins/client-address";
import type { RateLimiter } from "../../plugins/rate-limit";
import { OwnUser } from "../users/model";
import type { AccountService } from "./account";
import { AuthResult, ChangePasswordBody, LoginBody, RefreshBody, RegisterBody, SessionParams, SessionView, Tokens, VerifyEmailBody, WsTicket } from "./model";
import type { AuthService } from "./service";

/**
 * RATE_LIMIT_AUTH, when the request arrives: before its body is read, parsed or validated, so
 * floods of unreadable or invalid bodies are limited too. Mount it before anything that refuses
 * bodies. `trustProxy`: proxies in front whose X-Forwarded-For names the client (TRUST_PROXY).
 * It counts the routes open without a token (register, login, refresh) together.
 */
export function authRateLimit(limiter: RateLimiter, trustProxy = 0) {
  return new Elysia({ name: "auth-rate-limit" }).onRequest(({ request, server }) => {
    if (!limiter.enabled || request.method !== "POST") return;
    const path = pathOf(request);
    // Elysia also routes the path with a trailing slash.
    if (OPEN_ROUTES.has(path) || (path.endsWith("/") && OPEN_ROUTES.has(path.slice(0, -1))))
      limiter.take(clientAddress(request, server, trustProxy));
  });
}

export function authModule(auth: AuthService, accounts: AccountService) {
  return new Elysia({ prefix: "/api/auth", tags: ["Auth"] })
    .use(authPlugin(auth))
    .post(
      "/register",
      async ({ body, headers, set }) => {
        set.status = 201;
        return auth.register(body, headers["user-agent"]);
      },
      {
        body: RegisterBody,
        response: { 201: AuthResult, 400: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse },
        detail: {
          summary: "Create an account",
          description:
            "Creates a user and a session; answers with tokens. An `email` is stored unverified whoever else has it " +
            "(409 is for a taken username only); when the server sends codes (SMTP_URL), one goes to the address.",
        },
      },
    )
    .post("/login", ({ body, headers }) => auth.login(body, headers["user-agent"]), {
      body: LoginBody,
      response: { 200: AuthResult, 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse },
      detail: {
        summary: "Log in",
        description:
          "With a username or a verified email (an unverified one is no login name). Unknown users and wrong passwords " +
          "get the same 401. Repeated failures slow the name they used down, whether or not it is anyone's " +
          "(429 with Retry-After). A deactivated account gets 403 with the right password (401 with a wrong one).",
      },
    })
    .post("/refresh", ({ body }) => auth.refresh(body.refreshToken), {
      body: RefreshBody,
      response: { 200: Tokens, 400: ErrorResponse, 401: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse },
      detail: {
        summary: "Rotate tokens",
        description:
          "Each refresh token works once. Presenting a used one ends the whole session, except a double submit: " +
          "within 10 s of its use, while the new refresh token is unused, the same token gets the same new pair.",
      },
    })
    .post(
      "/logout",
      async ({ body, caller, set }) => {
        await auth.logout(caller, body.refreshToken);
        set.status = 204;
      },
      {
        auth: true,
        body: RefreshBody,
        response: { 204: t.Void({ description: "Session ended" }), 400: ErrorResponse, 401: ErrorResponse, 422: ErrorResponse },
        detail: {
          summary: "Log out",
          description: "Ends the caller's session (and the refresh token's, if another of the caller's) and closes its WebSockets.",
        },
      },
    )
    .post("/email/verify", ({ caller, body }) => auth.verifyEmail(caller.userId, body.code), {
      auth: true,
      body: VerifyEmailBody,
      response: { 200: OwnUser, 400: ErrorResponse, 401: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse },
      detail: {
        summary: "Verify my email",
        description:
          "Confirms the caller's email with the code sent to it (on register or `PATCH /api/users/me`); answers with the " +
          "caller's own user, `emailVerified: true`. A code is good for 30 minutes and 5 tries, once, and only for the " +
          "address it was sent to; a new one replaces it. 422 for a code that is no good, 409 when another account has " +
          "verified the address, 400 when the server sends no codes (no SMTP_URL).",
      },
    })
    .get("/me", ({ caller }) => auth.me(caller.userId), {
      auth: true,
      response: { 200: OwnUser, 401: ErrorResponse },
      detail: { summary: "The caller's own user" },
    })
    .post("/ws-ticket", ({ caller }) => auth.createWsTicket(caller), {
      auth: true,
      response: { 200: WsTicket, 401: ErrorResponse },
      detail: {
        summary: "Get a WebSocket ticket",
        description: "A single-use ticket valid for 30 seconds, for `GET /ws?ticket=…`.",
      },
    })
    .post(
      "/password",
      async ({ caller, body, set }) => {
        await accounts.changePassword(caller, body.currentPassword, body.newPassword);
        set.status = 204;
      },
      {
        auth: true,
        body: ChangePasswordBody,
        response: { 204: t.Void({ description: "Password changed" }), 400: ErrorResponse, 401: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse },
        detail: {
          summary: "Change my password",
          description:
            "With the current password (401 when wrong; repeated failures get 429 with Retry-After, as failed logins do). " +
            "Every other session of the caller ends and its WebSockets close with 4001; the caller's session stays.",
        },
      },
    )
    .get("/sessions", ({ caller }) => accounts.sessions(caller), {
      auth: true,
      response: { 200: t.Array(SessionView), 401: ErrorResponse },
      detail: {
        summary: "My sessions",
        description:
          "The caller's live sessions (logins not ended or expired), newest first; `current` marks the request's own. " +
          "`lastUsedAt` moves with each refresh.",
      },
    })
    .delete(
      "/sessions/:id",
      async ({ caller, params, set }) => {
        await accounts.endSession(caller, params.id);
        set.status = 204;
      },
      {
        auth: true,
        params: SessionParams,
        response: { 204: t.Void({ description: "Session ended" }), 401: ErrorResponse, 404: ErrorResponse },
        detail: {
          summary: "End one of my sessions",
          description:
            "Ends the session (its refresh token stops working, its WebSockets close with 4001). " +
            "404 for an id that is not one of the caller's live sessions.",
        },
      },
    );
}
