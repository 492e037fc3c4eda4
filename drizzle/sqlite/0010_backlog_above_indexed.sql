-- Custom SQL: Drizzle cannot declare triggers or data fixes.
-- New messages always wait in the backlog. SQLite gives a new row the rowid after the largest
-- one in the table, so once search_state.indexed_upto never exceeds that largest rowid, no new
-- row can take a rowid at or below it, and the insert triggers of 0006 and 0008 (which indexed
-- such a row at once, evaluating their condition for every message inserted) have nothing left
-- to do. Deleting the newest rows is what left indexed_upto above the largest rowid: the delete
-- trigger now lowers it, after removing the row from both indexes.
UPDATE `search_state` SET `indexed_upto` = min(`indexed_upto`, coalesce((SELECT max(rowid) FROM `messages`), 0)) WHERE `id` = 1;
--> statement-breakpoint
DROP TRIGGER `messages_fts_ai`;
--> statement-breakpoint
DROP TRIGGER `message_client_ids_ai`;
--> statement-breakpoint
DROP TRIGGER `messages_fts_ad`;
--> statement-breakpoint
DROP TRIGGER `message_client_ids_ad`;
--> statement-breakpoint
-- One trigger, so that the order holds: the row leaves the full-text index while indexed_upto
-- still covers it, then indexed_upto comes down to the largest rowid left. Rows deleted later
-- in the same statement are still in the table then, so they stay covered until their turn.
CREATE TRIGGER `messages_ad` AFTER DELETE ON `messages` BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, content) SELECT 'delete', old.rowid, old.content
  WHERE old.deleted_at IS NULL AND old.rowid <= (SELECT indexed_upto FROM search_state WHERE id = 1);
  DELETE FROM message_client_ids
  WHERE old.client_id IS NOT NULL AND room_id = old.room_id AND sender_id = old.sender_id AND client_id = old.client_id AND message_id = old.id;
  UPDATE search_state SET indexed_upto = coalesce((SELECT max(rowid) FROM messages), 0)
  WHERE id = 1 AND indexed_upto > coalesce((SELECT max(rowid) FROM messages), 0);
END;
