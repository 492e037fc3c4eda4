import { Value } from "@sinclair/typebox/value";
import { ValidationFailed } from "../../errors";
import { Username } from "./model";

/** Usernames with this prefix (any case) are kept for deleted accounts: nobody registers or takes one. */
export const DELETED_PREFIX = "deleted-";

/**
 * Throws ValidationFailed unless `username` keeps the rules of the register route's schema and
 * is not one kept for deleted accounts.
 */
export function checkUsername(username: string): void {
  if (!Value.Check(Username, username))
    throw new ValidationFailed("A username is 3–32 characters of A–Z, a–z, 0–9, _ . -.", { in: "body", fields: [{ field: "username", message: "must be 3–32 of A–Z, a–z, 0–9, _ . -" }] });
  if (username.toLowerCase().startsWith(DELETED_PREFIX))
    throw new ValidationFailed(`Usernames starting with "${DELETED_PREFIX}" are reserved.`, { in: "body", fields: [{ field: "username", message: `must not start with "${DELETED_PREFIX}"` }] });
}
