import { and, eq, gt, isNotNull, isNull, lt, ne, or } from "drizzle-orm";
import type { Config } from "../../config";
import type { Database, Tables } from "../../db";
import { first } from "../../db";
import { verifiedEmail } from "../../db/conditions";
import { Value } from "@sinclair/typebox/value";
import { Conflict, Forbidden, Unauthenticated, ValidationFailed } from "../../errors";
import type { Events, PresenceView } from "../../events";
import { isUniqueViolation } from "../../lib/db-errors";
import { type LoginRule, rateLimitedFor, type SharedCounters } from "../../plugins/rate-limit";
import { cleanName } from "../text";
import type { EmailVerification } from "../users/email";
import { toOwnUser } from "../users/service";
import { checkUsername } from "../users/names";
import { type AuthResult, type LoginBody, Password, type RegisterBody, type Tokens } from "./model";
import { needsRehash, verifyPassword } from "./hashes";
import { seal, unseal } from "./successor";
import { LoginThrottle } from "./throttle";

export { checkUsername, DELETED_PREFIX } from "../users/names";

export interface AccessClaims {
  sub: string;
  sid: string;
}

/** Signs and checks access tokens; made from @elysiajs/jwt in plugins/auth.ts. */
export interface TokenSigner {
  sign(claims: AccessClaims, ttlSeconds: number): Promise<string>;
  verify(token: string): Promise<AccessClaims | null>;
}

export interface Caller {
  userId: string;
  sessionId: string;
}

const WS_TICKET_TTL = 30;
/** Characters of a User-Agent kept with a session. */
export const USER_AGENT_MAX = 256;
/** How long after a refresh the same refresh token still gets the same new pair (while that pair is unused). */
export const REFRESH_GRACE_MS = 10_000;
type RefreshTokenRow = Tables["refreshTokens"]["$inferSelect"];
const sha256 = (value: string) => new Bun.CryptoHasher("sha256").update(value).digest("base64url");
const randomToken = (bytes = 32) => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("base64url");

/** An argon2id hash at the configured cost; every stored password goes through this. */
export function hashPassword(password: string, limits: Config["limits"]): Promise<string> {
  return Bun.password.hash(password, { algorithm: "argon2id", memoryCost: limits.passwordMemoryKib, timeCost: limits.passwordTimeCost });
}

/** Throws ValidationFailed unless `password` keeps the rules of the register route's schema. */
export function checkPassword(password: string): void {
  if (!Value.Check(Password, password))
    throw new ValidationFailed("A password is 8–128 characters.", { in: "body", fields: [{ field: "password", message: "must be 8–128 characters" }] });
}

export class AuthService {
  /** This database's tables. */
  private get t(): Tables {
    return this.database.tables;
  }

  /** Distinguishes the auth plugin of one app from another's (Elysia de-duplicates plugins by name and seed). */
  readonly instanceId = Bun.randomUUIDv7();
  private readonly throttle: LoginThrottle;
  /** Verifying against this keeps an unknown user as slow as a wrong password. */
  private readonly dummyHash: Promise<string>;

  constructor(
    private readonly database: Database,
    private readonly config: Config,
    private readonly signer: TokenSigner,
    private readonly events: Events,
    private readonly presence: PresenceView,
    private readonly emails: EmailVerification,
    /** The time in ms; tests pass a controllable clock. JWT expiry follows it too (see createSigner). */
    private readonly now: () => number = Date.now,
    /** Failed logins counted across processes (Redis); null: in this process. */
    shared: SharedCounters | null = null,
  ) {
    this.throttle = new LoginThrottle(shared);
    this.dummyHash = this.hash(randomToken());
  }

  private get db() {
    return this.database.db;
  }

  private hash(password: string) {
    return hashPassword(password, this.config.limits);
  }

