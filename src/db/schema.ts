/**
 * The tables services query. They are the SQLite tables' types; `useDialect("pg")` swaps in
 * the PostgreSQL tables of the same names before any service runs (ES modules' live bindings
 * carry the swap to every importer). Services stay dialect-neutral: they `await` queries,
 * take rows with `first()`, and write inside `database.tx()`.
 */
import type * as pg from "./schema.pg";
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

export function useDialect(next: "sqlite"): void;
export function useDialect(next: "pg", tables: typeof pg): void;
export function useDialect(next: Dialect, pgTables?: typeof pg): void {
  current = next;
  // The one place PostgreSQL tables pass as SQLite ones: both schemas declare the same
  // tables, columns and TypeScript property types (test/db/schema-parity.test.ts), and a
  // query built from them is compiled by the PostgreSQL builder the database hands out.
  const tables = next === "pg" ? (pgTables as unknown as typeof sqlite) : sqlite;
  ({ users, sessions, refreshTokens, wsTickets, teams, teamMembers, invitations, rooms, roomMembers, messages, messageEdits, reactions } =
    tables);
}

/** The first row of a result, or undefined. */
export function first<T>(rows: T[]): T | undefined {
  return rows[0];
}
