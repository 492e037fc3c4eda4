// Conventions for new code (dialect-neutral data access, events, git): CONTRIBUTING.md.
import { audit, requireServerAdmin } from "../admin/audit";
import { and, asc, count, desc, eq, gt, inArray, isNull, ne, or, sql } from "drizzle-orm";
import type { Database, DB, Tables } from "../../db";
import { first } from "../../db";
import { Conflict, Forbidden, NotFound } from "../../errors";
import type { Events, PresenceView } from "../../events";
import { atLeast, effectiveRole, higher, type Role } from "../rooms/access";
import type { Room } from "../rooms/model";
import { Outbox, writeThenAnnounce } from "../rooms/outbox";
import { decodeCursor, encodeCursor } from "../../lib/cursor";
import { invitationFields, inviteCode, stillUsable, usableInvitation } from "../../lib/invite-code";
import type { RoomService } from "../rooms/service";
import { cleanName } from "../text";
import { toPublicUser } from "../users/service";
import {
  type AddTeamMember,
  type CreateChannel,
  type CreateInvitation,
  type CreateTeam,
  DEFAULT_INVITATION_TTL,
  type Invitation,
  type Team,
  type TeamMember,
  type TeamPage,
  type UpdateTeam,
} from "./model";

type TeamRow = Tables["teams"]["$inferSelect"];
type InvitationRow = Tables["invitations"]["$inferSelect"];

const iso = (d: Date) => d.toISOString();

export function toTeam(team: TeamRow, memberCount: number, role: Role | null): Team {
  return {
    id: team.id,
    name: team.name,
    description: team.description,
    createdBy: team.createdBy,
    createdAt: iso(team.createdAt),
    memberCount,
    myRole: role,
  };
}

export function toInvitation(row: InvitationRow): Invitation {
  return { ...invitationFields(row), teamId: row.teamId };
}

/**
 * Teams, their membership and channels, and invitations. The team's membership drives its
 * channels': joining a team puts you in every public channel, leaving takes you out of all.
 */
export class TeamService {
  /** This database's tables. */
  private get t(): Tables {
    return this.database.tables;
  }

  constructor(
    private readonly database: Database,
    private readonly events: Events,
    private readonly rooms: RoomService,
    private readonly presence: PresenceView,
    /** The clock invitations expire by; tests pass their own. */
    private readonly now: () => number = Date.now,
  ) {}

  private get db() {
    return this.database.db;
  }

  private write<T>(fn: (db: DB, out: Outbox) => Promise<T>): Promise<T> {
    return writeThenAnnounce(this.database, this.events, fn);
  }

  /** The team and the user's role in it; 404 for a non-member, so teams don't leak either. */
  private async membership(db: DB, teamId: string, userId: string, needed: Role = "member") {
    const row = first(
      await db
        .select({ team: this.t.teams, role: this.t.teamMembers.role })
        .from(this.t.teams)
        .innerJoin(this.t.teamMembers, and(eq(this.t.teamMembers.teamId, this.t.teams.id), eq(this.t.teamMembers.userId, userId)))
        .where(eq(this.t.teams.id, teamId))
        .limit(1),
    );
    if (!row) throw new NotFound("Team");
    if (!atLeast(row.role, needed)) throw new Forbidden(`Only a team ${needed}${needed === "owner" ? "" : " or above"} may do that.`);
    return row;
  }

  private async storedRole(db: DB, teamId: string, userId: string): Promise<Role | null> {
    const row = first(
      await db
        .select({ role: this.t.teamMembers.role })
        .from(this.t.teamMembers)
        .where(and(eq(this.t.teamMembers.teamId, teamId), eq(this.t.teamMembers.userId, userId)))
        .limit(1),
    );
    return row?.role ?? null;
  }

  private async views(rows: { team: TeamRow; role: Role | null }[]): Promise<Team[]> {
    if (rows.length === 0) return [];
    const counts = await this.db
      .select({ teamId: this.t.teamMembers.teamId, n: count() })
      .from(this.t.teamMembers)
      .where(
        inArray(
          this.t.teamMembers.teamId,
          rows.map((r) => r.team.id),
        ),
      )
      .groupBy(this.t.teamMembers.teamId);
    const countOf = new Map(counts.map((c) => [c.teamId, Number(c.n)]));
    return rows.map((r) => toTeam(r.team, countOf.get(r.team.id) ?? 0, r.role));
  }

