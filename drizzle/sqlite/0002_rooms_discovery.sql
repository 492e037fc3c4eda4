DROP INDEX `rooms_visibility_kind_idx`;--> statement-breakpoint
CREATE INDEX `rooms_discovery_idx` ON `rooms` (`visibility`,`kind`,`last_activity_at`,`id`);