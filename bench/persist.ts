/**
 * How fast messages are persisted, and how history paging behaves in a very large room.
 *
 *   bun bench/persist.ts            # MESSAGES_PER_RUN, BIG_ROOM env vars scale it
 *
 * Runs the app's own services on a temporary SQLite file in WAL mode (nothing external, no
 * network) and prints figures; it asserts nothing. Compare runs on the same machine only.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, createServices, type Services } from "../src/app";
import { loadConfig } from "../src/config";
import { openDatabase } from "../src/db";
import type { Events } from "../src/events";
import { GroupCommitWriter, type NewMessage } from "../src/modules/messages/writer";
import { ReferenceMessageStore } from "../test/db/reference-store";

const MESSAGES_PER_RUN = Number(Bun.env.MESSAGES_PER_RUN ?? 10_000);
const BIG_ROOM = Number(Bun.env.BIG_ROOM ?? 1_000_000);
const PAGES = 2_000;

const silent: Events = { toRoom() {}, toUser() {}, toUsers() {}, joined() {}, left() {}, sessionRevoked() {} };

const dir = mkdtempSync(join(tmpdir(), "bunchat-bench-"));
const config = loadConfig(
  {
    DATABASE_URL: `sqlite://${join(dir, "bench.db")}`,
    JWT_SECRET: "bench-secret-bench-secret-bench-secret-0123",
    RATE_LIMIT_MESSAGES: "0",
    RATE_LIMIT_AUTH: "0",
    RATE_LIMIT_ANON: "0",
    LOG_LEVEL: "error",
    PASSWORD_MEMORY_KIB: "1024",
    PASSWORD_TIME_COST: "1",
  },
  "/dev/null",
);
const database = openDatabase(config.databaseUrl);
if (database.dialect !== "sqlite") throw new Error("this benchmark runs on SQLite");
const sqlite = database.sqlite;
const messageStore = database.messages;
const services = createServices({ config, database, events: silent, presence: { isOnline: () => false } });
const app = createApp(services);

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number) => `${n.toFixed(3)} ms`;
function percentile(sorted: number[], p: number) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function makeUsers(count: number) {
  const made = [];
  for (let i = 0; i < count; i++) {
    const r = await services.auth.register({ username: `bench_${Date.now().toString(36)}_${i}`, password: "bench-password" });
    made.push({ id: r.user.id, token: r.accessToken });
  }
  return made;
}

async function makeRoom(ownerId: string, memberIds: string[]): Promise<string> {
  const id = Bun.randomUUIDv7();
  const now = new Date();
  const { roomMembers, rooms } = database.tables;
  await database.tx(async (db) => {
    await db.insert(rooms).values({ id, kind: "group", name: `bench-${id.slice(-6)}`, visibility: "private", createdBy: ownerId, createdAt: now, lastActivityAt: now });
    await db.insert(roomMembers).values([ownerId, ...memberIds].map((userId, i) => ({ roomId: id, userId, role: i === 0 ? ("owner" as const) : ("member" as const), joinedAt: now })));
  });
  return id;
}

/** `senders` loops in parallel, each sending its share one after another; messages per second overall. */
async function run(label: string, senders: { id: string; token: string }[], total: number, via: "service" | "http") {
  const roomId = await makeRoom(senders[0]!.id, senders.slice(1).map((s) => s.id));
  const each = Math.ceil(total / senders.length);
  const sendOne = async (s: { id: string; token: string }, n: number) => {
    if (via === "service") return void (await services.messages.send(s.id, roomId, { content: `message ${n} from ${s.id}` }));
    const res = await app.handle(
      new Request(`http://localhost/api/rooms/${roomId}/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${s.token}` },
        body: JSON.stringify({ content: `message ${n} from ${s.id}` }),
      }),
    );
    if (res.status !== 201) throw new Error(`send: ${res.status} ${await res.text()}`);
  };
  const started = performance.now();
  await Promise.all(senders.map(async (s) => { for (let n = 0; n < each; n++) await sendOne(s, n); }));
  const seconds = (performance.now() - started) / 1000;
  const count = each * senders.length;
  const lastSeq = sqlite.query<{ s: number }, [string]>("SELECT last_seq AS s FROM rooms WHERE id = ?").get(roomId)!.s;
  if (lastSeq !== count) throw new Error(`expected ${count} messages, found ${lastSeq}`);
  console.log(`  ${label.padEnd(44)} ${fmt(count / seconds).padStart(8)} msg/s   (${fmt(count)} in ${seconds.toFixed(2)} s)`);
}

/** The writer alone: one transaction per message (batch of 1) against group commit. */
async function writerOnly(label: string, maxBatch: number, inFlight: number, total: number, senderId: string, store: "sqlite" | "drizzle") {
  const roomId = await makeRoom(senderId, []);
  const writer = new GroupCommitWriter(store === "sqlite" ? messageStore : new ReferenceMessageStore(database), { maxBatch });
  const draft = (n: number): NewMessage => ({ id: Bun.randomUUIDv7(), roomId, senderId, content: `w${n}`, metadata: null, replyToId: null, clientId: null });
  const each = Math.ceil(total / inFlight);
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async (_, lane) => { for (let n = 0; n < each; n++) await writer.write(draft(lane * each + n)); }));
  const seconds = (performance.now() - started) / 1000;
  console.log(`  ${label.padEnd(44)} ${fmt((each * inFlight) / seconds).padStart(8)} msg/s`);
}