  /** `team.updated` to every member, each with their own role. */
  private async announce(teamId: string): Promise<void> {
    const team = first(await this.db.select().from(this.t.teams).where(eq(this.t.teams.id, teamId)).limit(1));
    if (!team) return;
    const members = await this.db.select({ userId: this.t.teamMembers.userId, role: this.t.teamMembers.role }).from(this.t.teamMembers).where(eq(this.t.teamMembers.teamId, teamId));
    for (const m of members) this.events.toUser(m.userId, { type: "team.updated", team: toTeam(team, members.length, m.role) });
  }

  async create(userId: string, input: CreateTeam): Promise<Team> {
    const name = cleanName(input.name);
    const team = await this.write(async (db, out) => {
      const now = new Date(this.now());
      const [team] = await db
        .insert(this.t.teams)
        .values({ id: Bun.randomUUIDv7(), name, description: input.description?.trim() || null, createdBy: userId, createdAt: now })
        .returning();
      await db.insert(this.t.teamMembers).values({ teamId: team!.id, userId, role: "owner", joinedAt: now });
      // The owner runs general through the team role (see createChannel).
      await this.rooms.createRoomInTx(db, out, { kind: "channel", name: "general", visibility: "public", teamId: team!.id, createdBy: userId }, [
        { userId, role: "member", teamRole: "owner" },
      ]);
      return team!;
    });
    await this.announce(team.id);
    return toTeam(team, 1, "owner");
  }

  async list(userId: string, limit = 50, cursor?: string): Promise<TeamPage> {
    const after = cursor ? (decodeCursor(cursor, ["string"])[0] as string) : undefined;
    const rows = await this.db
      .select({ team: this.t.teams, role: this.t.teamMembers.role })
      .from(this.t.teamMembers)
      .innerJoin(this.t.teams, eq(this.t.teams.id, this.t.teamMembers.teamId))
      .where(and(eq(this.t.teamMembers.userId, userId), after ? gt(this.t.teams.id, after) : undefined))
      .orderBy(asc(this.t.teams.id))
      .limit(limit + 1);
    const items = rows.slice(0, limit);
    return {
      teams: await this.views(items),
      nextCursor: rows.length > limit ? encodeCursor([items[items.length - 1]!.team.id]) : null,
    };
  }

  async get(userId: string, teamId: string): Promise<Team> {
    return (await this.views([await this.membership(this.db, teamId, userId)]))[0]!;
  }

  async update(userId: string, teamId: string, patch: UpdateTeam): Promise<Team> {
    const values: Partial<TeamRow> = {};
    if (patch.name !== undefined) values.name = cleanName(patch.name);
    if (patch.description !== undefined) values.description = patch.description?.trim() || null;
    await this.write(async (db) => {
      await this.membership(db, teamId, userId, "admin");
      if (Object.keys(values).length) await db.update(this.t.teams).set(values).where(eq(this.t.teams.id, teamId));
    });
    if (Object.keys(values).length) await this.announce(teamId);
    return this.get(userId, teamId);
  }

  /**
   * Owner only: the team goes with its channels and invitations. `asServerAdmin`: the caller is
   * a server admin, who may delete any team; the deletion is audited in the same transaction.
   */
  async remove(userId: string, teamId: string, options: { asServerAdmin?: boolean } = {}): Promise<void> {
    await this.write(async (db, out) => {
      if (options.asServerAdmin) {
        await requireServerAdmin(db, this.t, userId);
        const team = first(await db.select().from(this.t.teams).where(eq(this.t.teams.id, teamId)).limit(1));
        if (!team) throw new NotFound("Team");
        const details = { name: team.name };
        await audit(db, this.t, { actorId: userId, action: "team.delete", targetType: "team", targetId: teamId, details }, new Date(this.now()));
      } else await this.membership(db, teamId, userId, "owner");
      const channels = await db.select({ id: this.t.rooms.id }).from(this.t.rooms).where(eq(this.t.rooms.teamId, teamId));
      for (const c of channels) await this.rooms.deleteRoomInTx(db, out, c.id);
      const members = await db.select({ userId: this.t.teamMembers.userId }).from(this.t.teamMembers).where(eq(this.t.teamMembers.teamId, teamId));
      await db.delete(this.t.teams).where(eq(this.t.teams.id, teamId));
      for (const m of members) out.toUser(m.userId, { type: "team.deleted", teamId });
    });
  }

