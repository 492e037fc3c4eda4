DROP INDEX "messages_client_id_uq";--> statement-breakpoint
DROP INDEX "messages_reply_to_idx";--> statement-breakpoint
CREATE UNIQUE INDEX "messages_client_id_uq" ON "messages" USING btree ("room_id","sender_id","client_id") WHERE "messages"."client_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "messages_reply_to_idx" ON "messages" USING btree ("reply_to_id","seq") WHERE "messages"."reply_to_id" IS NOT NULL;