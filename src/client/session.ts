import { SignedOut } from "./auth";
import { deleted, reacted, RoomWindow } from "./store";
import type { ClientFrame, ClosedReason, ConnectionState, FrameOf, Message, OwnUser, Room, ServerError, ServerFrame, SessionEvents } from "./types";

/** What a session needs of the REST side of its client. */
export interface SessionRest {
  /** A fresh single-use WebSocket ticket (throws SignedOut when the session is gone). */
  ticket(): Promise<string>;
  history(roomId: string, query: { before?: number; after?: number; limit?: number }): Promise<{ messages: Message[]; hasMore: boolean }>;
  message(id: string): Promise<Message | null>;
  room(id: string): Promise<Room | null>;
  /** Trades the refresh token for new tokens (throws SignedOut when it is no longer accepted). */
  refresh(): Promise<unknown>;
  /** Registers a callback for when the client signs out; returns its removal. */
  onSignedOut(listener: () => void): () => void;
}

/** The WebSocket constructor the session opens sockets with (the browser's, Bun's, or a stand-in). */
export type WebSocketConstructor = new (url: string) => WebSocket;

export interface SessionOptions {
  /** Reconnection delays: a random wait up to min(maxMs, baseMs × 2^attempt). Defaults: 500 ms, 30 s. */
  reconnect?: { baseMs?: number; maxMs?: number };
  /**
   * How often an open socket is checked with a `ping`; a socket that has not answered by the
   * next check is taken as dead and replaced. 0 turns it off. Default 25 s.
   */
  heartbeatMs?: number;
}

/** A send not yet acknowledged: kept, and sent again after each reconnect, until the server answers. */
export interface PendingSend {
  clientId: string;
  roomId: string;
  content: string;
  metadata?: Record<string, unknown> | null;
  replyToId?: string | null;
  /** Ids of the sender's own uploaded files. */
  attachments?: string[];
}

/** The server answered a send, or another frame, with an error. */
export class ServerRefused extends Error {
  constructor(readonly error: ServerError) {
    super(error.message);
    this.name = "ServerRefused";
  }
}

/** The session was closed before a send was acknowledged. */
export class SessionClosed extends Error {
  constructor() {
    super("The session is closed.");
    this.name = "SessionClosed";
  }
}

type Listener<K extends keyof SessionEvents> = (event: SessionEvents[K]) => void;
type SendFrame = Extract<ClientFrame, { type: "message.send" }>;
/** The frames answered by an ack or an error carrying their clientId, kept until answered. */
type PendingFrame = Extract<ClientFrame, { clientId: string }>;
interface Pending {
  frame: PendingFrame;
  resolve(m: Message | undefined): void;
  reject(e: Error): void;
}

/** Close codes after which reconnecting would not help (see docs/protocol.md). */
const SESSION_REVOKED = 4001;
const TOO_MANY_CONNECTIONS = 4008;
const NORMAL = 1000;
const HISTORY_PAGE = 200;

/**
 * A live connection to the server's `/ws`, kept open across drops: each socket is opened with
 * a fresh ticket; after a drop it reconnects with jittered exponential backoff and resumes with
 * `sync` (naming every room it holds, with the `since` of the last connection that caught up).
 *
 * It keeps, per room, a window of messages without gaps or duplicates (RoomWindow), fills
 * gaps over REST, applies edits, deletions, reactions and read positions (readCount), and sends
 * every pending send, edit, deletion and reaction again after a reconnect under the same clientId
 * until it is answered: the server keeps the first message of a clientId, so each is delivered once.
 */
