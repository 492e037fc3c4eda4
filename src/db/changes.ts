import { eq, sql } from "drizzle-orm";
import type { DB, Tables } from "./tables";

/**
 * Positions in the database's one sequence of message changes (edits, deletes, reactions),
 * the same for every process whatever its clock says. A change takes the next value in its
 * transaction and holds the counter's row until it commits, so changes commit in the order of
 * their values: every change committed after `currentChange` answered has a higher value.
 */

const COUNTER = "messages";

/**
 * The next change value, for the message row the transaction changes (its `changeSeq`). Take it
 * just before that row's update, late in the transaction, to hold the counter briefly.
 */
export async function nextChange(db: DB, t: Tables): Promise<number> {
  const [row] = await db
    .insert(t.changeCounter)
    .values({ id: COUNTER, value: 1 })
    .onConflictDoUpdate({ target: t.changeCounter.id, set: { value: sql`${t.changeCounter.value} + 1` } })
    .returning({ value: t.changeCounter.value });
  return row!.value;
}

/** The value of the last committed change (0 before any). */
export async function currentChange(db: DB, t: Tables): Promise<number> {
  const [row] = await db.select({ value: t.changeCounter.value }).from(t.changeCounter).where(eq(t.changeCounter.id, COUNTER));
  return row?.value ?? 0;
}
