import { and, eq, inArray, ne } from "drizzle-orm";
import type { Database } from "../db";
import { roomMembers } from "../db/schema";
import type { PresenceView, ServerEvent } from "../events";
import type { Logger } from "../logger";
import type { Hub } from "./hub";
import type { PresenceEvent } from "./protocol";

export interface PresenceDeps {
  hub: Hub;
  database: Database;
  graceMs: number;
  logger: Logger;
  now: () => number;
  /** Sends an ephemeral event to every socket of these users. */
  toUsers(userIds: string[], event: ServerEvent): void;
}

/**
 * A user is online while they have at least one socket, counted across tabs and devices,
 * and for a short grace period after the last one closes so that a reload does not
 * flicker. Going offline stores `lastSeenAt` (the moment the last socket closed).
 * Changes go to everyone who shares a room with the user, each socket once.
 */
export class Presence implements PresenceView {
  private readonly leaving = new Map<string, { timer: Timer; at: Date }>();
  private touchLastSeen: (userId: string, at: Date) => Promise<void> = async () => {};

  constructor(private readonly deps: PresenceDeps) {}

  /** Where `lastSeenAt` is stored; the users service is built after the presence view it reads. */
  bind(touchLastSeen: (userId: string, at: Date) => Promise<void>) {
    this.touchLastSeen = touchLastSeen;
  }

  isOnline(userId: string): boolean {
    return this.deps.hub.isConnected(userId) || this.leaving.has(userId);
  }

  /** The user's first socket opened. */
  connected(userId: string): void {
    const pending = this.leaving.get(userId);
    if (pending) {
      // Back within the grace period: nobody saw them leave.
      clearTimeout(pending.timer);
      this.leaving.delete(userId);
      return;
    }
    void this.announce(userId, { type: "presence", userId, presence: "online", lastSeenAt: new Date(this.deps.now()).toISOString() });
  }

  /** The user's last socket closed. */
  disconnected(userId: string, at: Date): void {
    if (this.leaving.has(userId)) return;
    const timer = setTimeout(() => void this.goOffline(userId), this.deps.graceMs);
    this.leaving.set(userId, { timer, at });
  }

  /** At shutdown: everyone still counted as online is stored as last seen now. */
  async flush(): Promise<void> {
    const now = new Date(this.deps.now());
    const users = new Set<string>(this.leaving.keys());
    for (const conn of this.deps.hub.connections()) users.add(conn.userId);
    for (const { timer } of this.leaving.values()) clearTimeout(timer);
    const at = new Map([...this.leaving].map(([id, p]) => [id, p.at]));
    this.leaving.clear();
    await Promise.all([...users].map((id) => this.store(id, at.get(id) ?? now)));
  }

  private async goOffline(userId: string) {
    const pending = this.leaving.get(userId);
    if (!pending || this.deps.hub.isConnected(userId)) return;
    await this.store(userId, pending.at);
    // Came back while the time was being stored: they stay online and nobody is told.
    if (this.leaving.get(userId) !== pending) return;
    this.leaving.delete(userId);
    await this.announce(userId, { type: "presence", userId, presence: "offline", lastSeenAt: pending.at.toISOString() });
  }

  private async store(userId: string, at: Date) {
    try {
      await this.touchLastSeen(userId, at);
    } catch (error) {
      this.deps.logger.error("storing last seen failed", { userId, error: String(error) });
    }
  }

  private async announce(userId: string, event: PresenceEvent) {
    try {
      this.deps.toUsers(await this.coMembers(userId), event);
    } catch (error) {
      this.deps.logger.error("announcing presence failed", { userId, error: String(error) });
    }
  }

  /** Everyone who shares at least one room with the user, in one query. */
  private async coMembers(userId: string): Promise<string[]> {
    const myRooms = this.deps.database.db
      .select({ roomId: roomMembers.roomId })
      .from(roomMembers)
      .where(eq(roomMembers.userId, userId));
    const rows = await this.deps.database.db
      .selectDistinct({ userId: roomMembers.userId })
      .from(roomMembers)
      .where(and(inArray(roomMembers.roomId, myRooms), ne(roomMembers.userId, userId)));
    return rows.map((r) => r.userId);
  }
}
