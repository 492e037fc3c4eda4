/**
 * What happens to each socket from open to close: it is registered in the hub, loaded and
 * told `ready`, its frames are carried out against the services, and at shutdown it is
 * closed once its frames are handled. Events reach it from the broker (LocalDelivery). The
 * gateway (gateway.ts) is its Elysia face; the hub, broker, publisher and presence are built
 * before the services (they emit on the publisher and read presence), this after them.
 */
import type { Config } from "../config";
import { AppError, RateLimited } from "../errors";
import { phaseTrace } from "../lib/phases";
import type { Logger } from "../logger";
import { type Metrics, noMetrics } from "../metrics";
import type { AuthService, Caller } from "../modules/auth/service";
import type { MessageService } from "../modules/messages/service";
import type { RoomService } from "../modules/rooms/service";
import { RateLimiter, type SharedCounters } from "../plugins/rate-limit";
import type { Broker } from "./broker";
import { ConnectionCaps } from "./caps";
import { Connection, type ConnectionHandler, type Socket } from "./connection";
import { clientIdOf, handleFrame, TypingThrottle, type FrameContext } from "./frames";
import type { Hub } from "./hub";
import type { Presence } from "./presence";
import { CloseCode, parseFrame, type ErrorFrame, type ReadyFrame } from "./protocol";
import { LocalDelivery, type Publisher, type TopicServer } from "./publisher";

/** What the real-time layer uses of the services. */
export interface RealtimeServices {
  auth: Pick<AuthService, "me" | "liveSession">;
  rooms: Pick<RoomService, "markRead" | "syncStateOf" | "access">;
  messages: Pick<MessageService, "send" | "history" | "markDelivered" | "changedSince" | "changePosition" | "edit" | "delete" | "react">;
}

export interface RealtimeOptions {
  config: Config;
  logger: Logger;
  /** This process's connections; presence counts them too. */
  hub: Hub;
  /** Every event, from this process and the others, arrives through it. */
  broker: Broker;
  /** The services' `Events`; typing frames go out on it too. */
  publisher: Publisher;
  presence: Presence;
  services: RealtimeServices;
  now?: () => number;
  /** Frames, closes, sends and refusals are counted here; defaults to none. */
  metrics?: Metrics;
  /** Counters shared across processes (the typing throttle); null or absent: this process only. */
  limits?: SharedCounters | null;
}

/** The window WS_SYNC_RATE_LIMIT counts sync frames in. */
const SYNC_WINDOW_MS = 10_000;
/** How long shutdown waits for frames being handled (a send being committed) before closing anyway. */
const SHUTDOWN_WAIT_MS = 10_000;
/** How often a socket's room list is read while rooms keep being joined during the read. */
const LOAD_TRIES = 3;
/** Messages a room-scoped socket's `history` holds. */
const HISTORY_SIZE = 50;
/** Messages committed while a `history` was read that are sent after it, at most. */
const CATCH_UP_MAX = 500;

export class Realtime implements ConnectionHandler {
  readonly hub: Hub;
  private readonly broker: Broker;
  private readonly presence: Presence;
  private readonly services: RealtimeServices;
  private readonly delivery: LocalDelivery;
  private readonly frames: FrameContext;
  private readonly now: () => number;
  private readonly caps: ConnectionCaps;
  /** WS_SYNC_RATE_LIMIT: sync frames per user, taken as they arrive. */
  private readonly syncLimiter: RateLimiter;
  private readonly unsubscribe: () => void;
  private readonly metrics: Metrics;
  /** Counts sockets closed for flooding (WS_RATE_LIMIT). */
  private readonly flooded: { inc(): void };
  private closing = false;

  constructor(private readonly options: RealtimeOptions) {
    const { config, logger, hub, services } = options;
    this.hub = hub;
    this.broker = options.broker;
    this.presence = options.presence;
    this.services = services;
    this.now = options.now ?? Date.now;
    this.metrics = options.metrics ?? noMetrics;
    this.flooded = this.metrics.limited("ws_frames");
    this.caps = new ConnectionCaps(config.limits.wsMaxPerUser, config.limits.wsMaxPerAddress);
    this.syncLimiter = new RateLimiter(config.limits.wsSyncRateLimit, SYNC_WINDOW_MS, this.now, this.metrics.limited("ws_sync"));
    this.delivery = new LocalDelivery(hub, {
      backpressureLimit: config.limits.wsBackpressureLimit,
      onOverflow: (connection) => connection.disconnect(CloseCode.policy, "too far behind: reconnect and sync"),
      onDelivered: (userId, roomId, seq) => void this.markDelivered(userId, roomId, seq),
    });
    this.frames = {
      messages: services.messages,
      rooms: services.rooms,
      publisher: options.publisher,
      typing: new TypingThrottle(config.limits.typingThrottleMs, this.now, options.limits ?? null),
      syncMaxBytes: config.limits.wsSyncMaxBytes,
      replay: { hold: (connection) => hub.hold(connection), release: (connection) => hub.release(connection) },
      markDelivered: (userId, roomId, seq) => this.markDelivered(userId, roomId, seq),
      metrics: this.metrics,
      logger,
    };
    this.unsubscribe = this.broker.subscribe(this.delivery.deliver);
  }

