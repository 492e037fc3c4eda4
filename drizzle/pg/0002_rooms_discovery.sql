DROP INDEX "rooms_visibility_kind_idx";--> statement-breakpoint
CREATE INDEX "rooms_discovery_idx" ON "rooms" USING btree ("visibility","kind","last_activity_at","id");