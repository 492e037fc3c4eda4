// Shared by the rooms, teams and invitations tests.
import { and, eq, sql } from "drizzle-orm";
import type { RecordedEvent } from "../../src/events";
import type { TestContext, TestResponse, TestUser } from "../helpers";

export type Who = "owner" | "admin" | "member" | "outsider";
export const WHO: Who[] = ["owner", "admin", "member", "outsider"];

/**
 * Stores a message the way the message writer does (next seq, room activity bumped),
 * without depending on the messages module. Returns its seq.
 */
export async function postMessage(ctx: TestContext, roomId: string, senderId: string, content = "hi", at = new Date()): Promise<number> {
  const { messages, rooms } = ctx.services.database.tables;
  return ctx.services.database.tx(async (db) => {
    const [room] = await db
      .update(rooms)
      .set({ lastSeq: sql`${rooms.lastSeq} + 1`, lastActivityAt: at })
      .where(eq(rooms.id, roomId))
      .returning({ lastSeq: rooms.lastSeq });
    await db.insert(messages).values({ id: Bun.randomUUIDv7(), roomId, seq: room!.lastSeq, senderId, content, createdAt: at });
    return room!.lastSeq;
  });
}

/** The stored membership row, or undefined. */
export async function membership(ctx: TestContext, roomId: string, userId: string) {
  const { roomMembers } = ctx.services.database.tables;
  const rows = await ctx.services.database.db
    .select()
    .from(roomMembers)
    .where(and(eq(roomMembers.roomId, roomId), eq(roomMembers.userId, userId)));
  return rows[0];
}

/** Fails with the response body when the status is not the expected one. */
export function expectStatus(res: TestResponse, status: number, label = "") {
  if (res.status !== status) throw new Error(`${label} expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
}

/** Compact view of what a membership change emitted, for equality checks. */
export function trace(log: RecordedEvent[]): string[] {
  return log.map((e) => {
    if (e.to === "joined" || e.to === "left") return `${e.to} ${e.userId} ${e.roomId}`;
    if (e.to === "room") return `room ${e.roomId} ${e.event.type}${"userId" in e.event ? ` ${e.event.userId}` : ""}`;
    if (e.to === "user") return `user ${e.userId} ${e.event.type}`;
    return e.to;
  });
}

export type Users = Record<Who, TestUser>;