  /** Bun's server, once listening: topic publishes need it. */
  attach(server: TopicServer | null): void {
    this.delivery.attach(server);
  }

  get accepting(): boolean {
    return !this.closing;
  }

  /**
   * A socket was upgraded for `caller` from client `address` ("" when it has none, as for an
   * in-process caller): register it, subscribe it and say `ready`. The returned connection hands
   * its frames and its close back to `message` and `close`. A socket beyond the user's or the
   * address's cap is closed at once (4008) and nothing is loaded for it.
   */
  open(socket: Socket, caller: Caller, address = "", scope?: string): Connection | null {
    if (this.closing) {
      socket.close(CloseCode.goingAway, "server shutting down");
      return null;
    }
    const refusal = this.caps.admit(caller.userId, address);
    if (refusal !== null) {
      socket.close(CloseCode.tooManyConnections, refusal);
      return null;
    }
    const { wsFramesPerSecond, wsBackpressureLimit } = this.options.config.limits;
    const loaded = Promise.withResolvers<void>();
    const connection = new Connection(socket, caller.userId, caller.sessionId, {
      handler: this,
      framesPerSecond: wsFramesPerSecond,
      highWater: wsBackpressureLimit / 2,
      ready: loaded.promise,
      address,
      scope,
    });
    if (this.hub.add(connection)) this.presence.connected(caller.userId);
    void (scope === undefined ? this.load(connection) : this.loadRoom(connection, scope)).then(loaded.resolve);
    return connection;
  }

  /**
   * Refuses (404, as an unknown room) a room-scoped socket the user may not read: a private
   * room they are not a member of. Called before the upgrade.
   */
  async checkRoom(userId: string, roomId: string): Promise<void> {
    await this.services.rooms.access.canRead(roomId, userId);
  }

  /** A frame arrived on the connection's socket. */
  message(connection: Connection, data: unknown): void {
    if (connection.closed) return;
    const trace = phaseTrace;
    const receivedAt = trace ? trace.now() : 0;
    if (!connection.allowFrame()) {
      this.flooded.inc();
      const limit = this.options.config.limits.wsFramesPerSecond;
      return connection.disconnect(CloseCode.policy, `too many frames: at most ${limit} per second`);
    }
    const parsed = parseFrame(data);
    this.metrics.frame(parsed.ok ? parsed.frame.type : "invalid");
    const clientId = parsed.ok ? clientIdOf(parsed.frame) : parsed.clientId;
    if (this.closing) {
      // Frames that arrived before shutdown began still run (shutdown waits for them); later ones are refused.
      const error = { code: "UNAVAILABLE", message: "The server is shutting down; reconnect shortly." };
      return connection.send({ type: "error", ...(clientId !== undefined && { clientId }), error });
    }
    // Sends are pipelined (see Connection): handleFrame hands a send to the writer before it first awaits.
    if (parsed.ok) {
      const frame = parsed.frame;
      const refused = frame.type === "sync" ? this.refusedSync(connection) : null;
      if (refused) return connection.enqueue(async () => connection.send(refused));
      if (trace && frame.type === "message.send") trace.begin(receivedAt);
      connection.enqueue(() => handleFrame(connection, frame, this.frames), frame.type === "message.send");
      return trace?.end();
    }
    const error = parsed.error;
    connection.enqueue(async () => connection.send({ type: "error", ...(clientId !== undefined && { clientId }), error }));
  }

  /** The connection's socket closed, with this close code. */
  close(connection: Connection, code?: number): void {
    this.metrics.closed(code);
    this.caps.release(connection.userId, connection.address);
    if (this.hub.remove(connection)) this.presence.disconnected(connection.userId, new Date(this.now()));
  }

  /** A socket refused at its opening (shutting down, over a cap) closed with this code. */
  closedUnopened(code?: number): void {
    this.metrics.closed(code);
  }