export class Session {
  private readonly windows = new Map<string, RoomWindow>();
  private readonly listeners = new Map<keyof SessionEvents, Set<Listener<any>>>();
  private readonly pendingSends = new Map<string, Pending>();
  /** Rooms whose held messages are being read again over REST, and those to read again once that ends. */
  private readonly rereads = new Map<string, Promise<void>>();
  private readonly rereadAgain = new Set<string>();
  private readonly filling = new Map<string, Promise<void>>();
  private socket: WebSocket | null = null;
  /** The socket has said `ready`: frames may go out on it. */
  private live = false;
  private stopped = false;
  private everOpened = false;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private awaitingPong = false;
  /** `ready.position` (or, from a server without positions, `ready.at`) of the last connection that caught up: the next sync's `since`. */
  private since: string | null = null;
  /** The sync in flight: its socket, that socket's `since` to be, and the top each room was synced from. */
  /**
   * A sync under way. `movedAfterDone`, set once its `sync.done` arrived: the rooms where a
   * sender's read position moved while the rest of the sync was read over REST, which those
   * reads may have missed (they are read again when the sync ends).
   */
  private syncing: { ws: WebSocket; since: string; synced: Map<string, number>; movedAfterDone?: Set<string> } | null = null;
  private readonly unsubscribe: () => void;
  private _state: ConnectionState = "connecting";
  private _user: OwnUser | null = null;
  /** How the last socket closed, until the next one is ready: a stop it leads to reports it. */
  private lastClose: { code: number; reason: string } | null = null;

  constructor(
    private readonly wsUrl: string,
    private readonly rest: SessionRest,
    private readonly WebSocketImpl: WebSocketConstructor,
    private readonly options: SessionOptions = {},
  ) {
    this.unsubscribe = rest.onSignedOut(() => this.stop("signed-out"));
    void this.open();
  }

  /** Where the connection stands. */
  get state(): ConnectionState {
    return this._state;
  }

  /** The signed-in user, as the last `ready` described them. */
  get user(): OwnUser | null {
    return this._user;
  }

  /** Listens to one kind of event; returns the function that stops listening. */
  on<K extends keyof SessionEvents>(type: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => void set.delete(listener);
  }

  /** The rooms the session follows (every room of the user). */
  rooms(): string[] {
    return [...this.windows.keys()];
  }

  /** A room's held messages, ascending by seq, without gaps (empty until some arrive or `loadOlder`). */
  messages(roomId: string): readonly Message[] {
    return this.windows.get(roomId)?.messages ?? [];
  }

  /** Whether the room has messages older than those held. */
  hasOlder(roomId: string): boolean {
    return this.windows.get(roomId)?.hasOlder ?? false;
  }

  /** Fetches the page of messages just older than those held; returns the messages added (ascending). */
  async loadOlder(roomId: string, limit = 50): Promise<Message[]> {
    const window = this.windows.get(roomId);
    if (!window || !window.hasOlder) return [];
    const page = await this.rest.history(roomId, { before: window.start, limit });
    return this.windows.get(roomId) === window ? window.prepend(page.messages) : [];
  }

  /** Sends not yet acknowledged, oldest first (for showing them as pending); edits, deletions and reactions are not listed. */
  pending(): PendingSend[] {
    return [...this.pendingSends.values()].flatMap(({ frame }) => {
      if (frame.type !== "message.send") return [];
      const { type: _, roomId, ...send } = frame;
      return [{ roomId: roomId!, ...send }];
    });
  }

  /**
   * Sends a message; resolves with it once committed (acknowledged), however many reconnects that
   * takes; rejects with ServerRefused when the server refuses it, SessionClosed when closed first.
   * Pass `clientId` to make a retry from outside (e.g. after a reload) the same send.
   */
  send(
    roomId: string,
    content: string,
    options: { metadata?: Record<string, unknown> | null; replyToId?: string | null; attachments?: string[]; clientId?: string } = {},
  ): Promise<Message> {
    const { clientId = newClientId(), metadata, replyToId, attachments } = options;
    const frame: SendFrame = { type: "message.send", roomId, content, clientId };
    if (metadata !== undefined) frame.metadata = metadata;
    if (replyToId !== undefined) frame.replyToId = replyToId;
    if (attachments !== undefined) frame.attachments = attachments;
    return this.request(frame) as Promise<Message>;
  }

  /**
   * Edits one of the user's messages over the socket; resolves with the edited message once the
   * server has it, sent again after reconnects until answered, like `send` (members, this session
   * too, hear `message.updated`, which updates the store). Rejects with ServerRefused
   * (FORBIDDEN, NOT_FOUND, CONFLICT for a deleted message, VALIDATION_FAILED) or SessionClosed.
   */
  edit(messageId: string, content: string, options: { clientId?: string } = {}): Promise<Message> {
    const { clientId = newClientId() } = options;
    return this.request({ type: "message.edit", clientId, messageId, content }) as Promise<Message>;
  }