  /** An `email` is stored unverified, never conflicting with anyone's; a code is sent to it once committed. */
  async register(input: RegisterBody, userAgent?: string): Promise<AuthResult> {
    checkUsername(input.username);
    const displayName = input.displayName === undefined ? input.username : cleanName(input.displayName, "displayName");
    const passwordHash = await this.hash(input.password);
    let registered;
    try {
      registered = await this.database.tx(async (db) => {
        const [user] = await db
          .insert(this.t.users)
          .values({
            id: Bun.randomUUIDv7(),
            username: input.username,
            usernameLower: input.username.toLowerCase(),
            email: input.email ?? null,
            emailLower: input.email?.toLowerCase() ?? null,
            passwordHash,
            displayName,
            displayNameLower: displayName.toLowerCase(),
            createdAt: new Date(this.now()),
          })
          .returning();
        const code = await this.emails.start(user!.id, input.email ?? null);
        return { code, result: { user: toOwnUser(user!, this.presence), ...(await this.startSession(user!.id, userAgent)) } };
      });
    } catch (error) {
      // Usernames are the only unique names a new account has.
      if (isUniqueViolation(error)) throw new Conflict("That username is taken.");
      throw error;
    }
    this.emails.send(registered.code);
    return registered.result;
  }

  /** By username or verified email: an address nobody proved logs nobody in. */
  async login(input: LoginBody, userAgent?: string): Promise<AuthResult> {
    const name = input.username.trim().toLowerCase();
    const { users } = this.t;
    const user = first(
      await this.db
        .select()
        .from(users)
        .where(or(eq(users.usernameLower, name), and(eq(users.emailLower, name), verifiedEmail(users))))
        .limit(1),
    );
    await this.throttle.attempt(name, this.now());
    const ok = await verifyPassword(input.password, user?.passwordHash ?? (await this.dummyHash));
    if (!user || !ok || user.deletedAt) throw new Unauthenticated("Wrong username or password.");
    await this.throttle.succeed(name);
    // Only the right password learns that the account is deactivated.
    if (user.deactivatedAt) throw new Forbidden("This account has been deactivated.");
    // A hash brought from another backend (see hashes.ts) is replaced by argon2id once the password is known.
    const rehashed = needsRehash(user.passwordHash) ? await this.hash(input.password) : null;
    const tokens = await this.database.tx(async (db) => {
      // Read again in the transaction that starts the session: a deactivation or deletion
      // committed since the read above (which ended every session then) must not be followed by a new one.
      const { users } = this.t;
      const current = first(await db.select({ deactivatedAt: users.deactivatedAt, deletedAt: users.deletedAt }).from(users).where(eq(users.id, user.id)).limit(1));
      if (!current || current.deletedAt) throw new Unauthenticated("Wrong username or password.");
      if (current.deactivatedAt) throw new Forbidden("This account has been deactivated.");
      // Only over the hash just verified: a password changed meanwhile stays.
      if (rehashed) await db.update(users).set({ passwordHash: rehashed }).where(and(eq(users.id, user.id), eq(users.passwordHash, user.passwordHash)));
      return this.startSession(user.id, userAgent);
    });
    return { user: toOwnUser(user, this.presence), ...tokens };
  }

  /** Confirms the caller's email with the code sent to it; answers with the caller's own user. */
  async verifyEmail(userId: string, code: string) {
    return toOwnUser(await this.emails.verify(userId, code), this.presence);
  }

