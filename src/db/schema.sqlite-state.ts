/**
 * SQLite's side tables of the message store (src/db/messages/sqlite): state, not data the
 * services query, so they are not among the tables both dialects declare. drizzle-kit owns
 * them with the rest of the SQLite schema; the triggers that keep them in step stay custom SQL.
 */
import { sql } from "drizzle-orm";
import { blob, check, integer, sqliteTable } from "drizzle-orm/sqlite-core";

/** One row: a counter moved by triggers on any change of a membership, a room or a public name. */
export const membershipEpoch = sqliteTable("membership_epoch", { id: integer().primaryKey(), n: integer().notNull() }, (t) => [
  check("membership_epoch_one_row", sql`${t.id} = 1`),
]);

/**
 * One row: messages up to `indexedUpto` (a rowid) are in the full-text index and the clientId
 * blocks; the rest wait. `clientIdSeed` keys the clientIds' fingerprints: random per database
 * and never sent to clients, so keys that collide cannot be made offline.
 */
export const searchState = sqliteTable(
  "search_state",
  {
    id: integer().primaryKey(),
    indexedUpto: integer("indexed_upto").notNull(),
    clientIdSeed: integer("client_id_seed").notNull().default(0),
  },
  (t) => [check("search_state_one_row", sql`${t.id} = 1`)],
);

/** One row per indexed batch: its clientIds as fingerprints and rowids (src/db/messages/sqlite/client-ids.ts). */
export const clientIdBlocks = sqliteTable("client_id_blocks", {
  id: integer().primaryKey({ autoIncrement: true }),
  data: blob({ mode: "buffer" }).notNull(),
});
