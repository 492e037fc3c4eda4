import { eq } from "drizzle-orm";
import { first, roomMembers, rooms } from "../../src/db/schema";
import type { TestContext, TestUser } from "../helpers";

type Role = "owner" | "admin" | "member";

export interface RoomSpec {
  kind?: "group" | "direct";
  visibility?: "public" | "private";
  /** Everyone else in the room, as members unless listed in `admins`. */
  members?: TestUser[];
  admins?: TestUser[];
}

/**
 * A room owned by `owner`, written straight to the database so these tests depend on the
 * messages module alone.
 */
export async function makeRoom(ctx: TestContext, owner: TestUser, spec: RoomSpec = {}): Promise<string> {
  const id = Bun.randomUUIDv7();
  const kind = spec.kind ?? "group";
  const now = new Date();
  const all: [TestUser, Role][] = [
    [owner, kind === "direct" ? "member" : "owner"],
    ...(spec.admins ?? []).map((u): [TestUser, Role] => [u, "admin"]),
    ...(spec.members ?? []).map((u): [TestUser, Role] => [u, "member"]),
  ];
  await ctx.services.database.tx(async (db) => {
    await db.insert(rooms).values({
      id,
      kind,
      name: kind === "direct" ? null : `room-${id.slice(-6)}`,
      topic: null,
      teamId: null,
      visibility: kind === "direct" ? "private" : (spec.visibility ?? "private"),
      directKey: kind === "direct" ? all.map(([u]) => u.id).sort().join(":") : null,
      createdBy: owner.id,
      createdAt: now,
      lastSeq: 0,
      lastActivityAt: now,
    });
    await db.insert(roomMembers).values(all.map(([u, role]) => ({ roomId: id, userId: u.id, role, joinedAt: now })));
  });
  return id;
}

export async function member(ctx: TestContext, roomId: string, userId: string) {
  const rows = await ctx.services.database.db.select().from(roomMembers).where(eq(roomMembers.roomId, roomId));
  return rows.find((r) => r.userId === userId);
}

export async function lastSeq(ctx: TestContext, roomId: string): Promise<number> {
  return first(await ctx.services.database.db.select({ lastSeq: rooms.lastSeq }).from(rooms).where(eq(rooms.id, roomId)))!.lastSeq;
}

/** Sends over REST and insists on success. */
export async function send(ctx: TestContext, user: TestUser, roomId: string, body: Record<string, unknown> | string) {
  const res = await ctx.call("POST", `/api/rooms/${roomId}/messages`, {
    token: user.token,
    body: typeof body === "string" ? { content: body } : body,
  });
  if (res.status !== 201 && res.status !== 200) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
