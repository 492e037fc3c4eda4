// Conventions for new code (dialect-neutral data access, events, git): CONTRIBUTING.md.
import { and, eq, sql } from "drizzle-orm";
import type { Database, DB } from "../../db";
import { first, roomMembers, rooms, teamMembers } from "../../db/schema";
import { Forbidden, NotFound } from "../../errors";

export type Role = "owner" | "admin" | "member";
export type RoomRow = typeof rooms.$inferSelect;

const RANK: Record<Role, number> = { member: 1, admin: 2, owner: 3 };

export function atLeast(role: Role | null | undefined, needed: Role): boolean {
  return !!role && RANK[role] >= RANK[needed];
}

/** The higher of two roles (null counts as none). */
export function higher(a: Role | null | undefined, b: Role | null | undefined): Role | null {
  if (!a) return b ?? null;
  if (!b) return a;
  return RANK[a] >= RANK[b] ? a : b;
}

/**
 * In a channel, a member's role is at least their role in the team: team owners and
 * admins run every channel they are in without being promoted channel by channel.
 */
export function effectiveRole(room: Pick<RoomRow, "kind">, roomRole: Role | null, teamRole: Role | null): Role | null {
  if (!roomRole) return null;
  return room.kind === "channel" ? higher(roomRole, teamRole) : roomRole;
}

export interface RoomLookup {
  room: RoomRow;
  /** The caller's effective role, null when not a member. */
  role: Role | null;
  /** The caller's role in the room's team (channels only), null otherwise. */
  teamRole: Role | null;
  lastReadSeq: number | null;
}

/**
 * Who may see and do what in a room. Rooms the caller may not see are reported as
 * NOT_FOUND, never FORBIDDEN, so their existence does not leak.
 */
export class RoomAccess {
  constructor(private readonly database: Database) {}

  /** The room and the caller's role in it (null when not a member). */
  async lookup(roomId: string, userId: string, db: DB = this.database.db): Promise<RoomLookup | null> {
    // On SQLite the one connection is also every transaction's: the prepared query sees what `db` sees.
    const row = first(
      this.database.dialect === "sqlite"
        ? await this.prepared().execute({ roomId, userId })
        : await this.select(db, userId).where(eq(rooms.id, roomId)).limit(1),
    );
    if (!row) return null;
    return {
      room: row.room,
      role: effectiveRole(row.room, row.role, row.teamRole),
      teamRole: row.teamRole,
      lastReadSeq: row.lastReadSeq,
    };
  }

  private select(db: DB, userId: ReturnType<typeof sql.placeholder> | string) {
    return db
      .select({ room: rooms, role: roomMembers.role, lastReadSeq: roomMembers.lastReadSeq, teamRole: teamMembers.role })
      .from(rooms)
      .leftJoin(roomMembers, and(eq(roomMembers.roomId, rooms.id), eq(roomMembers.userId, userId)))
      .leftJoin(teamMembers, and(eq(teamMembers.teamId, rooms.teamId), eq(teamMembers.userId, userId)));
  }

  /** Every route looks a room up: on SQLite its query is compiled once (building it cost more than running it). */
  private lookupQuery: ReturnType<RoomAccess["prepare"]> | null = null;

  private prepared() {
    return (this.lookupQuery ??= this.prepare());
  }

  private prepare() {
    return this.select(this.database.db, sql.placeholder("userId")).where(eq(rooms.id, sql.placeholder("roomId"))).limit(1).prepare();
  }

  /** Whether a non-member may see the room: public group rooms to anyone, public channels to the team. */
  static visibleToOutsider(found: Pick<RoomLookup, "room" | "teamRole">): boolean {
    if (found.room.visibility !== "public") return false;
    if (found.room.kind === "group") return true;
    return found.room.kind === "channel" && !!found.teamRole;
  }

  /** Members, and anyone for a public group room (channels: any team member). */
  async canRead(roomId: string, userId: string, db?: DB) {
    const found = await this.lookup(roomId, userId, db);
    if (!found) throw new NotFound("Room");
    if (found.role || RoomAccess.visibleToOutsider(found)) return found;
    throw new NotFound("Room");
  }

  /** Members only; outsiders get NOT_FOUND. */
  async member(roomId: string, userId: string, db?: DB) {
    const found = await this.lookup(roomId, userId, db);
    if (!found?.role) {
      // A public room is visible, so an outsider is told they may not act rather than that it is missing.
      if (found && RoomAccess.visibleToOutsider(found)) throw new Forbidden("Join the room first.");
      throw new NotFound("Room");
    }
    return found as RoomLookup & { role: Role; lastReadSeq: number };
  }

  /** A member with at least `needed`; a member below it gets FORBIDDEN. */
  async role(roomId: string, userId: string, needed: Role, db?: DB) {
    const found = await this.member(roomId, userId, db);
    if (!atLeast(found.role, needed)) throw new Forbidden(`Only a room ${needed}${needed === "owner" ? "" : " or above"} may do that.`);
    return found;
  }
}
