/**
 * Email verification: an address counts (unique, a login name) only once its owner has typed
 * back a code sent to it. Without a mailer (no SMTP_URL) no address is ever verified.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { and, eq, gt, lt, ne, sql } from "drizzle-orm";
import type { Database, Tables } from "../../db";
import { first } from "../../db";
import { verifiedEmail } from "../../db/conditions";
import { BadRequest, Conflict, ValidationFailed } from "../../errors";
import { isUniqueViolation } from "../../lib/db-errors";
import type { Logger } from "../../logger";
import type { Mailer } from "../../mailer";
import type { RateLimiter } from "../../plugins/rate-limit";

type UserRow = Tables["users"]["$inferSelect"];

/** How long a code stays good, and how many tries (right or wrong) it takes. */
export const CODE_TTL_MS = 30 * 60_000;
export const CODE_ATTEMPTS = 5;
/** Digits and capitals that cannot be mistaken for one another (no 0 O 1 I L U); 30^8 codes. */
const ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ";
const CODE_LENGTH = 8;

/** A code to mail once the transaction that made it has committed. */
export interface CodeToSend {
  userId: string;
  to: string;
  code: string;
}

function randomCode(): string {
  let code = "";
  while (code.length < CODE_LENGTH)
    for (const byte of crypto.getRandomValues(new Uint8Array(16)))
      // 240 is the largest multiple of 30 up to 256: higher bytes would favour the first characters.
      if (byte < 240 && code.length < CODE_LENGTH) code += ALPHABET[byte % ALPHABET.length];
  return code;
}

/** A code as typed: any case, with or without the dash and spaces. */
const normalise = (code: string) => code.toUpperCase().replace(/[\s-]/g, "");

/** What a change of email does to the user row, given the row before it. */
export interface EmailChange {
  values: Pick<Tables["users"]["$inferInsert"], "email" | "emailLower" | "emailVerifiedAt">;
  /** A new address, or the same unverified one again for a new code: counted against the limit. */
  isNew: boolean;
  /** Any code in progress ends: for a new address, and when the email is cleared. */
  restart: boolean;
}

export class EmailVerification {
  private get t(): Tables {
    return this.database.tables;
  }

  /** HMAC key for codes, so the stored hashes of short codes are no use to a database reader. */
  private readonly key: Buffer;
  private readonly sending = new Set<Promise<void>>();

  constructor(
    private readonly database: Database,
    secret: string,
    /** null: no SMTP_URL, so nothing is ever verified. */
    private readonly mailer: Mailer | null,
    /** Changes of email per user (probing for addresses, mail to strangers). */
    private readonly changes: RateLimiter,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.key = createHmac("sha256", secret).update("bunchat email verification codes").digest();
  }

  get enabled(): boolean {
    return this.mailer !== null;
  }

  /**
   * The change of `current`'s email to `email` (null clears it). The same address in another
   * letter case keeps its state; so does any address while nothing can be verified. Anything
   * else starts unverified.
   */
  change(current: Pick<UserRow, "emailLower" | "emailVerifiedAt">, email: string | null): EmailChange {
    const emailLower = email?.toLowerCase() ?? null;
    if (email === null) return { values: { email: null, emailLower: null, emailVerifiedAt: null }, isNew: false, restart: true };
    if (emailLower === current.emailLower && (current.emailVerifiedAt !== null || !this.enabled))
      return { values: { email }, isNew: false, restart: false };
    return { values: { email, emailLower, emailVerifiedAt: null }, isNew: true, restart: true };
  }

  /** Counts a new address (or a new code) for the user: 429 with Retry-After beyond the limit. */
  countChange(userId: string): void {
    this.changes.take(userId);
  }

