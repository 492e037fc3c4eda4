-- Custom SQL: Drizzle cannot declare an FTS5 virtual table or triggers.
-- Full-text index over live message content, kept in step by triggers.
-- A soft-deleted message (deleted_at set) leaves the index.
CREATE VIRTUAL TABLE `messages_fts` USING fts5(content, content='messages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2');
--> statement-breakpoint
CREATE TRIGGER `messages_fts_ai` AFTER INSERT ON `messages` WHEN new.deleted_at IS NULL BEGIN
  INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content);
END;
--> statement-breakpoint
CREATE TRIGGER `messages_fts_ad` AFTER DELETE ON `messages` WHEN old.deleted_at IS NULL BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
END;
--> statement-breakpoint
CREATE TRIGGER `messages_fts_au` AFTER UPDATE OF content, deleted_at ON `messages` BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, content) SELECT 'delete', old.rowid, old.content WHERE old.deleted_at IS NULL;
  INSERT INTO messages_fts(rowid, content) SELECT new.rowid, new.content WHERE new.deleted_at IS NULL;
END;
