import type { DB, Tables } from "../../db";

/** One audit entry: who (null for the command line) did what to which target. */
export interface AuditEntry {
  actorId: string | null;
  action: string;
  targetType: "user" | "room" | "team" | "message" | "report";
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
