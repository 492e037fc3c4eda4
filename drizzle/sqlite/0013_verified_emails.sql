-- Existing emails were never proven by their owners: they stay, unverified (email_verified_at
-- NULL), so none of them is unique or a login name until its owner verifies it.
CREATE TABLE `email_verifications` (
	`user_id` text PRIMARY KEY NOT NULL,
	`email_lower` text NOT NULL,
	`code_hash` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
DROP INDEX `users_email_lower_uq`;--> statement-breakpoint
ALTER TABLE `users` ADD `email_verified_at` integer;--> statement-breakpoint
CREATE UNIQUE INDEX `users_verified_email_uq` ON `users` (`email_lower`) WHERE "users"."email_verified_at" IS NOT NULL;