async function bulkRoom(count: number, ownerId: string): Promise<string> {
  const roomId = await makeRoom(ownerId, []);
  const started = performance.now();
  const insert = sqlite.prepare(
    "INSERT INTO messages (id, room_id, seq, sender_id, content, created_at, reply_count) VALUES (?, ?, ?, ?, ?, ?, 0)",
  );
  const base = Date.now() - count;
  sqlite.transaction(() => {
    for (let seq = 1; seq <= count; seq++) insert.run(Bun.randomUUIDv7(), roomId, seq, ownerId, `bulk message number ${seq}`, base + seq);
    sqlite.query("UPDATE rooms SET last_seq = ? WHERE id = ?").run(count, roomId);
    // New rows wait in the search backlog (src/db/messages/sqlite/backlog.ts): index them, as a search would.
    messageStore.backlog.index();
  })();
  console.log(`  bulk-inserted ${fmt(count)} messages (with their search index) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return roomId;
}

async function pages(label: string, userId: string, roomId: string, size: number, direction: "before" | "after" | "newest") {
  const times: number[] = [];
  for (let i = 0; i < PAGES; i++) {
    const at = 51 + Math.floor(Math.random() * Math.max(1, size - 100)); // a full page either way
    const opts = direction === "newest" ? { limit: 50 } : { [direction]: at, limit: 50 };
    const started = performance.now();
    const page = await services.messages.history(userId, roomId, opts);
    times.push(performance.now() - started);
    if (direction !== "newest" && page.messages.length === 0 && size > 100) throw new Error("empty page");
  }
  times.sort((a, b) => a - b);
  console.log(`  ${label.padEnd(44)} p50 ${ms(percentile(times, 50))}   p99 ${ms(percentile(times, 99))}`);
}

async function main() {
  console.log(`bunchat persistence benchmark · bun ${Bun.version} · SQLite ${sqlite.query<{ v: string }, []>("SELECT sqlite_version() AS v").get()!.v} (WAL, synchronous=NORMAL)\n`);
  const users = await makeUsers(200);

  console.log(`Messages persisted per second (MessageService.send: membership check, group commit, event):`);
  await run("1 sender, sequential", users.slice(0, 1), Math.min(MESSAGES_PER_RUN, 5_000), "service");
  await run("50 concurrent senders", users.slice(0, 50), MESSAGES_PER_RUN, "service");
  await run("200 concurrent senders", users.slice(0, 200), MESSAGES_PER_RUN * 2, "service");
  console.log(`\nThe same over HTTP, in process (app.handle: auth, validation, JSON):`);
  await run("1 sender, sequential", users.slice(0, 1), Math.min(MESSAGES_PER_RUN, 5_000), "http");
  await run("50 concurrent senders", users.slice(0, 50), MESSAGES_PER_RUN, "http");
  await run("200 concurrent senders", users.slice(0, 200), MESSAGES_PER_RUN * 2, "http");
  console.log(`\nThe writer alone, 200 in flight: one transaction per message vs group commit:`);
  await writerOnly("batch of 1 (a commit per message)", 1, 200, MESSAGES_PER_RUN, users[0]!.id, "sqlite");
  await writerOnly("group commit, prepared statements", 512, 200, MESSAGES_PER_RUN * 2, users[0]!.id, "sqlite");
  await writerOnly("group commit, Drizzle store", 512, 200, MESSAGES_PER_RUN * 2, users[0]!.id, "drizzle");

  console.log(`\nHistory pages of 50 (MessageService.history), ${fmt(PAGES)} random positions each:`);
  const owner = users[0]!.id;
  const small = await bulkRoom(1_000, owner);
  await pages("room of 1,000: before=S", owner, small, 1_000, "before");
  await pages("room of 1,000: after=S", owner, small, 1_000, "after");
  const big = await bulkRoom(BIG_ROOM, owner);
  await pages(`room of ${fmt(BIG_ROOM)}: newest page`, owner, big, BIG_ROOM, "newest");
  await pages(`room of ${fmt(BIG_ROOM)}: before=S`, owner, big, BIG_ROOM, "before");
  await pages(`room of ${fmt(BIG_ROOM)}: after=S`, owner, big, BIG_ROOM, "after");
  const plan = sqlite
    .query<{ detail: string }, [string, number]>(
      "EXPLAIN QUERY PLAN SELECT * FROM messages WHERE room_id = ? AND seq < ? ORDER BY seq DESC LIMIT 51",
    )
    .all(big, 500_000)
    .map((r) => r.detail)
    .join("; ");
  console.log(`  query plan: ${plan}`);
}

try {
  await main();
} finally {
  await services.messages.drain();
  await database.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
