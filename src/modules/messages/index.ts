import { Elysia, t } from "elysia";
import { ErrorResponse } from "../../errors";
import { type Metrics, noMetrics } from "../../metrics";
import { authPlugin } from "../../plugins/auth";
import type { AuthService } from "../auth/service";
import { RoomParams } from "../rooms/model";
import {
  EditMessageBody,
  HistoryQuery,
  IdParams,
  Message,
  MessageEdit,
  MessageRead,
  ReactionConflict,
  MessagePage,
  ReactionParams,
  RepliesQuery,
  ReportBody,
  ReportCreated,
  SearchPage,
  SearchQuery,
  SendMessageBody,
} from "./model";
import type { MessageService } from "./service";

const hidden = "Rooms and messages the caller may not see answer 404, never 403.";

export function messagesModule(auth: AuthService, messages: MessageService, metrics: Pick<Metrics, "message"> = noMetrics) {
  return new Elysia({ prefix: "/api", tags: ["Messages"] })
    .use(authPlugin(auth))
    .get("/rooms/:id/messages", ({ caller, params, query }) => messages.history(caller.userId, params.id, { ...query, limit: query.limit ?? 50 }), {
      auth: true,
      params: RoomParams,
      query: HistoryQuery,
      response: { 200: MessagePage, 401: ErrorResponse, 404: ErrorResponse, 422: ErrorResponse },
      detail: {
        summary: "Message history",
        description:
          "Messages in ascending seq, for members and (read-only) for anyone in a public room. Without `before`/`after`: the newest page. " +
          "`before=S`: the page just older than S. `after=S`: the page just newer than S (with both, the window between them, from `after` on). " +
          hidden,
      },
    })
    .post(
      "/rooms/:id/messages",
      async ({ caller, params, body, set }) => {
        const { message, created } = await messages.send(caller.userId, params.id, body);
        if (created) metrics.message("rest");
        set.status = created ? 201 : 200;
        return message;
      },
      {
        auth: true,
        params: RoomParams,
        body: SendMessageBody,
        response: {
          200: Message,
          201: Message,
          401: ErrorResponse,
          403: ErrorResponse,
          404: ErrorResponse,
          422: ErrorResponse,
          429: ErrorResponse,
        },
        detail: {
          summary: "Send a message",
          description:
            "Members only (403 for an outsider of a public room). Answers 201 once the message is committed, or 200 with the first " +
            "message when the same sender already used this `clientId` in this room. 422 when the content is empty after trimming or too " +
            "long, the metadata is not an object or over its size limit, or `replyToId` is not a live message of this room. " +
            "429 with `Retry-After` over RATE_LIMIT_MESSAGES (shared with the WebSocket).",
        },
      },
    )
    .get("/messages/:id", ({ caller, params }) => messages.get(caller.userId, params.id), {
      auth: true,
      params: IdParams,
      response: { 200: Message, 401: ErrorResponse, 404: ErrorResponse },
      detail: { summary: "Get a message", description: hidden },
    })
    .patch("/messages/:id", ({ caller, params, body }) => messages.edit(caller.userId, params.id, body.content), {
      auth: true,
      params: IdParams,
      body: EditMessageBody,
      response: { 200: Message, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse },
      detail: {
        summary: "Edit a message",
        description:
          "Author only (403 otherwise). Sets `editedAt` and keeps the previous content (see `/edits`). 409 for a deleted message. " +
          "Sending the current content changes nothing.",
      },
    })
    .post(
      "/messages/:id/report",
      async ({ caller, params, body, set }) => {
        const { created, ...report } = await messages.report(caller.userId, params.id, body.reason);
        set.status = created ? 201 : 200;
        return report;
      },
      {
        auth: true,
        params: IdParams,
        body: ReportBody,
        response: { 200: ReportCreated, 201: ReportCreated, 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse },
        detail: {
          summary: "Report a message",
          description:
            "To the server admins, by anyone who can read the message. Once per reporter and message: while that report is open, " +
            `reporting again answers 200 with it. Counts against the message rate limit (429). ${hidden}`,
        },
      },
    )
    .delete(
      "/messages/:id",
      async ({ caller, params, set }) => {
        await messages.delete(caller.userId, params.id);
        set.status = 204;
      },
      {
        auth: true,
        params: IdParams,
        response: { 204: t.Void({ description: "Deleted (or already deleted)" }), 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse },
        detail: {
          summary: "Delete a message",
          description:
            "Author, room admin+ or a server admin (audited when not the author). A soft delete: id and seq stay; content and metadata are emptied, earlier versions and reactions " +
            "removed, and it leaves search. Deleting again answers 204 without a new event.",
        },
      },
    )
    .get("/messages/:id/reads", ({ caller, params }) => messages.reads(caller.userId, params.id), {
      auth: true,
      params: IdParams,
      response: { 200: t.Array(MessageRead), 401: ErrorResponse, 404: ErrorResponse },
      detail: {
        summary: "Who has read a message",
        description:
          "Members of the message's room only (404 for anyone else, in a public room too): the members other than the sender " +
          "whose read position is at or past the message's seq, in joining order; as many as its `readCount`.",
      },
    })
    .get("/messages/:id/edits", ({ caller, params }) => messages.edits(caller.userId, params.id), {
      auth: true,
      params: IdParams,
      response: { 200: t.Array(MessageEdit), 401: ErrorResponse, 404: ErrorResponse },
      detail: {
        summary: "Earlier versions of a message",
        description: "Oldest first; each with the time that version was written. Empty for a deleted message.",
      },
    })
    .get(
      "/messages/:id/replies",
      ({ caller, params, query }) => messages.replies(caller.userId, params.id, { after: query.after, limit: query.limit ?? 50 }),
      {
        auth: true,
        params: IdParams,
        query: RepliesQuery,
        response: { 200: MessagePage, 401: ErrorResponse, 404: ErrorResponse, 422: ErrorResponse },
        detail: {
          summary: "A message's thread",
          description: "Replies in ascending seq; page on with `after` = the last seq seen while `hasMore`.",
        },
      },
    )
    .put("/messages/:id/reactions/:emoji", ({ caller, params }) => messages.react(caller.userId, params.id, params.emoji, true), {
      auth: true,
      params: ReactionParams,
      response: {
        200: Message,
        401: ErrorResponse,
        403: ErrorResponse,
        404: ErrorResponse,
        409: ReactionConflict,
        422: ErrorResponse,
        429: ErrorResponse,
      },
      detail: {
        summary: "React to a message",
        description:
          "Members only. Idempotent: reacting twice with the same emoji counts once, however its U+FE0F selectors are spelled " +
          "(events and reactions carry the emoji's RGI form). Answers the message with its reactions. 409 for a deleted message, " +
          "and for a new emoji past 20 different ones of the caller's on the message or 50 on the message (`details.limit`). " +
          "Each request counts against RATE_LIMIT_MESSAGES, like a send (429 with `Retry-After`).",
      },
    })
    .delete("/messages/:id/reactions/:emoji", ({ caller, params }) => messages.react(caller.userId, params.id, params.emoji, false), {
      auth: true,
      params: ReactionParams,
      response: {
        200: Message,
        401: ErrorResponse,
        403: ErrorResponse,
        404: ErrorResponse,
        409: ErrorResponse,
        422: ErrorResponse,
        429: ErrorResponse,
      },
      detail: {
        summary: "Remove my reaction",
        description:
          "Members only. Any spelling of the emoji removes it (see PUT). Removing a reaction that is not there changes nothing. " +
          "Answers the message with its reactions. Counts against RATE_LIMIT_MESSAGES, like a send (429 with `Retry-After`).",
      },
    })
    .get(
      "/search/messages",
      ({ caller, query }) =>
        messages.search(caller.userId, { q: query.q, roomId: query.roomId, limit: query.limit ?? 50, cursor: query.cursor }),
      {
        auth: true,
        query: SearchQuery,
        response: { 200: SearchPage, 400: ErrorResponse, 401: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse },
        detail: {
          summary: "Search messages",
          description:
            "Full-text search over the rooms the caller belongs to, newest first; deleted messages are not found. " +
            "A query without any letters or digits finds nothing. Page on with `cursor` = `nextCursor`. A page holds at most " +
            "100 messages, and may hold fewer than `limit`, even none, while `nextCursor` is set: each search reads a bounded " +
            "part of the caller's rooms (a time and row budget) and answers what it found there. " +
            "429 with `Retry-After` over RATE_LIMIT_SEARCH (searches per minute per user).",
        },
      },
    );
}
