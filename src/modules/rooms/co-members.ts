import { and, eq, inArray, ne } from "drizzle-orm";
import type { Database } from "../../db";

/** Everyone who shares at least one room with the user (the user left out), in one query. */
export async function coMembers(database: Database, userId: string): Promise<string[]> {
  const { roomMembers } = database.tables;
  const myRooms = database.db.select({ roomId: roomMembers.roomId }).from(roomMembers).where(eq(roomMembers.userId, userId));
  const rows = await database.db
    .selectDistinct({ userId: roomMembers.userId })
    .from(roomMembers)
    .where(and(inArray(roomMembers.roomId, myRooms), ne(roomMembers.userId, userId)));
  return rows.map((r) => r.userId);
}
