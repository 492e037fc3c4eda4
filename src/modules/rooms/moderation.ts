import { and, desc, eq } from "drizzle-orm";
import type { Database, DB, Tables } from "../../db";
import { Forbidden, NotFound } from "../../errors";
import type { Events } from "../../events";
import { audit } from "../admin/audit";
import { atLeast, type RoomLookup } from "./access";
import { activeBan } from "./bans";
import type { Ban, BanBody } from "./model";
import { type Outbox, writeThenAnnounce } from "./outbox";
import type { RoomService } from "./service";

type BanRow = Tables["roomBans"]["$inferSelect"];

const toBan = (row: BanRow): Ban => ({
  userId: row.userId,
  reason: row.reason,
  bannedBy: row.bannedBy,
  createdAt: row.createdAt.toISOString(),
  expiresAt: row.expiresAt ? row.expiresAt.toISOString() : null,
});

/**
 * Room moderation by the room's admins and owners: bans. Nobody acts on an owner or an admin
 * (their effective role, so team admins in channels too), and direct chats have no moderation.
 */
export class RoomModeration {
  private get t(): Tables {
    return this.database.tables;
  }

  constructor(
    private readonly database: Database,
    private readonly events: Events,
    private readonly rooms: RoomService,
    private readonly now: () => number = Date.now,
  ) {}

  private write<T>(fn: (db: DB, out: Outbox) => Promise<T>): Promise<T> {
    return writeThenAnnounce(this.database, this.events, fn);
  }

  /** The caller as a moderator of the room: a member with at least admin, outside direct chats. */
  private async moderator(roomId: string, actorId: string): Promise<RoomLookup> {
    const found = await this.rooms.access.member(roomId, actorId);
    if (found.room.kind === "direct") throw new Forbidden("Direct chats have no moderation.");
    if (!atLeast(found.role, "admin")) throw new Forbidden("Only a room admin or owner may moderate this room.");
    return found;
  }

  /** 403 when the target is an admin or owner of the room (a non-member has no rank). */
  private async requireModeratable(roomId: string, targetId: string): Promise<RoomLookup | null> {
    const target = await this.rooms.access.lookup(roomId, targetId);
    if (target?.role && atLeast(target.role, "admin")) throw new Forbidden("Room admins and owners can't be moderated.");
    return target;
  }

  /** Bans a user (replacing an earlier ban); a member is removed as by a removal. */
  async ban(actorId: string, roomId: string, input: BanBody): Promise<Ban> {
    return this.write(async (db, out) => {
      const found = await this.moderator(roomId, actorId);
      if (found.room.kind === "channel" && found.room.visibility === "public")
        throw new Forbidden("A public channel holds every team member: remove them from the team instead.");
      await this.rooms.requireUsers(db, [input.userId]);
      const target = await this.requireModeratable(roomId, input.userId);
      const now = new Date(this.now());
      const row = {
        roomId,
        userId: input.userId,
        reason: input.reason?.trim() || null,
        bannedBy: actorId,
        createdAt: now,
        expiresAt: input.expiresInSeconds ? new Date(now.getTime() + input.expiresInSeconds * 1000) : null,
      };
      await db
        .insert(this.t.roomBans)
        .values(row)
        .onConflictDoUpdate({
          target: [this.t.roomBans.roomId, this.t.roomBans.userId],
          set: { reason: row.reason, bannedBy: row.bannedBy, createdAt: row.createdAt, expiresAt: row.expiresAt },
        });
      if (target?.role) await this.rooms.removeMembersInTx(db, out, roomId, [input.userId]);
      await audit(
        db,
        this.t,
        { actorId, action: "room.ban", targetType: "user", targetId: input.userId, details: { roomId, reason: row.reason, expiresAt: toBan(row).expiresAt } },
        now,
      );
      return toBan(row);
    });
  }

  /** Mutes a member until `until` (an ISO time; null or a past time unmutes); members hear `member.updated`. */
  async mute(actorId: string, roomId: string, targetId: string, until: string | null): Promise<void> {
    await this.write(async (db, out) => {
      await this.moderator(roomId, actorId);
      const target = await this.requireModeratable(roomId, targetId);
      if (!target?.role) throw new NotFound("Member");
      const now = new Date(this.now());
      const at = until === null ? null : new Date(until);
      const mutedUntil = at && at > now ? at : null;
      await db
        .update(this.t.roomMembers)
        .set({ mutedUntil })
        .where(and(eq(this.t.roomMembers.roomId, roomId), eq(this.t.roomMembers.userId, targetId)));
      const iso = mutedUntil ? mutedUntil.toISOString() : null;
      out.toRoom(roomId, { type: "member.updated", roomId, userId: targetId, role: target.role, mutedUntil: iso });
      await audit(
        db,
        this.t,
        { actorId, action: mutedUntil ? "room.mute" : "room.unmute", targetType: "user", targetId, details: { roomId, mutedUntil: iso } },
        now,
      );
    });
  }

  /** Bans in force, newest first. */
  async bans(actorId: string, roomId: string): Promise<Ban[]> {
    await this.moderator(roomId, actorId);
    const rows = await this.database.db
      .select()
      .from(this.t.roomBans)
      .where(activeBan(this.t, roomId, new Date(this.now())))
      .orderBy(desc(this.t.roomBans.createdAt), desc(this.t.roomBans.userId));
    return rows.map(toBan);
  }

  /** Lifts a ban in force; 404 when there is none. */
  async unban(actorId: string, roomId: string, userId: string): Promise<void> {
    await this.write(async (db) => {
      await this.moderator(roomId, actorId);
      const now = new Date(this.now());
      const lifted = await db
        .delete(this.t.roomBans)
        .where(and(activeBan(this.t, roomId, now), eq(this.t.roomBans.userId, userId)))
        .returning({ userId: this.t.roomBans.userId });
      if (lifted.length === 0) throw new NotFound("Ban");
      await audit(db, this.t, { actorId, action: "room.unban", targetType: "user", targetId: userId, details: { roomId } }, now);
    });
  }
}
