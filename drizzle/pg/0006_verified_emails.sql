-- Existing emails were never proven by their owners: they stay, unverified (email_verified_at
-- NULL), so none of them is unique or a login name until its owner verifies it.
CREATE TABLE "email_verifications" (
	"user_id" text PRIMARY KEY NOT NULL,
	"email_lower" text NOT NULL,
	"code_hash" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
DROP INDEX "users_email_lower_uq";--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "email_verified_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "email_verifications" ADD CONSTRAINT "email_verifications_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "users_verified_email_uq" ON "users" USING btree ("email_lower") WHERE "users"."email_verified_at" IS NOT NULL;