  /**
   * Rotates a refresh token. A token presented again within REFRESH_GRACE_MS of its use, while
   * the pair it was exchanged for is unused, gets that same pair (two tabs refreshing at once, a
   * retried request). Any other reuse means the token leaked: the whole session ends, in the
   * same transaction that saw the reuse, so no answer ever carries tokens of an ended session.
   */
  async refresh(refreshToken: string): Promise<Tokens> {
    const hash = sha256(refreshToken);
    const { refreshTokens, sessions } = this.t;
    const outcome = await this.database.tx(async (db): Promise<{ tokens: Tokens } | { ended: string | null }> => {
      // Read in the transaction: one that runs again (PostgreSQL) sees the time of its last run.
      const nowMs = this.now();
      const now = new Date(nowMs);
      const row = first(
        await db
          .select({ token: refreshTokens, session: sessions })
          .from(refreshTokens)
          .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
          .where(eq(refreshTokens.tokenHash, hash))
          .limit(1),
      );
      if (!row || row.session.revokedAt || row.session.expiresAt <= now || row.token.expiresAt <= now) return { ended: null };
      const sessionId = row.session.id;
      if (row.token.usedAt === null) {
        const tokens = await this.newTokens(row.session.userId, sessionId);
        const claimed = await db
          .update(refreshTokens)
          .set({ usedAt: now, successorHash: sha256(tokens.refreshToken), successorSealed: seal(refreshToken, tokens) })
          .where(and(eq(refreshTokens.tokenHash, hash), isNull(refreshTokens.usedAt)))
          .returning({ tokenHash: refreshTokens.tokenHash });
        if (claimed.length === 1) {
          // Only the newest exchange can be asked for again: older sealed pairs go.
          await db
            .update(refreshTokens)
            .set({ successorSealed: null })
            .where(and(eq(refreshTokens.sessionId, sessionId), ne(refreshTokens.tokenHash, hash), isNotNull(refreshTokens.successorSealed)));
          await this.storeTokens(sessionId, tokens.refreshToken, now);
          return { tokens };
        }
        // Not reached: transactions run one at a time (SQLite) or SERIALIZABLE (PostgreSQL, where
        // a concurrent claim fails this one with 40001, and it runs again and sees the token used).
      } else {
        const again = await this.sameSuccessor(row.token, row.session.userId, refreshToken, nowMs);
        if (again) return { tokens: again };
      }
      await db.update(sessions).set({ revokedAt: now }).where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)));
      return { ended: sessionId };
    });
    if ("tokens" in outcome) return outcome.tokens;
    if (outcome.ended === null) throw new Unauthenticated("The refresh token is not valid.");
    this.events.sessionRevoked(outcome.ended);
    throw new Unauthenticated("The refresh token was already used; the session has been ended.");
  }

  /**
   * Call inside a transaction. The pair `token` (used, presented again as `presented`) was
   * exchanged for, while the grace window lasts and that pair's refresh token is unused; else null.
   */
  private async sameSuccessor(token: RefreshTokenRow, userId: string, presented: string, nowMs: number): Promise<Tokens | null> {
    if (!token.usedAt || !token.successorHash || !token.successorSealed) return null;
    // Below 0 when this request read the clock just before the one that used the token.
    if (nowMs - token.usedAt.getTime() > REFRESH_GRACE_MS) return null;
    const { refreshTokens } = this.t;
    const successor = first(
      await this.db
        .select({ usedAt: refreshTokens.usedAt, expiresAt: refreshTokens.expiresAt, sessionId: refreshTokens.sessionId })
        .from(refreshTokens)
        .where(eq(refreshTokens.tokenHash, token.successorHash))
        .limit(1),
    );
    if (!successor || successor.usedAt || successor.expiresAt.getTime() <= nowMs || successor.sessionId !== token.sessionId) return null;
    const pair = unseal(presented, token.successorSealed);
    if (!pair) return null;
    // The access token was signed when the token was used. One that has expired since (with an
    // ACCESS_TOKEN_TTL shorter than the grace window) is signed anew: access tokens are not stored.
    const ttl = this.config.accessTokenTtl;
    const expiresIn = Math.min(ttl, Math.floor(token.usedAt.getTime() / 1000) + ttl - Math.floor(nowMs / 1000));
    if (expiresIn > 0) return { ...pair, expiresIn };
    return { accessToken: await this.signer.sign({ sub: userId, sid: token.sessionId }, ttl), refreshToken: pair.refreshToken, expiresIn: ttl };
  }

  /**
   * Ends the caller's session, and the refresh token's session when that is another of the
   * caller's own (a client logging out with a token it kept from elsewhere). A token of another
   * user's session is ignored rather than revealed.
   */
  async logout(caller: Caller, refreshToken: string): Promise<void> {
    const row = first(
      await this.db
        .select({ sessionId: this.t.sessions.id, userId: this.t.sessions.userId })
        .from(this.t.refreshTokens)
        .innerJoin(this.t.sessions, eq(this.t.sessions.id, this.t.refreshTokens.sessionId))
        .where(eq(this.t.refreshTokens.tokenHash, sha256(refreshToken)))
        .limit(1),
    );
    await this.revokeSession(caller.sessionId);
    if (row && row.userId === caller.userId && row.sessionId !== caller.sessionId) await this.revokeSession(row.sessionId);
  }

  async revokeSession(sessionId: string): Promise<void> {
    await this.database.tx((db) =>
      db
        .update(this.t.sessions)
        .set({ revokedAt: new Date(this.now()) })
        .where(and(eq(this.t.sessions.id, sessionId), isNull(this.t.sessions.revokedAt))),
    );
    this.events.sessionRevoked(sessionId);
  }

  /** The caller behind an access token, or null when the token or its session is no good. */
  async authenticate(token: string): Promise<Caller | null> {
    const claims = await this.signer.verify(token);
    if (!claims) return null;
    return (await this.liveSession(claims.sid, claims.sub)) ? { userId: claims.sub, sessionId: claims.sid } : null;
  }

  async liveSession(sessionId: string, userId: string): Promise<boolean> {
    const session = await this.database.lookups.session(sessionId);
    return !!session && session.userId === userId && !session.revokedAt && session.expiresAt.getTime() > this.now();
  }

  async me(userId: string) {
    const user = await this.database.lookups.user(userId);
    if (!user) throw new Unauthenticated();
    return toOwnUser(user, this.presence);
  }

  async createWsTicket(caller: Caller) {
    const ticket = randomToken();
    const now = this.now();
    await this.database.tx(async (db) => {
      await db.delete(this.t.wsTickets).where(lt(this.t.wsTickets.expiresAt, new Date(now)));
      await db.insert(this.t.wsTickets).values({
        ticketHash: sha256(ticket),
        userId: caller.userId,
        sessionId: caller.sessionId,
        expiresAt: new Date(now + WS_TICKET_TTL * 1000),
      });
    });
    return { ticket, expiresIn: WS_TICKET_TTL };
  }

  /** Spends a WebSocket ticket: valid once, within its lifetime, for a live session. */
  async redeemWsTicket(ticket: string): Promise<Caller | null> {
    const row = first(
      await this.database.tx((db) =>
        db
          .delete(this.t.wsTickets)
          .where(and(eq(this.t.wsTickets.ticketHash, sha256(ticket)), gt(this.t.wsTickets.expiresAt, new Date(this.now()))))
          .returning(),
      ),
    );
    if (!row || !(await this.liveSession(row.sessionId, row.userId))) return null;
    return { userId: row.userId, sessionId: row.sessionId };
  }

  /** Call inside a transaction. */
  private async startSession(userId: string, userAgent?: string): Promise<Tokens> {
    const now = new Date(this.now());
    const sessionId = Bun.randomUUIDv7();
    await this.db.insert(this.t.sessions).values({
      id: sessionId,
      userId,
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.config.refreshTokenTtl * 1000),
      userAgent: userAgent?.slice(0, USER_AGENT_MAX) || null,
      lastUsedAt: now,
    });
    const tokens = await this.newTokens(userId, sessionId);
    await this.storeTokens(sessionId, tokens.refreshToken, now);
    return tokens;
  }

  /** A new pair for the session; its refresh token works once stored (storeTokens). */
  private async newTokens(userId: string, sessionId: string): Promise<Tokens> {
    const accessToken = await this.signer.sign({ sub: userId, sid: sessionId }, this.config.accessTokenTtl);
    return { accessToken, refreshToken: randomToken(), expiresIn: this.config.accessTokenTtl };
  }

  /**
   * Call inside a transaction. Stores the refresh token's hash; each refresh slides the session's
   * end forward and is its last use (so a session's use costs one write per refresh, not per request).
   */
  private async storeTokens(sessionId: string, refreshToken: string, now: Date): Promise<void> {
    const expiresAt = new Date(now.getTime() + this.config.refreshTokenTtl * 1000);
    await this.db.insert(this.t.refreshTokens).values({ tokenHash: sha256(refreshToken), sessionId, createdAt: now, expiresAt });
    await this.db.update(this.t.sessions).set({ expiresAt, lastUsedAt: now }).where(eq(this.t.sessions.id, sessionId));
  }
}
