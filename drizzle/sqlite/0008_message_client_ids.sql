-- Custom SQL: Drizzle cannot declare triggers or a WITHOUT ROWID table (dropped again by 0011).
-- clientIds leave the message commit too (0007 dropped messages_client_id_uq): an index entry
-- per send, in an index ordered by room and sender, cost every commit a log page per sender.
-- message_client_ids holds the clientIds of the messages up to search_state.indexed_upto; the
-- newer ones wait in the same backlog as full-text indexing, and the writer, which holds the
-- write lock when it looks, finds those among the backlog rows (src/db/messages/sqlite/backlog.ts).
CREATE TABLE `message_client_ids` (
	`room_id` text NOT NULL,
	`sender_id` text NOT NULL,
	`client_id` text NOT NULL,
	`message_id` text NOT NULL,
	PRIMARY KEY (`room_id`, `sender_id`, `client_id`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `message_client_ids` (`room_id`, `sender_id`, `client_id`, `message_id`)
SELECT room_id, sender_id, client_id, id FROM messages
WHERE client_id IS NOT NULL AND rowid <= (SELECT indexed_upto FROM search_state WHERE id = 1);
--> statement-breakpoint
-- As for the full-text index: a new row that took a rowid at or below indexed_upto is recorded at once.
CREATE TRIGGER `message_client_ids_ai` AFTER INSERT ON `messages`
WHEN new.client_id IS NOT NULL AND new.rowid <= (SELECT indexed_upto FROM search_state WHERE id = 1) BEGIN
  INSERT INTO message_client_ids (room_id, sender_id, client_id, message_id) VALUES (new.room_id, new.sender_id, new.client_id, new.id)
  ON CONFLICT DO NOTHING;
END;
--> statement-breakpoint
CREATE TRIGGER `message_client_ids_ad` AFTER DELETE ON `messages` WHEN old.client_id IS NOT NULL BEGIN
  DELETE FROM message_client_ids WHERE room_id = old.room_id AND sender_id = old.sender_id AND client_id = old.client_id AND message_id = old.id;
END;
