// Conventions for new code (dialect-neutral data access, events, git): CONTRIBUTING.md.
import { audit, requireServerAdmin } from "../admin/audit";
import { and, asc, count, desc, eq, gt, inArray, isNull, lt, ne, or, sql, type SQL } from "drizzle-orm";
import type { Database, DB, Tables } from "../../db";
import { discoverableRoom } from "../../db/conditions";
import { first } from "../../db";
import { Conflict, Forbidden, NotFound, ValidationFailed } from "../../errors";
import type { Events, PresenceView } from "../../events";
import { decodeCursor, encodeCursor } from "../../lib/cursor";
import { cleanName } from "../text";
import { toPublicUser, type UserRow } from "../users/service";
import { atLeast, effectiveRole, outranked, type Role, RoomAccess, type RoomRow } from "./access";
import type { AddMember, CreateRoom, LastMessage, MySettings, ReadState, Room, RoomMember, RoomPage, UpdateRoom, Visibility } from "./model";
import { notBanned, requireNotBanned } from "./bans";
import { Outbox, writeThenAnnounce } from "./outbox";

/** A room as one user sees it: their effective role and read position (null when not a member). */
export interface RoomForUser {
  room: RoomRow;
  role: Role | null;
  lastReadSeq: number | null;
  /** The member's own settings (absent: neither hidden nor muted). */
  settings?: MemberSettings;
}

/** What a member set for themselves in a room. */
export interface MemberSettings {
  hiddenSeq: number | null;
  notificationsMutedAt: Date | null;
}

export interface RoomListOptions {
  kind?: Room["kind"];
  teamId?: string;
  limit?: number;
  cursor?: string;
}

export interface NewRoom {
  kind: "group" | "channel";
  name: string;
  topic?: string | null;
  visibility: Visibility;
  teamId?: string | null;
  createdBy: string;
}

/** An initial or added member; `teamRole` lifts a channel member's effective role. */
export interface NewMember {
  userId: string;
  role: Role;
  teamRole?: Role | null;
}

const iso = (d: Date) => d.toISOString();

export function toRoom(
  room: RoomRow,
  extra: { memberCount: number; lastMessage: LastMessage | null; role: Role | null; lastReadSeq: number | null; settings?: MemberSettings },
): Room {
  const settings = extra.role ? extra.settings : undefined;
  return {
    id: room.id,
    kind: room.kind,
    name: room.name,
    topic: room.topic,
    teamId: room.teamId,
    visibility: room.visibility,
    createdBy: room.createdBy,
    createdAt: iso(room.createdAt),
    memberCount: extra.memberCount,
    lastMessage: extra.lastMessage,
    lastSeq: room.lastSeq,
    unreadCount: extra.role && extra.lastReadSeq !== null ? Math.max(0, room.lastSeq - extra.lastReadSeq) : 0,
    myRole: extra.role,
    myLastReadSeq: extra.role ? extra.lastReadSeq : null,
    lastActivityAt: iso(room.lastActivityAt),
    hidden: isHidden(room, settings?.hiddenSeq ?? null),
    muted: !!settings?.notificationsMutedAt,
  };
}

function toMember(row: { user: UserRow; role: Role; joinedAt: Date; lastReadSeq: number; mutedUntil: Date | null }, presence: PresenceView, now: number): RoomMember {
  const mutedUntil = row.mutedUntil && row.mutedUntil.getTime() > now ? iso(row.mutedUntil) : null;
  return { user: toPublicUser(row.user, presence), role: row.role, joinedAt: iso(row.joinedAt), lastReadSeq: row.lastReadSeq, mutedUntil };
}

/** Hidden while no message came after the one that was newest when it was hidden. */
const isHidden = (room: Pick<RoomRow, "lastSeq">, hiddenSeq: number | null) => hiddenSeq !== null && room.lastSeq <= hiddenSeq;

const cleanTopic = (topic: string | null | undefined) => (topic == null ? null : topic.trim() || null);

