/**
 * Who is connected where, in this process: sockets by user and by room, and each
 * socket's own set of rooms. No database, no Elysia; the socket is anything with the
 * few methods of Bun's ServerWebSocket used here.
 */
import { roomTopic, userTopic } from "./protocol";

export interface Socket {
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Bytes sent, -1 when queued behind backpressure, 0 when dropped. */
  send(data: string): number;
  getBufferedAmount(): number;
  close(code?: number, reason?: string): void;
  /** Runs `callback` with the socket corked: what it sends goes out in one write. */
  cork(callback: () => unknown): unknown;
}

/** Sockets with frames posted in this turn of the event loop, written out by one setImmediate. */
let toFlush: Connection[] = [];

function flushPosted() {
  const conns = toFlush;
  toFlush = [];
  for (const conn of conns) conn.flush();
}

export class Connection<S extends Socket = Socket> {
  /** The rooms this socket receives events of. */
  readonly rooms = new Set<string>();
  /** Subscribed to its topics and told `ready`; until then joins and leaves are only recorded. */
  active = false;
  closed = false;
  /** Rooms joined or left while the initial room list was loading: those events are newer. */
  touched: Set<string> | null = new Set();
  /** Frames posted in this turn of the event loop, not yet written. */
  private posted: string[] | null = null;

  constructor(
    readonly userId: string,
    readonly sessionId: string,
    readonly socket: S,
  ) {}

  /**
   * Sends `text` at the end of this turn of the event loop, corked together with the socket's
   * other posted frames. A group commit acknowledges many sends at once, spread over a few
   * sockets: sent one by one, each ack was a write of its own; posted, a socket's acks of one
   * commit leave in one write. Frames keep the order they were posted in.
   */
  post(text: string): void {
    if (this.closed) return;
    if (this.posted) return void this.posted.push(text);
    this.posted = [text];
    if (toFlush.length === 0) setImmediate(flushPosted);
    toFlush.push(this);
  }

  /** Writes the posted frames now (before a frame sent directly, or a close). */
  flush(): void {
    const posted = this.posted;
    if (!posted) return;
    this.posted = null;
    if (this.closed) return;
    if (posted.length === 1) this.socket.send(posted[0]!);
    else this.socket.cork(() => posted.forEach((text) => this.socket.send(text)));
  }

  /** Closes the socket after writing what was posted to it; nothing more is sent or handled. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.socket.close(code, reason);
  }

  /** Backed up: the kernel buffer is full and Bun is queueing this socket's frames. */
  get congested(): boolean {
    return this.socket.getBufferedAmount() > 0;
  }
}

export class Hub<S extends Socket = Socket> {
  private readonly byUser = new Map<string, Set<Connection<S>>>();
  private readonly byRoom = new Map<string, Set<Connection<S>>>();

  /** Registers a socket (not yet subscribed). True when it is the user's first. */
  add(conn: Connection<S>): boolean {
    let set = this.byUser.get(conn.userId);
    const first = !set;
    if (!set) this.byUser.set(conn.userId, (set = new Set()));
    set.add(conn);
    return first;
  }

  /**
   * Subscribes a registered socket to its user's topic and the rooms it was loaded with,
   * except rooms whose membership changed while loading (the change is newer).
   */
  activate(conn: Connection<S>, rooms: Iterable<string>): void {
    if (conn.closed || conn.active) return;
    for (const roomId of rooms) if (!conn.touched?.has(roomId)) this.attach(conn, roomId);
    conn.touched = null;
    conn.active = true;
    conn.socket.subscribe(userTopic(conn.userId));
    for (const roomId of conn.rooms) conn.socket.subscribe(roomTopic(roomId));
  }

  /** Unregisters a socket. True when it was the user's last. */
  remove(conn: Connection<S>): boolean {
    conn.closed = true;
    for (const roomId of conn.rooms) this.detachFromRoom(conn, roomId);
    conn.rooms.clear();
    const set = this.byUser.get(conn.userId);
    if (!set?.delete(conn)) return false;
    if (set.size > 0) return false;
    this.byUser.delete(conn.userId);
    return true;
  }

  /** Every socket of the user now receives the room's events. */
  join(userId: string, roomId: string): void {
    for (const conn of this.byUser.get(userId) ?? []) {
      conn.touched?.add(roomId);
      if (conn.rooms.has(roomId)) continue;
      this.attach(conn, roomId);
      if (conn.active) conn.socket.subscribe(roomTopic(roomId));
    }
  }

  /** No socket of the user receives the room's events any more. */
  leave(userId: string, roomId: string): void {
    for (const conn of this.byUser.get(userId) ?? []) {
      conn.touched?.add(roomId);
      if (!conn.rooms.delete(roomId)) continue;
      this.detachFromRoom(conn, roomId);
      if (conn.active) conn.socket.unsubscribe(roomTopic(roomId));
    }
  }

  /** The room is gone: unsubscribe every socket from it. */
  dropRoom(roomId: string): void {
    const set = this.byRoom.get(roomId);
    if (!set) return;
    this.byRoom.delete(roomId);
    for (const conn of set) {
      conn.rooms.delete(roomId);
      conn.touched?.add(roomId);
      if (conn.active) conn.socket.unsubscribe(roomTopic(roomId));
    }
  }

  isConnected(userId: string): boolean {
    return this.byUser.has(userId);
  }

  socketsOf(userId: string): ReadonlySet<Connection<S>> {
    return this.byUser.get(userId) ?? EMPTY;
  }

  socketsIn(roomId: string): ReadonlySet<Connection<S>> {
    return this.byRoom.get(roomId) ?? EMPTY;
  }

  *connections(): Iterable<Connection<S>> {
    for (const set of this.byUser.values()) yield* set;
  }

  get size(): number {
    let n = 0;
    for (const set of this.byUser.values()) n += set.size;
    return n;
  }

  private attach(conn: Connection<S>, roomId: string) {
    conn.rooms.add(roomId);
    let set = this.byRoom.get(roomId);
    if (!set) this.byRoom.set(roomId, (set = new Set()));
    set.add(conn);
  }

  private detachFromRoom(conn: Connection<S>, roomId: string) {
    const set = this.byRoom.get(roomId);
    if (!set) return;
    set.delete(conn);
    if (set.size === 0) this.byRoom.delete(roomId);
  }
}

const EMPTY: ReadonlySet<never> = new Set();
