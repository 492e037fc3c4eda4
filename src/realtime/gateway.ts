import type { ServerWebSocket } from "bun";
import { Elysia } from "elysia";
import { AppError, Unauthenticated } from "../errors";
import type { AuthService, Caller } from "../modules/auth/service";
import type { Realtime } from ".";

/**
 * `GET /ws`: the one WebSocket route (Elysia routes only upgrade requests to it; a plain GET
 * is 404). The caller is authenticated before the upgrade (a refusal is an ordinary 401
 * response), then the socket belongs to the real-time layer.
 */
export function gateway(realtime: Realtime, auth: Pick<AuthService, "authenticate" | "redeemWsTicket">) {
  return new Elysia({ name: "realtime-gateway" })
    .onStart(({ server }) => realtime.attach(server))
    .resolve(async ({ query, headers, set }) => {
      if (!realtime.accepting) throw new AppError(503, "UNAVAILABLE", "The server is shutting down; reconnect shortly.");
      const caller = await authenticate(auth, query, headers["sec-websocket-protocol"], set.headers);
      return { caller };
    })
    .ws("/ws", {
      // Elysia's own type for the socket predates getBufferedAmount(); the object is Bun's.
      open: (ws) => realtime.open(ws.id, ws.raw as unknown as ServerWebSocket<unknown>, ws.data.caller),
      message: (ws, data) => realtime.message(ws.id, data),
      drain: (ws) => realtime.drain(ws.id),
      close: (ws) => realtime.close(ws.id),
      detail: {
        summary: "Open the real-time WebSocket",
        description:
          "Authenticate with `?ticket=` (from POST /api/auth/ws-ticket), `?token=<accessToken>` or the subprotocol " +
          "header `Sec-WebSocket-Protocol: bearer, <accessToken>`; anything else is refused with 401 before the upgrade.",
        tags: ["Real time"],
      },
    });
}

/**
 * A single-use ticket, an access token in the query, or `Sec-WebSocket-Protocol: bearer, <token>`
 * (then the server selects the `bearer` subprotocol, as browsers require).
 */
async function authenticate(
  auth: Pick<AuthService, "authenticate" | "redeemWsTicket">,
  query: Record<string, string | undefined>,
  protocolHeader: string | undefined,
  responseHeaders: Record<string, unknown>,
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
