/** Rules for text people read: message content and the names of people, rooms, channels and teams. */
import { ValidationFailed } from "../errors";

/**
 * Nothing to see: whitespace, format characters (zero-width spaces and joiners, word joiners,
 * bidi marks, embeddings and overrides…) and the Hangul fillers that render blank.
 */
const INVISIBLE = /^[\s\p{Cf}\u115F\u1160\u3164\uFFA0]*$/u;

/** Whether text would show nothing at all (also when empty). */
export const showsNothing = (text: string): boolean => INVISIBLE.test(text);

/** A name with its outer whitespace removed; one that shows nothing is refused with the 422 envelope. */
export function cleanName(name: string, field = "name"): string {
  const trimmed = name.trim();
  if (showsNothing(trimmed))
    throw new ValidationFailed(`Invalid body: ${field} must not be blank`, { in: "body", fields: [{ field, message: "must not be blank" }] });
  return trimmed;
}
