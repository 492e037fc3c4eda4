import { eq } from "drizzle-orm";
import type { DB, Tables } from "../../db";
import { Forbidden } from "../../errors";

/** One audit entry: who (null for the command line) did what to which target. */
export interface AuditEntry {
  actorId: string | null;
  action: string;
  targetType: "user" | "room" | "team" | "message" | "report" | "route";
  targetId: string;
  details?: Record<string, unknown> | null;
}

/** Writes `entry` with the builder of the transaction that makes the change, so both commit or neither. */
export async function audit(db: DB, t: Tables, entry: AuditEntry, at: Date): Promise<void> {
  await db.insert(t.auditLog).values({
    id: Bun.randomUUIDv7(),
    actorId: entry.actorId,
    action: entry.action,
    targetType: entry.targetType,
    targetId: entry.targetId,
    details: entry.details ? JSON.stringify(entry.details) : null,
    createdAt: at,
  });
}

/** Whether `userId` is an active server admin, as `db` (maybe a transaction) sees it. */
export async function isServerAdmin(db: DB, t: Tables, userId: string): Promise<boolean> {
  const [user] = await db.select({ role: t.users.role, deactivatedAt: t.users.deactivatedAt }).from(t.users).where(eq(t.users.id, userId)).limit(1);
  return user?.role === "admin" && !user.deactivatedAt;
}

/**
 * Refuses (403) anyone but an active server admin. Called inside the transaction of an admin
 * action too, so a demotion or deactivation that committed first wins.
 */
export async function requireServerAdmin(db: DB, t: Tables, userId: string): Promise<void> {
  if (!(await isServerAdmin(db, t, userId))) throw new Forbidden("Only a server admin may do that.");
}
