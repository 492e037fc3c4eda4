import { and, count, desc, eq, inArray, isNotNull, isNull, lt, or, type SQL, type SQLWrapper, sql } from "drizzle-orm";
import { NotFound } from "../../errors";
import type { Database, Tables } from "../../db";
import type { PresenceView } from "../../events";
import { decodeCursor, encodeCursor } from "../../lib/cursor";
import { toPublicUser, toUserRef, type UserRow } from "../users/service";
import type { AdminRoomPage, AdminRoomQuery, AdminUser, AdminUserPage, AdminUserQuery, AuditPage, ReportPage, ReportQuery, ReportView, Stats } from "./model";

/** What this process serves right now, for the stats. */
export interface ServerState {
  version: string;
  startedAt: number;
  onlineUsers(): number;
  connections(): number;
  /** Stored files and their bytes. */
  files(): Promise<{ files: number; bytes: number }>;
}

/** Whether lower-cased `column` contains `q`, its wildcards taken literally, alike on both dialects. */
const matches = (column: SQLWrapper, q: string) =>
  sql`${column} like ${`%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`} escape '\\'`;

export function toAdminUser(row: UserRow, presence: PresenceView): AdminUser {
  return { ...toPublicUser(row, presence), email: row.email, role: row.role, deactivatedAt: row.deactivatedAt?.toISOString() ?? null };
}

/** What server admins read: stats, every user, every room (metadata only) and the audit log, newest first. */
export class AdminViews {
  private get t(): Tables {
    return this.database.tables;
  }

  constructor(
    private readonly database: Database,
    private readonly presence: PresenceView,
    private readonly server: ServerState,
    private readonly now: () => number = Date.now,
  ) {}

  async stats(): Promise<Stats> {
    const { db } = this.database;
    const { users, rooms, messages } = this.t;
    const [u] = await db.select({ n: count(), off: count(users.deactivatedAt) }).from(users);
    const [r] = await db.select({ n: count() }).from(rooms);
    const [m] = await db.select({ n: count() }).from(messages);
    const stored = await this.server.files();
    return {
      version: this.server.version,
      database: this.database.dialect,
      uptimeSeconds: Math.max(0, Math.floor((this.now() - this.server.startedAt) / 1000)),
      users: Number(u?.n ?? 0),
      deactivatedUsers: Number(u?.off ?? 0),
      rooms: Number(r?.n ?? 0),
      messages: Number(m?.n ?? 0),
      files: stored.files,
      fileBytes: stored.bytes,
      onlineUsers: this.server.onlineUsers(),
      connections: this.server.connections(),
    };
  }

  /** Users by username; `q` matches username or display name. */
  async users(query: AdminUserQuery): Promise<AdminUserPage> {
    const { users } = this.t;
    const limit = query.limit ?? 50;
    const where = [];
    if (query.q) where.push(or(matches(users.usernameLower, query.q), matches(users.displayNameLower, query.q)));
    if (query.status === "active") where.push(isNull(users.deactivatedAt));
    if (query.status === "deactivated") where.push(isNotNull(users.deactivatedAt));
    if (query.cursor) {
      const [after] = decodeCursor(query.cursor, ["string"]) as [string];
      where.push(sql`${users.usernameLower} > ${after}`);
    }
    const rows = await this.database.db
      .select()
      .from(users)
      .where(and(...where))
      .orderBy(users.usernameLower)
      .limit(limit + 1);
    const page = rows.slice(0, limit);
    return {
      users: page.map((r) => toAdminUser(r, this.presence)),
      nextCursor: rows.length > limit ? encodeCursor([page.at(-1)!.usernameLower]) : null,
    };
  }

