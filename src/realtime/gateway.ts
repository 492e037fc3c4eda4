import type { Server, ServerWebSocket } from "bun";
import { Elysia, NotFoundError, t } from "elysia";
import { AppError, ErrorResponse, Unauthenticated } from "../errors";
import type { AuthService, Caller } from "../modules/auth/service";
import { IdParam } from "../modules/schemas";
import { clientAddress } from "../plugins/client-address";
import type { Realtime } from ".";
import type { Connection } from "./connection";

/**
 * What Bun keeps with a socket upgraded here, as its `data`, until it opens: then its
 * Connection takes the slot. Elysia's server-wide WebSocket handler calls `ws.data.open(ws)`,
 * `ws.data.message(ws, data)` and so on, so the socket's events reach the Connection directly:
 * no Elysia context (the upgrade request, its headers, a closure per handler) is kept with
 * every socket and no wrapper object is made per frame.
 */
class Opening {
  constructor(
    private readonly realtime: Realtime,
    private readonly caller: Caller,
    private readonly address: string,
    /** The room of a room-scoped socket. */
    private readonly scope?: string,
  ) {}

  open(ws: ServerWebSocket<Opening | Connection>) {
    const connection = this.realtime.open(ws, this.caller, this.address, this.scope);
    // Refused (shutting down, or over a connection cap): the socket is closing and this data takes none of its events.
    if (connection) ws.data = connection;
  }

  /** A socket refused as it opened has closed; an opened one's close goes to its Connection. */
  close(_ws: unknown, code?: number) {
    this.realtime.closedUnopened(code);
  }
}

/** The error envelope as an OpenAPI response body (a plain copy of the t-schema). */
const errorContent = { "application/json": { schema: JSON.parse(JSON.stringify(ErrorResponse)) } };

/**
 * `GET /ws`: the one WebSocket route. Only an upgrade request is this route (a plain GET is
 * 404 and spends no ticket). The caller is authenticated before the upgrade, so a refusal is an
 * ordinary 401 response; then the socket belongs to the real-time layer. `trustProxy`: proxies
 * in front whose X-Forwarded-For names the client (TRUST_PROXY), for the per-address cap.
 */
export function gateway(realtime: Realtime, auth: Pick<AuthService, "authenticate" | "redeemWsTicket">, trustProxy: number) {
  return new Elysia({ name: "realtime-gateway" })
    .onStart(({ server }) => realtime.attach(server))
    .get(
      "/ws",
      async ({ request, query, server }) => {
        if (!isUpgrade(request) || !server) throw new NotFoundError();
        if (!realtime.accepting) throw new AppError(503, "UNAVAILABLE", "The server is shutting down; reconnect shortly.");
        const responseHeaders: Record<string, string> = {};
        const caller = await authenticate(auth, query, request.headers.get("sec-websocket-protocol") ?? undefined, responseHeaders);
        return upgrade(server as Server<Opening>, request, responseHeaders, new Opening(realtime, caller, clientAddress(request, server, trustProxy)));
      },
      {
        query: Credentials,
        detail: {
          summary: "Open the real-time WebSocket",
          description:
            "Authenticate with `?ticket=` (from POST /api/auth/ws-ticket), `?token=<accessToken>` or the subprotocol " +
            "header `Sec-WebSocket-Protocol: bearer, <accessToken>`; anything else is refused with 401 before the upgrade. " +
            "A request that does not ask for a WebSocket upgrade is 404; while the server shuts down, upgrades are refused with 503. " +
            "A socket beyond WS_MAX_PER_USER open sockets of its user, or WS_MAX_PER_ADDRESS of its client address, is closed " +
            "at once with close code 4008.",
          tags: ["Real time"],
          responses: {
            "101": { description: "Switching Protocols: the WebSocket is open" },
            "401": { description: "No valid ticket or token; refused before the upgrade", content: errorContent },
            "404": { description: "Not a WebSocket upgrade request", content: errorContent },
            "503": { description: "The server is shutting down; reconnect shortly", content: errorContent },
          },
        },
      },
    )
    .get(
      "/ws/rooms/:id",
      async ({ request, query, server, params }) => {
        if (!isUpgrade(request) || !server) throw new NotFoundError();
        if (!realtime.accepting) throw new AppError(503, "UNAVAILABLE", "The server is shutting down; reconnect shortly.");
        const responseHeaders: Record<string, string> = {};
        const caller = await authenticate(auth, query, request.headers.get("sec-websocket-protocol") ?? undefined, responseHeaders);
        await realtime.checkRoom(caller.userId, params.id);
        const opening = new Opening(realtime, caller, clientAddress(request, server, trustProxy), params.id);
        return upgrade(server as Server<Opening>, request, responseHeaders, opening);
      },
      {
        query: Credentials,
        params: t.Object({ id: IdParam("Room") }),
        detail: {
          summary: "Open a room-scoped WebSocket",
          description:
            "For simple embeds: one room's socket. Authenticated as `GET /ws`; members, or anyone for a public room (any team " +
            "member for a public channel); any other room is refused with 404 before the upgrade, like an unknown one. On open " +
            "`{ type: \"history\", roomId, messages }` (the latest 50, ascending), then that room's events only (no `ready`, no " +
            "presence, none of the user's other rooms). Client frames are those of `/ws`; `message.send` may leave out `roomId`. " +
            "Closed with 4004 once the room is deleted or its user leaves or is removed from it.",
          tags: ["Real time"],
          responses: {
            "101": { description: "Switching Protocols: the WebSocket is open" },
            "401": { description: "No valid ticket or token; refused before the upgrade", content: errorContent },
            "404": { description: "Not a WebSocket upgrade request, or a room the caller may not read", content: errorContent },
            "503": { description: "The server is shutting down; reconnect shortly", content: errorContent },
          },
        },
      },
    );
}

