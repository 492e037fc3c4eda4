/**
 * The PostgreSQL schema: the same tables, columns, names and indexes as `schema.sqlite.ts`
 * (test/db/schema-parity.test.ts keeps the two in step), so services written against the
 * SQLite tables run unchanged. Column types are chosen so both dialects hand services the
 * same JavaScript values: times are millisecond-precision `timestamptz` read as `Date`,
 * counters are `integer` read as numbers, `metadata` stays JSON text and enums stay text.
 */
import { sql } from "drizzle-orm";
import { index, integer, pgTable, primaryKey, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import { discoverableRoom, verifiedEmail } from "./conditions";

const time = (name: string) => timestamp(name, { mode: "date", withTimezone: true, precision: 3 });

export const users = pgTable(
  "users",
  {
    id: text("id").primaryKey(),
    username: text("username").notNull(),
    usernameLower: text("username_lower").notNull(),
    email: text("email"),
    emailLower: text("email_lower"),
    /** When its owner proved the address with a code; null: unverified (never unique, never a login name). */
    emailVerifiedAt: time("email_verified_at"),
    passwordHash: text("password_hash").notNull(),
    displayName: text("display_name").notNull(),
    displayNameLower: text("display_name_lower").notNull(),
    avatarUrl: text("avatar_url"),
    statusText: text("status_text"),
    lastSeenAt: time("last_seen_at"),
    createdAt: time("created_at").notNull(),
    /** The server role: "admin" may use the admin API and commands. */
    role: text("role").$type<"user" | "admin">().notNull().default("user"),
    /** When the account was deactivated; null: active. A deactivated account cannot log in. */
    deactivatedAt: time("deactivated_at"),
    /** When its owner deleted the account: the row stays, anonymised, so messages keep their author. */
    deletedAt: time("deleted_at"),
  },
  (t) => [
    uniqueIndex("users_username_lower_uq").on(t.usernameLower),
    // Only verified addresses are unique: an address someone merely typed blocks nobody.
    uniqueIndex("users_verified_email_uq").on(t.emailLower).where(verifiedEmail(t)),
    index("users_display_name_lower_idx").on(t.displayNameLower),
  ],
);

/** A login: the unit that refresh tokens rotate within and that logout revokes. */
export const sessions = pgTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: time("created_at").notNull(),
    expiresAt: time("expires_at").notNull(),
    revokedAt: time("revoked_at"),
    /** The User-Agent of the login, cut to 256 characters. */
    userAgent: text("user_agent"),
    /** The session's last refresh (or its start); null: unknown, shown as its start. */
    lastUsedAt: time("last_used_at"),
  },
  (t) => [index("sessions_user_idx").on(t.userId)],
);

/** Refresh tokens are stored only as SHA-256 hashes; a used one is kept to detect reuse (and a double submit). */
export const refreshTokens = pgTable(
  "refresh_tokens",
  {
    tokenHash: text("token_hash").primaryKey(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    createdAt: time("created_at").notNull(),
    expiresAt: time("expires_at").notNull(),
    usedAt: time("used_at"),
    /** The hash of the refresh token this one was exchanged for. */
    successorHash: text("successor_hash"),
    /**
     * The pair this one was exchanged for, sealed with a key derived from this token (which is
     * stored only as a hash), so a double submit within the grace window gets the same pair;
     * cleared when the session rotates again. See modules/auth/successor.ts.
     */
    successorSealed: text("successor_sealed"),
  },
  (t) => [index("refresh_tokens_session_idx").on(t.sessionId)],
);

/**
 * An email verification in progress: one per user (a new code replaces the old), for the
 * address the code was sent to. The code is stored only as a keyed hash.
 */
export const emailVerifications = pgTable("email_verifications", {
  userId: text("user_id")
    .primaryKey()
    .references(() => users.id, { onDelete: "cascade" }),
  emailLower: text("email_lower").notNull(),
  codeHash: text("code_hash").notNull(),
  /** Codes tried against this one, right or wrong; it dies after a few. */
  attempts: integer("attempts").notNull().default(0),
  createdAt: time("created_at").notNull(),
  expiresAt: time("expires_at").notNull(),
});

export const wsTickets = pgTable(
  "ws_tickets",
  {
    ticketHash: text("ticket_hash").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    expiresAt: time("expires_at").notNull(),
  },
  (t) => [index("ws_tickets_expires_idx").on(t.expiresAt)],
);

export const teams = pgTable("teams", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  description: text("description"),
  createdBy: text("created_by").notNull(),
  createdAt: time("created_at").notNull(),
});

