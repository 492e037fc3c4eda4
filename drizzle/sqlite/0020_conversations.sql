CREATE TABLE `room_invitations` (
	`code` text PRIMARY KEY NOT NULL,
	`room_id` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`max_uses` integer,
	`uses` integer DEFAULT 0 NOT NULL,
	`revoked_at` integer,
	FOREIGN KEY (`room_id`) REFERENCES `rooms`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `room_invitations_room_idx` ON `room_invitations` (`room_id`);--> statement-breakpoint
ALTER TABLE `room_members` ADD `hidden_seq` integer;--> statement-breakpoint
ALTER TABLE `room_members` ADD `notifications_muted_at` integer;--> statement-breakpoint
CREATE INDEX `room_members_read_idx` ON `room_members` (`room_id`,`last_read_seq`);