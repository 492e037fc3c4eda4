/**
 * Conditions that a partial index and the queries meant to use it must spell alike: a planner
 * uses a partial index only for a query whose WHERE states the index's condition, written with
 * no bound values. Both schemas and the services take them from here.
 */
import { type AnyColumn, sql } from "drizzle-orm";

/** The rooms room discovery lists: public group rooms (rooms_discovery_idx holds only these). */
export const discoverableRoom = (t: { visibility: AnyColumn; kind: AnyColumn }) => sql`${t.visibility} = 'public' AND ${t.kind} = 'group'`;

/** Users whose email is verified (users_verified_email_uq holds only these): the only unique addresses and login names. */
export const verifiedEmail = (t: { emailVerifiedAt: AnyColumn }) => sql`${t.emailVerifiedAt} IS NOT NULL`;