  /** Every room, private and direct included, newest first: metadata and member counts, no messages. */
  async rooms(query: AdminRoomQuery): Promise<AdminRoomPage> {
    const { rooms, roomMembers } = this.t;
    const limit = query.limit ?? 50;
    const where = [];
    if (query.q) where.push(matches(sql`lower(${rooms.name})`, query.q));
    if (query.kind) where.push(eq(rooms.kind, query.kind));
    if (query.cursor) {
      const [at, id] = decodeCursor(query.cursor, ["time", "string"]) as [number, string];
      where.push(or(lt(rooms.createdAt, new Date(at)), and(eq(rooms.createdAt, new Date(at)), lt(rooms.id, id))));
    }
    const rows = await this.database.db
      .select()
      .from(rooms)
      .where(and(...where))
      .orderBy(desc(rooms.createdAt), desc(rooms.id))
      .limit(limit + 1);
    const page = rows.slice(0, limit);
    const counts = page.length
      ? await this.database.db
          .select({ roomId: roomMembers.roomId, n: count() })
          .from(roomMembers)
          .where(inArray(roomMembers.roomId, page.map((r) => r.id)))
          .groupBy(roomMembers.roomId)
      : [];
    const members = new Map(counts.map((c) => [c.roomId, Number(c.n)]));
    const last = page.at(-1);
    return {
      rooms: page.map((r) => ({
        id: r.id,
        kind: r.kind,
        name: r.name,
        teamId: r.teamId,
        visibility: r.visibility,
        memberCount: members.get(r.id) ?? 0,
        lastSeq: r.lastSeq,
        createdBy: r.createdBy,
        createdAt: r.createdAt.toISOString(),
      })),
      nextCursor: rows.length > limit && last ? encodeCursor([last.createdAt.getTime(), last.id]) : null,
    };
  }

  /** Reports, newest first; `status` filters. */
  async reports(query: ReportQuery): Promise<ReportPage> {
    const { messageReports: reports } = this.t;
    const limit = query.limit ?? 50;
    const where = [];
    if (query.status) where.push(eq(reports.status, query.status));
    if (query.cursor) {
      const [at, id] = decodeCursor(query.cursor, ["time", "string"]) as [number, string];
      where.push(or(lt(reports.createdAt, new Date(at)), and(eq(reports.createdAt, new Date(at)), lt(reports.id, id))));
    }
    const rows = await this.reportRows(and(...where), limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { reports: page, nextCursor: rows.length > limit && last ? encodeCursor([Date.parse(last.createdAt), last.id]) : null };
  }

  async report(id: string): Promise<ReportView> {
    const [report] = await this.reportRows(eq(this.t.messageReports.id, id), 1);
    if (!report) throw new NotFound("Report");
    return report;
  }

  private async reportRows(where: SQL | undefined, limit: number): Promise<ReportView[]> {
    const { messageReports: reports, messages, users } = this.t;
    const rows = await this.database.db
      .select({ report: reports, message: messages, reporter: users })
      .from(reports)
      .innerJoin(messages, eq(messages.id, reports.messageId))
      .innerJoin(users, eq(users.id, reports.reporterId))
      .where(where)
      .orderBy(desc(reports.createdAt), desc(reports.id))
      .limit(limit);
    return rows.map(({ report, message, reporter }) => ({
      id: report.id,
      message: {
        id: message.id,
        roomId: message.roomId,
        seq: message.seq,
        senderId: message.senderId,
        content: message.content,
        deletedAt: message.deletedAt?.toISOString() ?? null,
      },
      reporter: toUserRef(reporter),
      reason: report.reason,
      status: report.status,
      createdAt: report.createdAt.toISOString(),
      resolvedBy: report.resolvedBy,
      resolvedAt: report.resolvedAt?.toISOString() ?? null,
      note: report.note,
    }));
  }

  /** The audit log, newest first. */
  async audit(query: { limit?: number; cursor?: string }): Promise<AuditPage> {
    const { auditLog, users } = this.t;
    const limit = query.limit ?? 50;
    let where;
    if (query.cursor) {
      const [at, id] = decodeCursor(query.cursor, ["time", "string"]) as [number, string];
      where = or(lt(auditLog.createdAt, new Date(at)), and(eq(auditLog.createdAt, new Date(at)), lt(auditLog.id, id)));
    }
    const rows = await this.database.db
      .select({ entry: auditLog, actor: users })
      .from(auditLog)
      .leftJoin(users, eq(users.id, auditLog.actorId))
      .where(where)
      .orderBy(desc(auditLog.createdAt), desc(auditLog.id))
      .limit(limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1)?.entry;
    return {
      entries: page.map(({ entry, actor }) => ({
        id: entry.id,
        actor: actor ? toUserRef(actor) : null,
        action: entry.action,
        targetType: entry.targetType,
        targetId: entry.targetId,
        details: entry.details ? JSON.parse(entry.details) : null,
        createdAt: entry.createdAt.toISOString(),
      })),
      nextCursor: rows.length > limit && last ? encodeCursor([last.createdAt.getTime(), last.id]) : null,
    };
  }
}
