/**
 * Who is connected where, in this process: connections by user and by room, and each
 * connection's own set of rooms. No database, no Elysia; a connection's socket is anything
 * with the few methods of Bun's ServerWebSocket used here.
 */
import type { Connection, Socket } from "./connection";
import { CloseCode, roomTopic, userTopic } from "./protocol";

export class Hub<S extends Socket = Socket> {
  private readonly byUser = new Map<string, Set<Connection<S>>>();
  private readonly byRoom = new Map<string, Set<Connection<S>>>();

  /** Registers a socket (not yet subscribed). True when it is the user's first. */
  add(connection: Connection<S>): boolean {
    let set = this.byUser.get(connection.userId);
    const first = !set;
    if (!set) this.byUser.set(connection.userId, (set = new Set()));
    set.add(connection);
    return first;
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
    const set = this.byUser.get(connection.userId);
    if (!set?.delete(connection)) return false;
    if (set.size > 0) return false;
    this.byUser.delete(connection.userId);
    return true;
  }

  /** Every socket of the user now receives the room's events. */
  join(userId: string, roomId: string): void {
    for (const connection of this.byUser.get(userId) ?? []) {
      connection.touched?.add(roomId);
      if (connection.rooms.has(roomId) || (connection.scope !== undefined && connection.scope !== roomId)) continue;
      this.attach(connection, roomId);
      if (connection.active) connection.socket.subscribe(roomTopic(roomId));
    }
  }

  /** No socket of the user receives the room's events any more. */
  leave(userId: string, roomId: string): void {
    for (const connection of this.byUser.get(userId) ?? []) {
      connection.touched?.add(roomId);
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
      connection.touched?.add(roomId);
      if (connection.active) connection.socket.unsubscribe(roomTopic(roomId));
      if (connection.scope === roomId) connection.disconnect(CloseCode.roomGone, "the room was deleted");
    }
  }

  isConnected(userId: string): boolean {
    return this.byUser.has(userId);
  }

  connectionsOf(userId: string): ReadonlySet<Connection<S>> {
    return this.byUser.get(userId) ?? EMPTY;
  }

  connectionsIn(roomId: string): ReadonlySet<Connection<S>> {
    return this.byRoom.get(roomId) ?? EMPTY;
  }

  *connections(): Iterable<Connection<S>> {
    for (const set of this.byUser.values()) yield* set;
  }

  /** How many users have a connection here. */
  get userCount(): number {
    return this.byUser.size;
  }

  get size(): number {
    let n = 0;
    for (const set of this.byUser.values()) n += set.size;
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