/** `rooms.last_activity_at DESC, rooms.id DESC` pages: the cursor is the last row's pair. */
function activityCursor(rooms: Tables["rooms"], cursor: string | undefined): SQL | undefined {
  if (!cursor) return undefined;
  const [at, id] = decodeCursor(cursor, ["time", "string"]) as [number, string];
  const when = new Date(at);
  return or(lt(rooms.lastActivityAt, when), and(eq(rooms.lastActivityAt, when), lt(rooms.id, id)));
}

function page<T>(rows: T[], limit: number, key: (row: T) => (string | number)[]) {
  const items = rows.slice(0, limit);
  return { items, nextCursor: rows.length > limit ? encodeCursor(key(items[items.length - 1]!)) : null };
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * Group rooms, direct chats and the membership rules of every room kind. Team channels
 * are created and synchronised by the team service through the `…InTx` helpers here.
 */
export class RoomService {
  /** This database's tables. */
  private get t(): Tables {
    return this.database.tables;
  }

  readonly access: RoomAccess;

  constructor(
    private readonly database: Database,
    private readonly events: Events,
    private readonly presence: PresenceView,
    private readonly now: () => number = Date.now,
  ) {
    this.access = new RoomAccess(database);
  }

  private get db() {
    return this.database.db;
  }

  private write<T>(fn: (db: DB, out: Outbox) => Promise<T>): Promise<T> {
    return writeThenAnnounce(this.database, this.events, fn);
  }

  /** Room JSON for any number of rows in two more queries: member counts and newest messages. */
  async views(rows: RoomForUser[], db: DB = this.db): Promise<Room[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.room.id);
    const counts = await db
      .select({ roomId: this.t.roomMembers.roomId, n: count() })
      .from(this.t.roomMembers)
      .where(inArray(this.t.roomMembers.roomId, ids))
      .groupBy(this.t.roomMembers.roomId);
    const withMessages = rows.filter((r) => r.room.lastSeq > 0).map((r) => r.room.id);
    const newest = withMessages.length
      ? await db
          .select({
            roomId: this.t.messages.roomId,
            id: this.t.messages.id,
            seq: this.t.messages.seq,
            senderId: this.t.messages.senderId,
            content: this.t.messages.content,
            createdAt: this.t.messages.createdAt,
            deletedAt: this.t.messages.deletedAt,
          })
          .from(this.t.messages)
          .innerJoin(this.t.rooms, and(eq(this.t.rooms.id, this.t.messages.roomId), eq(this.t.messages.seq, this.t.rooms.lastSeq)))
          .where(inArray(this.t.rooms.id, withMessages))
      : [];
    const countOf = new Map(counts.map((c) => [c.roomId, Number(c.n)]));
    const lastOf = new Map(
      newest.map((m) => [
        m.roomId,
        { id: m.id, seq: m.seq, senderId: m.senderId, content: m.content, createdAt: iso(m.createdAt), deletedAt: m.deletedAt ? iso(m.deletedAt) : null },
      ]),
    );
    return rows.map((r) =>
      toRoom(r.room, {
        memberCount: countOf.get(r.room.id) ?? 0,
        lastMessage: lastOf.get(r.room.id) ?? null,
        role: r.role,
        lastReadSeq: r.lastReadSeq,
        settings: r.settings,
      }),
    );
  }

  /**
   * The caller's rooms, most recent activity first, in three queries per page; `kind` and
   * `teamId` narrow it. Direct chats the caller hid are left out until a message comes.
   */
  async list(userId: string, options: RoomListOptions = {}): Promise<RoomPage> {
    const { rooms, roomMembers, teamMembers } = this.t;
    const limit = options.limit ?? 50;
    const rows = await this.db
      .select({
        room: rooms,
        role: roomMembers.role,
        lastReadSeq: roomMembers.lastReadSeq,
        hiddenSeq: roomMembers.hiddenSeq,
        notificationsMutedAt: roomMembers.notificationsMutedAt,
        teamRole: teamMembers.role,
      })
      .from(roomMembers)
      .innerJoin(rooms, eq(rooms.id, roomMembers.roomId))
      .leftJoin(teamMembers, and(eq(teamMembers.teamId, rooms.teamId), eq(teamMembers.userId, userId)))
      .where(
        and(
          eq(roomMembers.userId, userId),
          or(isNull(roomMembers.hiddenSeq), gt(rooms.lastSeq, roomMembers.hiddenSeq)),
          options.kind ? eq(rooms.kind, options.kind) : undefined,
          options.teamId ? eq(rooms.teamId, options.teamId) : undefined,
          activityCursor(rooms, options.cursor),
        ),
      )
      .orderBy(desc(rooms.lastActivityAt), desc(rooms.id))
      .limit(limit + 1);
    const { items, nextCursor } = page(rows, limit, (r) => [r.room.lastActivityAt.getTime(), r.room.id]);
    const views = await this.views(
      items.map((r) => ({
        room: r.room,
        role: effectiveRole(r.room, r.role, r.teamRole),
        lastReadSeq: r.lastReadSeq,
        settings: { hiddenSeq: r.hiddenSeq, notificationsMutedAt: r.notificationsMutedAt },
      })),
    );
    return { rooms: views, nextCursor };
  }

  /**
   * The caller's own settings for a room: `hidden` (direct chats only) hides it from their list
   * until its next message; `muted` marks it muted (it still counts unread). Answers the room.
   */
  async updateMine(userId: string, roomId: string, patch: MySettings): Promise<Room> {
    await this.database.tx(async (db) => {
      const found = await this.access.member(roomId, userId);
      if (patch.hidden && found.room.kind !== "direct") throw new Forbidden("Only a direct chat can be hidden; leave the room instead.");
      const values: Partial<MemberSettings> = {};
      if (patch.hidden !== undefined) values.hiddenSeq = patch.hidden ? found.room.lastSeq : null;
      if (patch.muted !== undefined) {
        const current = await this.settingsOf(db, roomId, userId);
        values.notificationsMutedAt = patch.muted ? (current.notificationsMutedAt ?? new Date(this.now())) : null;
      }
      await db.update(this.t.roomMembers).set(values).where(and(eq(this.t.roomMembers.roomId, roomId), eq(this.t.roomMembers.userId, userId)));
    });
    return this.get(userId, roomId);
  }

  private async settingsOf(db: DB, roomId: string, userId: string): Promise<MemberSettings> {
    const row = first(
      await db
        .select({ hiddenSeq: this.t.roomMembers.hiddenSeq, notificationsMutedAt: this.t.roomMembers.notificationsMutedAt })
        .from(this.t.roomMembers)
        .where(and(eq(this.t.roomMembers.roomId, roomId), eq(this.t.roomMembers.userId, userId)))
        .limit(1),
    );
    return row ?? { hiddenSeq: null, notificationsMutedAt: null };
  }

  /** Public group rooms anyone may discover and join, most recent activity first. */
  async listPublic(userId: string, q: string | undefined, limit = 50, cursor?: string): Promise<RoomPage> {
    const term = (q ?? "").trim().toLowerCase();
    const rows = await this.db
      .select({ room: this.t.rooms, role: this.t.roomMembers.role, lastReadSeq: this.t.roomMembers.lastReadSeq })
      .from(this.t.rooms)
      .leftJoin(this.t.roomMembers, and(eq(this.t.roomMembers.roomId, this.t.rooms.id), eq(this.t.roomMembers.userId, userId)))
      .where(
        and(
          // The partial index's own condition, so that planners can use it.
          discoverableRoom(this.t.rooms),
          term ? sql`lower(${this.t.rooms.name}) LIKE ${`%${escapeLike(term)}%`} ESCAPE '\\'` : undefined,
          activityCursor(this.t.rooms, cursor),
        ),
      )
      .orderBy(desc(this.t.rooms.lastActivityAt), desc(this.t.rooms.id))
      .limit(limit + 1);
    const { items, nextCursor } = page(rows, limit, (r) => [r.room.lastActivityAt.getTime(), r.room.id]);
    return { rooms: await this.views(items), nextCursor };
  }

  async get(userId: string, roomId: string): Promise<Room> {
    const found = await this.access.canRead(roomId, userId);
    const settings = found.role ? await this.settingsOf(this.db, roomId, userId) : undefined;
    return (await this.views([{ ...found, settings }]))[0]!;
  }

  async create(userId: string, input: CreateRoom): Promise<Room> {
    const name = cleanName(input.name);
    const memberIds = [...new Set(input.memberIds ?? [])].filter((id) => id !== userId);
    const room = await this.write(async (db, out) => {
      await this.requireUsers(db, memberIds);
      return this.createRoomInTx(db, out, { kind: "group", name, topic: input.topic, visibility: input.visibility ?? "private", createdBy: userId }, [
        { userId, role: "owner" },
        ...memberIds.map((id) => ({ userId: id, role: "member" as const })),
      ]);
    });
    return (await this.views([{ room, role: "owner", lastReadSeq: 0 }]))[0]!;
  }

  /**
   * The one direct room of a pair, whoever asks first. The pair's sorted ids are a unique
   * key, so concurrent starts insert once and everyone else reads the winner's row.
   */
  async startDirect(userId: string, otherId: string): Promise<{ room: Room; created: boolean }> {
    if (otherId === userId)
      throw new ValidationFailed("You can't start a direct chat with yourself.", { in: "body", fields: [{ field: "userId", message: "must be another user" }] });
    const directKey = [userId, otherId].sort().join(":");
    const { roomId, created } = await this.write(async (db, out) => {
      await this.requireUsers(db, [otherId]);
      const now = new Date(this.now());
      const [inserted] = await db
        .insert(this.t.rooms)
        .values({ id: Bun.randomUUIDv7(), kind: "direct", name: null, topic: null, teamId: null, visibility: "private", directKey, createdBy: userId, createdAt: now, lastActivityAt: now })
        .onConflictDoNothing({ target: this.t.rooms.directKey })
        .returning();
      if (inserted) {
        await this.insertMembers(db, inserted, [userId, otherId].map((id) => ({ userId: id, role: "member" as const })), now);
        this.announceCreated(out, inserted, [userId, otherId].map((id) => ({ userId: id, role: "member" as const })));
        return { roomId: inserted.id, created: true };
      }
      const existing = first(await db.select({ id: this.t.rooms.id }).from(this.t.rooms).where(eq(this.t.rooms.directKey, directKey)).limit(1));
      return { roomId: existing!.id, created: false };
    });
    return { room: await this.get(userId, roomId), created };
  }

  async update(userId: string, roomId: string, patch: UpdateRoom): Promise<Room> {
    const changed = await this.write(async (db, out) => {
      const found = await this.access.member(roomId, userId);
      if (found.room.kind === "direct") throw new Forbidden("A direct chat has no name, topic or visibility to change.");
      if (!atLeast(found.role, "admin")) throw new Forbidden("Only a room admin or owner may change the room.");
      const values: Partial<RoomRow> = {};
      if (patch.name !== undefined) values.name = cleanName(patch.name);
      if (patch.topic !== undefined) values.topic = cleanTopic(patch.topic);
      if (patch.visibility !== undefined) values.visibility = patch.visibility;
      if (Object.keys(values).length === 0) return false;
      const [room] = await db.update(this.t.rooms).set(values).where(eq(this.t.rooms.id, roomId)).returning();
      // A channel turning public must hold the whole team, like every public channel.
      if (room!.kind === "channel" && found.room.visibility === "private" && room!.visibility === "public")
        await this.addTeamToChannelInTx(db, out, room!);
      return true;
    });
    if (changed) {
      const found = (await this.access.lookup(roomId, userId))!;
      const [shared] = await this.views([{ room: found.room, role: null, lastReadSeq: null }]);
      this.events.toRoom(roomId, { type: "room.updated", room: shared });
    }
    return this.get(userId, roomId);
  }

  /**
   * Owner only; a channel, only when no member of it ranks above the caller in the team (it
   * would lock them out). Members hear `room.deleted` and are then unsubscribed.
   * `asServerAdmin`: the caller is a server admin, who may delete any room, direct ones too;
   * the deletion is audited in the same transaction.
   */
  async remove(userId: string, roomId: string, options: { asServerAdmin?: boolean } = {}): Promise<void> {
    await this.write(async (db, out) => {
      if (options.asServerAdmin) {
        await requireServerAdmin(db, this.t, userId);
        const room = first(await db.select().from(this.t.rooms).where(eq(this.t.rooms.id, roomId)).limit(1));
        if (!room) throw new NotFound("Room");
        const details = { kind: room.kind, name: room.name };
        await audit(db, this.t, { actorId: userId, action: "room.delete", targetType: "room", targetId: roomId, details }, new Date(this.now()));
        return this.deleteRoomInTx(db, out, roomId);
      }
      const found = await this.access.member(roomId, userId);
      if (found.room.kind === "direct") throw new Forbidden("A direct chat can't be deleted.");
      if (found.role !== "owner") throw new Forbidden("Only a room owner may delete the room.");
      if (found.room.kind === "channel" && (await this.teamRolesIn(db, found.room)).some((r) => outranked(found.room, found.teamRole, r)))
        throw new Forbidden("A member of this channel ranks above you in the team: you can't delete it.");
      await this.deleteRoomInTx(db, out, roomId);
    });
  }

  /** Joins a room the caller can see (public group room, or public channel of their team); idempotent. */
  async join(userId: string, roomId: string): Promise<Room> {
    await this.write(async (db, out) => {
      const found = await this.access.canRead(roomId, userId);
      if (found.role) return;
      await this.addMembersInTx(db, out, found.room, [{ userId, role: "member" }]);
    });
    return this.get(userId, roomId);
  }

  /**
   * Leaves a room. Refused for direct chats (they always keep their two members) and public
   * channels (they hold the whole team: leave the team instead); the last owner of a group
   * room and the last member of any room must hand over or delete it instead.
   */
  async leave(userId: string, roomId: string): Promise<void> {
    await this.write(async (db, out) => {
      const found = await this.access.member(roomId, userId);
      const { room } = found;
      if (room.kind === "direct") throw new Forbidden("You can't leave a direct chat.");
      if (room.kind === "channel" && room.visibility === "public")
        throw new Forbidden("Every team member is in the team's public channels: leave the team instead.");
      const others = await db
        .select({ role: this.t.roomMembers.role })
        .from(this.t.roomMembers)
        .where(and(eq(this.t.roomMembers.roomId, roomId), ne(this.t.roomMembers.userId, userId)));
      if (others.length === 0) throw new Conflict("You are the last member: delete the room instead.");
      const stored = await this.storedRole(db, roomId, userId);
      if (room.kind === "group" && stored === "owner" && !others.some((o) => o.role === "owner"))
        throw new Conflict("Make another member owner before leaving, or delete the room.");
      await this.removeMembersInTx(db, out, roomId, [userId]);
    });
  }

  /** Members only (an outsider of a public room is told to join first). */
  async members(userId: string, roomId: string): Promise<RoomMember[]> {
    const found = await this.access.member(roomId, userId);
    const rows = await this.db
      .select({
        user: this.t.users,
        role: this.t.roomMembers.role,
        joinedAt: this.t.roomMembers.joinedAt,
        lastReadSeq: this.t.roomMembers.lastReadSeq,
        mutedUntil: this.t.roomMembers.mutedUntil,
        teamRole: this.t.teamMembers.role,
      })
      .from(this.t.roomMembers)
      .innerJoin(this.t.users, eq(this.t.users.id, this.t.roomMembers.userId))
      .innerJoin(this.t.rooms, eq(this.t.rooms.id, this.t.roomMembers.roomId))
      .leftJoin(this.t.teamMembers, and(eq(this.t.teamMembers.teamId, this.t.rooms.teamId), eq(this.t.teamMembers.userId, this.t.roomMembers.userId)))
      .where(eq(this.t.roomMembers.roomId, roomId))
      .orderBy(asc(this.t.roomMembers.joinedAt), asc(this.t.roomMembers.userId));
    const now = this.now();
    return rows.map((r) => toMember({ ...r, role: effectiveRole(found.room, r.role, r.teamRole)! }, this.presence, now));
  }

  async addMember(actorId: string, roomId: string, input: AddMember): Promise<RoomMember> {
    const role = input.role ?? "member";
    await this.write(async (db, out) => {
      const found = await this.access.member(roomId, actorId);
      if (found.room.kind === "direct") throw new Forbidden("A direct chat always has exactly its two members.");
      if (!atLeast(found.role, "admin")) throw new Forbidden("Only a room admin or owner may add members.");
      if (role === "owner" && found.role !== "owner") throw new Forbidden("Only an owner may make someone owner.");
      await this.requireUsers(db, [input.userId]);
      const target = (await this.access.lookup(roomId, input.userId))!;
      if (target.role) throw new Conflict("That user is already a member of the room.");
      if (found.room.kind === "channel" && !target.teamRole)
        throw new Forbidden("Only members of the team can be added to its channels.");
      await this.addMembersInTx(db, out, found.room, [{ userId: input.userId, role }]);
    });
    return this.member(roomId, input.userId);
  }

  /**
   * Admins may change members' and admins' roles; only owners may make or unmake owners
   * (an admin can't demote an owner). A group room keeps at least one owner. In a channel,
   * nobody changes the role of a member who ranks above them in the team.
   */
  async changeRole(actorId: string, roomId: string, targetId: string, role: Role): Promise<RoomMember> {
    await this.write(async (db, out) => {
      const found = await this.access.member(roomId, actorId);
      if (found.room.kind === "direct") throw new Forbidden("Members of a direct chat have no roles to change.");
      if (!atLeast(found.role, "admin")) throw new Forbidden("Only a room admin or owner may change roles.");
      const target = (await this.access.lookup(roomId, targetId))!;
      if (!target.role) throw new NotFound("Member");
      if ((target.role === "owner" || role === "owner") && found.role !== "owner")
        throw new Forbidden("Only an owner may make or unmake owners.");
      if (outranked(found.room, found.teamRole, target.teamRole))
        throw new Forbidden("That member ranks above you in the team: you can't change their role in its channels.");
      const stored = (await this.storedRole(db, roomId, targetId))!;
      if (stored === role) return;
      if (found.room.kind === "group" && stored === "owner") {
        const owners = await db
          .select({ n: count() })
          .from(this.t.roomMembers)
          .where(and(eq(this.t.roomMembers.roomId, roomId), eq(this.t.roomMembers.role, "owner")));
        if (Number(owners[0]!.n) <= 1) throw new Conflict("A room needs an owner: make someone else owner first.");
      }
      // Admins and owners can't be muted, so a promotion lifts a mute.
      const set = atLeast(role, "admin") ? { role, mutedUntil: null } : { role };
      await db.update(this.t.roomMembers).set(set).where(and(eq(this.t.roomMembers.roomId, roomId), eq(this.t.roomMembers.userId, targetId)));
      out.toRoom(roomId, { type: "member.updated", roomId, userId: targetId, role: effectiveRole(found.room, role, target.teamRole) });
    });
    return this.member(roomId, targetId);
  }

  /**
   * Admins remove members and admins; only owners remove owners; in a channel, nobody removes a
   * member who ranks above them in the team. Removing yourself is leaving.
   */
  async removeMember(actorId: string, roomId: string, targetId: string): Promise<void> {
    if (targetId === actorId) return this.leave(actorId, roomId);
    await this.write(async (db, out) => {
      const found = await this.access.member(roomId, actorId);
      if (found.room.kind === "direct") throw new Forbidden("A direct chat always keeps its two members.");
      if (!atLeast(found.role, "admin")) throw new Forbidden("Only a room admin or owner may remove members.");
      if (found.room.kind === "channel" && found.room.visibility === "public")
        throw new Forbidden("A public channel holds every team member: remove them from the team instead.");
      const target = (await this.access.lookup(roomId, targetId))!;
      if (!target.role) throw new NotFound("Member");
      if (target.role === "owner" && found.role !== "owner") throw new Forbidden("An admin can't remove an owner.");
      if (outranked(found.room, found.teamRole, target.teamRole))
        throw new Forbidden("That member ranks above you in the team: you can't remove them from its channels.");
      await this.removeMembersInTx(db, out, roomId, [targetId]);
    });
  }

  /**
   * Moves the caller's read position forward to `seq` (capped at the room's lastSeq); never
   * back. Members hear `read { roomId, userId, seq, previousSeq }` when it moved.
   */
  async markRead(userId: string, roomId: string, seq: number): Promise<ReadState> {
    const state = await this.database.tx(async (db) => {
      const found = await this.access.member(roomId, userId);
      const target = Math.min(seq, found.room.lastSeq);
      const [moved] = await db
        .update(this.t.roomMembers)
        .set({ lastReadSeq: target })
        .where(and(eq(this.t.roomMembers.roomId, roomId), eq(this.t.roomMembers.userId, userId), lt(this.t.roomMembers.lastReadSeq, target)))
        .returning({ lastReadSeq: this.t.roomMembers.lastReadSeq });
      return { moved: !!moved, previousSeq: found.lastReadSeq, lastReadSeq: moved?.lastReadSeq ?? found.lastReadSeq, lastSeq: found.room.lastSeq };
    });
    // previousSeq lets members move the readCount of exactly the messages this read covered.
    if (state.moved) this.events.toRoom(roomId, { type: "read", roomId, userId, seq: state.lastReadSeq, previousSeq: state.previousSeq });
    return { roomId, lastReadSeq: state.lastReadSeq, unreadCount: Math.max(0, state.lastSeq - state.lastReadSeq) };
  }

  /** Every room the user belongs to (a socket subscribes to these when it opens). */
  async roomIdsOf(userId: string): Promise<string[]> {
    const rows = await this.db.select({ id: this.t.roomMembers.roomId }).from(this.t.roomMembers).where(eq(this.t.roomMembers.userId, userId));
    return rows.map((r) => r.id);
  }

  /** The user's rooms with their newest seq, for the WebSocket `ready` frame. */
  async syncStateOf(userId: string): Promise<{ id: string; lastSeq: number }[]> {
    return this.database.lookups.roomsOf(userId);
  }

  /** The ids of a room's members. */
  async memberIds(roomId: string, db: DB = this.db): Promise<string[]> {
    const rows = await db.select({ id: this.t.roomMembers.userId }).from(this.t.roomMembers).where(eq(this.t.roomMembers.roomId, roomId));
    return rows.map((r) => r.id);
  }

  /** One member as the members list shows them. */
  async member(roomId: string, userId: string): Promise<RoomMember> {
    const row = first(
      await this.db
        .select({
          user: this.t.users,
          role: this.t.roomMembers.role,
          joinedAt: this.t.roomMembers.joinedAt,
          lastReadSeq: this.t.roomMembers.lastReadSeq,
          mutedUntil: this.t.roomMembers.mutedUntil,
        })
        .from(this.t.roomMembers)
        .innerJoin(this.t.users, eq(this.t.users.id, this.t.roomMembers.userId))
        .where(and(eq(this.t.roomMembers.roomId, roomId), eq(this.t.roomMembers.userId, userId)))
        .limit(1),
    );
    if (!row) throw new NotFound("Member");
    const found = (await this.access.lookup(roomId, userId))!;
    return toMember({ ...row, role: found.role ?? row.role }, this.presence, this.now());
  }

  // ——— building blocks, used inside a transaction (also by the team service) ———

  /** Creates a group room or channel with its first members; each hears `room.created`. */
  async createRoomInTx(db: DB, out: Outbox, spec: NewRoom, members: NewMember[]): Promise<RoomRow> {
    const now = new Date(this.now());
    const [room] = await db
      .insert(this.t.rooms)
      .values({
        id: Bun.randomUUIDv7(),
        kind: spec.kind,
        name: spec.name,
        topic: cleanTopic(spec.topic),
        teamId: spec.teamId ?? null,
        visibility: spec.visibility,
        directKey: null,
        createdBy: spec.createdBy,
        createdAt: now,
        lastActivityAt: now,
      })
      .returning();
    await this.insertMembers(db, room!, members, now);
    this.announceCreated(out, room!, members);
    return room!;
  }

  /** Adds members who are not in yet (joining at the room's newest message); returns who was added. */
  async addMembersInTx(db: DB, out: Outbox, room: RoomRow, members: NewMember[]): Promise<string[]> {
    const now = new Date(this.now());
    await requireNotBanned(db, this.t, room.id, members.map((m) => m.userId), now);
    const added = await this.insertMembers(db, room, members, now);
    for (const userId of added) out.memberJoined(room.id, userId);
    return added;
  }

  /** Removes members; each hears `member.left` before being unsubscribed. */
  async removeMembersInTx(db: DB, out: Outbox, roomId: string, userIds: string[]): Promise<void> {
    if (userIds.length === 0) return;
    const removed = await db
      .delete(this.t.roomMembers)
      .where(and(eq(this.t.roomMembers.roomId, roomId), inArray(this.t.roomMembers.userId, userIds)))
      .returning({ userId: this.t.roomMembers.userId });
    for (const { userId } of removed) out.memberLeft(roomId, userId);
  }

  /** Deletes a room with its members and messages; members hear `room.deleted`, then are unsubscribed. */
  async deleteRoomInTx(db: DB, out: Outbox, roomId: string): Promise<void> {
    const members = await db.select({ userId: this.t.roomMembers.userId }).from(this.t.roomMembers).where(eq(this.t.roomMembers.roomId, roomId));
    await db.delete(this.t.rooms).where(eq(this.t.rooms.id, roomId));
    out.toRoom(roomId, { type: "room.deleted", roomId });
    for (const { userId } of members) out.left(userId, roomId);
  }

  /** Puts every team member not banned from it into a public channel. */
  async addTeamToChannelInTx(db: DB, out: Outbox, room: RoomRow): Promise<void> {
    const team = await db.select({ userId: this.t.teamMembers.userId }).from(this.t.teamMembers).where(eq(this.t.teamMembers.teamId, room.teamId!));
    const allowed = await notBanned(db, this.t, room.id, team.map((m) => m.userId), new Date(this.now()));
    await this.addMembersInTx(db, out, room, allowed.map((userId) => ({ userId, role: "member" as const })));
  }

  private async insertMembers(db: DB, room: RoomRow, members: NewMember[], now: Date): Promise<string[]> {
    if (members.length === 0) return [];
    const rows = await db
      .insert(this.t.roomMembers)
      .values(members.map((m) => ({ roomId: room.id, userId: m.userId, role: m.role, joinedAt: now, lastReadSeq: room.lastSeq, lastDeliveredSeq: room.lastSeq })))
      .onConflictDoNothing()
      .returning({ userId: this.t.roomMembers.userId });
    return rows.map((r) => r.userId);
  }

  private announceCreated(out: Outbox, room: RoomRow, members: NewMember[]) {
    for (const m of members) {
      out.joined(m.userId, room.id);
      const view = toRoom(room, { memberCount: members.length, lastMessage: null, role: effectiveRole(room, m.role, m.teamRole ?? null), lastReadSeq: room.lastSeq });
      out.toUser(m.userId, { type: "room.created", room: view });
    }
  }

  /** The team roles of a channel's members who are team admins or owners. */
  private async teamRolesIn(db: DB, channel: RoomRow): Promise<Role[]> {
    const { roomMembers, teamMembers } = this.t;
    const rows = await db
      .select({ role: teamMembers.role })
      .from(roomMembers)
      .innerJoin(teamMembers, and(eq(teamMembers.teamId, channel.teamId!), eq(teamMembers.userId, roomMembers.userId)))
      .where(and(eq(roomMembers.roomId, channel.id), inArray(teamMembers.role, ["owner", "admin"])));
    return rows.map((r) => r.role);
  }

  private async storedRole(db: DB, roomId: string, userId: string): Promise<Role | null> {
    const row = first(
      await db
        .select({ role: this.t.roomMembers.role })
        .from(this.t.roomMembers)
        .where(and(eq(this.t.roomMembers.roomId, roomId), eq(this.t.roomMembers.userId, userId)))
        .limit(1),
    );
    return row?.role ?? null;
  }

  /** 404 unless every id names a user whose account is not deleted. */
  async requireUsers(db: DB, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const found = await db.select({ id: this.t.users.id }).from(this.t.users).where(and(inArray(this.t.users.id, ids), isNull(this.t.users.deletedAt)));
    if (found.length !== new Set(ids).size) throw new NotFound("User");
  }
}
