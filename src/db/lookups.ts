/**
 * The two lookups every request makes (its session; the room it names, with the caller's
 * roles), each on a statement prepared once for its dialect: building and compiling the
 * query cost more than running it.
 */
import { and, eq, sql } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type { PgDB } from "./tables";
import type * as pgSchema from "./schema.pg";
import type * as sqliteSchema from "./schema.sqlite";

export interface SessionState {
  userId: string;
  revokedAt: Date | null;
  expiresAt: Date;
}

export type RoomRow = typeof sqliteSchema.rooms.$inferSelect;
type Role = (typeof sqliteSchema.roomMembers.$inferSelect)["role"];

export interface RoomAndRoles {
  room: RoomRow;
  /** The caller's role in the room, null when not a member. */
  role: Role | null;
  lastReadSeq: number | null;
  /** The caller's role in the room's team (channels), null otherwise. */
  teamRole: Role | null;
}

export interface Lookups {
  session(sessionId: string): Promise<SessionState | undefined>;
  /** The room and the caller's roles in it and in its team; inside a transaction, as that transaction sees it. */
  room(roomId: string, userId: string): Promise<RoomAndRoles | undefined>;
}

/** On SQLite the one connection is every transaction's too: a prepared statement sees what the transaction sees. */
export function sqliteLookups(db: BunSQLiteDatabase<typeof sqliteSchema>, t: typeof sqliteSchema): Lookups {
  const session = db
    .select({ userId: t.sessions.userId, revokedAt: t.sessions.revokedAt, expiresAt: t.sessions.expiresAt })
    .from(t.sessions)
    .where(eq(t.sessions.id, sql.placeholder("sessionId")))
    .limit(1)
    .prepare();
  const userId = sql.placeholder("userId");
  const room = db
    .select({ room: t.rooms, role: t.roomMembers.role, lastReadSeq: t.roomMembers.lastReadSeq, teamRole: t.teamMembers.role })
    .from(t.rooms)
    .leftJoin(t.roomMembers, and(eq(t.roomMembers.roomId, t.rooms.id), eq(t.roomMembers.userId, userId)))
    .leftJoin(t.teamMembers, and(eq(t.teamMembers.teamId, t.rooms.teamId), eq(t.teamMembers.userId, userId)))
    .where(eq(t.rooms.id, sql.placeholder("roomId")))
    .limit(1)
    .prepare();
  return {
    session: async (sessionId) => session.get({ sessionId }),
    room: async (roomId, userId) => room.get({ roomId, userId }),
  };
}

/**
 * On PostgreSQL the statements are prepared once on the pool; inside a transaction
 * (`inTransaction()` gives its builder) a lookup is built on that transaction instead, so it
 * sees the transaction's own writes and takes part in its isolation.
 */
export function pgLookups(pool: PgDB, inTransaction: () => PgDB | undefined, t: typeof pgSchema): Lookups {
  const userId = sql.placeholder("userId");
  const session = (db: PgDB) =>
    db
      .select({ userId: t.sessions.userId, revokedAt: t.sessions.revokedAt, expiresAt: t.sessions.expiresAt })
      .from(t.sessions)
      .where(eq(t.sessions.id, sql.placeholder("sessionId")))
      .limit(1)
      .prepare("bunchat_session");
  const room = (db: PgDB) =>
    db
      .select({ room: t.rooms, role: t.roomMembers.role, lastReadSeq: t.roomMembers.lastReadSeq, teamRole: t.teamMembers.role })
      .from(t.rooms)
      .leftJoin(t.roomMembers, and(eq(t.roomMembers.roomId, t.rooms.id), eq(t.roomMembers.userId, userId)))
      .leftJoin(t.teamMembers, and(eq(t.teamMembers.teamId, t.rooms.teamId), eq(t.teamMembers.userId, userId)))
      .where(eq(t.rooms.id, sql.placeholder("roomId")))
      .limit(1)
      .prepare("bunchat_room");
  const pooled = { session: session(pool), room: room(pool) };
  return {
    session: async (sessionId) => {
      const tx = inTransaction();
      return (await (tx ? session(tx) : pooled.session).execute({ sessionId }))[0];
    },
    room: async (roomId, userId) => {
      const tx = inTransaction();
      return (await (tx ? room(tx) : pooled.room).execute({ roomId, userId }))[0];
    },
  };
}
