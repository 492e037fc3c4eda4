import { type AnyColumn, and, gt, isNull, lt, or } from "drizzle-orm";

/** A new invite code: 256 random bits, far past guessing, and short enough for a link (base64url). */
export const inviteCode = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");

/** Whether an invitation row may still be accepted at `now`. */
export const usableInvitation = (i: { revokedAt: Date | null; expiresAt: Date; maxUses: number | null; uses: number }, now: Date) =>
  !i.revokedAt && i.expiresAt > now && (i.maxUses === null || i.uses < i.maxUses);

/**
 * usableInvitation in SQL, for the UPDATE that takes a use: checked again by the write itself, so
 * concurrent accepts never go past maxUses nor use a code revoked meanwhile.
 */
export const stillUsable = (t: { revokedAt: AnyColumn; expiresAt: AnyColumn; maxUses: AnyColumn; uses: AnyColumn }, now: Date) =>
  and(isNull(t.revokedAt), gt(t.expiresAt, now), or(isNull(t.maxUses), lt(t.uses, t.maxUses)));

/** An invitation row as the API shows it, but for the room's or team's id. */
export function invitationFields(row: {
  code: string;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date;
  maxUses: number | null;
  uses: number;
  revokedAt: Date | null;
}) {
  return {
    code: row.code,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    maxUses: row.maxUses,
    uses: row.uses,
    revokedAt: row.revokedAt ? row.revokedAt.toISOString() : null,
  };
}
