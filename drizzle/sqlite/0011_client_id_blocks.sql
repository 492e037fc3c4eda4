-- Custom SQL: Drizzle cannot declare triggers; the blocks of existing rows are written in code (the table is declared in src/db/schema.sqlite-state.ts).
-- The clientIds of indexed messages leave the B-tree message_client_ids, where each batch of
-- the backlog cost about a log page per message, for blocks of fingerprints and rowids, one
-- row per indexed batch, which every writing connection holds in memory
-- (src/db/messages/sqlite/client-ids.ts). AUTOINCREMENT: a block's id is never taken again,
-- so a connection that loaded the blocks up to an id has seen every block below it.
-- The blocks of the messages indexed so far are written by the server right after this
-- migration (ensureBlocks), from messages themselves: SQL has no fingerprint function.
CREATE TABLE `client_id_blocks` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`data` blob NOT NULL
);
--> statement-breakpoint
DROP TRIGGER `messages_ad`;
--> statement-breakpoint
DROP TABLE `message_client_ids`;
--> statement-breakpoint
-- As in 0010, without message_client_ids: a deleted message's entry stays in its block and
-- matches nothing, since a lookup compares the row it points at.
CREATE TRIGGER `messages_ad` AFTER DELETE ON `messages` BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, content) SELECT 'delete', old.rowid, old.content
  WHERE old.deleted_at IS NULL AND old.rowid <= (SELECT indexed_upto FROM search_state WHERE id = 1);
  UPDATE search_state SET indexed_upto = coalesce((SELECT max(rowid) FROM messages), 0)
  WHERE id = 1 AND indexed_upto > coalesce((SELECT max(rowid) FROM messages), 0);
END;
