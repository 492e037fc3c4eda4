-- Custom SQL: Drizzle cannot declare triggers or seed rows (the table is declared in src/db/schema.sqlite-state.ts).
-- A counter that moves whenever a room membership, a room, or a member's public name may
-- have changed, whichever connection (or process) changed it. The message writer keeps the
-- memberships of recent senders in memory for as long as the counter stays the same.
CREATE TABLE `membership_epoch` (`id` integer PRIMARY KEY NOT NULL CHECK (`id` = 1), `n` integer NOT NULL);
--> statement-breakpoint
INSERT INTO `membership_epoch` (`id`, `n`) VALUES (1, 0);
--> statement-breakpoint
CREATE TRIGGER `membership_epoch_member_ai` AFTER INSERT ON `room_members` BEGIN
  UPDATE membership_epoch SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `membership_epoch_member_ad` AFTER DELETE ON `room_members` BEGIN
  UPDATE membership_epoch SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `membership_epoch_member_au` AFTER UPDATE OF `room_id`, `user_id` ON `room_members` BEGIN
  UPDATE membership_epoch SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `membership_epoch_room_ad` AFTER DELETE ON `rooms` BEGIN
  UPDATE membership_epoch SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `membership_epoch_room_au` AFTER UPDATE OF `id`, `kind` ON `rooms` BEGIN
  UPDATE membership_epoch SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `membership_epoch_user_ad` AFTER DELETE ON `users` BEGIN
  UPDATE membership_epoch SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `membership_epoch_user_au` AFTER UPDATE OF `id`, `username`, `display_name`, `avatar_url` ON `users` BEGIN
  UPDATE membership_epoch SET n = n + 1;
END;
