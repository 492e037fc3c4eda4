import { t } from "elysia";
import { Text } from "../schemas";
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