  async members(userId: string, teamId: string): Promise<TeamMember[]> {
    await this.membership(this.db, teamId, userId);
    const rows = await this.db
      .select({ user: this.t.users, role: this.t.teamMembers.role, joinedAt: this.t.teamMembers.joinedAt })
      .from(this.t.teamMembers)
      .innerJoin(this.t.users, eq(this.t.users.id, this.t.teamMembers.userId))
      .where(eq(this.t.teamMembers.teamId, teamId))
      .orderBy(asc(this.t.teamMembers.joinedAt), asc(this.t.teamMembers.userId));
    return rows.map((r) => ({ user: toPublicUser(r.user, this.presence), role: r.role, joinedAt: iso(r.joinedAt) }));
  }

  private async member(teamId: string, userId: string): Promise<TeamMember> {
    const row = first(
      await this.db
        .select({ user: this.t.users, role: this.t.teamMembers.role, joinedAt: this.t.teamMembers.joinedAt })
        .from(this.t.teamMembers)
        .innerJoin(this.t.users, eq(this.t.users.id, this.t.teamMembers.userId))
        .where(and(eq(this.t.teamMembers.teamId, teamId), eq(this.t.teamMembers.userId, userId)))
        .limit(1),
    );
    if (!row) throw new NotFound("Member");
    return { user: toPublicUser(row.user, this.presence), role: row.role, joinedAt: iso(row.joinedAt) };
  }

  /** Admin or owner; only an owner may add an owner. The new member joins every public channel. */
  async addMember(actorId: string, teamId: string, input: AddTeamMember): Promise<TeamMember> {
    const role = input.role ?? "member";
    await this.write(async (db, out) => {
      const actor = await this.membership(db, teamId, actorId, "admin");
      if (role === "owner" && actor.role !== "owner") throw new Forbidden("Only a team owner may make someone owner.");
      await this.rooms.requireUsers(db, [input.userId]);
      if (await this.storedRole(db, teamId, input.userId)) throw new Conflict("That user is already a member of the team.");
      await this.joinInTx(db, out, teamId, input.userId, role);
    });
    await this.announce(teamId);
    return this.member(teamId, input.userId);
  }

  /**
   * Admins change members' and admins' roles; only owners make or unmake owners; a team keeps an owner.
   * A channel role is at least the team role, so in each channel of the team where the member's
   * role moves with it (up or down), the channel hears `member.updated` as for a change made in the channel.
   */
  async changeRole(actorId: string, teamId: string, targetId: string, role: Role): Promise<TeamMember> {
    const changed = await this.write(async (db, out) => {
      const actor = await this.membership(db, teamId, actorId, "admin");
      const current = await this.storedRole(db, teamId, targetId);
      if (!current) throw new NotFound("Member");
      if ((current === "owner" || role === "owner") && actor.role !== "owner") throw new Forbidden("Only a team owner may make or unmake owners.");
      if (current === role) return false;
      if (current === "owner" && (await this.ownerCount(db, teamId)) <= 1)
        throw new Conflict("A team needs an owner: make someone else owner first.");
      await db.update(this.t.teamMembers).set({ role }).where(and(eq(this.t.teamMembers.teamId, teamId), eq(this.t.teamMembers.userId, targetId)));
      const channels = await db
        .select({ roomId: this.t.roomMembers.roomId, role: this.t.roomMembers.role })
        .from(this.t.roomMembers)
        .innerJoin(this.t.rooms, eq(this.t.rooms.id, this.t.roomMembers.roomId))
        .where(and(eq(this.t.rooms.teamId, teamId), eq(this.t.roomMembers.userId, targetId)));
      for (const c of channels) {
        const after = higher(c.role, role)!;
        if (after !== higher(c.role, current))
          out.toRoom(c.roomId, { type: "member.updated", roomId: c.roomId, userId: targetId, role: after });
      }
      return true;
    });
    if (changed) await this.announce(teamId);
    return this.member(teamId, targetId);
  }

