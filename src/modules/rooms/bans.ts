import { and, eq, gt, inArray, isNull, or } from "drizzle-orm";
import type { DB, Tables } from "../../db";
import { Forbidden } from "../../errors";

/** Bans of `roomId` still in force at `now`. */
export const activeBan = (t: Tables, roomId: string, now: Date) =>
  and(eq(t.roomBans.roomId, roomId), or(isNull(t.roomBans.expiresAt), gt(t.roomBans.expiresAt, now)));

/** 403 when one of `userIds` is banned from the room at `now`. */
export async function requireNotBanned(db: DB, t: Tables, roomId: string, userIds: string[], now: Date): Promise<void> {
  if (userIds.length === 0) return;
  const rows = await db
    .select({ userId: t.roomBans.userId })
    .from(t.roomBans)
    .where(and(activeBan(t, roomId, now), inArray(t.roomBans.userId, userIds)))
    .limit(1);
  if (rows.length > 0) throw new Forbidden("That user is banned from this room.");
}

/** Those of `userIds` who are not banned from the room at `now`. */
export async function notBanned(db: DB, t: Tables, roomId: string, userIds: string[], now: Date): Promise<string[]> {
  if (userIds.length === 0) return [];
  const rows = await db
    .select({ userId: t.roomBans.userId })
    .from(t.roomBans)
    .where(and(activeBan(t, roomId, now), inArray(t.roomBans.userId, userIds)));
  const banned = new Set(rows.map((r) => r.userId));
  return userIds.filter((id) => !banned.has(id));
}
