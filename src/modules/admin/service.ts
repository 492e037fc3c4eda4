import { and, asc, count, eq, isNull, ne } from "drizzle-orm";
import type { Config } from "../../config";
import type { Database, DB, Tables } from "../../db";
import { first } from "../../db";
import { Conflict, NotFound } from "../../errors";
import type { Events } from "../../events";
import { isUniqueViolation } from "../../lib/db-errors";
import { audit, requireServerAdmin } from "./audit";
import { checkPassword, checkUsername, hashPassword } from "../auth/service";
import type { ServerRole } from "../users/model";

type UserRow = Tables["users"]["$inferSelect"];

/** The account an operator named, as the admin commands show it. */
export interface Account {
  id: string;
  username: string;
  role: ServerRole;
  deactivatedAt: Date | null;
  createdAt: Date;
}

/** An account by username (the command line) or by id (the admin API). */
export type AccountRef = string | { id: string };

/** Who acts: a server admin's user id, or null for the command line. */
export type Actor = string | null;

const toAccount = (row: UserRow): Account => ({
  id: row.id,
  username: row.username,
  role: row.role,
  deactivatedAt: row.deactivatedAt,
  createdAt: row.createdAt,
});

/**
 * Server roles and deactivation. There is always an active admin once there has been one:
 * the last active admin can be neither demoted nor deactivated. Deactivating an account or
 * resetting its password ends every one of its sessions (its sockets close with 4001).
 */
export class AdminService {
  /** This database's tables. */
  private get t(): Tables {
    return this.database.tables;
  }