  /** Admin or owner; an admin can't remove an owner. Removing yourself is leaving. */
  async removeMember(actorId: string, teamId: string, targetId: string): Promise<void> {
    if (actorId === targetId) return this.leave(actorId, teamId);
    await this.write(async (db, out) => {
      const actor = await this.membership(db, teamId, actorId, "admin");
      const target = await this.storedRole(db, teamId, targetId);
      if (!target) throw new NotFound("Member");
      if (target === "owner" && actor.role !== "owner") throw new Forbidden("An admin can't remove an owner.");
      await this.leaveInTx(db, out, teamId, targetId);
    });
    await this.announce(teamId);
  }

  /** Leaves the team and all of its channels. The last owner must hand the team over (or delete it) first. */
  async leave(userId: string, teamId: string): Promise<void> {
    await this.write(async (db, out) => {
      const me = await this.membership(db, teamId, userId);
      if (me.role === "owner" && (await this.ownerCount(db, teamId)) <= 1)
        throw new Conflict("Make another member owner before leaving, or delete the team.");
      await this.leaveInTx(db, out, teamId, userId);
    });
    await this.announce(teamId);
  }

  private async ownerCount(db: DB, teamId: string): Promise<number> {
    const [row] = await db
      .select({ n: count() })
      .from(this.t.teamMembers)
      .where(and(eq(this.t.teamMembers.teamId, teamId), eq(this.t.teamMembers.role, "owner")));
    return Number(row!.n);
  }

  /** Public channels, and the private ones I am in. */
  async channels(userId: string, teamId: string): Promise<Room[]> {
    const { role: teamRole } = await this.membership(this.db, teamId, userId);
    const rows = await this.db
      .select({
        room: this.t.rooms,
        role: this.t.roomMembers.role,
        lastReadSeq: this.t.roomMembers.lastReadSeq,
        hiddenSeq: this.t.roomMembers.hiddenSeq,
        notificationsMutedAt: this.t.roomMembers.notificationsMutedAt,
      })
      .from(this.t.rooms)
      .leftJoin(this.t.roomMembers, and(eq(this.t.roomMembers.roomId, this.t.rooms.id), eq(this.t.roomMembers.userId, userId)))
      .where(and(eq(this.t.rooms.teamId, teamId), or(eq(this.t.rooms.visibility, "public"), sql`${this.t.roomMembers.userId} IS NOT NULL`)))
      .orderBy(asc(this.t.rooms.createdAt), asc(this.t.rooms.id));
    return this.rooms.views(
      rows.map((r) => ({
        room: r.room,
        role: effectiveRole(r.room, r.role, teamRole),
        lastReadSeq: r.lastReadSeq,
        settings: { hiddenSeq: r.hiddenSeq, notificationsMutedAt: r.notificationsMutedAt },
      })),
    );
  }

  /**
   * Admin or owner; a public channel holds every team member from the start. The creator is
   * stored as a plain member: what they may do in the channel comes from their team role and
   * follows it (a creator demoted in the team keeps no power over the channel).
   */
  async createChannel(actorId: string, teamId: string, input: CreateChannel): Promise<Room> {
    const name = cleanName(input.name);
    const visibility = input.visibility ?? "public";
    const room = await this.write(async (db, out) => {
      const actor = await this.membership(db, teamId, actorId, "admin");
      const others =
        visibility === "public"
          ? await db
              .select({ userId: this.t.teamMembers.userId, role: this.t.teamMembers.role })
              .from(this.t.teamMembers)
              .where(and(eq(this.t.teamMembers.teamId, teamId), ne(this.t.teamMembers.userId, actorId)))
          : [];
      return this.rooms.createRoomInTx(db, out, { kind: "channel", name, topic: input.topic, visibility, teamId, createdBy: actorId }, [
        { userId: actorId, role: "member", teamRole: actor.role },
        ...others.map((m) => ({ userId: m.userId, role: "member" as const, teamRole: m.role })),
      ]);
    });
    return this.rooms.get(actorId, room.id);
  }

  async createInvitation(actorId: string, teamId: string, input: CreateInvitation): Promise<Invitation> {
    const row = await this.write(async (db) => {
      await this.membership(db, teamId, actorId, "admin");
      const now = new Date(this.now());
      const [row] = await db
        .insert(this.t.invitations)
        .values({
          code: inviteCode(),
          teamId,
          createdBy: actorId,
          createdAt: now,
          expiresAt: new Date(now.getTime() + (input.expiresInSeconds ?? DEFAULT_INVITATION_TTL) * 1000),
          maxUses: input.maxUses ?? null,
          uses: 0,
        })
        .returning();
      return row!;
    });
    return toInvitation(row);
  }

