import { and, asc, eq, gt, gte, isNull, lt, or, type SQL } from "drizzle-orm";
import type { Database, DB, Tables } from "../../db";
import { first } from "../../db";
import { decodeCursor, encodeCursor } from "../../lib/cursor";
import { Conflict, NotFound } from "../../errors";
import { isUniqueViolation } from "../../lib/db-errors";
import type { RateLimiter } from "../../plugins/rate-limit";
import { checkUsername } from "./names";
import type { PresenceView } from "../../events";
import { cleanName } from "../text";
import type { CodeToSend, EmailVerification } from "./email";
import type { OwnUser, PublicUser, UpdateProfile, UserRef } from "./model";

export type UserRow = Tables["users"]["$inferSelect"];

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toPublicUser(row: UserRow, presence: PresenceView): PublicUser {
  return {
    id: row.id,
    username: row.username,
    displayName: row.displayName,
    avatarUrl: row.avatarUrl,
    statusText: row.statusText,
    presence: presence.isOnline(row.id) ? "online" : "offline",
    lastSeenAt: iso(row.lastSeenAt),
    createdAt: row.createdAt.toISOString(),
  };
}

export function toOwnUser(row: UserRow, presence: PresenceView): OwnUser {
  return { ...toPublicUser(row, presence), role: row.role, email: row.email, emailVerified: row.email !== null && row.emailVerifiedAt !== null };
}

export function toUserRef(row: Pick<UserRow, "id" | "username" | "displayName" | "avatarUrl">): UserRef {
  return { id: row.id, username: row.username, displayName: row.displayName, avatarUrl: row.avatarUrl };
}

/** The fields of a user that others see change through these (user.updated). */
export const PROFILE_FIELDS = ["username", "displayName", "avatarUrl", "statusText"] as const;
export type ProfileFields = Pick<UserRow, (typeof PROFILE_FIELDS)[number]>;

/** Tells others that a user's public profile changed (ProfileEvents); called once the change has committed. */
export interface ProfileChanges {
  /** Announces `after` when one of PROFILE_FIELDS differs from `before`. */
  changed(before: ProfileFields, after: UserRow): Promise<void>;
}

/** A string above every string that starts with `prefix`, for index range scans. */
const prefixEnd = (prefix: string) => prefix + "\u{10FFFF}";

export class UserService {
  /** This database's tables. */
  private get t(): Tables {
    return this.database.tables;
  }

  constructor(
    private readonly database: Database,
    private readonly presence: PresenceView,
    private readonly emails: EmailVerification,
    /** Username changes per user. */
    private readonly usernameChanges: RateLimiter,
    private readonly profiles: ProfileChanges,
  ) {}

  async get(id: string): Promise<UserRow> {
    const row = await this.database.lookups.user(id);
    if (!row) throw new NotFound("User");
    return row;
  }

  async search(q: string | undefined, limit: number, cursor?: string) {
    const prefix = (q ?? "").trim().toLowerCase();
    // Deleted accounts are found only through their messages.
    const conditions: (SQL | undefined)[] = [isNull(this.t.users.deletedAt)];
    if (prefix) {
      conditions.push(
        or(
          and(gte(this.t.users.usernameLower, prefix), lt(this.t.users.usernameLower, prefixEnd(prefix))),
          and(gte(this.t.users.displayNameLower, prefix), lt(this.t.users.displayNameLower, prefixEnd(prefix))),
        ),
      );
    }
    if (cursor) {
      const [after] = decodeCursor(cursor, ["string"]) as [string];
      conditions.push(gt(this.t.users.usernameLower, after));
    }
    const rows = await this.database.db
      .select()
      .from(this.t.users)
      .where(and(...conditions))
      .orderBy(asc(this.t.users.usernameLower))
      .limit(limit + 1);
    const page = rows.slice(0, limit);
    return {
      users: page.map((r) => toPublicUser(r, this.presence)),
      nextCursor: rows.length > limit ? encodeCursor([page[page.length - 1]!.usernameLower]) : null,
    };
  }

  /**
   * A new email starts unverified, with a code sent to it once committed (when SMTP_URL is
   * set). It never conflicts with anyone's: only verifying can, so the answer says nothing
   * about who else has the address. New addresses are limited per user (429). A new username
   * is unique ignoring case (409) and limited per user (429).
   */
  async update(id: string, patch: UpdateProfile): Promise<UserRow> {
    const values: Partial<Tables["users"]["$inferInsert"]> = {};
    if (patch.username !== undefined) {
      checkUsername(patch.username);
      if (patch.username !== (await this.get(id)).username) {
        this.usernameChanges.take(id);
        values.username = patch.username;
        values.usernameLower = patch.username.toLowerCase();
      }
    }
    if (patch.displayName !== undefined) {
      values.displayName = cleanName(patch.displayName, "displayName");
      values.displayNameLower = values.displayName.toLowerCase();
    }
    if (patch.avatarUrl !== undefined) values.avatarUrl = patch.avatarUrl;
    if (patch.statusText !== undefined) values.statusText = patch.statusText;
    const email = patch.email;
    if (email !== undefined && this.emails.change(await this.get(id), email).isNew) this.emails.countChange(id);
    if (Object.keys(values).length === 0 && email === undefined) return this.get(id);
    const { before, row, code } = await this.write(async (db) => {
      let code: CodeToSend | null = null;
      const before = await this.get(id);
      if (email !== undefined) {
        // Decided again on the row as this transaction sees it.
        const change = this.emails.change(before, email);
        Object.assign(values, change.values);
        if (change.restart) code = await this.emails.start(id, email);
      }
      const row = first(await db.update(this.t.users).set(values).where(eq(this.t.users.id, id)).returning());
      if (!row) throw new NotFound("User");
      return { before, row, code };
    });
    this.emails.send(code);
    await this.profiles.changed(before, row);
    return row;
  }

  /** Runs `fn` in a transaction; a username someone else holds (the only unique name it may set) is 409. */
  private async write<T>(fn: (db: DB) => Promise<T>): Promise<T> {
    try {
      return await this.database.tx(fn);
    } catch (error) {
      if (isUniqueViolation(error)) throw new Conflict("That username is taken.");
      throw error;
    }
  }
}

/** Stores when the user was last seen online (presence, once their last socket is gone). */
export async function touchLastSeen(database: Database, id: string, at: Date): Promise<void> {
  const { users } = database.tables;
  await database.tx((db) => db.update(users).set({ lastSeenAt: at }).where(eq(users.id, id)));
}
