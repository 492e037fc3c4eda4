/**
 * The AsyncAPI 3 document of `/ws`, made from the frame schemas of protocol.ts: the ones
 * parseFrame checks client frames with, and the server's. A frame added there is documented
 * here with no further change. The document describes the server: it receives client frames
 * and sends server frames. docs/protocol.md is the prose guide.
 */
import { Elysia, type TSchema } from "elysia";
import { CloseCode, clientFrames, serverFrames } from "./protocol";

/** What each close code means; keyed by CloseCode's names, so a new code needs a meaning to compile. */
const CLOSE_MEANINGS: Record<keyof typeof CloseCode, string> = {
  goingAway: "the server is shutting down: reconnect (elsewhere) and resume with `sync`",
  policy: "more than WS_RATE_LIMIT frames per second, or too far behind (WS_BACKPRESSURE_LIMIT): reconnect and `sync`",
  tooBig: "a frame bigger than WS_MAX_PAYLOAD",
  internal: "an internal error (the socket's rooms could not be loaded, or a frame failed unexpectedly)",
  sessionRevoked: "the session was revoked (logout, refresh-token reuse): log in again",
  roomGone: "room-scoped sockets (`/ws/rooms/:id`) only: the room was deleted, or the user left it or was removed",
  tooManyConnections: "on open, before `ready`: the user holds WS_MAX_PER_USER sockets, or the client address WS_MAX_PER_ADDRESS",
};

const HANDSHAKE = [
  "One WebSocket per client at `GET /ws` carries the events of all of its rooms. Frames are JSON text objects with a `type`.",
  "",
  "**Opening.** Authenticate the upgrade with one of: `?ticket=<ticket>` (preferred: from `POST /api/auth/ws-ticket`, single use, " +
    "valid 30 s), `?token=<accessToken>`, or the subprotocols `bearer, <accessToken>` (`Sec-WebSocket-Protocol`; the server selects " +
    "`bearer`). A missing, bad, expired or used credential is refused before the upgrade with 401 and the REST error envelope; 503 " +
    "while the server shuts down; 404 for a request that is not an upgrade.",
  "",
  "**One room.** `GET /ws/rooms/:id` (same authentication; members, or anyone for a public room) carries that room's events only: " +
    "it sends `history` (the latest 50 messages) instead of `ready`, and `message.send` there may leave out `roomId`.",
  "",
  "**Session.** The server subscribes the socket to the user's rooms and sends `ready` first. Client frames are carried out in the " +
    "order sent; a malformed one gets an `error` frame and the socket stays open. After a reconnect, send `sync` with the last seq " +
    "seen per room and `since` = the previous `ready.at`.",
  "",
  "**Close codes.**",
  ...Object.entries(CloseCode).map(([name, code]) => `- \`${code}\`: ${CLOSE_MEANINGS[name as keyof typeof CloseCode]}`),
  "- `1006`: no close frame: the connection died, or went silent past WS_IDLE_TIMEOUT",
].join("\n");

/** A t-schema as plain JSON Schema (TypeBox's symbols dropped). */
const plain = (schema: TSchema): Record<string, unknown> => JSON.parse(JSON.stringify(schema));

/** A component key for a frame type: unique across both directions, as AsyncAPI keys must be. */
const key = (direction: "client" | "server", type: string) => `${direction}.${type}`;

function messages(direction: "client" | "server", frames: Record<string, TSchema>) {
  return Object.fromEntries(
    Object.entries(frames).map(([type, schema]) => {
      const payload = plain(schema);
      const description = typeof payload.description === "string" ? payload.description : undefined;
      return [
        key(direction, type),
        {
          name: type,
          title: type,
          summary: `${direction === "client" ? "Client → server" : "Server → client"}: \`${type}\``,
          ...(description && { description }),
          contentType: "application/json",
          payload,
        },
      ];
    }),
  );
}

/** The document, built once: every client frame the server accepts and every frame it sends. */
export function asyncApiDocument(version: string) {
  const received = messages("client", clientFrames);
  const sent = messages("server", serverFrames);
  const refs = (names: string[]) => names.map((name) => ({ $ref: `#/channels/ws/messages/${name}` }));
  return {
    asyncapi: "3.0.0",
    info: {
      title: "bunchat WebSocket",
      version,
      description: `${HANDSHAKE}\n\nThe REST API: the OpenAPI document at \`/swagger/json\`.`,
    },
    defaultContentType: "application/json",
    channels: {
      ws: {
        address: "/ws",
        title: "The client's socket",
        description: "All of the user's rooms and the user's own events, on one socket.",
        messages: Object.fromEntries(
          [...Object.keys(received), ...Object.keys(sent)].map((name) => [name, { $ref: `#/components/messages/${name}` }]),
        ),
        bindings: {
          ws: {
            bindingVersion: "0.1.0",
            method: "GET",
            query: {
              type: "object",
              description: "One credential: `ticket` or `token` (or the `bearer` subprotocol instead)",
              properties: {
                ticket: { type: "string", description: "A single-use ticket from POST /api/auth/ws-ticket, valid 30 s" },
                token: { type: "string", description: "An access token" },
              },
            },
            headers: {
              type: "object",
              properties: {
                "Sec-WebSocket-Protocol": { type: "string", description: "`bearer, <accessToken>`: the server answers with `bearer`" },
              },
            },
          },
        },
      },
    },
    operations: {
      receiveClientFrames: {
        action: "receive",
        channel: { $ref: "#/channels/ws" },
        title: "Client frames",
        summary: "What a client may send; each is carried out in the order sent",
        messages: refs(Object.keys(received)),
      },
      sendServerFrames: {
        action: "send",
        channel: { $ref: "#/channels/ws" },
        title: "Server frames",
        summary: "Answers to client frames (ready, ack, error, pong, sync.done) and the events of the user's rooms",
        messages: refs(Object.keys(sent)),
      },
    },
    components: { messages: { ...received, ...sent } },
  };
}

/** `GET /asyncapi.json`: the document, made once when the app is built. */
export function asyncApiPlugin(version: string) {
  const document = JSON.stringify(asyncApiDocument(version));
  return new Elysia({ name: "asyncapi" }).get(
    "/asyncapi.json",
    ({ set }) => {
      set.headers["content-type"] = "application/json; charset=utf-8";
      return document;
    },
    {
      detail: {
        summary: "The AsyncAPI 3 document of the WebSocket",
        description: "Every frame a client may send on `/ws` and every frame the server sends, with the handshake and the close codes.",
        tags: ["Real time"],
        responses: { 200: { description: "The AsyncAPI 3.0 document", content: { "application/json": { schema: { type: "object" } } } } },
      },
    },
  );
}