  /** Every invitation of the team, newest first, including spent, expired and revoked ones. */
  async listInvitations(actorId: string, teamId: string): Promise<Invitation[]> {
    await this.membership(this.db, teamId, actorId, "admin");
    const rows = await this.db.select().from(this.t.invitations).where(eq(this.t.invitations.teamId, teamId)).orderBy(desc(this.t.invitations.createdAt), desc(this.t.invitations.code));
    return rows.map(toInvitation);
  }

  /** Revoking is idempotent; a code of another team is unknown here (404). */
  async revokeInvitation(actorId: string, teamId: string, code: string): Promise<void> {
    await this.write(async (db) => {
      await this.membership(db, teamId, actorId, "admin");
      const found = first(
        await db
          .select({ code: this.t.invitations.code })
          .from(this.t.invitations)
          .where(and(eq(this.t.invitations.code, code), eq(this.t.invitations.teamId, teamId)))
          .limit(1),
      );
      if (!found) throw new NotFound("Invitation");
      await db
        .update(this.t.invitations)
        .set({ revokedAt: new Date(this.now()) })
        .where(and(eq(this.t.invitations.code, code), isNull(this.t.invitations.revokedAt)));
    });
  }

  /**
   * Joins the invitation's team. Unknown, expired, revoked and used-up codes are all 404.
   * A member accepting again changes nothing and spends no use; the use is taken by a
   * conditional UPDATE, so concurrent accepts can't go past maxUses.
   */
  async accept(userId: string, code: string): Promise<Team> {
    const { teamId, joined } = await this.write(async (db, out) => {
      const now = new Date(this.now());
      const invitation = first(await db.select().from(this.t.invitations).where(eq(this.t.invitations.code, code)).limit(1));
      if (!invitation || !usableInvitation(invitation, now)) throw new NotFound("Invitation");
      if (await this.storedRole(db, invitation.teamId, userId)) return { teamId: invitation.teamId, joined: false };
      const claimed = await db
        .update(this.t.invitations)
        .set({ uses: sql`${this.t.invitations.uses} + 1` })
        .where(and(eq(this.t.invitations.code, code), stillUsable(this.t.invitations, now)))
        .returning({ code: this.t.invitations.code });
      if (claimed.length === 0) throw new NotFound("Invitation");
      await this.joinInTx(db, out, invitation.teamId, userId, "member");
      return { teamId: invitation.teamId, joined: true };
    });
    if (joined) await this.announce(teamId);
    return this.get(userId, teamId);
  }

  /** Adds a team member and puts them in every public channel of the team. */
  private async joinInTx(db: DB, out: Outbox, teamId: string, userId: string, role: Role): Promise<void> {
    await db.insert(this.t.teamMembers).values({ teamId, userId, role, joinedAt: new Date(this.now()) });
    const publicChannels = await db
      .select()
      .from(this.t.rooms)
      .where(and(eq(this.t.rooms.teamId, teamId), eq(this.t.rooms.visibility, "public")));
    for (const channel of publicChannels) await this.rooms.addMembersInTx(db, out, channel, [{ userId, role: "member" }]);
  }

  /** Removes a team member from the team and from every channel of it; they hear `team.deleted`. */
  private async leaveInTx(db: DB, out: Outbox, teamId: string, userId: string): Promise<void> {
    const channels = await db
      .select({ id: this.t.rooms.id, visibility: this.t.rooms.visibility })
      .from(this.t.roomMembers)
      .innerJoin(this.t.rooms, eq(this.t.rooms.id, this.t.roomMembers.roomId))
      .where(and(eq(this.t.roomMembers.userId, userId), eq(this.t.rooms.teamId, teamId)));
    for (const c of channels) {
      await this.rooms.removeMembersInTx(db, out, c.id, [userId]);
      // A private channel nobody is left in could never be seen or reached again.
      if (c.visibility === "private" && (await this.rooms.memberIds(c.id, db)).length === 0)
        await this.rooms.deleteRoomInTx(db, out, c.id);
    }
    await db.delete(this.t.teamMembers).where(and(eq(this.t.teamMembers.teamId, teamId), eq(this.t.teamMembers.userId, userId)));
    // For the one who left, the team is gone.
    out.toUser(userId, { type: "team.deleted", teamId });
  }
}
