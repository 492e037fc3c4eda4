CREATE TABLE "change_counter" (
	"id" text PRIMARY KEY NOT NULL,
	"value" integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "change_seq" integer;--> statement-breakpoint
CREATE INDEX "messages_room_change_seq_idx" ON "messages" USING btree ("room_id","change_seq") WHERE "messages"."change_seq" IS NOT NULL;