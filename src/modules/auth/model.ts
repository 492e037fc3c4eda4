import { t } from "elysia";
import { IdParam, Text } from "../schemas";
import { DisplayName, Email, OwnUser, Username } from "../users/model";

export const Password = Text({ minLength: 8, maxLength: 128 });

export const RegisterBody = t.Object({
  username: Username,
  password: Password,
  email: t.Optional(Email),
  displayName: t.Optional(DisplayName),
});
export type RegisterBody = typeof RegisterBody.static;

export const LoginBody = t.Object({
  username: Text({ minLength: 1, maxLength: 254, description: "username or verified email" }),
  password: Text({ minLength: 1, maxLength: 128 }),
});
export type LoginBody = typeof LoginBody.static;

export const VerifyEmailBody = t.Object({
  code: Text({ minLength: 1, maxLength: 32, description: "the code mailed to the address, e.g. 7KX4-M2QD (case, dash and spaces ignored)" }),
});

export const RefreshBody = t.Object({ refreshToken: Text({ minLength: 1, maxLength: 512 }) });

export const Tokens = t.Object({
  accessToken: t.String(),
  refreshToken: t.String(),
  expiresIn: t.Integer({ description: "seconds until the access token expires" }),
});
export type Tokens = typeof Tokens.static;

export const AuthResult = t.Composite([t.Object({ user: OwnUser }), Tokens]);
export type AuthResult = typeof AuthResult.static;

export const WsTicket = t.Object({
  ticket: t.String(),
  expiresIn: t.Integer({ description: "seconds the ticket stays valid" }),
});

export const ChangePasswordBody = t.Object({
  currentPassword: Text({ minLength: 1, maxLength: 128 }),
  newPassword: Password,
});

export const DeleteAccountBody = t.Object({ password: Text({ minLength: 1, maxLength: 128 }) });

export const SessionView = t.Object(
  {
    id: t.String({ format: "uuid" }),
    userAgent: t.Nullable(t.String({ description: "the User-Agent of the login, at most 256 characters" })),
    createdAt: t.String({ format: "date-time" }),
    lastUsedAt: t.String({ format: "date-time", description: "the session's last refresh, or its start" }),
    current: t.Boolean({ description: "whether this is the session of the request's access token" }),
  },
  { description: "One of the caller's live sessions (a login on some device)" },
);
export type SessionView = typeof SessionView.static;

export const SessionParams = t.Object({ id: IdParam("Session") });
