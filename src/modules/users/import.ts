/**
 * Accounts brought from another backend with their password hashes (`bunchat import users`),
 * one JSON object a line: `{ username, email?, displayName?, passwordHash, createdAt? }`. The
 * hash is kept as it is and verified at login (auth/hashes.ts), which then stores argon2id.
 * A username that exists (ignoring case) is skipped, so running the same file again changes nothing.
 */
import { eq } from "drizzle-orm";
import { Value } from "@sinclair/typebox/value";
import type { Database, Tables } from "../../db";
import { first } from "../../db";
import { AppError } from "../../errors";
import { isUniqueViolation } from "../../lib/db-errors";
import { hashKind } from "../auth/hashes";
import { checkUsername } from "./names";
import { cleanName } from "../text";
import { Email } from "./model";

export type ImportOutcome = { line: number; status: "created"; username: string } | { line: number; status: "skipped"; reason: string; username?: string };

export interface ImportSummary {
  created: number;
  skipped: number;
  outcomes: ImportOutcome[];
}

/** The fields a line may carry; others are ignored. */
interface Line {
  username: string;
  email: string | null;
  displayName: string;
  passwordHash: string;
  createdAt: Date | null;
}

/** A line's account, or the reason it is skipped. */
function parseLine(text: string): Line | { reason: string; username?: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { reason: "invalid JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { reason: "invalid JSON: not an object" };
  const o = value as Record<string, unknown>;
  if (typeof o.username !== "string") return { reason: "bad username: missing" };
  const username = o.username;
  try {
    checkUsername(username);
  } catch {
    return { reason: "bad username", username };
  }
  if (typeof o.passwordHash !== "string" || hashKind(o.passwordHash) === null) return { reason: "unsupported hash", username };
  let email: string | null = null;
  if (o.email !== undefined && o.email !== null && o.email !== "") {
    if (typeof o.email !== "string" || !Value.Check(Email, o.email)) return { reason: "bad email", username };
    email = o.email;
  }
  let displayName = username;
  if (o.displayName !== undefined && o.displayName !== null && o.displayName !== "") {
    try {
      if (typeof o.displayName !== "string") throw new Error();
      displayName = cleanName(o.displayName, "displayName");
    } catch {
      return { reason: "bad displayName", username };
    }
  }
  let createdAt: Date | null = null;
  if (o.createdAt !== undefined && o.createdAt !== null) {
    createdAt = typeof o.createdAt === "string" ? new Date(o.createdAt) : new Date(NaN);
    if (Number.isNaN(createdAt.getTime())) return { reason: "bad createdAt", username };
  }
  return { username, email, displayName, passwordHash: o.passwordHash, createdAt };
}

export class UserImport {
  private get t(): Tables {
    return this.database.tables;
  }

  constructor(
    private readonly database: Database,
    private readonly now: () => number = Date.now,
  ) {}

  /** Imports each line in its own transaction; blank lines are passed over. */
  async run(lines: Iterable<string> | AsyncIterable<string>): Promise<ImportSummary> {
    const outcomes: ImportOutcome[] = [];
    let number = 0;
    for await (const text of lines) {
      number++;
      if (text.trim() === "") continue;
      outcomes.push(await this.one(number, text));
    }
    return {
      created: outcomes.filter((o) => o.status === "created").length,
      skipped: outcomes.filter((o) => o.status === "skipped").length,
      outcomes,
    };
  }

  private async one(line: number, text: string): Promise<ImportOutcome> {
    const parsed = parseLine(text);
    if ("reason" in parsed) return { line, status: "skipped", ...parsed };
    const { users } = this.t;
    const usernameLower = parsed.username.toLowerCase();
    try {
      const created = await this.database.tx(async (db) => {
        if (first(await db.select({ id: users.id }).from(users).where(eq(users.usernameLower, usernameLower)).limit(1))) return false;
        await db.insert(users).values({
          id: Bun.randomUUIDv7(),
          username: parsed.username,
          usernameLower,
          // Unverified, as any address a user types: it neither blocks nor logs in anyone until proved.
          email: parsed.email,
          emailLower: parsed.email?.toLowerCase() ?? null,
          passwordHash: parsed.passwordHash,
          displayName: parsed.displayName,
          displayNameLower: parsed.displayName.toLowerCase(),
          createdAt: parsed.createdAt ?? new Date(this.now()),
        });
        return true;
      });
      return created ? { line, status: "created", username: parsed.username } : { line, status: "skipped", reason: "already exists", username: parsed.username };
    } catch (error) {
      if (isUniqueViolation(error)) return { line, status: "skipped", reason: "already exists", username: parsed.username };
      if (error instanceof AppError) return { line, status: "skipped", reason: error.message, username: parsed.username };
      throw error;
    }
  }
}
