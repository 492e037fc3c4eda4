/**
 * Who is connected where, in this process: connections by user and by room, and each
 * connection's own set of rooms. No database, no Elysia; a connection's socket is anything
 * with the few methods of Bun's ServerWebSocket used here.
 */
import type { Connection, Socket } from "./connection";
import { CloseCode, roomTopic, userTopic } from "./protocol";

export class Hub<S extends Socket = Socket> {
  /** A user's connections: an array, as most users hold one or two (a Set costs five times as much). */
  private readonly byUser = new Map<string, Connection<S>[]>();
  private readonly byRoom = new Map<string, Set<Connection<S>>>();
  /** Connections whose room events are held (see hold). */
  private holding = 0;

  /** Registers a socket (not yet subscribed). True when it is the user's first. */
  add(connection: Connection<S>): boolean {
    const list = this.byUser.get(connection.userId);
    if (list) {
      if (!list.includes(connection)) list.push(connection);
      return false;
    }
    this.byUser.set(connection.userId, [connection]);
    return true;
  }

  /**
   * Subscribes a registered socket to its user's topic and the rooms it was loaded with,
   * except rooms whose membership changed while loading (the change is newer).
   */
  activate(connection: Connection<S>, rooms: Iterable<string>): void {
    if (connection.closed || connection.active) return;
    for (const roomId of rooms) if (!connection.touched?.has(roomId)) this.attach(connection, roomId);
    connection.touched = null;
    connection.active = true;
    if (connection.scope === undefined) connection.socket.subscribe(userTopic(connection.userId));
    for (const roomId of connection.rooms) connection.socket.subscribe(roomTopic(roomId));
  }

  /** Unregisters a socket. True when it was the user's last. */
  remove(connection: Connection<S>): boolean {
    connection.closed = true;
    for (const roomId of connection.rooms) this.detachFromRoom(connection, roomId);
    connection.rooms.clear();
    if (connection.held) {
      connection.held = null;
      this.holding--;
    }
    const list = this.byUser.get(connection.userId);
    const at = list ? list.indexOf(connection) : -1;
    if (at < 0) return false;
    if (list!.length > 1) {
      list!.splice(at, 1);
      return false;
    }
    this.byUser.delete(connection.userId);
    return true;
  }

  /** Every socket of the user now receives the room's events. */
  join(userId: string, roomId: string): void {
    for (const connection of this.connectionsOf(userId)) {
      connection.touch(roomId);
      if (connection.rooms.has(roomId) || (connection.scope !== undefined && connection.scope !== roomId)) continue;
      this.attach(connection, roomId);
      if (connection.active && !connection.held) connection.socket.subscribe(roomTopic(roomId));
    }
  }

  /** No socket of the user receives the room's events any more. */
  leave(userId: string, roomId: string): void {
    // A copy: a room-scoped socket closed here may leave the user's list while it is walked.
    for (const connection of [...this.connectionsOf(userId)]) {
      connection.touch(roomId);
      if (!connection.rooms.delete(roomId)) continue;
      this.detachFromRoom(connection, roomId);
      if (connection.active) connection.socket.unsubscribe(roomTopic(roomId));
      if (connection.scope === roomId) connection.disconnect(CloseCode.roomGone, "no longer in the room");
    }
  }

  /** The room is gone: unsubscribe every socket from it. */
  dropRoom(roomId: string): void {
    const set = this.byRoom.get(roomId);
    if (!set) return;
    this.byRoom.delete(roomId);
    for (const connection of set) {
      connection.rooms.delete(roomId);
      connection.touch(roomId);
      if (connection.active) connection.socket.unsubscribe(roomTopic(roomId));
      if (connection.scope === roomId) connection.disconnect(CloseCode.roomGone, "the room was deleted");
    }
  }

  /**
   * From now until `release`, the connection's room events are held on it (`Connection.held`)
   * instead of reaching its socket: its socket leaves the room topics, and the delivery hands
   * it each room event (see `holdingAny`). Nothing is lost in between: no await separates the
   * two, nor, in `release`, subscribing again from writing what was held.
   */
  hold(connection: Connection<S>): void {
    if (!connection.active || connection.closed || connection.held) return;
    connection.held = [];
    connection.heldBytes = 0;
    this.holding++;
    for (const roomId of connection.rooms) connection.socket.unsubscribe(roomTopic(roomId));
  }

  /** Room events reach the socket again, after what was held for it. */
  release(connection: Connection<S>): void {
    const held = connection.held;
    if (!held) return;
    connection.held = null;
    this.holding--;
    if (connection.closed) return;
    for (const roomId of connection.rooms) connection.socket.subscribe(roomTopic(roomId));
    connection.writeNow(held);
  }

  /** Whether any connection holds room events (the delivery's common case is none). */
  get holdingAny(): boolean {
    return this.holding > 0;
  }

  isConnected(userId: string): boolean {
    return this.byUser.has(userId);
  }

  connectionsOf(userId: string): readonly Connection<S>[] {
    return this.byUser.get(userId) ?? NONE;
  }

  connectionsIn(roomId: string): ReadonlySet<Connection<S>> {
    return this.byRoom.get(roomId) ?? EMPTY;
  }

  *connections(): Iterable<Connection<S>> {
    for (const list of this.byUser.values()) yield* list;
  }

  /** How many users have a connection here. */
  get userCount(): number {
    return this.byUser.size;
  }

  get size(): number {
    let n = 0;
    for (const list of this.byUser.values()) n += list.length;
    return n;
  }

  private attach(connection: Connection<S>, roomId: string) {
    connection.rooms.add(roomId);
    let set = this.byRoom.get(roomId);
    if (!set) this.byRoom.set(roomId, (set = new Set()));
    set.add(connection);
  }

  private detachFromRoom(connection: Connection<S>, roomId: string) {
    const set = this.byRoom.get(roomId);
    if (!set) return;
    set.delete(connection);
    if (set.size === 0) this.byRoom.delete(roomId);
  }
}

const EMPTY: ReadonlySet<never> = new Set();
const NONE: readonly never[] = [];
