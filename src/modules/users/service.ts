import { and, asc, eq, gt, gte, lt, or } from "drizzle-orm";
import type { Database } from "../../db";
import { first, users } from "../../db/schema";
import { BadRequest, Conflict, NotFound } from "../../errors";
import type { PresenceView } from "../../events";
import { cleanName } from "../text";
import type { OwnUser, PublicUser, UpdateProfile, UserRef } from "./model";

export type UserRow = typeof users.$inferSelect;

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
  return { ...toPublicUser(row, presence), email: row.email };
}

export function toUserRef(row: Pick<UserRow, "id" | "username" | "displayName" | "avatarUrl">): UserRef {
  return { id: row.id, username: row.username, displayName: row.displayName, avatarUrl: row.avatarUrl };
}

/** Cursors are opaque to clients: base64url of the last row's sort key. */
export function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString("base64url");
}
/** The years 1–9999 in ms: every stored time is within them, and both databases compare with them. */
const MIN_TIME = Date.parse("0001-01-01T00:00:00.000Z");
const MAX_TIME = Date.parse("9999-12-31T23:59:59.999Z");

/** Whether a time a client sent (ms since the epoch, in a cursor or a sync frame) is one the databases can compare with. */
export const isStorableTime = (ms: unknown): ms is number =>
  Number.isSafeInteger(ms) && (ms as number) >= MIN_TIME && (ms as number) <= MAX_TIME;

/**
 * What each part of a cursor must be: a string (without U+0000, which PostgreSQL can't
 * compare), an integer (a rowid), or a time in ms (see isStorableTime). A client may send
 * anything, so anything else is 400 BAD_REQUEST rather than a query that fails.
 */
const CURSOR_PART = {
  string: (p: unknown) => typeof p === "string" && !p.includes("\u0000"),
  number: (p: unknown) => Number.isSafeInteger(p),
  time: isStorableTime,
};
export type CursorPart = keyof typeof CURSOR_PART;

export function decodeCursor(cursor: string, shape: CursorPart[]): (string | number)[] {
  try {
    const parts = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(parts) && parts.length === shape.length && parts.every((p, i) => CURSOR_PART[shape[i]!](p)))
      return parts;
  } catch {}
  throw new BadRequest("The cursor is not valid.");
}

/** A string above every string that starts with `prefix`, for index range scans. */
const prefixEnd = (prefix: string) => prefix + "\u{10FFFF}";

export class UserService {
  constructor(
    private readonly database: Database,
    private readonly presence: PresenceView,
  ) {}

  async get(id: string): Promise<UserRow> {
    const row = first(await this.database.db.select().from(users).where(eq(users.id, id)).limit(1));
    if (!row) throw new NotFound("User");
    return row;
  }

  async search(q: string | undefined, limit: number, cursor?: string) {
    const prefix = (q ?? "").trim().toLowerCase();
    const conditions = [];
    if (prefix) {
      conditions.push(
        or(
          and(gte(users.usernameLower, prefix), lt(users.usernameLower, prefixEnd(prefix))),
          and(gte(users.displayNameLower, prefix), lt(users.displayNameLower, prefixEnd(prefix))),
        ),
      );
    }
    if (cursor) {
      const [after] = decodeCursor(cursor, ["string"]) as [string];
      conditions.push(gt(users.usernameLower, after));
    }
    const rows = await this.database.db
      .select()
      .from(users)
      .where(and(...conditions))
      .orderBy(asc(users.usernameLower))
      .limit(limit + 1);
    const page = rows.slice(0, limit);
    return {
      users: page.map((r) => toPublicUser(r, this.presence)),
      nextCursor: rows.length > limit ? encodeCursor([page[page.length - 1]!.usernameLower]) : null,
    };
  }

  async update(id: string, patch: UpdateProfile): Promise<UserRow> {
    const values: Partial<typeof users.$inferInsert> = {};
    if (patch.displayName !== undefined) {
      values.displayName = cleanName(patch.displayName, "displayName");
      values.displayNameLower = values.displayName.toLowerCase();
    }
    if (patch.avatarUrl !== undefined) values.avatarUrl = patch.avatarUrl;
    if (patch.statusText !== undefined) values.statusText = patch.statusText;
    if (patch.email !== undefined) {
      values.email = patch.email;
      values.emailLower = patch.email?.toLowerCase() ?? null;
    }
    if (Object.keys(values).length === 0) return this.get(id);
    try {
      const row = first(
        await this.database.tx((db) => db.update(users).set(values).where(eq(users.id, id)).returning()),
      );
      if (!row) throw new NotFound("User");
      return row;
    } catch (error) {
      if (isUniqueViolation(error)) throw new Conflict("That email is already in use.");
      throw error;
    }
  }

  async touchLastSeen(id: string, at: Date): Promise<void> {
    await this.database.tx((db) => db.update(users).set({ lastSeenAt: at }).where(eq(users.id, id)));
  }
}

export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; errno?: unknown; message?: string; cause?: unknown } | undefined;
  if (!e) return false;
  if (e.code === "SQLITE_CONSTRAINT_UNIQUE" || e.code === "SQLITE_CONSTRAINT_PRIMARYKEY" || e.code === "23505") return true;
  // Bun's PostgreSQL errors carry the SQLSTATE in `errno`.
  if (e.errno === "23505") return true;
  if (typeof e.message === "string" && e.message.includes("UNIQUE constraint failed")) return true;
  return e.cause !== undefined && e.cause !== error && isUniqueViolation(e.cause);
}

