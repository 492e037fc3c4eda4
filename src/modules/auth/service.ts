import { and, eq, gt, isNull, lt, or } from "drizzle-orm";
import type { Config } from "../../config";
import type { Database, Tables } from "../../db";
import { first } from "../../db";
import { verifiedEmail } from "../../db/conditions";
import { Conflict, RateLimited, Unauthenticated } from "../../errors";
import type { Events, PresenceView } from "../../events";
import { isUniqueViolation } from "../../lib/db-errors";
import { cleanName } from "../text";
import type { EmailVerification } from "../users/email";
import { toOwnUser } from "../users/service";
import type { AuthResult, LoginBody, RegisterBody, Tokens } from "./model";

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
const sha256 = (value: string) => new Bun.CryptoHasher("sha256").update(value).digest("base64url");
const randomToken = (bytes = 32) => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("base64url");

/**
 * Failed logins slow a name down (a username or a verified email, as submitted, ignoring case),
 * whether or not it is anyone's, so the answer tells an attacker nothing. Each name has its own
 * count: were a user's names to share one, locking one name and trying an address would show
 * whether the address is that user's.
 */
class LoginThrottle {
  private readonly failures = new Map<string, { count: number; until: number; last: number }>();
  private static readonly FREE = 5;
  private static readonly WINDOW_MS = 15 * 60_000;
  private static readonly MAX_LOCK_MS = 15 * 60_000;

  /**
   * Throws RateLimited while `key` is locked; otherwise counts this attempt as a failure up
   * front, so concurrent guesses cannot all pass the check before any of them is counted.
   * `succeed` clears the count.
   */
  attempt(key: string, now: number) {
    let entry = this.failures.get(key);
    if (entry && entry.until > now) throw new RateLimited(Math.ceil((entry.until - now) / 1000));
    if (!entry || now - entry.last > LoginThrottle.WINDOW_MS) entry = { count: 0, until: 0, last: now };
    entry.count++;
    entry.last = now;
    const over = entry.count - LoginThrottle.FREE;
    if (over >= 0) entry.until = now + Math.min(1000 * 2 ** over, LoginThrottle.MAX_LOCK_MS);
    this.failures.set(key, entry);
    if (this.failures.size > 100_000) this.prune(now);
  }
  succeed(key: string) {
    this.failures.delete(key);
  }
  private prune(now: number) {
    for (const [key, entry] of this.failures)
      if (now - entry.last > LoginThrottle.WINDOW_MS && entry.until < now) this.failures.delete(key);
  }
}

export class AuthService {
  /** This database's tables. */
  private get t(): Tables {
    return this.database.tables;
  }

  /** Distinguishes the auth plugin of one app from another's (Elysia de-duplicates plugins by name and seed). */
  readonly instanceId = Bun.randomUUIDv7();
  private readonly throttle = new LoginThrottle();
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
  ) {
    this.dummyHash = this.hash(randomToken());
  }

  private get db() {
    return this.database.db;
  }

  private hash(password: string) {
    const { passwordMemoryKib, passwordTimeCost } = this.config.limits;
    return Bun.password.hash(password, { algorithm: "argon2id", memoryCost: passwordMemoryKib, timeCost: passwordTimeCost });
  }

  /** An `email` is stored unverified, never conflicting with anyone's; a code is sent to it once committed. */
  async register(input: RegisterBody, userAgent?: string): Promise<AuthResult> {
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
    this.throttle.attempt(name, this.now());
    const ok = await Bun.password.verify(input.password, user?.passwordHash ?? (await this.dummyHash));
    if (!user || !ok) throw new Unauthenticated("Wrong username or password.");
    this.throttle.succeed(name);
    const tokens = await this.database.tx(() => this.startSession(user.id, userAgent));
    return { user: toOwnUser(user, this.presence), ...tokens };
  }

  /** Confirms the caller's email with the code sent to it; answers with the caller's own user. */
  async verifyEmail(userId: string, code: string) {
    return toOwnUser(await this.emails.verify(userId, code), this.presence);
  }

  /** Rotates a refresh token. A token presented twice means it leaked: the whole session ends. */
  async refresh(refreshToken: string): Promise<Tokens> {
    const now = new Date(this.now());
    const hash = sha256(refreshToken);
    const outcome = await this.database.tx(async (db) => {
      const row = first(
        await db
          .select({ token: this.t.refreshTokens, session: this.t.sessions })
          .from(this.t.refreshTokens)
          .innerJoin(this.t.sessions, eq(this.t.sessions.id, this.t.refreshTokens.sessionId))
          .where(eq(this.t.refreshTokens.tokenHash, hash))
          .limit(1),
      );
      if (!row || row.session.revokedAt || row.session.expiresAt <= now || row.token.expiresAt <= now) return null;
      const claimed = await db
        .update(this.t.refreshTokens)
        .set({ usedAt: now })
        .where(and(eq(this.t.refreshTokens.tokenHash, hash), isNull(this.t.refreshTokens.usedAt)))
        .returning({ tokenHash: this.t.refreshTokens.tokenHash });
      if (claimed.length === 0) return { reusedSession: row.session.id, tokens: null };
      return { reusedSession: null, tokens: await this.issueTokens(row.session.userId, row.session.id, now) };
    });
    if (!outcome) throw new Unauthenticated("The refresh token is not valid.");
    if (outcome.reusedSession !== null) {
      await this.revokeSession(outcome.reusedSession);
      throw new Unauthenticated("The refresh token was already used; the session has been ended.");
    }
    return outcome.tokens!;
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
    const user = first(await this.db.select().from(this.t.users).where(eq(this.t.users.id, userId)).limit(1));
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
      userAgent: userAgent?.slice(0, 256) ?? null,
    });
    return this.issueTokens(userId, sessionId, now);
  }

  /** Call inside a transaction. Each refresh slides the session's end forward. */
  private async issueTokens(userId: string, sessionId: string, now: Date): Promise<Tokens> {
    const refreshToken = randomToken();
    const expiresAt = new Date(now.getTime() + this.config.refreshTokenTtl * 1000);
    await this.db.insert(this.t.refreshTokens).values({ tokenHash: sha256(refreshToken), sessionId, createdAt: now, expiresAt });
    await this.db.update(this.t.sessions).set({ expiresAt }).where(eq(this.t.sessions.id, sessionId));
    const accessToken = await this.signer.sign({ sub: userId, sid: sessionId }, this.config.accessTokenTtl);
    return { accessToken, refreshToken, expiresIn: this.config.accessTokenTtl };
  }
}
