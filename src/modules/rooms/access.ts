// Conventions for new code (dialect-neutral data access, events, git): CONTRIBUTING.md.
import { and, eq } from "drizzle-orm";
import type { Database } from "../../db";
import { first, roomMembers, rooms } from "../../db/schema";
import { Forbidden, NotFound } from "../../errors";

export type Role = "owner" | "admin" | "member";
export type RoomRow = typeof rooms.$inferSelect;

const RANK: Record<Role, number> = { member: 1, admin: 2, owner: 3 };

export function atLeast(role: Role | null | undefined, needed: Role): boolean {
  return !!role && RANK[role] >= RANK[needed];
}

/**
 * Who may see and do what in a room. Rooms the caller may not see are reported as
 * NOT_FOUND, never FORBIDDEN, so their existence does not leak.
 */
export class RoomAccess {
  constructor(private readonly database: Database) {}

  /** The room and the caller's role in it (null when not a member). */
  async lookup(roomId: string, userId: string): Promise<{ room: RoomRow; role: Role | null } | null> {
    const row = first(
      await this.database.db
        .select({ room: rooms, role: roomMembers.role })
        .from(rooms)
        .leftJoin(roomMembers, and(eq(roomMembers.roomId, rooms.id), eq(roomMembers.userId, userId)))
        .where(eq(rooms.id, roomId))
        .limit(1),
    );
    return row ? { room: row.room, role: row.role } : null;
  }

  /** Members, and anyone for a public group room (channels: any team member). */
  async canRead(roomId: string, userId: string) {
    const found = await this.lookup(roomId, userId);
    if (!found) throw new NotFound("Room");
    if (found.role) return found;
    if (found.room.visibility === "public" && found.room.kind === "group") return found;
    throw new NotFound("Room");
  }

  /** Members only; outsiders get NOT_FOUND. */
  async member(roomId: string, userId: string) {
    const found = await this.lookup(roomId, userId);
    if (!found?.role) {
      // A public room is visible, so an outsider is told they may not act rather than that it is missing.
      if (found && found.room.visibility === "public" && found.room.kind === "group")
        throw new Forbidden("Join the room first.");
      throw new NotFound("Room");
    }
    return found as { room: RoomRow; role: Role };
  }

  /** A member with at least `needed`; a member below it gets FORBIDDEN. */
  async role(roomId: string, userId: string, needed: Role) {
    const found = await this.member(roomId, userId);
    if (!atLeast(found.role, needed)) throw new Forbidden(`Only a room ${needed}${needed === "owner" ? "" : " or above"} may do that.`);
    return found;
  }
}