  /**
   * Stops taking frames, lets the ones being handled finish (a send commits and is
   * acknowledged), then closes every socket with 1001; their writes are flushed before
   * the close frame. Clients reconnect elsewhere and resume with `sync`.
   */
  async shutdown(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const idle = Promise.all([...this.hub.connections()].map((connection) => connection.idle()));
    let timer: Timer | undefined;
    await Promise.race([idle, new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_WAIT_MS)))]);
    clearTimeout(timer);
    for (const connection of [...this.hub.connections()]) connection.disconnect(CloseCode.goingAway, "server shutting down");
    await this.presence.close();
    this.unsubscribe();
    await this.broker.close();
  }

  /**
   * Loads the user and their rooms, subscribes the socket, then sends `ready`. Never rejects.
   * The socket is in the hub already, so a logout from now on closes it; the session check
   * here catches one that came after the credential check but before the socket was added.
   */
  private async load(connection: Connection): Promise<void> {
    try {
      const { auth } = this.services;
      // The change position is read before the socket is subscribed: a change committed after the
      // read is either heard live or above the position, so the next connection's sync replays it.
      const [user, live, rooms, position] = await Promise.all([
        auth.me(connection.userId),
        auth.liveSession(connection.sessionId, connection.userId),
        this.roomsOf(connection),
        this.services.messages.changePosition(),
      ]);
      if (connection.closed) return;
      if (!live) return connection.disconnect(CloseCode.sessionRevoked, "session revoked");
      // No await from here to the ready frame: no event can slip in before it.
      this.hub.activate(connection, rooms.map((r) => r.id));
      // From `at` on, every event reaches this socket: the next connection syncs changes since then.
      const at = new Date(this.now()).toISOString();
      const ready: ReadyFrame = { type: "ready", user, rooms: rooms.filter((r) => connection.rooms.has(r.id)), at, position: `p${position}` };
      connection.flush();
      connection.socket.send(JSON.stringify(ready));
    } catch (error) {
      this.options.logger.error("websocket open failed", { userId: connection.userId, error: String(error) });
      connection.disconnect(CloseCode.internal, "could not load your rooms");
    }
  }

  /**
   * A room-scoped socket: reads the room's latest messages, subscribes the socket to that room
   * alone and sends them as `history`. Messages committed between that read and the subscription
   * are read again after it and follow as `message.new` (a live one may come twice; clients keep
   * messages by seq). Never rejects; a room the user may no longer read closes the socket (4004).
   */
  private async loadRoom(connection: Connection, roomId: string): Promise<void> {
    try {
      const { auth, messages } = this.services;
      const [live, page] = await Promise.all([
        auth.liveSession(connection.sessionId, connection.userId),
        messages.history(connection.userId, roomId, { limit: HISTORY_SIZE }),
      ]);
      if (connection.closed) return;
      if (!live) return connection.disconnect(CloseCode.sessionRevoked, "session revoked");
      this.hub.activate(connection, [roomId]);
      // Left or removed while loading: the hub, which recorded it, did not subscribe the socket.
      if (!connection.rooms.has(roomId)) return connection.disconnect(CloseCode.roomGone, "no longer in the room");
      connection.flush();
      connection.socket.send(JSON.stringify({ type: "history", roomId, messages: page.messages }));
      const after = page.messages.at(-1)?.seq ?? 0;
      const missed = await messages.history(connection.userId, roomId, { after, limit: CATCH_UP_MAX });
      for (const message of missed.messages) if (!(await connection.sendPaced(JSON.stringify({ type: "message.new", message })))) return;
    } catch (error) {
      if (error instanceof AppError && error.status === 404) return connection.disconnect(CloseCode.roomGone, "no such room");
      this.options.logger.error("websocket open failed", { userId: connection.userId, roomId, error: String(error) });
      connection.disconnect(CloseCode.internal, "could not load the room");
    }
  }

  /**
   * The user's rooms with their last seqs. A room joined while the list was being read is
   * subscribed already (the hub records it) but its room.created / member.joined went to
   * active sockets only: when the list missed such a room it is read again, so `ready`
   * names every room the socket is subscribed to.
   */
  private async roomsOf(connection: Connection) {
    for (let tries = 1; ; tries++) {
      const list = await this.services.rooms.syncStateOf(connection.userId);
      // No room joined while loading (the usual case): nothing to compare.
      if (connection.closed || connection.rooms.size === 0) return list;
      const listed = new Set(list.map((r) => r.id));
      if ([...connection.rooms].every((id) => listed.has(id))) return list;
      if (tries === LOAD_TRIES) throw new Error(`rooms kept being joined while loading (${LOAD_TRIES} reads)`);
    }
  }

  /**
   * A socket of the member was handed message `seq` of the room, live or replayed by `sync`.
   * Every receipt takes this one way to the message service, whose writer coalesces a member's
   * marks into one write per commit and announces `delivered` when the position moved.
   * Never rejects: a failed mark costs only the tick, so it is logged.
   */
  private async markDelivered(userId: string, roomId: string, seq: number): Promise<void> {
    try {
      await this.services.messages.markDelivered(userId, roomId, seq);
    } catch (error) {
      this.options.logger.error("marking delivered failed", { userId, roomId, error: String(error) });
    }
  }

  /**
   * A sync takes a token of its user's bucket as it arrives, before it is queued: beyond the
   * limit it is answered with RATE_LIMITED (in its turn, after the frames before it) and never read.
   */
  private refusedSync(connection: Connection): ErrorFrame | null {
    try {
      this.syncLimiter.take(connection.userId);
      return null;
    } catch (error) {
      if (!(error instanceof RateLimited)) throw error;
      const limit = this.syncLimiter.capacity;
      const retryAfter = error.retryAfterSeconds;
      return {
        type: "error",
        error: {
          code: "RATE_LIMITED",
          message: `Too many sync requests: at most ${limit} per ${SYNC_WINDOW_MS / 1000} s; try again in ${retryAfter} s.`,
          details: { retryAfter },
        },
      };
    }
  }
}
