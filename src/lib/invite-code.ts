/** A new invite code: 256 random bits, far past guessing, and short enough for a link (base64url). */
export const inviteCode = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");

/** Whether an invitation row may still be accepted at `now`. */
export const usableInvitation = (i: { revokedAt: Date | null; expiresAt: Date; maxUses: number | null; uses: number }, now: Date) =>
  !i.revokedAt && i.expiresAt > now && (i.maxUses === null || i.uses < i.maxUses);
