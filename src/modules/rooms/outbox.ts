import type { Database, DB } from "../../db";
import type { Events, ServerEvent } from "../../events";

/**
 * Events held back until the transaction that caused them has committed, then sent in
 * the order they were queued. A client that reacts to an event by reading the database
 * must find the change there, and a rolled-back change must announce nothing.
 */
export class Outbox {
  private readonly queue: ((events: Events) => void)[] = [];

  toRoom(roomId: string, event: ServerEvent) {
    this.queue.push((e) => e.toRoom(roomId, event));
  }
  toUser(userId: string, event: ServerEvent) {
    this.queue.push((e) => e.toUser(userId, event));
  }
  joined(userId: string, roomId: string) {
    this.queue.push((e) => e.joined(userId, roomId));
  }
  left(userId: string, roomId: string) {
    this.queue.push((e) => e.left(userId, roomId));
  }
  /** A member came in: subscribe their sockets first so they see the announcement too. */
  memberJoined(roomId: string, userId: string) {
    this.joined(userId, roomId);
    this.toRoom(roomId, { type: "member.joined", roomId, userId });
  }
  /** A member went out: announce it while their sockets still listen, then unsubscribe them. */
  memberLeft(roomId: string, userId: string) {
    this.toRoom(roomId, { type: "member.left", roomId, userId });
    this.left(userId, roomId);
  }

  flush(events: Events) {
    for (const send of this.queue.splice(0)) send(events);
  }
}

/** Runs `fn` in a transaction, then sends the events it queued, only once it has committed. */
export async function writeThenAnnounce<T>(
  database: Database,
  events: Events,
  fn: (db: DB, out: Outbox) => Promise<T>,
): Promise<T> {
  // A fresh outbox per attempt: PostgreSQL may run a transaction again after a conflict.
  let out = new Outbox();
  const result = await database.tx((db) => fn(db, (out = new Outbox())));
  out.flush(events);
  return result;
}