  constructor(
    private readonly database: Database,
    private readonly config: Config,
    private readonly events: Events,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new account, its password checked and hashed as on register; the username must be free. */
  async create(username: string, password: string, options: { role?: ServerRole; email?: string | null } = {}): Promise<Account> {
    checkUsername(username);
    checkPassword(password);
    const passwordHash = await hashPassword(password, this.config.limits);
    const email = options.email ?? null;
    try {
      const [row] = await this.database.tx((db) =>
        db
          .insert(this.t.users)
          .values({
            id: Bun.randomUUIDv7(),
            username,
            usernameLower: username.toLowerCase(),
            email,
            emailLower: email?.toLowerCase() ?? null,
            passwordHash,
            displayName: username,
            displayNameLower: username.toLowerCase(),
            createdAt: new Date(this.now()),
            role: options.role ?? "user",
          })
          .returning(),
      );
      return toAccount(row!);
    } catch (error) {
      if (isUniqueViolation(error)) throw new Conflict(`The username ${username} is taken.`);
      throw error;
    }
  }

  /** Sets the server role; demoting the last active admin is refused (409). A change is audited. */
  setRole(ref: AccountRef, role: ServerRole, actor: Actor = null): Promise<Account> {
    return this.updateAccount(ref, { role }, actor);
  }

  /**
   * Deactivates (ending every session) or reactivates; deactivating the last active admin is
   * refused (409). A change is audited.
   */
  setDeactivated(ref: AccountRef, deactivated: boolean, actor: Actor = null): Promise<Account> {
    return this.updateAccount(ref, { deactivated }, actor);
  }

  /** The role, then the deactivation, in one transaction: both change or neither. Each change is audited. */
  async updateAccount(ref: AccountRef, changes: { role?: ServerRole; deactivated?: boolean }, actor: Actor = null): Promise<Account> {
    return this.change(ref, actor, async (db, user, revoke) => {
      let row = user;
      if (changes.role !== undefined && row.role !== changes.role) {
        if (changes.role === "user") await this.keepAnAdmin(db, row, "demoted");
        await this.audit(db, actor, "user.role", row.id, { role: changes.role });
        row = await this.update(db, row.id, { role: changes.role });
      }
      if (changes.deactivated !== undefined && !!row.deactivatedAt !== changes.deactivated) {
        if (changes.deactivated) {
          await this.keepAnAdmin(db, row, "deactivated");
          await revoke();
        }
        await this.audit(db, actor, changes.deactivated ? "user.deactivate" : "user.reactivate", row.id);
        row = await this.update(db, row.id, { deactivatedAt: changes.deactivated ? new Date(this.now()) : null });
      }
      return row;
    });
  }

  /** A new password, checked as on register; every session of the account ends. Audited. */
  async resetPassword(ref: AccountRef, password: string, actor: Actor = null): Promise<Account> {
    checkPassword(password);
    const passwordHash = await hashPassword(password, this.config.limits);
    return this.change(ref, actor, async (db, user, revoke) => {
      await revoke();
      await this.audit(db, actor, "user.password_reset", user.id);
      return this.update(db, user.id, { passwordHash });
    });
  }

  /** The account's row, 404 when there is none. */
  async row(userId: string): Promise<UserRow> {
    const user = await this.find(this.database.db, { id: userId });
    if (!user) throw new NotFound("User");
    return user;
  }

  /** Resolves a report with an optional note, audited; resolving a resolved report changes nothing. */
  async resolveReport(actorId: string, reportId: string, note: string | null): Promise<void> {
    const { messageReports: reports } = this.t;
    await this.database.tx(async (db) => {
      const report = first(await db.select().from(reports).where(eq(reports.id, reportId)).limit(1));
      await requireServerAdmin(db, this.t, actorId);
      if (!report) throw new NotFound("Report");
      if (report.status === "resolved") return;
      await db.update(reports).set({ status: "resolved", resolvedBy: actorId, resolvedAt: new Date(this.now()), note }).where(eq(reports.id, reportId));
      await audit(db, this.t, { actorId, action: "report.resolve", targetType: "report", targetId: reportId, details: note ? { note } : null }, new Date(this.now()));
    });
  }

  /** Refuses (403) anyone but an active server admin. */
  requireAdmin(userId: string): Promise<void> {
    return requireServerAdmin(this.database.db, this.t, userId);
  }

  /** Every account: admins first ("admin" sorts before "user"), then by username. */
  async list(): Promise<Account[]> {
    const { users } = this.t;
    const rows = await this.database.db.select().from(users).orderBy(asc(users.role), asc(users.usernameLower));
    return rows.map(toAccount);
  }

  /**
   * Makes sure `username` is an admin: created with `password` when missing; an existing
   * account keeps its password and is promoted. Says what it did.
   */
  async ensureAdmin(username: string, password: string, email: string | null): Promise<"created" | "promoted" | "unchanged"> {
    checkUsername(username);
    const existing = await this.find(this.database.db, username);
    if (existing) {
      if (existing.role === "admin") return "unchanged";
      await this.setRole(username, "admin");
      return "promoted";
    }
    try {
      await this.create(username, password, { role: "admin", email });
      return "created";
    } catch (error) {
      // Another process starting at the same time created it first.
      if (error instanceof Conflict) return (await this.ensureAdmin(username, password, email)) === "unchanged" ? "unchanged" : "promoted";
      throw error;
    }
  }

  private async find(db: DB, ref: AccountRef): Promise<UserRow | undefined> {
    const { users } = this.t;
    const where = typeof ref === "string" ? eq(users.usernameLower, ref.toLowerCase()) : eq(users.id, ref.id);
    return first(await db.select().from(users).where(where).limit(1));
  }

  /** Writes that an admin read `route` (an admin API route pattern) with `query`: admins' reads are audited too. */
  async recordRead(actorId: string, route: string, query: Record<string, unknown>): Promise<void> {
    await this.database.tx((db) =>
      audit(db, this.t, { actorId, action: "admin.read", targetType: "route", targetId: route, details: Object.keys(query).length > 0 ? query : null }, new Date(this.now())),
    );
  }

  private audit(db: DB, actorId: Actor, action: string, userId: string, details?: Record<string, unknown>): Promise<void> {
    return audit(db, this.t, { actorId, action, targetType: "user", targetId: userId, details }, new Date(this.now()));
  }

  /**
   * Runs `fn` on the named user in one transaction, while `actor` (if any) is an active admin; the sessions `revoke` ended have their
   * sockets closed once it has committed.
   */
  private async change(ref: AccountRef, actor: Actor, fn: (db: DB, user: UserRow, revoke: () => Promise<void>) => Promise<UserRow>): Promise<Account> {
    let revoked: string[] = [];
    const row = await this.database.tx(async (db) => {
      revoked = [];
      if (actor) await requireServerAdmin(db, this.t, actor);
      const user = await this.find(db, ref);
      if (!user) throw new NotFound(typeof ref === "string" ? `User ${ref}` : "User");
      return fn(db, user, async () => {
        const { sessions } = this.t;
        const ended = await db
          .update(sessions)
          .set({ revokedAt: new Date(this.now()) })
          .where(and(eq(sessions.userId, user.id), isNull(sessions.revokedAt)))
          .returning({ id: sessions.id });
        revoked = ended.map((s) => s.id);
      });
    });
    for (const sessionId of revoked) this.events.sessionRevoked(sessionId);
    return toAccount(row);
  }

  private async update(db: DB, userId: string, values: Partial<Pick<UserRow, "role" | "deactivatedAt" | "passwordHash">>): Promise<UserRow> {
    const [row] = await db.update(this.t.users).set(values).where(eq(this.t.users.id, userId)).returning();
    return row!;
  }

  /** Throws Conflict when `user` is the only active admin. */
  private async keepAnAdmin(db: DB, user: UserRow, what: string): Promise<void> {
    if (user.role !== "admin" || user.deactivatedAt) return;
    const { users } = this.t;
    const [others] = await db
      .select({ n: count() })
      .from(users)
      .where(and(eq(users.role, "admin"), isNull(users.deactivatedAt), ne(users.id, user.id)));
    if (!others || others.n === 0) throw new Conflict(`${user.username} is the last active admin and cannot be ${what}.`);
  }
}
