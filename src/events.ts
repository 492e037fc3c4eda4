/**
 * How services tell the real-time layer what happened. Services call these and never
 * touch sockets; the real-time publisher fans the events out (locally through Bun topics,
 * across processes through a broker). Tests use RecordingEvents.
 */
export interface ServerEvent {
  type: string;
  [key: string]: unknown;
}

/** A message's deletion as every socket hears it, live and replayed by `sync`: it keeps its id and seq. */
export const messageDeleted = (m: { roomId: string; id: string; seq: number }): ServerEvent => ({
  type: "message.deleted",
  roomId: m.roomId,
  id: m.id,
  seq: m.seq,
});

export interface Events {
  /** To every socket of every member of the room. */
  toRoom(roomId: string, event: ServerEvent): void;
  /** To every socket of one user. */
  toUser(userId: string, event: ServerEvent): void;
  /** Ephemeral: to each open `/ws` socket of these users, once per socket (not replayed by `sync`). */
  toUsers(userIds: string[], event: ServerEvent): void;
  /** The user's open sockets start receiving the room's events now. */
  joined(userId: string, roomId: string): void;
  /** The user's open sockets stop receiving the room's events now. */
  left(userId: string, roomId: string): void;
  /** Close every socket opened under this session (logout, token reuse). */
  sessionRevoked(sessionId: string): void;
}

export type RecordedEvent =
  | { to: "room"; roomId: string; event: ServerEvent }
  | { to: "user"; userId: string; event: ServerEvent }
  | { to: "users"; userIds: string[]; event: ServerEvent }
  | { to: "joined" | "left"; userId: string; roomId: string }
  | { to: "sessionRevoked"; sessionId: string };

/** Keeps every event in order, for tests and for running without a gateway. */
export class RecordingEvents implements Events {
  readonly log: RecordedEvent[] = [];
  toRoom(roomId: string, event: ServerEvent) {
    this.log.push({ to: "room", roomId, event });
  }
  toUser(userId: string, event: ServerEvent) {
    this.log.push({ to: "user", userId, event });
  }
  toUsers(userIds: string[], event: ServerEvent) {
    this.log.push({ to: "users", userIds: [...userIds], event });
  }
  joined(userId: string, roomId: string) {
    this.log.push({ to: "joined", userId, roomId });
  }
  left(userId: string, roomId: string) {
    this.log.push({ to: "left", userId, roomId });
  }
  sessionRevoked(sessionId: string) {
    this.log.push({ to: "sessionRevoked", sessionId });
  }
  /** Events of one type, in the order they were emitted. */
  ofType(type: string) {
    return this.log.filter((e) => "event" in e && e.event.type === type);
  }
  clear() {
    this.log.length = 0;
  }
}

/** Who is online right now, as the real-time layer knows it. */
export interface PresenceView {
  isOnline(userId: string): boolean;
}

export const nobodyOnline: PresenceView = { isOnline: () => false };
