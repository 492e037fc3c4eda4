DROP INDEX `rooms_discovery_idx`;--> statement-breakpoint
CREATE INDEX `rooms_discovery_idx` ON `rooms` (`last_activity_at`,`id`) WHERE "rooms"."visibility" = 'public' AND "rooms"."kind" = 'group';