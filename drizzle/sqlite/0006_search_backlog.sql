-- Custom SQL: Drizzle cannot declare triggers or seed rows (the table is declared in src/db/schema.sqlite-state.ts).
-- Full-text indexing leaves the message commit. New messages wait in a backlog, the rows above
-- search_state.indexed_upto (a messages rowid), and are indexed together: by the message
-- writer once enough wait, and before every search (src/db/messages/sqlite/search.ts).
-- Rows at or below indexed_upto are in the index and the triggers keep them in step, as before.
CREATE TABLE `search_state` (`id` integer PRIMARY KEY NOT NULL CHECK (`id` = 1), `indexed_upto` integer NOT NULL);
--> statement-breakpoint
INSERT INTO `search_state` (`id`, `indexed_upto`) SELECT 1, coalesce(max(rowid), 0) FROM `messages`;
--> statement-breakpoint
DROP TRIGGER `messages_fts_ai`;
--> statement-breakpoint
-- A new row is indexed at once only when it took a rowid at or below indexed_upto (one freed by
-- deleting the newest rows): the backlog starts above it and would never see the row.
CREATE TRIGGER `messages_fts_ai` AFTER INSERT ON `messages`
WHEN new.deleted_at IS NULL AND new.rowid <= (SELECT indexed_upto FROM search_state WHERE id = 1) BEGIN
  INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content);
END;
--> statement-breakpoint
DROP TRIGGER `messages_fts_ad`;
--> statement-breakpoint
CREATE TRIGGER `messages_fts_ad` AFTER DELETE ON `messages`
WHEN old.deleted_at IS NULL AND old.rowid <= (SELECT indexed_upto FROM search_state WHERE id = 1) BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
END;
--> statement-breakpoint
DROP TRIGGER `messages_fts_au`;
--> statement-breakpoint
-- A row still in the backlog is indexed later as it is then: an edit or a delete has nothing to change.
CREATE TRIGGER `messages_fts_au` AFTER UPDATE OF content, deleted_at ON `messages`
WHEN old.rowid <= (SELECT indexed_upto FROM search_state WHERE id = 1) BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, content) SELECT 'delete', old.rowid, old.content WHERE old.deleted_at IS NULL;
  INSERT INTO messages_fts(rowid, content) SELECT new.rowid, new.content WHERE new.deleted_at IS NULL;
END;
