CREATE TABLE "room_invitations" (
	"code" text PRIMARY KEY NOT NULL,
	"room_id" text NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL,
	"max_uses" integer,
	"uses" integer DEFAULT 0 NOT NULL,
	"revoked_at" timestamp (3) with time zone
);
--> statement-breakpoint
ALTER TABLE "room_members" ADD COLUMN "hidden_seq" integer;--> statement-breakpoint
ALTER TABLE "room_members" ADD COLUMN "notifications_muted_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "room_invitations" ADD CONSTRAINT "room_invitations_room_id_rooms_id_fk" FOREIGN KEY ("room_id") REFERENCES "public"."rooms"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "room_invitations_room_idx" ON "room_invitations" USING btree ("room_id");--> statement-breakpoint
CREATE INDEX "room_members_read_idx" ON "room_members" USING btree ("room_id","last_read_seq");