-- Custom SQL: Drizzle cannot declare triggers. A mute changes what the message writer's cached memberships say, so it moves the epoch.
CREATE TRIGGER `membership_epoch_member_mute_au` AFTER UPDATE OF `muted_until` ON `room_members` BEGIN
  UPDATE membership_epoch SET n = n + 1;
END;
