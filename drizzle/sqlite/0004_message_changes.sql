ALTER TABLE `messages` ADD `changed_at` integer;--> statement-breakpoint
CREATE INDEX `messages_room_changed_idx` ON `messages` (`room_id`,`changed_at`) WHERE "messages"."changed_at" IS NOT NULL;