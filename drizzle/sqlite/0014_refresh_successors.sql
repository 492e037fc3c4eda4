-- Tokens used before this have no sealed successor: presenting one again ends its session, as before.
ALTER TABLE `refresh_tokens` ADD `successor_hash` text;--> statement-breakpoint
ALTER TABLE `refresh_tokens` ADD `successor_sealed` text;