export const teamMembers = pgTable(
  "team_members",
  {
    teamId: text("team_id")
      .notNull()
      .references(() => teams.id, { onDelete: "cascade" }),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    role: text("role", { enum: ["owner", "admin", "member"] }).notNull(),
    joinedAt: time("joined_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.teamId, t.userId] }), index("team_members_user_idx").on(t.userId)],
);

export const invitations = pgTable(
  "invitations",
  {
    code: text("code").primaryKey(),
    teamId: text("team_id")
      .notNull()
      .references(() => teams.id, { onDelete: "cascade" }),
    createdBy: text("created_by").notNull(),
    createdAt: time("created_at").notNull(),
    expiresAt: time("expires_at").notNull(),
    maxUses: integer("max_uses"),
    uses: integer("uses").notNull().default(0),
    revokedAt: time("revoked_at"),
  },
  (t) => [index("invitations_team_idx").on(t.teamId)],
);

export const rooms = pgTable(
  "rooms",
  {
    id: text("id").primaryKey(),
    kind: text("kind", { enum: ["group", "direct", "channel"] }).notNull(),
    name: text("name"),
    topic: text("topic"),
    teamId: text("team_id").references(() => teams.id, { onDelete: "cascade" }),
    visibility: text("visibility", { enum: ["public", "private"] }).notNull(),
    /** For direct rooms only: the two user ids, sorted and joined, so each pair has one room. */
    directKey: text("direct_key"),
    createdBy: text("created_by").notNull(),
    createdAt: time("created_at").notNull(),
    /** The seq of the newest message; the next message gets lastSeq + 1. */
    lastSeq: integer("last_seq").notNull().default(0),
    lastActivityAt: time("last_activity_at").notNull(),
  },
  (t) => [
    uniqueIndex("rooms_direct_key_uq").on(t.directKey),
    index("rooms_team_idx").on(t.teamId),
    // Room discovery pages public group rooms by latest activity straight off this index. It
    // holds public group rooms only: a message moves its room's last_activity_at, and in a
    // private or direct room that no longer rewrites an index entry (and its log page) each commit.
    index("rooms_discovery_idx")
      .on(t.lastActivityAt, t.id)
      .where(discoverableRoom(t)),
  ],
);

export const roomMembers = pgTable(
  "room_members",
  {
    roomId: text("room_id")
      .notNull()
      .references(() => rooms.id, { onDelete: "cascade" }),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    role: text("role", { enum: ["owner", "admin", "member"] }).notNull(),
    joinedAt: time("joined_at").notNull(),
    lastReadSeq: integer("last_read_seq").notNull().default(0),
    /** The highest seq one of this member's sockets has received (message status "delivered"). */
    lastDeliveredSeq: integer("last_delivered_seq").notNull().default(0),
    /** Until when the member's sends are refused (a room moderator's mute); null when not muted. */
    mutedUntil: time("muted_until"),
    /**
     * The member hid the room from their list when its lastSeq was this; it is hidden while
     * lastSeq stays there, so the next message brings it back without a write of its own.
     */
    hiddenSeq: integer("hidden_seq"),
    /** When the member muted the room's notifications; null: not muted (their own setting, not a moderator's mute). */
    notificationsMutedAt: time("notifications_muted_at"),
  },
  (t) => [
    primaryKey({ columns: [t.roomId, t.userId] }),
    index("room_members_user_idx").on(t.userId),
    // readCount: the members of a room whose read position reaches a seq, counted off this index.
    index("room_members_read_idx").on(t.roomId, t.lastReadSeq),
  ],
);

/** Invite codes to a private group room, as `invitations` are to a team; accepted at the same route. */
export const roomInvitations = pgTable(
  "room_invitations",
  {
    code: text("code").primaryKey(),
    roomId: text("room_id")
      .notNull()
      .references(() => rooms.id, { onDelete: "cascade" }),
    createdBy: text("created_by").notNull(),
    createdAt: time("created_at").notNull(),
    expiresAt: time("expires_at").notNull(),
    maxUses: integer("max_uses"),
    uses: integer("uses").notNull().default(0),
    revokedAt: time("revoked_at"),
  },
  (t) => [index("room_invitations_room_idx").on(t.roomId)],
);

/** Users kept out of a room until lifted or `expiresAt` (null: until lifted). */
export const roomBans = pgTable(
  "room_bans",
  {
    roomId: text("room_id")
      .notNull()
      .references(() => rooms.id, { onDelete: "cascade" }),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    reason: text("reason"),
    bannedBy: text("banned_by").notNull(),
    createdAt: time("created_at").notNull(),
    expiresAt: time("expires_at"),
  },
  (t) => [primaryKey({ columns: [t.roomId, t.userId] })],
);

export const messages = pgTable(
  "messages",
  {
    id: text("id").primaryKey(),
    roomId: text("room_id")
      .notNull()
      .references(() => rooms.id, { onDelete: "cascade" }),
    seq: integer("seq").notNull(),
    senderId: text("sender_id").notNull(),
    content: text("content").notNull(),
    /** JSON text of an object, or null. */
    metadata: text("metadata"),
    replyToId: text("reply_to_id"),
    replyCount: integer("reply_count").notNull().default(0),
    clientId: text("client_id"),
    createdAt: time("created_at").notNull(),
    editedAt: time("edited_at"),
    deletedAt: time("deleted_at"),
    /**
     * When the message was last edited, deleted or had a reaction added or removed; null until
     * then (new messages are written without it). A resuming socket's `sync` with `since` replays these.
     */
    changedAt: time("changed_at"),
  },
  (t) => [
    uniqueIndex("messages_room_seq_uq").on(t.roomId, t.seq),
    // Partial: most messages carry neither, and an entry costs every send an index write.
    uniqueIndex("messages_client_id_uq").on(t.roomId, t.senderId, t.clientId).where(sql`${t.clientId} IS NOT NULL`),
    index("messages_reply_to_idx").on(t.replyToId, t.seq).where(sql`${t.replyToId} IS NOT NULL`),
    // Partial too: only messages changed after they were sent are in it.
    index("messages_room_changed_idx").on(t.roomId, t.changedAt).where(sql`${t.changedAt} IS NOT NULL`),
  ],
);

export const messageEdits = pgTable(
  "message_edits",
  {
    id: text("id").primaryKey(),
    messageId: text("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade" }),
    /** The content as it was before this edit. */
    content: text("content").notNull(),
    /** When that content was written (the message's creation or an earlier edit). */
    editedAt: time("edited_at").notNull(),
  },
  (t) => [index("message_edits_message_idx").on(t.messageId, t.editedAt)],
);

export const reactions = pgTable(
  "reactions",
  {
    messageId: text("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade" }),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    emoji: text("emoji").notNull(),
    createdAt: time("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.messageId, t.emoji, t.userId] })],
);

/**
 * What server admins (and the command line, actor null) did: written in the same transaction as
 * the change. `details` is JSON text of an object, or null.
 */
export const auditLog = pgTable(
  "audit_log",
  {
    id: text("id").primaryKey(),
    actorId: text("actor_id"),
    action: text("action").notNull(),
    targetType: text("target_type").notNull(),
    targetId: text("target_id").notNull(),
    details: text("details"),
    createdAt: time("created_at").notNull(),
  },
  (t) => [index("audit_log_created_idx").on(t.createdAt, t.id)],
);

/** A report of a message to the server admins; one open report per reporter and message. */
export const messageReports = pgTable(
  "message_reports",
  {
    id: text("id").primaryKey(),
    messageId: text("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade" }),
    reporterId: text("reporter_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    reason: text("reason").notNull(),
    status: text("status", { enum: ["open", "resolved"] }).notNull(),
    createdAt: time("created_at").notNull(),
    resolvedBy: text("resolved_by"),
    resolvedAt: time("resolved_at"),
    note: text("note"),
  },
  (t) => [
    uniqueIndex("message_reports_open_uq").on(t.messageId, t.reporterId).where(sql`${t.status} = 'open'`),
    index("message_reports_queue_idx").on(t.status, t.createdAt, t.id),
  ],
);

/**
 * An uploaded file; its bytes live in the storage (src/storage) under its id. `deletedAt`: claimed
 * for removal (its bytes are being deleted), invisible everywhere from then on.
 */
export const files = pgTable(
  "files",
  {
    id: text("id").primaryKey(),
    ownerId: text("owner_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** "upload": attachable, served with signed links; "avatar": a re-encoded profile image, public. */
    kind: text("kind", { enum: ["upload", "avatar"] }).notNull(),
    name: text("name").notNull(),
    contentType: text("content_type").notNull(),
    size: integer("size").notNull(),
    width: integer("width"),
    height: integer("height"),
    /** A blurred placeholder of an image as a data URL (ThumbHash), or null. */
    preview: text("preview"),
    createdAt: time("created_at").notNull(),
    deletedAt: time("deleted_at"),
  },
  (t) => [index("files_owner_idx").on(t.ownerId), index("files_created_idx").on(t.createdAt)],
);

/** The files a message attaches, in the order sent. A file stays while any message attaches it. */
export const messageFiles = pgTable(
  "message_files",
  {
    messageId: text("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade" }),
    fileId: text("file_id")
      .notNull()
      .references(() => files.id, { onDelete: "cascade" }),
    position: integer("position").notNull(),
  },
  (t) => [primaryKey({ columns: [t.messageId, t.fileId] }), index("message_files_file_idx").on(t.fileId)],
);
