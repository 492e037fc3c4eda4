// Conventions for new code (dialect-neutral data access, events, git): CONTRIBUTING.md.
import { and, desc, eq, isNull, sql } from "drizzle-orm";
import type { Database, Tables } from "../../db";
import { first } from "../../db";
import { Forbidden, NotFound } from "../../errors";
import type { Events } from "../../events";
import { invitationFields, inviteCode, stillUsable, usableInvitation } from "../../lib/invite-code";
import { atLeast } from "./access";
import type { CreateRoomInvitation, Room, RoomInvitation } from "./model";
import { writeThenAnnounce } from "./outbox";
import type { RoomService } from "./service";

type RoomInvitationRow = Tables["roomInvitations"]["$inferSelect"];

const DEFAULT_TTL = 7 * 24 * 3600;

export function toRoomInvitation(row: RoomInvitationRow): RoomInvitation {
  return { ...invitationFields(row), roomId: row.roomId };
}

/**
 * Invite codes to private group rooms, so that a room can be shared by a link: created,
 * listed and revoked by the room's admins and owner; accepted by anyone not banned from it.
 * A room code and a team code are accepted at the same route: the code says which it is.
 */
export class RoomInvitations {
  private get t(): Tables {
    return this.database.tables;
  }

  constructor(
    private readonly database: Database,
    private readonly events: Events,
    private readonly rooms: RoomService,
    /** The clock invitations expire by; tests pass their own. */
    private readonly now: () => number = Date.now,
  ) {}

  async create(actorId: string, roomId: string, input: CreateRoomInvitation): Promise<RoomInvitation> {
    const row = await this.database.tx(async (db) => {
      await this.requireInviter(roomId, actorId);
      const now = new Date(this.now());
      const [row] = await db
        .insert(this.t.roomInvitations)
        .values({
          code: inviteCode(),
          roomId,
          createdBy: actorId,
          createdAt: now,
          expiresAt: new Date(now.getTime() + (input.expiresInSeconds ?? DEFAULT_TTL) * 1000),
          maxUses: input.maxUses ?? null,
          uses: 0,
        })
        .returning();
      return row!;
    });
    return toRoomInvitation(row);
  }

  /** Every invitation of the room, newest first, spent, expired and revoked ones included. */
  async list(actorId: string, roomId: string): Promise<RoomInvitation[]> {
    await this.requireInviter(roomId, actorId);
    const { roomInvitations } = this.t;
    const rows = await this.database.db
      .select()
      .from(roomInvitations)
      .where(eq(roomInvitations.roomId, roomId))
      .orderBy(desc(roomInvitations.createdAt), desc(roomInvitations.code));
    return rows.map(toRoomInvitation);
  }

  /** Idempotent; a code of another room is unknown here (404). */
  async revoke(actorId: string, roomId: string, code: string): Promise<void> {
    await this.database.tx(async (db) => {
      await this.requireInviter(roomId, actorId);
      const { roomInvitations } = this.t;
      const found = first(
        await db
          .select({ code: roomInvitations.code })
          .from(roomInvitations)
          .where(and(eq(roomInvitations.code, code), eq(roomInvitations.roomId, roomId)))
          .limit(1),
      );
      if (!found) throw new NotFound("Invitation");
      await db
        .update(roomInvitations)
        .set({ revokedAt: new Date(this.now()) })
        .where(and(eq(roomInvitations.code, code), isNull(roomInvitations.revokedAt)));
    });
  }

  /**
   * Joins the code's room, or answers null when `code` is no room code (it may be a team's).
   * Expired, revoked and used-up codes are 404; a user banned from the room gets 403 and
   * spends no use. A member accepting again gets the room back and spends no use. The use is
   * taken by a conditional UPDATE, so concurrent accepts never go past maxUses.
   */
  async accept(userId: string, code: string): Promise<Room | null> {
    const roomId = await writeThenAnnounce(this.database, this.events, async (db, out) => {
      const { roomInvitations } = this.t;
      const now = new Date(this.now());
      const invitation = first(await db.select().from(roomInvitations).where(eq(roomInvitations.code, code)).limit(1));
      if (!invitation) return null;
      if (!usableInvitation(invitation, now)) throw new NotFound("Invitation");
      const found = await this.rooms.access.lookup(invitation.roomId, userId);
      if (!found) throw new NotFound("Invitation");
      if (found.role) return found.room.id;
      const claimed = await db
        .update(roomInvitations)
        .set({ uses: sql`${roomInvitations.uses} + 1` })
        .where(and(eq(roomInvitations.code, code), stillUsable(roomInvitations, now)))
        .returning({ code: roomInvitations.code });
      if (claimed.length === 0) throw new NotFound("Invitation");
      // Refuses a banned user (403), and the whole transaction with the use it took.
      await this.rooms.addMembersInTx(db, out, found.room, [{ userId, role: "member" }]);
      return found.room.id;
    });
    return roomId === null ? null : this.rooms.get(userId, roomId);
  }

  /** An admin or owner of a private group room; other rooms are joined by id (public) or not by link at all. */
  private async requireInviter(roomId: string, userId: string): Promise<void> {
    const found = await this.rooms.access.member(roomId, userId);
    if (found.room.kind !== "group") throw new Forbidden("Only group rooms have invite codes (a team's channels are reached through the team).");
    if (found.room.visibility !== "private") throw new Forbidden("A public room is joined by its id: it needs no invite code.");
    if (!atLeast(found.role, "admin")) throw new Forbidden("Only a room admin or owner may manage invite codes.");
  }
}

