/**
 * What a user does to their own account with their password or their sessions: change the
 * password, list and end sessions, delete the account. Every session ended here has its
 * sockets closed (4001) once the change has committed, in every process (Events.sessionRevoked).
 */
import { and, count, desc, eq, gt, isNull, ne } from "drizzle-orm";
import type { Config } from "../../config";
import type { Database, DB, Tables } from "../../db";
import { first } from "../../db";
import { Conflict, NotFound, Unauthenticated } from "../../errors";
import type { Events } from "../../events";
import type { ProfileChanges } from "../users/service";
import { verifyPassword } from "./hashes";
import type { SessionView } from "./model";
import { type Caller, DELETED_PREFIX, hashPassword } from "./service";
import type { SharedCounters } from "../../plugins/rate-limit";
import { LoginThrottle } from "./throttle";

/** What an anonymised account shows in place of its name. */
export const DELETED_DISPLAY_NAME = "Deleted user";
/** A stored hash no password matches (hashes.ts knows no such kind). */
const UNUSABLE_HASH = "!deleted";

export class AccountService {
  private get t(): Tables {
    return this.database.tables;
  }

  /** Wrong passwords slow down each account's password checks as failed logins slow down a name. */
  private readonly throttle: LoginThrottle;

  constructor(
    private readonly database: Database,
    private readonly config: Config,
    private readonly events: Events,
    private readonly profiles: ProfileChanges,
    private readonly now: () => number = Date.now,
    /** Failed password checks counted across processes (Redis); null: in this process. */
    shared: SharedCounters | null = null,
  ) {
    this.throttle = new LoginThrottle(shared);
  }

  /** Throws Unauthenticated (401) unless `password` is the user's; repeated failures get 429. */
  private async checkPassword(userId: string, password: string): Promise<void> {
    const key = `user:${userId}`;
    await this.throttle.attempt(key, this.now());
    const { users } = this.t;
    const row = first(await this.database.db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, userId)).limit(1));
    if (!row || !(await verifyPassword(password, row.passwordHash))) throw new Unauthenticated("The password is wrong.");
    await this.throttle.succeed(key);
  }

  /** A new password; every other session of the user ends, the caller's stays. */
  async changePassword(caller: Caller, currentPassword: string, newPassword: string): Promise<void> {
    await this.checkPassword(caller.userId, currentPassword);
    const passwordHash = await hashPassword(newPassword, this.config.limits);
    const ended = await this.database.tx(async (db) => {
      await db.update(this.t.users).set({ passwordHash }).where(eq(this.t.users.id, caller.userId));
      return this.revoke(db, caller.userId, caller.sessionId);
    });
    for (const sessionId of ended) this.events.sessionRevoked(sessionId);
  }

  /** The user's live sessions, newest first. */
  async sessions(caller: Caller): Promise<SessionView[]> {
    const { sessions } = this.t;
    const rows = await this.database.db
      .select()
      .from(sessions)
      .where(and(eq(sessions.userId, caller.userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, new Date(this.now()))))
      .orderBy(desc(sessions.createdAt), desc(sessions.id));
    return rows.map((s) => ({
      id: s.id,
      userAgent: s.userAgent,
      createdAt: s.createdAt.toISOString(),
      lastUsedAt: (s.lastUsedAt ?? s.createdAt).toISOString(),
      current: s.id === caller.sessionId,
    }));
  }

  /** Ends one of the user's live sessions (the caller's own too); 404 for any other id. */
  async endSession(caller: Caller, sessionId: string): Promise<void> {
    const { sessions } = this.t;
    const ended = await this.database.tx((db) =>
      db
        .update(sessions)
        .set({ revokedAt: new Date(this.now()) })
        .where(and(eq(sessions.id, sessionId), eq(sessions.userId, caller.userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, new Date(this.now()))))
        .returning({ id: sessions.id }),
    );
    if (ended.length === 0) throw new NotFound("Session");
    this.events.sessionRevoked(sessionId);
  }

  /**
   * Deletes the account: every session ends, and the row stays, anonymised (name, avatar,
   * status, email cleared; a password nothing matches), so messages keep their seqs and show
   * "Deleted user" as their author, and direct rooms stay with the other member. Memberships
   * stay too: rooms keep their owners, and room admins may remove the account. The last active
   * server admin cannot delete their account (409).
   */
  async deleteAccount(caller: Caller, password: string): Promise<void> {
    await this.checkPassword(caller.userId, password);
    const { users, emailVerifications, wsTickets } = this.t;
    const username = `${DELETED_PREFIX}${caller.userId.replaceAll("-", "").slice(0, 24)}`;
    const { ended, before, after } = await this.database.tx(async (db) => {
      await this.keepAnAdmin(db, caller.userId);
      const before = await this.database.lookups.user(caller.userId);
      const after = first(
        await db
        .update(users)
        .set({
          username,
          usernameLower: username.toLowerCase(),
          displayName: DELETED_DISPLAY_NAME,
          displayNameLower: DELETED_DISPLAY_NAME.toLowerCase(),
          email: null,
          emailLower: null,
          emailVerifiedAt: null,
          avatarUrl: null,
          statusText: null,
          passwordHash: UNUSABLE_HASH,
          role: "user",
          deletedAt: new Date(this.now()),
        })
        .where(eq(users.id, caller.userId))
        .returning(),
      );
      await db.delete(emailVerifications).where(eq(emailVerifications.userId, caller.userId));
      await db.delete(wsTickets).where(eq(wsTickets.userId, caller.userId));
      return { ended: await this.revoke(db, caller.userId), before, after };
    });
    for (const sessionId of ended) this.events.sessionRevoked(sessionId);
    // The rooms it stays a member of show the anonymised name from now on.
    if (before && after) await this.profiles.changed(before, after);
  }

  /** Call inside a transaction: throws Conflict when the user is the last active server admin. */
  private async keepAnAdmin(db: DB, userId: string): Promise<void> {
    const { users } = this.t;
    const me = first(await db.select({ role: users.role, deactivatedAt: users.deactivatedAt }).from(users).where(eq(users.id, userId)).limit(1));
    if (me?.role !== "admin" || me.deactivatedAt) return;
    const [others] = await db
      .select({ n: count() })
      .from(users)
      .where(and(eq(users.role, "admin"), isNull(users.deactivatedAt), ne(users.id, userId)));
    if (!others || others.n === 0) throw new Conflict("The last active server admin cannot delete their account: make someone else admin first.");
  }

  /** Call inside a transaction: ends the user's live sessions but `keep`; answers the ids ended. */
  private async revoke(db: DB, userId: string, keep?: string): Promise<string[]> {
    const { sessions } = this.t;
    const rows = await db
      .update(sessions)
      .set({ revokedAt: new Date(this.now()) })
      .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), keep ? ne(sessions.id, keep) : undefined))
      .returning({ id: sessions.id });
    return rows.map((r) => r.id);
  }
}
