/**
 * The real-time layer put together: the hub of local sockets, the broker every event
 * travels through, the publisher services emit on, presence, and what happens to each
 * socket from open to close. The gateway (gateway.ts) is its Elysia face.
 */
import type { Config } from "../config";
import type { Database } from "../db";
import type { Logger } from "../logger";
import type { AuthService, Caller } from "../modules/auth/service";
import type { MessageService } from "../modules/messages/service";
import type { RoomService } from "../modules/rooms/service";
import type { UserService } from "../modules/users/service";
import { type Broker, InMemoryBroker } from "./broker";
import { Client } from "./client";
import { handleFrame, TypingThrottle, type FrameContext } from "./frames";
import { Connection, Hub, type Socket } from "./hub";
import { Presence } from "./presence";
import type { PresenceCluster } from "./presence-cluster";
import { CloseCode, parseFrame, type ReadyFrame } from "./protocol";
import { LocalDelivery, Publisher, type TopicServer } from "./publisher";

export interface RealtimeOptions {
  config: Config;
  database: Database;
  logger: Logger;
  /** Defaults to one process (in memory); several processes share a Redis broker. */
  broker?: Broker;
  /** Presence across processes (Redis); this process alone by default. */
  cluster?: PresenceCluster;
  now?: () => number;
}

/** What the real-time layer uses of the services, which are built after it (they emit on its publisher). */
export interface RealtimeServices {
  auth: Pick<AuthService, "me" | "liveSession">;
  users: Pick<UserService, "touchLastSeen">;
  rooms: Pick<RoomService, "markRead" | "syncStateOf">;
  messages: Pick<MessageService, "send" | "history" | "markDelivered" | "changedSince">;
}

/** How long shutdown waits for frames being handled (a send being committed) before closing anyway. */
const SHUTDOWN_WAIT_MS = 10_000;
/** How often a socket's room list is read while rooms keep being joined during the read. */
const LOAD_TRIES = 3;

export class Realtime {
  readonly hub = new Hub();
  readonly broker: Broker;
  /** The services' `Events`. */
  readonly events: Publisher;
  /** The users module's `PresenceView`. */
  readonly presence: Presence;
  private readonly delivery: LocalDelivery;
  private readonly clients = new Set<Client>();
  private readonly typing: TypingThrottle;
  private readonly now: () => number;
  private readonly unsubscribe: () => void;
  private services: RealtimeServices | null = null;
  private frames: FrameContext | null = null;
  private undelivered = new Map<string, { userId: string; roomId: string; seq: number }>();
  private closing = false;

  constructor(private readonly options: RealtimeOptions) {
    const { config, database, logger } = options;
    this.now = options.now ?? Date.now;
    this.broker = options.broker ?? new InMemoryBroker();
    this.events = new Publisher(this.broker);
    this.delivery = new LocalDelivery(this.hub, {
      backpressureLimit: config.limits.wsBackpressureLimit,
      onOverflow: (conn) => this.kick(conn, CloseCode.policy, "too far behind: reconnect and sync"),
      onDelivered: (userId, roomId, seq) => this.delivered(userId, roomId, seq),
    });
    this.unsubscribe = this.broker.subscribe(this.delivery.deliver);
    this.presence = new Presence({
      hub: this.hub,
      database,
      graceMs: config.limits.presenceGraceMs,
      logger,
      now: this.now,
      toUsers: (userIds, event) => this.events.toUsers(userIds, event),
      cluster: options.cluster,
    });
    this.typing = new TypingThrottle(config.limits.typingThrottleMs, this.now);
  }

  /** Hands over the services, once they exist. */
  bind(services: RealtimeServices): void {
    this.services = services;
    this.presence.bind((userId, at) => services.users.touchLastSeen(userId, at));
    this.frames = {
      messages: services.messages,
      rooms: services.rooms,
      publisher: this.events,
      typing: this.typing,
      logger: this.options.logger,
    };
  }

  /** Bun's server, once listening: topic publishes need it. */
  attach(server: TopicServer | null): void {
    this.delivery.attach(server);
  }

  get accepting(): boolean {
    return !this.closing;
  }

  get connectionCount(): number {
    return this.clients.size;
  }

  /**
   * A socket was upgraded for `caller`: register it, subscribe it and say `ready`. The caller
   * keeps the returned client and hands it back with the socket's frames and its close.
   */
  open(socket: Socket, caller: Caller): Client | null {
    if (this.closing) {
      socket.close(CloseCode.goingAway, "server shutting down");
      return null;
    }
    const conn = new Connection(caller.userId, caller.sessionId, socket);
    if (this.hub.add(conn)) this.presence.connected(caller.userId);
    const { wsFramesPerSecond, wsBackpressureLimit } = this.options.config.limits;
    const client = new Client(conn, wsFramesPerSecond, wsBackpressureLimit / 2, this.load(conn));
    this.clients.add(client);
    return client;
  }

