/**
 * The ceiling: the least a chat server must do, on the same runtime. A Bun.serve pub/sub
 * server that speaks the same frames as ours (`ready`, `message.send` → `ack` to the sender
 * and `message.new` with a full message object to the room's topic) and the same REST send,
 * but with no authentication, no validation beyond JSON and a membership check in memory,
 * and persistence only when given a `persist` function.
 *
 * Clients name themselves and their rooms in the URL: /ws?user=<id>&name=<username>&rooms=<id,id>.
 * REST sends carry `x-user-id` and `x-user-name` headers.
 */
export interface CeilingMessage {
  id: string;
  roomId: string;
  seq: number;
  senderId: string;
  content: string;
  clientId: string | null;
  createdAt: number;
}

interface SocketData {
  userId: string;
  username: string;
  rooms: Set<string>;
}

interface SendFrame {
  type?: unknown;
  roomId?: unknown;
  content?: unknown;
  clientId?: unknown;
}

export function serveCeiling(persist: ((m: CeilingMessage) => void) | null) {
  const seqs = new Map<string, number>();

  /** Commits (when persisting) and publishes one message; returns its full API shape. */
  function accept(userId: string, username: string, roomId: string, content: string, clientId: string | null) {
    const seq = (seqs.get(roomId) ?? 0) + 1;
    seqs.set(roomId, seq);
    const row: CeilingMessage = { id: Bun.randomUUIDv7(), roomId, seq, senderId: userId, content, clientId, createdAt: Date.now() };
    persist?.(row);
    const message = {
      id: row.id,
      roomId,
      seq,
      senderId: userId,
      sender: { id: userId, username, displayName: username, avatarUrl: null },
      content,
      metadata: null,
      replyToId: null,
      replyCount: 0,
      reactions: [],
      attachments: [],
      clientId,
      createdAt: new Date(row.createdAt).toISOString(),
      editedAt: null,
      deletedAt: null,
      readCount: 0,
    };
    // Encoded once, sent to every subscriber (the sender's socket included, as ours does).
    server.publish(`room:${roomId}`, JSON.stringify({ type: "message.new", message }));
    return message;
  }

  const server = Bun.serve({
    hostname: Bun.env.HOST ?? "127.0.0.1",
    port: Number(Bun.env.PORT ?? 0),
    websocket: {
      data: {} as SocketData,
      maxPayloadLength: 64 * 1024,
      backpressureLimit: 1024 * 1024,
      closeOnBackpressureLimit: true,
      idleTimeout: 60,
      sendPings: true,
      perMessageDeflate: false,
      open(ws) {
        for (const roomId of ws.data.rooms) ws.subscribe(`room:${roomId}`);
        ws.subscribe(`user:${ws.data.userId}`);
        const rooms = [...ws.data.rooms].map((id) => ({ id, lastSeq: seqs.get(id) ?? 0 }));
        ws.send(JSON.stringify({ type: "ready", user: { id: ws.data.userId, username: ws.data.username }, rooms }));
      },
      message(ws, data) {
        let frame: SendFrame;
        try {
          frame = JSON.parse(String(data)) as SendFrame;
        } catch {
          return void ws.send(JSON.stringify({ type: "error", error: { code: "BAD_REQUEST", message: "not JSON" } }));
        }
        if (frame.type !== "message.send" || typeof frame.roomId !== "string" || typeof frame.content !== "string") return;
        const clientId = typeof frame.clientId === "string" ? frame.clientId : null;
        if (!ws.data.rooms.has(frame.roomId))
          return void ws.send(JSON.stringify({ type: "error", clientId, error: { code: "NOT_FOUND", message: "Room not found." } }));
        const message = accept(ws.data.userId, ws.data.username, frame.roomId, frame.content, clientId);
        ws.send(JSON.stringify({ type: "ack", clientId, message }));
      },
    },
    routes: {
      "/health": () => Response.json({ status: "ok" }),
      "/ready": () => Response.json({ status: "ok" }),
      "/api/rooms/:id/messages": {
        POST: async (req) => {
          const body = (await req.json()) as { content?: unknown; clientId?: unknown };
          if (typeof body.content !== "string") return Response.json({ error: { code: "VALIDATION_FAILED" } }, { status: 422 });
          const userId = req.headers.get("x-user-id") ?? "anonymous";
          const username = req.headers.get("x-user-name") ?? userId;
          const clientId = typeof body.clientId === "string" ? body.clientId : null;
          return Response.json(accept(userId, username, req.params.id, body.content, clientId), { status: 201 });
        },
      },
    },
    fetch(req, srv) {
      const url = new URL(req.url);
      if (url.pathname !== "/ws") return new Response("Not found", { status: 404 });
      const userId = url.searchParams.get("user");
      if (!userId) return new Response("?user= is required", { status: 400 });
      const rooms = new Set((url.searchParams.get("rooms") ?? "").split(",").filter(Boolean));
      const data: SocketData = { userId, username: url.searchParams.get("name") ?? userId, rooms };
      return srv.upgrade(req, { data }) ? undefined : new Response("Upgrade failed", { status: 400 });
    },
  });

  const stop = () => {
    void server.stop(true);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  return server;
}
