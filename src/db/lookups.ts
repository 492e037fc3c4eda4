/**
 * The lookups every request makes (its session; the room it names, with the caller's roles)
 * and those every socket makes as it opens (its user, its rooms' last seqs, the change
 * position, the users it shares a room with), each on a statement prepared once for its
 * dialect: building and compiling the query cost more than running it, and left garbage that
 * a server holding thousands of sockets keeps heap for.
 */
import { and, type Column, eq, getTableColumns, inArray, ne, sql } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { CHANGE_COUNTER } from "./changes";
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

export type UserRow = typeof sqliteSchema.users.$inferSelect;

export interface Lookups {
  session(sessionId: string): Promise<SessionState | undefined>;
  /** The room and the caller's roles in it and in its team; inside a transaction, as that transaction sees it. */
  room(roomId: string, userId: string): Promise<RoomAndRoles | undefined>;
  /** The user's row. */
  user(userId: string): Promise<UserRow | undefined>;
  /** The user's rooms with their last seqs. */
  roomsOf(userId: string): Promise<{ id: string; lastSeq: number }[]>;
  /** Everyone who shares at least one room with the user (the user left out). */
  coMembers(userId: string): Promise<string[]>;
  /** The value of the last committed message change (0 before any): see src/db/changes.ts. */
  changePosition(): Promise<number>;
}

/** On SQLite the one connection is every transaction's too: a prepared statement sees what the transaction sees. */
export function sqliteLookups(db: BunSQLiteDatabase<typeof sqliteSchema>, t: typeof sqliteSchema): Lookups {
  const sessionFields = { userId: t.sessions.userId, revokedAt: t.sessions.revokedAt, expiresAt: t.sessions.expiresAt };
  const session = db.select(sessionFields).from(t.sessions).where(eq(t.sessions.id, sql.placeholder("sessionId"))).limit(1).prepare();
  const sessionRow = rowOf(sessionFields);
  const userId = sql.placeholder("userId");
  const room = db
    .select({ room: t.rooms, role: t.roomMembers.role, lastReadSeq: t.roomMembers.lastReadSeq, teamRole: t.teamMembers.role })
    .from(t.rooms)
    .leftJoin(t.roomMembers, and(eq(t.roomMembers.roomId, t.rooms.id), eq(t.roomMembers.userId, userId)))
    .leftJoin(t.teamMembers, and(eq(t.teamMembers.teamId, t.rooms.teamId), eq(t.teamMembers.userId, userId)))
    .where(eq(t.rooms.id, sql.placeholder("roomId")))
    .limit(1)
    .prepare();
  const userFields = getTableColumns(t.users);
  const user = db.select(userFields).from(t.users).where(eq(t.users.id, userId)).limit(1).prepare();
  const userRow = rowOf(userFields);
  const roomsOf = db
    .select({ id: t.rooms.id, lastSeq: t.rooms.lastSeq })
    .from(t.roomMembers)
    .innerJoin(t.rooms, eq(t.rooms.id, t.roomMembers.roomId))
    .where(eq(t.roomMembers.userId, userId))
    .prepare();
  const theirRooms = db.select({ roomId: t.roomMembers.roomId }).from(t.roomMembers).where(eq(t.roomMembers.userId, userId));
  const coMembers = db
    .selectDistinct({ userId: t.roomMembers.userId })
    .from(t.roomMembers)
    .where(and(inArray(t.roomMembers.roomId, theirRooms), ne(t.roomMembers.userId, userId)))
    .prepare();
  const counter = db.select({ value: t.changeCounter.value }).from(t.changeCounter).where(eq(t.changeCounter.id, CHANGE_COUNTER)).prepare();
  // The lookups every socket makes as it opens read raw values (text, integers: nothing to decode
  // but times) and build their rows here: Drizzle's own row mapping walks each column's path
  // through arrays and iterators, several times the garbage of the row.
  return {
    session: async (sessionId) => {
      const values = session.values({ sessionId })[0];
      return values && sessionRow(values);
    },
    room: async (roomId, userId) => room.get({ roomId, userId }),
    user: async (userId) => {
      const values = user.values({ userId })[0];
      return values && userRow(values);
    },
    roomsOf: async (userId) => roomsOf.values({ userId }).map((r) => ({ id: r[0] as string, lastSeq: r[1] as number })),
    coMembers: async (userId) => coMembers.values({ userId }).map((r) => r[0] as string),
    changePosition: async () => (counter.values()[0]?.[0] as number | undefined) ?? 0,
  };
}

/**
 * A row of `fields` from the values of a statement selecting exactly them, in their order, each
 * decoded as Drizzle decodes it (times to Dates, flags to booleans), null staying null.
 */
function rowOf<F extends Record<string, Column>>(fields: F): (values: unknown[]) => { [K in keyof F]: F[K]["_"]["notNull"] extends true ? F[K]["_"]["data"] : F[K]["_"]["data"] | null } {
  const columns = Object.entries(fields);
  return (values) => {
    const row: Record<string, unknown> = {};
    for (let i = 0; i < columns.length; i++) {
      const [key, column] = columns[i]!;
      const value = values[i];
      row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
    }
    return row as never;
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
  const user = (db: PgDB) => db.select().from(t.users).where(eq(t.users.id, userId)).limit(1).prepare("bunchat_user");
  const roomsOf = (db: PgDB) =>
    db
      .select({ id: t.rooms.id, lastSeq: t.rooms.lastSeq })
      .from(t.roomMembers)
      .innerJoin(t.rooms, eq(t.rooms.id, t.roomMembers.roomId))
      .where(eq(t.roomMembers.userId, userId))
      .prepare("bunchat_rooms_of");
  const coMembers = (db: PgDB) => {
    const theirRooms = db.select({ roomId: t.roomMembers.roomId }).from(t.roomMembers).where(eq(t.roomMembers.userId, userId));
    return db
      .selectDistinct({ userId: t.roomMembers.userId })
      .from(t.roomMembers)
      .where(and(inArray(t.roomMembers.roomId, theirRooms), ne(t.roomMembers.userId, userId)))
      .prepare("bunchat_co_members");
  };
  const counter = (db: PgDB) =>
    db.select({ value: t.changeCounter.value }).from(t.changeCounter).where(eq(t.changeCounter.id, CHANGE_COUNTER)).prepare("bunchat_change_position");
  /** The statement prepared on the caller's transaction when there is one, else the pool's (prepared once). */
  const onCurrent = <P>(prepare: (db: PgDB) => P): (() => P) => {
    const pooled = prepare(pool);
    return () => {
      const tx = inTransaction();
      return tx ? prepare(tx) : pooled;
    };
  };
  const statements = {
    session: onCurrent(session),
    room: onCurrent(room),
    user: onCurrent(user),
    roomsOf: onCurrent(roomsOf),
    coMembers: onCurrent(coMembers),
    counter: onCurrent(counter),
  };
  return {
    session: async (sessionId) => (await statements.session().execute({ sessionId }))[0],
    room: async (roomId, userId) => (await statements.room().execute({ roomId, userId }))[0],
    user: async (userId) => (await statements.user().execute({ userId }))[0],
    roomsOf: async (userId) => statements.roomsOf().execute({ userId }),
    coMembers: async (userId) => (await statements.coMembers().execute({ userId })).map((r) => r.userId),
    changePosition: async () => (await statements.counter().execute())[0]?.value ?? 0,
  };
}