  /**
   * Deletes a message (the author's, or any as a room admin, owner or server admin) over the socket;
   * resolves once done, with the same pending semantics as `send` (a repeated deletion is a no-op).
   * The store empties the message when `message.deleted` comes.
   */
  async delete(messageId: string, options: { clientId?: string } = {}): Promise<void> {
    const { clientId = newClientId() } = options;
    await this.request({ type: "message.delete", clientId, messageId });
  }

  /**
   * Adds (`add`, the default) or removes the user's reaction with `emoji` over the socket; resolves
   * with the message as the user sees it, with the same pending semantics as `send` (both are
   * idempotent). The store counts it when `reaction.added` / `reaction.removed` comes.
   */
  react(messageId: string, emoji: string, add = true, options: { clientId?: string } = {}): Promise<Message> {
    const { clientId = newClientId() } = options;
    return this.request({ type: add ? "reaction.add" : "reaction.remove", clientId, messageId, emoji }) as Promise<Message>;
  }

  /** Sends a frame answered by clientId, kept pending (and sent again on each new socket) until answered. */
  private request(frame: PendingFrame): Promise<Message | undefined> {
    if (this.stopped) return Promise.reject(new SessionClosed());
    const existing = this.pendingSends.get(frame.clientId);
    if (existing) return new Promise((resolve, reject) => this.pendingSends.set(frame.clientId, chain(existing, resolve, reject)));
    return new Promise((resolve, reject) => {
      this.pendingSends.set(frame.clientId, { frame, resolve, reject });
      if (this.live) this.write(frame);
    });
  }

  /** Tells the room's other members the user is typing (dropped while disconnected). */
  typing(roomId: string): void {
    if (this.live) this.write({ type: "typing", roomId });
  }

  /** Moves the user's read position in the room (dropped while disconnected; REST does it too). */
  read(roomId: string, seq: number): void {
    if (this.live) this.write({ type: "read", roomId, seq });
  }

  /** Closes the socket for good; pending sends are rejected with SessionClosed. */
  close(): void {
    this.lastClose = null;
    this.stop("closed");
  }

  // ---- the connection ----

  private async open(): Promise<void> {
    if (this.stopped) return;
    this.setState(this.everOpened ? "reconnecting" : "connecting");
    let ticket: string;
    try {
      ticket = await this.rest.ticket();
    } catch (error) {
      if (error instanceof SignedOut) return this.stop("signed-out");
      return this.retry();
    }
    if (this.stopped) return;
    let ws: WebSocket;
    try {
      ws = new this.WebSocketImpl(`${this.wsUrl}?ticket=${encodeURIComponent(ticket)}`);
    } catch {
      return this.retry();
    }
    this.socket = ws;
    ws.addEventListener("message", (e) => {
      if (this.socket === ws) this.receive(String((e as MessageEvent).data));
    });
    ws.addEventListener("close", (e) => {
      if (this.socket === ws) void this.dropped((e as CloseEvent).code, (e as CloseEvent).reason);
    });
  }

  private retry(): void {
    if (this.stopped) return;
    const { baseMs = 500, maxMs = 30_000 } = this.options.reconnect ?? {};
    const delay = Math.random() * Math.min(maxMs, baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    this.retryTimer = setTimeout(() => void this.open(), delay);
  }

  private async dropped(code: number, reason: string): Promise<void> {
    this.detach();
    if (this.stopped) return;
    this.lastClose = { code, reason };
    if (code === TOO_MANY_CONNECTIONS) return this.stop("too-many-connections", code, reason);
    this.setState("reconnecting", code, reason);
    if (code === SESSION_REVOKED) {
      // Revoked sessions cannot refresh; anything else (a password change elsewhere) can.
      try {
        await this.rest.refresh();
      } catch (error) {
        if (error instanceof SignedOut) return this.stop("signed-out", code, reason);
      }
    }
    this.retry();
  }

  /** Lets go of the current socket (its later events are ignored). */
  private detach(): void {
    const ws = this.socket;
    this.socket = null;
    this.live = false;
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (ws && ws.readyState < 2) ws.close(NORMAL);
  }

  private stop(why: ClosedReason, code = this.lastClose?.code, reason = this.lastClose?.reason): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.unsubscribe();
    this.detach();
    for (const pending of this.pendingSends.values()) pending.reject(new SessionClosed());
    this.pendingSends.clear();
    this.setState("closed", code, reason, why);
  }