  /**
   * Call inside the transaction that gave the user `email` (null: none). Ends any code in
   * progress and, when addresses can be verified, makes a new one, to be sent with `send` once
   * the transaction has committed. An address another account has verified gets no code (its
   * owner gets no mail for it; verifying it could only end in 409), and the answer is the same.
   */
  async start(userId: string, email: string | null): Promise<CodeToSend | null> {
    const { emailVerifications: codes, users } = this.t;
    const db = this.database.db;
    await db.delete(codes).where(eq(codes.userId, userId));
    if (!this.enabled || email === null) return null;
    const emailLower = email.toLowerCase();
    const owner = first(
      await db
        .select({ id: users.id })
        .from(users)
        .where(and(eq(users.emailLower, emailLower), verifiedEmail(users), ne(users.id, userId)))
        .limit(1),
    );
    if (owner) return null;
    const code = randomCode();
    const now = this.now();
    await db.insert(codes).values({
      userId,
      emailLower,
      codeHash: this.hash(userId, emailLower, code),
      attempts: 0,
      createdAt: new Date(now),
      expiresAt: new Date(now + CODE_TTL_MS),
    });
    return { userId, to: email, code };
  }

  /**
   * Mails a code without waiting for the mail server: a failing one fails no request, and how
   * long a request takes says nothing about whether a code was sent. Failures are logged.
   */
  send(mail: CodeToSend | null): void {
    if (!mail || !this.mailer) return;
    const shown = `${mail.code.slice(0, 4)}-${mail.code.slice(4)}`;
    const sending: Promise<void> = this.mailer
      .send({
        to: mail.to,
        subject: `Your verification code: ${shown}`,
        text:
          `Your verification code is ${shown}. It is good for ${CODE_TTL_MS / 60_000} minutes.\n\n` +
          "If you did not ask for it, someone typed your address by mistake: ignore this message.\n",
      })
      .catch((error: unknown) =>
        this.logger.error("verification code not sent", { userId: mail.userId, error: error instanceof Error ? error.message : String(error) }),
      )
      .finally(() => this.sending.delete(sending));
    this.sending.add(sending);
  }

  /** Resolves once every code being sent is sent or has failed. */
  async drain(): Promise<void> {
    while (this.sending.size > 0) await Promise.all(this.sending);
  }

  /**
   * Confirms the address the user's code was sent to. Each try counts before the code is
   * compared, so concurrent guesses cannot share one; the code dies when used, when its tries
   * are spent, after CODE_TTL_MS, and when the user's email changes. 422 for a code that is no
   * good (whichever the reason), 409 when another account verified the address first.
   */
  async verify(userId: string, code: string): Promise<UserRow> {
    if (!this.enabled) throw new BadRequest("This server does not verify email addresses.");
    const given = normalise(code);
    const now = new Date(this.now());
    const { emailVerifications: codes, users } = this.t;
    let outcome: UserRow | "wrong" | "taken";
    try {
      outcome = await this.database.tx(async (db) => {
        const pending = first(
          await db
            .update(codes)
            .set({ attempts: sql`${codes.attempts} + 1` })
            .where(and(eq(codes.userId, userId), lt(codes.attempts, CODE_ATTEMPTS), gt(codes.expiresAt, now)))
            .returning(),
        );
        if (!pending || !this.matches(pending.codeHash, this.hash(userId, pending.emailLower, given))) return "wrong";
        await db.delete(codes).where(eq(codes.userId, userId));
        const owner = first(
          await db
            .select({ id: users.id })
            .from(users)
            .where(and(eq(users.emailLower, pending.emailLower), verifiedEmail(users), ne(users.id, userId)))
            .limit(1),
        );
        if (owner) return "taken";
        const user = first(
          await db
            .update(users)
            .set({ emailVerifiedAt: now })
            .where(and(eq(users.id, userId), eq(users.emailLower, pending.emailLower)))
            .returning(),
        );
        return user ?? "wrong";
      });
    } catch (error) {
      // Another account verified the same address at the same moment.
      if (isUniqueViolation(error)) outcome = "taken";
      else throw error;
    }
    if (outcome === "taken") throw new Conflict("Another account has already verified that email address.");
    if (outcome === "wrong")
      throw new ValidationFailed("The code is wrong, used up or expired: set the email again for a new one.", {
        in: "body",
        fields: [{ field: "code", message: "is wrong, used up or expired" }],
      });
    return outcome;
  }

  private hash(userId: string, emailLower: string, code: string): string {
    return createHmac("sha256", this.key).update(`${userId}\n${emailLower}\n${code}`).digest("base64url");
  }

  private matches(stored: string, computed: string): boolean {
    const a = Buffer.from(stored);
    const b = Buffer.from(computed);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}
