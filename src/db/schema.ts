/**
 * The tables services query. They are the SQLite tables' types; `useDialect("pg")` swaps in
 * the PostgreSQL tables of the same names before any service runs (ES modules' live bindings
 * carry the swap to every importer). Services stay dialect-neutral: they `await` queries,
 * take rows with `first()`, and write inside `database.tx()`.
 */
import * as sqlite from "./schema.sqlite";

export let users = sqlite.users;
export let sessions = sqlite.sessions;
export let refreshTokens = sqlite.refreshTokens;
export let wsTickets = sqlite.wsTickets;
export let teams = sqlite.teams;
export let teamMembers = sqlite.teamMembers;
export let invitations = sqlite.invitations;
export let rooms = sqlite.rooms;
export let roomMembers = sqlite.roomMembers;
export let messages = sqlite.messages;
export let messageEdits = sqlite.messageEdits;
export let reactions = sqlite.reactions;

export type Dialect = "sqlite" | "pg";
let current: Dialect = "sqlite";

export function dialect(): Dialect {
  return current;
}

export function useDialect(next: Dialect, tables: typeof sqlite = sqlite): void {
  current = next;
  ({ users, sessions, refreshTokens, wsTickets, teams, teamMembers, invitations, rooms, roomMembers, messages, messageEdits, reactions } =
    tables);
}

/** The first row of a result, or undefined. */
export function first<T>(rows: T[]): T | undefined {
  return rows[0];
}
