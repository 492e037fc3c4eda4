import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { first } from "../../src/db";
import { eq } from "drizzle-orm";
import type { SqliteDatabase } from "../../src/db";
import { openSqlite } from "../../src/db/sqlite";
import type { TestContext, TestUser } from "../helpers";

export interface RoomSpec {
  kind?: "group" | "direct";
  visibility?: "public" | "private";
  /** Everyone else in the room, as members unless listed in `admins`. */
  members?: TestUser[];
  admins?: TestUser[];
}

/** A room made through the rooms API: a group room owned by `owner`, or the direct room of `owner` and the one member. */
export async function makeRoom(ctx: TestContext, owner: TestUser, spec: RoomSpec = {}): Promise<string> {
  if (spec.kind === "direct") {
    const res = await ctx.call("POST", "/api/rooms/direct", { token: owner.token, body: { userId: spec.members![0]!.id } });
    if (res.status !== 201) throw new Error(`direct room: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.id;
  }
  const admins = spec.admins ?? [];
  const res = await ctx.call("POST", "/api/rooms", {
    token: owner.token,
    body: {
      name: `room ${Bun.randomUUIDv7().slice(-6)}`,
      visibility: spec.visibility ?? "private",
      memberIds: [...admins, ...(spec.members ?? [])].map((u) => u.id),
    },
  });
  if (res.status !== 201) throw new Error(`room: ${res.status} ${JSON.stringify(res.body)}`);
  const id: string = res.body.id;
  for (const admin of admins) {
    const promoted = await ctx.call("PATCH", `/api/rooms/${id}/members/${admin.id}`, { token: owner.token, body: { role: "admin" } });
    if (promoted.status !== 200) throw new Error(`promote: ${promoted.status} ${JSON.stringify(promoted.body)}`);
  }
  return id;
}

export async function member(ctx: TestContext, roomId: string, userId: string) {
  const { roomMembers } = ctx.services.database.tables;
  const rows = await ctx.services.database.db.select().from(roomMembers).where(eq(roomMembers.roomId, roomId));
  return rows.find((r) => r.userId === userId);
}

export async function lastSeq(ctx: TestContext, roomId: string): Promise<number> {
  const { rooms } = ctx.services.database.tables;
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

/**
 * Two connections to one new SQLite file, as two processes would have, holding user "u" as the
 * owner of group room "r"; `run` gets both and removes the file afterwards.
 */
export async function withTwoConnections(run: (mine: SqliteDatabase, theirs: SqliteDatabase) => Promise<void>): Promise<void> {
  const file = join(mkdtempSync(join(tmpdir(), "bunchat-two-")), "chat.db");
  const mine = openSqlite(file);
  const theirs = openSqlite(file);
  try {
    const now = Date.now();
    mine.sqlite.run(
      "INSERT INTO users (id, username, username_lower, password_hash, display_name, display_name_lower, created_at) VALUES ('u', 'u', 'u', 'x', 'U', 'u', ?)",
      [now],
    );
    mine.sqlite.run(
      "INSERT INTO rooms (id, kind, name, visibility, created_by, created_at, last_activity_at) VALUES ('r', 'group', 'r', 'public', 'u', ?, ?)",
      [now, now],
    );
    mine.sqlite.run("INSERT INTO room_members (room_id, user_id, role, joined_at) VALUES ('r', 'u', 'owner', ?)", [now]);
    await run(mine, theirs);
  } finally {
    await theirs.close();
    await mine.close();
    rmSync(dirname(file), { recursive: true, force: true });
  }
}
