/**
 * t-schemas every feature's model shares: text that can be stored, and ids in paths.
 *
 * PostgreSQL's text type can't hold U+0000 (SQLite can), so no text field accepts it: the
 * request is refused with 422 naming the field, the same on both databases.
 */
import type { TString } from "@sinclair/typebox";
import { t } from "elysia";
import { NotFound } from "../errors";

/** Anything but U+0000. */
export const NO_NUL = "^[^\\u0000]*$";

type StringOptions = NonNullable<Parameters<typeof t.String>[0]>;

/** A string without U+0000. A schema with a pattern of its own writes the exclusion into it (see DisplayName). */
export const Text = (options: Omit<StringOptions, "pattern"> = {}): TString => t.String({ ...options, pattern: NO_NUL });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Invite codes: base64url. */
const CODE = /^[A-Za-z0-9_-]{1,128}$/;

/** A path segment of this form names a `what`; anything else can't, so it is 404 like an unknown one, before the database is asked. */
const PathParam = (form: RegExp, what: string, description: string) =>
  t
    .Transform(t.String({ description: `${description}; anything else is not found (404)` }))
    .Decode((value) => {
      if (!form.test(value)) throw new NotFound(what);
      return value;
    })
    .Encode((value) => value);

/** A path segment naming a thing by id: ids are UUIDs. */
export const IdParam = (what: string) => PathParam(UUID, what, `The ${what.toLowerCase()}'s id (a UUID)`);

/** An invite code in a path: base64url. */
export const CodeParam = PathParam(CODE, "Invitation", "An invite code (base64url)");