  /** A frame arrived on `client`'s socket. */
  message(client: Client, data: unknown): void {
    if (client.conn.closed) return;
    if (!client.allowFrame()) {
      const limit = this.options.config.limits.wsFramesPerSecond;
      return this.kick(client.conn, CloseCode.policy, `too many frames: at most ${limit} per second`);
    }
    const parsed = parseFrame(data);
    const frames = this.frames;
    const clientId = parsed.ok ? (parsed.frame.type === "message.send" ? parsed.frame.clientId : undefined) : parsed.clientId;
    if (this.closing || !frames) {
      // Frames that arrived before shutdown began still run (shutdown waits for them); later ones are refused.
      const error = { code: "UNAVAILABLE", message: "The server is shutting down; reconnect shortly." };
      return client.send({ type: "error", ...(clientId !== undefined && { clientId }), error });
    }
    // Sends are pipelined (see Client): handleFrame hands a send to the writer before it first awaits.
    if (parsed.ok) {
      const frame = parsed.frame;
      return client.enqueue(() => handleFrame(client, frame, frames), frame.type === "message.send");
    }
    const error = parsed.error;
    client.enqueue(async () => client.send({ type: "error", ...(clientId !== undefined && { clientId }), error }));
  }

  /** `client`'s socket closed. */
  close(client: Client): void {
    if (!this.clients.delete(client)) return;
    client.closed();
    if (this.hub.remove(client.conn)) this.presence.disconnected(client.conn.userId, new Date(this.now()));
  }

  /**
   * Stops taking frames, lets the ones being handled finish (a send commits and is
   * acknowledged), then closes every socket with 1001; their writes are flushed before
   * the close frame. Clients reconnect elsewhere and resume with `sync`.
   */
  async shutdown(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const idle = Promise.all([...this.clients.values()].map((c) => c.idle()));
    let timer: Timer | undefined;
    await Promise.race([idle, new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_WAIT_MS)))]);
    clearTimeout(timer);
    this.flushDelivered();
    for (const conn of [...this.hub.connections()]) this.kick(conn, CloseCode.goingAway, "server shutting down");
    await this.presence.flush();
    await this.options.cluster?.close();
    this.unsubscribe();
    await this.broker.close();
  }

  private kick(conn: Connection, code: number, reason: string) {
    conn.close(code, reason);
  }

  /**
   * Loads the user and their rooms, subscribes the socket, then sends `ready`. Never rejects.
   * The socket is in the hub already, so a logout from now on closes it; the session check
   * here catches one that came after the credential check but before the socket was added.
   */
  private async load(conn: Connection): Promise<void> {
    try {
      const services = this.services;
      if (!services) throw new Error("the real-time layer has no services bound");
      const [user, live, rooms] = await Promise.all([
        services.auth.me(conn.userId),
        services.auth.liveSession(conn.sessionId, conn.userId),
        this.roomsOf(conn, services.rooms),
      ]);
      if (conn.closed) return;
      if (!live) return this.kick(conn, CloseCode.sessionRevoked, "session revoked");
      // No await from here to the ready frame: no event can slip in before it.
      this.hub.activate(conn, rooms.map((r) => r.id));
      // From `at` on, every event reaches this socket: the next connection syncs changes since then.
      const at = new Date(this.now()).toISOString();
      const ready: ReadyFrame = { type: "ready", user, rooms: rooms.filter((r) => conn.rooms.has(r.id)), at };
      conn.flush();
      conn.socket.send(JSON.stringify(ready));
    } catch (error) {
      this.options.logger.error("websocket open failed", { userId: conn.userId, error: String(error) });
      this.kick(conn, CloseCode.internal, "could not load your rooms");
    }
  }

  /**
   * The user's rooms with their last seqs. A room joined while the list was being read is
   * subscribed already (the hub records it) but its room.created / member.joined went to
   * active sockets only: when the list missed such a room it is read again, so `ready`
   * names every room the socket is subscribed to.
   */
  private async roomsOf(conn: Connection, rooms: RealtimeServices["rooms"]) {
    for (let tries = 1; ; tries++) {
      const list = await rooms.syncStateOf(conn.userId);
      if (conn.closed) return list;
      const listed = new Set(list.map((r) => r.id));
      if ([...conn.rooms].every((id) => listed.has(id))) return list;
      if (tries === LOAD_TRIES) throw new Error(`rooms kept being joined while loading (${LOAD_TRIES} reads)`);
    }
  }

  /** Marks are coalesced per member and room within a tick; the message service batches the writes. */
  private delivered(userId: string, roomId: string, seq: number) {
    const key = `${userId}\n${roomId}`;
    const pending = this.undelivered.get(key);
    if (pending) {
      pending.seq = Math.max(pending.seq, seq);
      return;
    }
    if (this.undelivered.size === 0) queueMicrotask(() => this.flushDelivered());
    this.undelivered.set(key, { userId, roomId, seq });
  }

  private flushDelivered() {
    const batch = this.undelivered;
    if (batch.size === 0 || !this.services) return;
    this.undelivered = new Map();
    const { messages } = this.services;
    for (const { userId, roomId, seq } of batch.values())
      messages.markDelivered(userId, roomId, seq).catch((error) =>
        this.options.logger.error("marking delivered failed", { userId, roomId, error: String(error) }),
      );
  }
}

