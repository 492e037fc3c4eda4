/**
 * Users, sessions and rooms straight into the database file while the server is stopped, for
 * runs that need thousands of them: registering 10,000 users over HTTP would hash 10,000
 * passwords first. Every user gets one session and an access token signed with the server's
 * JWT_SECRET, exactly what a login hands out; every row is what the API would have written
 * (the rooms private groups, the first member their owner).
 */
import { Database } from "bun:sqlite";
import { createSigner } from "../../src/plugins/auth";
import type { BenchUser } from "./targets";

export interface SeededWorld {
  users: BenchUser[];
  /** Rooms of `roomSize` consecutive users each. */
  rooms: { id: string; members: BenchUser[] }[];
  seconds: number;
}

export async function seedUsersAndRooms(
  dbPath: string,
  options: { users: number; roomSize: number; prefix: string; jwtSecret: string; tokenTtlSeconds: number },
): Promise<SeededWorld> {
  const started = performance.now();
  const signer = createSigner(options.jwtSecret);
  // One hash for every account: nobody logs in with a password during a run.
  const passwordHash = await Bun.password.hash("bench-password-0123", { algorithm: "argon2id", memoryCost: 1024, timeCost: 1 });
  const now = Date.now();
  const users: BenchUser[] = [];
  const sessions: string[] = [];
  for (let i = 0; i < options.users; i++) {
    const id = Bun.randomUUIDv7();
    const sessionId = Bun.randomUUIDv7();
    users.push({ id, username: `${options.prefix}_${i}`, token: await signer.sign({ sub: id, sid: sessionId }, options.tokenTtlSeconds) });
    sessions.push(sessionId);
  }
  const rooms: SeededWorld["rooms"] = [];
  for (let from = 0; from + options.roomSize <= users.length; from += options.roomSize)
    rooms.push({ id: Bun.randomUUIDv7(), members: users.slice(from, from + options.roomSize) });

  const db = new Database(dbPath, { strict: true });
  try {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    const user = db.prepare(
      "INSERT INTO users (id, username, username_lower, password_hash, display_name, display_name_lower, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    const session = db.prepare("INSERT INTO sessions (id, user_id, created_at, expires_at, last_used_at) VALUES (?, ?, ?, ?, ?)");
    const room = db.prepare(
      "INSERT INTO rooms (id, kind, name, visibility, created_by, created_at, last_seq, last_activity_at) VALUES (?, 'group', ?, 'private', ?, ?, 0, ?)",
    );
    const member = db.prepare("INSERT INTO room_members (room_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)");
    db.transaction(() => {
      users.forEach((u, i) => {
        user.run(u.id, u.username, u.username.toLowerCase(), passwordHash, u.username, u.username.toLowerCase(), now);
        session.run(sessions[i]!, u.id, now, now + 30 * 86_400_000, now);
      });
      rooms.forEach((r, i) => {
        room.run(r.id, `room-${i}`, r.members[0]!.id, now, now);
        r.members.forEach((m, j) => member.run(r.id, m.id, j === 0 ? "owner" : "member", now));
      });
    })();
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
  return { users, rooms, seconds: (performance.now() - started) / 1000 };
}

/** An empty private room owned by `owner` (for a history room seeded afterwards). */
export function seedEmptyRoom(dbPath: string, owner: BenchUser, name: string): string {
  const id = Bun.randomUUIDv7();
  const now = Date.now();
  const db = new Database(dbPath, { strict: true });
  try {
    db.prepare("INSERT INTO rooms (id, kind, name, visibility, created_by, created_at, last_seq, last_activity_at) VALUES (?, 'group', ?, 'private', ?, ?, 0, ?)").run(
      id,
      name,
      owner.id,
      now,
      now,
    );
    db.prepare("INSERT INTO room_members (room_id, user_id, role, joined_at) VALUES (?, ?, 'owner', ?)").run(id, owner.id, now);
  } finally {
    db.close();
  }
  return id;
}
