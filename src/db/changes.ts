import { eq, sql } from "drizzle-orm";
import type { DB, Tables } from "./tables";

/**
 * Positions in the database's one sequence of message changes (edits, deletes, reactions),
 * the same for every process whatever its clock says. A change takes the next value in its
 * transaction and holds the counter's row until it commits, so changes commit in the order of
 * their values: every change committed after a read of the position (`Lookups.changePosition`)
 * has a higher value.
 */

/** The counter's row id. */
export const CHANGE_COUNTER = "messages";

/**
 * The next change value, for the message row the transaction changes (its `changeSeq`). Take it
 * just before that row's update, late in the transaction, to hold the counter briefly.
 */
export async function nextChange(db: DB, t: Tables): Promise<number> {
  const [row] = await db
    .insert(t.changeCounter)
    .values({ id: CHANGE_COUNTER, value: 1 })
    .onConflictDoUpdate({ target: t.changeCounter.id, set: { value: sql`${t.changeCounter.value} + 1` } })
    .returning({ value: t.changeCounter.value });
  return row!.value;
}
