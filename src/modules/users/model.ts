import { t } from "elysia";
import { IdParam, Text } from "../schemas";

export const Presence = t.Union([t.Literal("online"), t.Literal("offline")]);

export const PublicUser = t.Object(
  {
    id: t.String({ format: "uuid" }),
    username: t.String(),
    displayName: t.String(),
    avatarUrl: t.Nullable(t.String()),
    statusText: t.Nullable(t.String()),
    presence: Presence,
    lastSeenAt: t.Nullable(t.String({ format: "date-time" })),
    createdAt: t.String({ format: "date-time" }),
  },
  { description: "A user as anyone may see them" },
);
export type PublicUser = typeof PublicUser.static;

export const ServerRole = t.Union([t.Literal("user"), t.Literal("admin")], {
  description: "The server role: an admin may use the admin API and the admin commands",
});
export type ServerRole = typeof ServerRole.static;

export const OwnUser = t.Composite(
  [
    PublicUser,
    t.Object({
      role: ServerRole,
      email: t.Nullable(t.String()),
      emailVerified: t.Boolean({
        description:
          "Whether the owner has proved the address with the code sent to it: only a verified address is unique and a login name. " +
          "A server without SMTP_URL sends no codes, so an address set there stays unverified.",
      }),
    }),
  ],
  { description: "The caller's own user, with email" },
);
export type OwnUser = typeof OwnUser.static;

/** The compact sender shown on messages. */
export const UserRef = t.Object({
  id: t.String(),
  username: t.String(),
  displayName: t.String(),
  avatarUrl: t.Nullable(t.String()),
});
export type UserRef = typeof UserRef.static;

export const Username = t.String({
  minLength: 3,
  maxLength: 32,
  pattern: "^[A-Za-z0-9_.-]+$",
  description: "3–32 of A–Z, a–z, 0–9, _ . -; unique ignoring case",
});
export const Email = t.String({ format: "email", maxLength: 254 });
export const DisplayName = t.String({
  minLength: 1,
  maxLength: 64,
  // Not only spaces, and no U+0000 (see Text).
  pattern: "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$",
  description: "1–64 characters, not only spaces",
});
export const AvatarUrl = t.String({ format: "uri", maxLength: 2048, pattern: "^https?://" });
export const StatusText = Text({ maxLength: 140 });

// Unknown fields are ignored (Elysia drops them before validating), as in every other body.
export const UpdateProfile = t.Object({
  username: t.Optional(Username),
  displayName: t.Optional(DisplayName),
  avatarUrl: t.Optional(t.Nullable(AvatarUrl)),
  statusText: t.Optional(t.Nullable(StatusText)),
  email: t.Optional(t.Nullable(Email)),
});
export type UpdateProfile = typeof UpdateProfile.static;

export const Limit = t.Integer({ minimum: 1, maximum: 200, default: 50 });

export const UserSearchQuery = t.Object({
  q: t.Optional(Text({ maxLength: 64 })),
  limit: t.Optional(Limit),
  cursor: t.Optional(t.String({ maxLength: 200 })),
});

export const UserPage = t.Object({
  users: t.Array(PublicUser),
  nextCursor: t.Nullable(t.String()),
});

export const UserParams = t.Object({ id: IdParam("User") });
