/**
 * What a scenario runs against: our server or one of the ceilings, each knowing how a
 * bench user connects and sends, and how to count what reached its database.
 */
import { Database } from "bun:sqlite";
import type { Server } from "./server";

/** A user of the run: registered on our server; the ceilings reuse its id and name. */
export interface BenchUser {
  id: string;
  username: string;
  token: string;
}

/** `server+metrics`: our server with METRICS_TOKEN set, on its own copy of the database. */
export type TargetKind = "server" | "server+metrics" | "ceiling" | "ceiling-sqlite";

export interface Target {
  kind: TargetKind;
  server: Server;
  /** The SQLite file messages are committed to; null when nothing is persisted. */
  dbPath: string | null;
  wsUrl(user: BenchUser, rooms: string[]): string;
  restHeaders(user: BenchUser): Record<string, string>;
}

export function ourServer(server: Server, dbPath: string, kind: "server" | "server+metrics" = "server"): Target {
  return {
    kind,
    server,
    dbPath,
    wsUrl: (user) => `${server.wsUrl}/ws?token=${encodeURIComponent(user.token)}`,
    restHeaders: (user) => ({ "content-type": "application/json", authorization: `Bearer ${user.token}` }),
  };
}

export function ceiling(kind: "ceiling" | "ceiling-sqlite", server: Server, dbPath: string | null): Target {
  return {
    kind,
    server,
    dbPath,
    wsUrl: (user, rooms) =>
      `${server.wsUrl}/ws?user=${encodeURIComponent(user.id)}&name=${encodeURIComponent(user.username)}&rooms=${rooms.join(",")}`,
    restHeaders: (user) => ({ "content-type": "application/json", "x-user-id": user.id, "x-user-name": user.username }),
  };
}

/** Messages committed in these rooms, read from the database file (WAL lets us read beside the server). */
export function countMessages(target: Target, roomIds: string[]): number | null {
  if (!target.dbPath || roomIds.length === 0) return null;
  const db = new Database(target.dbPath, { readonly: true });
  try {
    let total = 0;
    // In chunks: SQLite caps the number of bound parameters.
    for (let i = 0; i < roomIds.length; i += 500) {
      const chunk = roomIds.slice(i, i + 500);
      const row = db
        .query<{ n: number }, string[]>(`SELECT count(*) AS n FROM messages WHERE room_id IN (${chunk.map(() => "?").join(",")})`)
        .get(...chunk);
      total += row?.n ?? 0;
    }
    return total;
  } finally {
    db.close();
  }
}