const Credentials = t.Object({
  ticket: t.Optional(t.String({ description: "A ticket from POST /api/auth/ws-ticket" })),
  token: t.Optional(t.String({ description: "An access token" })),
});

/**
 * Whether the request asks for a WebSocket. Read from the request itself: a handler naming
 * Elysia's `headers` has every header of every upgrade copied into an object first.
 */
function isUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/** The upgrade of a socket, once its caller (and room) passed: Bun answers it itself. */
function upgrade(server: Server<Opening> | null, request: Request, headers: Record<string, string>, data: Opening): never {
  if (!server?.upgrade(request, { headers, data })) throw new AppError(400, "BAD_REQUEST", "Expected a WebSocket upgrade request.");
  // Bun answers the upgrade itself; the handler's result is not sent.
  return undefined as never;
}

/**
 * A single-use ticket, an access token in the query, or `Sec-WebSocket-Protocol: bearer, <token>`
 * (then the server selects the `bearer` subprotocol, as browsers require).
 */
async function authenticate(
  auth: Pick<AuthService, "authenticate" | "redeemWsTicket">,
  query: { ticket?: string; token?: string },
  protocolHeader: string | undefined,
  responseHeaders: Record<string, string>,
): Promise<Caller> {
  if (query.ticket !== undefined) {
    const caller = query.ticket ? await auth.redeemWsTicket(query.ticket) : null;
    if (!caller) throw new Unauthenticated("The WebSocket ticket is invalid, expired or already used.");
    return caller;
  }
  if (query.token !== undefined) {
    const caller = query.token ? await auth.authenticate(query.token) : null;
    if (!caller) throw new Unauthenticated("The access token is invalid, expired or revoked.");
    return caller;
  }
  const protocols = protocolHeader?.split(",").map((p) => p.trim()) ?? [];
  const at = protocols.indexOf("bearer");
  if (at >= 0) {
    const token = protocols[at + 1];
    const caller = token ? await auth.authenticate(token) : null;
    if (!caller) throw new Unauthenticated("The access token is invalid, expired or revoked.");
    responseHeaders["sec-websocket-protocol"] = "bearer";
    return caller;
  }
  throw new Unauthenticated("Authenticate with ?ticket=, ?token= or the `bearer, <accessToken>` subprotocol.");
}
