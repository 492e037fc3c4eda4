import type { Database } from "../db";
import type { PresenceView, ServerEvent } from "../events";
import type { Logger } from "../logger";
import type { Hub } from "./hub";
import { type PresenceCluster, singleProcess } from "./presence-cluster";
import type { PresenceEvent } from "./protocol";

export interface PresenceDeps {
  hub: Hub;
  database: Database;
  graceMs: number;
  logger: Logger;
  now: () => number;
  /** Sends an ephemeral event to every socket of these users. */
  toUsers(userIds: string[], event: ServerEvent): void;
  /** Stores when the user was last seen online. */
  storeLastSeen(userId: string, at: Date): Promise<void>;
  /** Sockets on other processes; this process alone by default. */
  cluster?: PresenceCluster;
}

/**
 * A user is online while they have at least one socket, counted across tabs and devices,
 * and for a short grace period after the last one closes so that a reload does not
 * flicker. Going offline stores `lastSeenAt` (the moment the last socket closed).
 * Changes go to everyone who shares a room with the user, each socket once. With several
 * processes, a user's sockets on all of them count, and only the process that saw the first
 * one open (or the last one go) announces it.
 */
export class Presence implements PresenceView {
  private readonly leaving = new Map<string, { timer: Timer; at: Date }>();
  private readonly cluster: PresenceCluster;

  constructor(private readonly deps: PresenceDeps) {
    this.cluster = deps.cluster ?? singleProcess;
    this.cluster.onGone((userIds) => void this.goneElsewhere(userIds));
  }

  isOnline(userId: string): boolean {
    return this.deps.hub.isConnected(userId) || this.leaving.has(userId) || this.cluster.isOnlineElsewhere(userId);
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
    void this.comeOnline(userId);
  }

  /** The user's last socket closed. */
  disconnected(userId: string, at: Date): void {
    if (this.leaving.has(userId)) return;
    const timer = setTimeout(() => void this.goOffline(userId), this.deps.graceMs);
    this.leaving.set(userId, { timer, at });
  }

  /**
   * At shutdown: everyone still counted as online is stored as last seen now (or when their
   * last socket closed), and the other processes stop hearing from this one.
   */
  async close(): Promise<void> {
    const now = new Date(this.deps.now());
    const users = new Set<string>(this.leaving.keys());
    for (const connection of this.deps.hub.connections()) users.add(connection.userId);
    for (const { timer } of this.leaving.values()) clearTimeout(timer);
    const at = new Map([...this.leaving].map(([id, p]) => [id, p.at]));
    this.leaving.clear();
    await Promise.all([...users].map((id) => this.store(id, at.get(id) ?? now)));
    await this.cluster.close();
  }

  private async comeOnline(userId: string) {
    // Already online on another process: nobody needs telling.
    if (!(await this.settle(this.cluster.claim(userId), "claiming"))) return;
    await this.announce(userId, { type: "presence", userId, presence: "online", lastSeenAt: new Date(this.deps.now()).toISOString() });
  }

  private async goOffline(userId: string) {
    const pending = this.leaving.get(userId);
    if (!pending || this.deps.hub.isConnected(userId)) return;
    await this.store(userId, pending.at);
    // Came back while the time was being stored: they stay online and nobody is told.
    if (this.leaving.get(userId) !== pending) return;
    this.leaving.delete(userId);
    // Still online on another process: that one announces when its last socket goes.
    if (!(await this.settle(this.cluster.release(userId), "releasing"))) return;
    await this.announce(userId, { type: "presence", userId, presence: "offline", lastSeenAt: pending.at.toISOString() });
  }

  /** The process that held these users stopped; none of them is online anywhere else. */
  private async goneElsewhere(userIds: string[]) {
    const at = new Date(this.deps.now());
    for (const userId of userIds) {
      if (this.isOnline(userId)) continue;
      await this.store(userId, at);
      await this.announce(userId, { type: "presence", userId, presence: "offline", lastSeenAt: at.toISOString() });
    }
  }

  /** The cluster's answer; when it cannot be asked, this process acts as if it were alone. */
  private async settle(answer: Promise<boolean>, doing: string): Promise<boolean> {
    try {
      return await answer;
    } catch (error) {
      this.deps.logger.warn(`${doing} presence across processes failed`, { error: String(error) });
      return true;
    }
  }

  private async store(userId: string, at: Date) {
    try {
      await this.deps.storeLastSeen(userId, at);
    } catch (error) {
      this.deps.logger.error("storing last seen failed", { userId, error: String(error) });
    }
  }

  private async announce(userId: string, event: PresenceEvent) {
    try {
      this.deps.toUsers(await this.deps.database.lookups.coMembers(userId), event);
    } catch (error) {
      this.deps.logger.error("announcing presence failed", { userId, error: String(error) });
    }
  }
}
