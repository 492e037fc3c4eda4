import { BadRequest } from "../errors";

/** Cursors are opaque to clients: base64url of the last row's sort key. */
export function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString("base64url");
}
/** The years 1–9999 in ms: every stored time is within them, and both databases compare with them. */
const MIN_TIME = Date.parse("0001-01-01T00:00:00.000Z");
const MAX_TIME = Date.parse("9999-12-31T23:59:59.999Z");

/** Whether a time a client sent (ms since the epoch, in a cursor or a sync frame) is one the databases can compare with. */
export const isStorableTime = (ms: unknown): ms is number =>
  Number.isSafeInteger(ms) && (ms as number) >= MIN_TIME && (ms as number) <= MAX_TIME;

/**
 * What each part of a cursor must be: a string (without U+0000, which PostgreSQL can't
 * compare), an integer (a rowid), or a time in ms (see isStorableTime). A client may send
 * anything, so anything else is 400 BAD_REQUEST rather than a query that fails.
 */
const CURSOR_PART = {
  string: (p: unknown) => typeof p === "string" && !p.includes("\u0000"),
  number: (p: unknown) => Number.isSafeInteger(p),
  time: isStorableTime,
};
export type CursorPart = keyof typeof CURSOR_PART;

export function decodeCursor(cursor: string, shape: CursorPart[]): (string | number)[] {
  try {
    const parts = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(parts) && parts.length === shape.length && parts.every((p, i) => CURSOR_PART[shape[i]!](p)))
      return parts;
  } catch {}
  throw new BadRequest("The cursor is not valid.");
}
