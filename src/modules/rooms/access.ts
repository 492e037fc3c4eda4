// Conventions for new code (dialect-neutral data access, events, git): CONTRIBUTING.md.
import type { Database, Tables } from "../../db";
import { Forbidden, NotFound } from "../../errors";

export type Role = "owner" | "admin" | "member";
export type RoomRow = Tables["rooms"]["$inferSelect"];

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
 * admins run every channel they are in without being promoted channel by channel. What the
 * team role gives is never stored in the channel (a channel's creator is stored as a plain
 * member), so it follows the team role: a demotion in the team takes it back.
 */
export function effectiveRole(room: Pick<RoomRow, "kind">, roomRole: Role | null, teamRole: Role | null): Role | null {
  if (!roomRole) return null;
  return room.kind === "channel" ? higher(roomRole, teamRole) : roomRole;
}

/**
 * Whether, in a channel, someone with team role `actor` may remove, demote or lock out a member
 * with team role `target`: never one who ranks higher in the team, whatever either's channel
 * role. Outside channels there are no team ranks to compare.
 */
export function outranked(room: Pick<RoomRow, "kind">, actor: Role | null, target: Role | null): boolean {
  if (room.kind !== "channel" || !target) return false;
  return !actor || RANK[target] > RANK[actor];
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

  /** The room and the caller's role in it (null when not a member); inside a transaction, as it sees them. */
  async lookup(roomId: string, userId: string): Promise<RoomLookup | null> {
    const row = await this.database.lookups.room(roomId, userId);
    if (!row) return null;
    return {
      room: row.room,
      role: effectiveRole(row.room, row.role, row.teamRole),
      teamRole: row.teamRole,
      lastReadSeq: row.lastReadSeq,
    };
  }

  /** Whether a non-member may see the room: public group rooms to anyone, public channels to the team. */
  static visibleToOutsider(found: Pick<RoomLookup, "room" | "teamRole">): boolean {
    if (found.room.visibility !== "public") return false;
    if (found.room.kind === "group") return true;
    return found.room.kind === "channel" && !!found.teamRole;
  }

  /** Members, and anyone for a public group room (channels: any team member). */
  async canRead(roomId: string, userId: string) {
    const found = await this.lookup(roomId, userId);
    if (!found) throw new NotFound("Room");
    if (found.role || RoomAccess.visibleToOutsider(found)) return found;
    throw new NotFound("Room");
  }

  /** Members only; outsiders get NOT_FOUND. */
  async member(roomId: string, userId: string) {
    const found = await this.lookup(roomId, userId);
    if (!found?.role) {
      // A public room is visible, so an outsider is told they may not act rather than that it is missing.
      if (found && RoomAccess.visibleToOutsider(found)) throw new Forbidden("Join the room first.");
      throw new NotFound("Room");
    }
    return found as RoomLookup & { role: Role; lastReadSeq: number };
  }

  /** A member with at least `needed`; a member below it gets FORBIDDEN. */
  async role(roomId: string, userId: string, needed: Role) {
    const found = await this.member(roomId, userId);
    if (!atLeast(found.role, needed)) throw new Forbidden(`Only a room ${needed}${needed === "owner" ? "" : " or above"} may do that.`);
    return found;
  }
}