  private setState(state: ConnectionState, code?: number, reason?: string, closedReason?: ClosedReason): void {
    if (state === this._state && code === undefined) return;
    this._state = state;
    this.emit("state", { state, ...(code !== undefined && { code, reason }), ...(closedReason && { closedReason }) });
  }

  private write(frame: ClientFrame): void {
    this.socket?.send(JSON.stringify(frame));
  }

  private startHeartbeat(ws: WebSocket): void {
    const every = this.options.heartbeatMs ?? 25_000;
    if (every <= 0) return;
    this.awaitingPong = false;
    this.heartbeat = setInterval(() => {
      if (this.socket !== ws) return;
      if (this.awaitingPong) return void this.dropped(1006, "no answer to ping");
      this.awaitingPong = true;
      this.write({ type: "ping" });
    }, every);
  }

  // ---- frames ----

  private receive(text: string): void {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text) as ServerFrame;
    } catch {
      return;
    }
    this.awaitingPong = false;
    this.emit("frame", frame);
    switch (frame.type) {
      case "ready":
        return this.onReady(frame);
      case "sync.done":
        return void this.onSyncDone(frame);
      case "ack": {
        const pending = this.pendingSends.get(frame.clientId);
        const message = frame.message;
        if (!pending || (!message && pending.frame.type !== "message.delete")) return;
        this.pendingSends.delete(frame.clientId);
        if (!message) return pending.resolve(undefined);
        // Edits and reactions reach the store through the events they cause, which count them once.
        if (pending.frame.type !== "message.send") return pending.resolve(message);
        this.take(message);
        return pending.resolve(this.windows.get(message.roomId)?.get(message.seq) ?? message);
      }
      case "error":
        return this.onError(frame);
      case "message.new":
        return this.take(frame.message);
      case "message.updated": {
        const held = this.windows.get(frame.message.roomId)?.replace(frame.message);
        if (held) this.emit("edit", held);
        return;
      }
      case "message.deleted":
        return this.onDeleted(frame);
      case "reaction.added":
      case "reaction.removed": {
        const window = this.windows.get(frame.roomId);
        const held = window?.byId(frame.messageId);
        if (window && held && this._user)
          window.messages[held.seq - window.start] = reacted(held, frame.emoji, frame.userId, this._user.id, frame.type === "reaction.added");
        return this.emit("reaction", frame);
      }
      case "read":
        this.windows.get(frame.roomId)?.read(frame.userId, frame.previousSeq, frame.seq);
        this.receipt(frame);
        return this.emit(frame.type, frame);
      case "delivered":
        this.receipt(frame);
        return this.emit(frame.type, frame as never);
      case "typing":
      case "presence":
        return this.emit(frame.type, frame as never);
      case "room.created":
        this.startFollowing(frame.room.id, frame.room.lastSeq);
        return this.emit("room", frame);
      case "room.deleted":
        this.windows.delete(frame.roomId);
        return this.emit("room", frame);
      case "member.joined":
        if (frame.userId === this._user?.id) void this.follow(frame.roomId);
        return this.emit("room", frame);
      case "member.left":
        if (frame.userId === this._user?.id) this.windows.delete(frame.roomId);
        return this.emit("room", frame);
      case "room.updated":
      case "member.updated":
        return this.emit("room", frame);
      case "team.updated":
      case "team.deleted":
        return this.emit("team", frame);
      case "user.updated":
        return this.onUserUpdated(frame);
      case "history": {
        // A room-scoped socket's opening page: read for this user, like a REST page.
        let window = this.windows.get(frame.roomId);
        const first = frame.messages[0];
        if (!window && first) this.windows.set(frame.roomId, (window = new RoomWindow(frame.roomId, first.seq - 1)));
        if (window) for (const m of frame.messages) this.putExact(window, m);
        return;
      }
      case "pong":
        return;
    }
  }

  private onReady(frame: FrameOf<"ready">): void {
    const ws = this.socket!;
    this._user = frame.user;
    this.lastClose = null;
    const listed = new Set(frame.rooms.map((r) => r.id));
    // Read positions moved unseen while away: the sync's end reads the held messages again.
    for (const window of this.windows.values()) window.readers.clear();
    for (const id of this.windows.keys()) if (!listed.has(id)) this.windows.delete(id);
    for (const r of frame.rooms) if (!this.windows.has(r.id)) this.windows.set(r.id, new RoomWindow(r.id, r.lastSeq));
    this.live = true;
    this.everOpened = true;
    this.setState("open");
    this.startHeartbeat(ws);
    const rooms: Record<string, number> = {};
    const synced = new Map<string, number>();
    for (const [id, window] of this.windows) {
      rooms[id] = window.top;
      synced.set(id, window.top);
    }
    this.syncing = { ws, since: frame.position ?? frame.at, synced };
    this.write({ type: "sync", rooms, ...(this.since && { since: this.since }) });
    for (const { frame: send } of this.pendingSends.values()) this.write(send);
  }

  /**
   * Completes what the sync could not replay (REST pages past `hasMore`, changes past
   * `changesHaveMore`, gaps), then takes this connection's `ready.at` as the next `since`.
   * A failure there closes the socket: the next connection syncs again from the same `since`.
   */
  private async onSyncDone(frame: FrameOf<"sync.done">): Promise<void> {
    const syncing = this.syncing;
    if (!syncing || syncing.ws !== this.socket) return;
    syncing.movedAfterDone = new Set();
    try {
      const work: Promise<void>[] = [];
      for (const [roomId, entry] of Object.entries(frame.rooms)) {
        if (entry.changesHaveMore) work.push(this.rereadChanges(roomId, entry.changesLastSeq ?? 0, syncing.synced.get(roomId) ?? 0));
      }
      for (const [roomId, entry] of Object.entries(frame.rooms)) {
        const window = this.windows.get(roomId);
        if (window && (entry.hasMore || window.hasGap || window.top < entry.lastSeq)) work.push(this.fill(roomId, true));
        if (window) work.push(this.rereadCounts(roomId, window));
      }
      await Promise.all(work);
    } catch {
      if (this.socket === syncing.ws) this.socket.close(NORMAL, "resync");
      return;
    }
    if (this.socket !== syncing.ws || this.syncing !== syncing) return;
    this.syncing = null;
    // A move committed after the reads above were answered is counted in none of them.
    for (const roomId of syncing.movedAfterDone) this.rereadLater(roomId);
    // Gaps opened by live messages while the fills ran.
    for (const [roomId, window] of this.windows) if (window.hasGap) void this.fill(roomId).catch(() => {});
    this.since = syncing.since;
    this.attempt = 0;
    this.emit("synced", { rooms: this.rooms() });
  }

  private onError(frame: FrameOf<"error">): void {
    const pending = frame.clientId === undefined ? undefined : this.pendingSends.get(frame.clientId);
    if (pending) {
      // The server was going away: the send goes again on the next socket.
      if (frame.error.code === "UNAVAILABLE") return;
      this.pendingSends.delete(frame.clientId!);
      return pending.reject(new ServerRefused(frame.error));
    }
    const details = frame.error.details as { retryAfter?: number; roomIds?: string[] } | undefined;
    const syncing = this.syncing;
    if (syncing && syncing.ws === this.socket && frame.error.code === "RATE_LIMITED" && details?.retryAfter !== undefined) {
      const ws = syncing.ws;
      setTimeout(() => {
        if (this.socket === ws && this.syncing === syncing) {
          const rooms = Object.fromEntries(syncing.synced);
          this.write({ type: "sync", rooms, ...(this.since && { since: this.since }) });
        }
      }, details.retryAfter * 1000);
      return;
    }
    if (frame.error.code === "NOT_FOUND" && Array.isArray(details?.roomIds)) {
      for (const id of details.roomIds) this.windows.delete(id);
    }
    this.emit("error", frame.error);
  }

  private onDeleted(frame: FrameOf<"message.deleted">): void {
    const window = this.windows.get(frame.roomId);
    const held = window?.get(frame.seq);
    if (!window || !held || held.id !== frame.id) return;
    const gone = deleted(held, new Date().toISOString());
    window.messages[frame.seq - window.start] = gone;
    this.emit("delete", gone);
    // The event carries no time: the server's copy has the deletion's own.
    this.rest.message(frame.id).then(
      (copy) => copy && this.windows.get(frame.roomId) === window && window.replace(copy, true),
      () => {},
    );
  }

  /** Direct rooms: a receipt moves the status of the other member's messages up to its seq. */
  private receipt(frame: FrameOf<"read"> | FrameOf<"delivered">): void {
    const window = this.windows.get(frame.roomId);
    if (!window) return;
    const status = frame.type === "read" ? "read" : "delivered";
    for (let i = 0; i < window.messages.length; i++) {
      const m = window.messages[i]!;
      if (m.seq > frame.seq) break;
      if (m.status === undefined || m.senderId === frame.userId || m.status === "read" || m.status === status) continue;
      window.messages[i] = { ...m, status };
    }
  }

  /** A message from an event: into its room's window; a gap behind it is filled unless a sync is replaying. */
  private take(message: Message): void {
    const window = this.startFollowing(message.roomId, message.seq - 1);
    for (const joined of window.put(message)) {
      this.moved(window, joined);
      this.emit("message", joined);
    }
    if (window.hasGap && !this.syncing) void this.fill(message.roomId).catch(() => {});
  }

  /**
   * Sending a message moves the sender's read position to it (no `read` event says so). From a
   * known position the held messages in between gain a reader; from an unknown one (the first
   * message of that member since the last sync) the held messages are read again over REST.
   * During a sync nothing is counted: its end reads every held message again, and once more in
   * the rooms where a move came after `sync.done`.
   */
  private moved(window: RoomWindow, message: Message): void {
    if (message.readCount === undefined) return;
    if (this.syncing) return void this.syncing.movedAfterDone?.add(window.roomId);
    const from = window.readers.get(message.senderId);
    if (from !== undefined) return window.read(message.senderId, from, message.seq);
    if (window.countsBelow(message.seq, message.senderId)) this.rereadLater(window.roomId);
    window.readers.set(message.senderId, message.seq);
  }

  /** Reads the room's held messages again over REST, once at a time per room (again after, if asked meanwhile). */
  private rereadLater(roomId: string): void {
    if (this.rereads.has(roomId)) return void this.rereadAgain.add(roomId);
    const run = async () => {
      do {
        this.rereadAgain.delete(roomId);
        const window = this.windows.get(roomId);
        if (!window || window.messages.length === 0) return;
        await this.rereadChanges(roomId, window.start - 1, window.top);
      } while (this.rereadAgain.has(roomId));
    };
    this.rereads.set(
      roomId,
      run()
        .catch(() => {})
        .finally(() => this.rereads.delete(roomId)),
    );
  }

  /** A room the user just joined: followed from its current last seq (unless a message got there first). */
  private async follow(roomId: string): Promise<void> {
    const room = await this.rest.room(roomId).catch(() => null);
    if (room) this.startFollowing(roomId, room.lastSeq);
  }

  /** Opens the room's window after `lastSeq` unless one is open already; says so (`followed`) when it opened one. */
  private startFollowing(roomId: string, lastSeq: number): RoomWindow {
    const held = this.windows.get(roomId);
    if (held) return held;
    const window = new RoomWindow(roomId, lastSeq);
    this.windows.set(roomId, window);
    this.emit("followed", { roomId });
    return window;
  }

  /** The user's public fields, wherever the session shows them: its own user, the senders of held messages. */
  private onUserUpdated(frame: FrameOf<"user.updated">): void {
    const { user } = frame;
    if (this._user?.id === user.id) this._user = { ...this._user, ...user };
    const sender = { id: user.id, username: user.username, displayName: user.displayName, avatarUrl: user.avatarUrl };
    for (const window of this.windows.values()) window.renameSender(sender);
    this.emit("user", frame);
  }

  /**
   * Reads the room's messages after the window's top over REST until the server has no more
   * (`always`) or, otherwise, until no gap is left. One fill per room at a time.
   */
  private fill(roomId: string, always = false): Promise<void> {
    const running = this.filling.get(roomId);
    if (running) return always ? running.then(() => this.fill(roomId, always)) : running;
    const run = (async () => {
      for (;;) {
        const window = this.windows.get(roomId);
        if (!window || (!always && !window.hasGap)) return;
        const before = window.top;
        const page = await this.rest.history(roomId, { after: before, limit: HISTORY_PAGE });
        if (this.windows.get(roomId) !== window) return;
        for (const m of page.messages) this.putExact(window, m);
        if (!page.hasMore || window.top === before) return;
      }
    })().finally(() => this.filling.delete(roomId));
    this.filling.set(roomId, run);
    return run;
  }

  /** Re-reads, over REST, held messages from `after` up to `through` whose changes a sync could not replay. */
  private async rereadChanges(roomId: string, after: number, through: number): Promise<void> {
    while (after < through) {
      const window = this.windows.get(roomId);
      if (!window) return;
      const page = await this.rest.history(roomId, { after, before: through + 1, limit: HISTORY_PAGE });
      if (this.windows.get(roomId) !== window || page.messages.length === 0) return;
      for (const m of page.messages) this.putExact(window, m);
      after = page.messages[page.messages.length - 1]!.seq;
      if (!page.hasMore) return;
    }
  }

  /**
   * Receipts are not replayed. Group rooms and channels: every held message's readCount may have
   * moved, so all held messages are read again over REST. Direct rooms: the held messages not yet
   * `read` (statuses only move forward, so from the first of them on, within the newest page) are.
   */
  private async rereadCounts(roomId: string, window: RoomWindow): Promise<void> {
    window.readers.clear();
    if (window.messages.some((m) => m.readCount !== undefined)) return this.rereadChanges(roomId, window.start - 1, window.top);
    const first = window.messages.find((m) => m.status !== undefined && m.status !== "read");
    if (first) await this.rereadChanges(roomId, Math.max(first.seq - 1, window.top - HISTORY_PAGE), window.top);
  }

  /** A message read over REST for this user: new ones join the window, held ones are replaced when they differ. */
  private putExact(window: RoomWindow, message: Message): void {
    const held = window.get(message.seq);
    if (held) {
      if (JSON.stringify(held) === JSON.stringify(message)) return;
      const now = window.replace(message, true);
      if (now) this.emit(now.deletedAt ? "delete" : "edit", now);
      return;
    }
    for (const joined of window.put(message, true)) {
      // Read for this user: its readCount is the server's, but the held messages before it have not counted its sender's move.
      if (this.syncing && joined.readCount !== undefined) this.syncing.movedAfterDone?.add(window.roomId);
      else if (joined.readCount !== undefined) {
        window.readers.delete(joined.senderId);
        if (window.countsBelow(joined.seq, joined.senderId)) this.rereadLater(window.roomId);
      }
      this.emit("message", joined);
    }
  }

  private emit<K extends keyof SessionEvents>(type: K, event: SessionEvents[K]): void {
    for (const listener of this.listeners.get(type) ?? []) {
      try {
        listener(event);
      } catch (error) {
        // A failing listener must not stop the session or the other listeners.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/** A random id for a send (crypto.randomUUID exists only in secure contexts in browsers). */
function newClientId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A second send under a clientId already pending: it settles with the first. */
function chain(existing: Pending, resolve: (m: Message | undefined) => void, reject: (e: Error) => void): Pending {
  return {
    frame: existing.frame,
    resolve: (m: Message | undefined) => (existing.resolve(m), resolve(m)),
    reject: (e: Error) => (existing.reject(e), reject(e)),
  };
}
