/**
 * The same load on three deployments: one process on SQLite, one process on PostgreSQL, and
 * two processes on PostgreSQL sharing events through Redis (clients spread over both, as a
 * load balancer would).
 *
 *   BENCH_DATABASE_URL=postgres://user:pass@127.0.0.1:5432/postgres \
 *   REDIS_URL=redis://127.0.0.1:6379 bun bench/cluster.ts        # --quick for a short run
 *
 * BENCH_DATABASE_URL names any database on a PostgreSQL server; the benchmark creates a
 * database of its own there for each deployment and drops it afterwards. Scenarios:
 * - REST sends: 50 clients, each POSTing to its own room, one request after another;
 * - REST sends into one room: 20 clients POSTing into the same room (one seq counter);
 * - WebSocket fan-out: 1 room × 50 members, 10 senders keeping 8 sends in flight;
 * - WebSocket latency: the same room at a steady 100 messages/s, send → another member's socket.
 * Everything runs on 127.0.0.1 and is bounded in count and time; it prints figures and
 * asserts nothing. Clients and servers share the machine's CPUs.
 */
import { SQL } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRoom, register } from "./lib/api";
import { runRestSend } from "./lib/http-load";
import { machine } from "./lib/machine";
import { installCleanup, type Server, spawnServer } from "./lib/server";
import type { BenchUser, Target } from "./lib/targets";
import { closePeers, openPeers } from "./lib/ws";
import { runWsLoad } from "./lib/ws-load";

const quick = Bun.argv.includes("--quick");
const PG = Bun.env.BENCH_DATABASE_URL;
const REDIS = Bun.env.REDIS_URL;
if (!PG || !/^postgres(ql)?:\/\//.test(PG) || !REDIS) {
  console.error("Set BENCH_DATABASE_URL=postgres://… (any database on the server) and REDIS_URL=redis://…");
  process.exit(2);
}

const DURATION_MS = quick ? 3000 : 8000;
const MAX_MESSAGES = 200_000;
const dir = mkdtempSync(join(tmpdir(), "bunchat-cluster-bench-"));
const admin = new SQL(PG, { max: 1 });
const databases: string[] = [];
installCleanup();

interface Deployment {
  name: string;
  servers: Server[];
  stop(): Promise<void>;
}

async function deploy(name: string, processes: number, database: "sqlite" | "pg"): Promise<Deployment> {
  let url: string;
  if (database === "pg") {
    const db = `bunchat_bench_${Bun.randomUUIDv7().replaceAll("-", "")}`;
    await admin.unsafe(`CREATE DATABASE "${db}"`);
    databases.push(db);
    const u = new URL(PG!);
    u.pathname = `/${db}`;
    url = u.toString();
  } else {
    url = `sqlite://${join(dir, `${name.replace(/\W+/g, "-")}.db`)}`;
  }
  const env: Record<string, string> = {
    DATABASE_URL: url,
    JWT_SECRET: "cluster-bench-secret-cluster-bench-secret-0123",
    RATE_LIMIT_AUTH: "0",
    RATE_LIMIT_ANON: "0",
    WS_MAX_PER_USER: "0",
    WS_MAX_PER_ADDRESS: "0",
    WS_SYNC_RATE_LIMIT: "0",
    RATE_LIMIT_MESSAGES: "0",
    WS_RATE_LIMIT: "0",
    LOG_LEVEL: "warn",
    PASSWORD_MEMORY_KIB: "1024",
    PASSWORD_TIME_COST: "1",
    ...(processes > 1 && { REDIS_URL: REDIS! }),
  };
  const servers: Server[] = [];
  // One after another: the first migrates, and a failure names its process.
  for (let i = 0; i < processes; i++)
    servers.push(
      await spawnServer({ name: `${name} #${i + 1}`, script: ["src/index.ts"], env, readyPath: "/ready", logFile: join(dir, `server-${servers.length}.log`) }),
    );
  return {
    name,
    servers,
    async stop() {
      for (const server of servers) await server.stop();
    },
  };
}

const target = (server: Server): Target => ({
  kind: "server",
  server,
  dbPath: null,
  wsUrl: (user) => `${server.wsUrl}/ws?token=${encodeURIComponent(user.token)}`,
  restHeaders: (user) => ({ "content-type": "application/json", authorization: `Bearer ${user.token}` }),
});

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number) => `${n.toFixed(1)} ms`;

async function measure(d: Deployment) {
  const [first] = d.servers;
  const on = (i: number) => d.servers[i % d.servers.length]!;
  const tag = Bun.randomUUIDv7().slice(-6);
  const users: BenchUser[] = [];
  for (let i = 0; i < 70; i++) users.push(await register(on(i).url, `cb_${tag}_${i}`));
  const rows: string[] = [];

  // REST, a room per client; the clients are spread over the processes.
  const rooms = await Promise.all(users.slice(0, 50).map((u, i) => createRoom(first!.url, u, `solo-${i}`, [])));
  const lanes = users.slice(0, 50).map((user, i) => ({ user, roomId: rooms[i]! }));
  const rest = await Promise.all(
    d.servers.map((s, k) => runRestSend(target(s), lanes.filter((_, i) => i % d.servers.length === k), { durationMs: DURATION_MS, maxMessages: MAX_MESSAGES, contentLength: 64 })),
  );
  const created = rest.reduce((n, r) => n + r.created, 0);
  const seconds = Math.max(...rest.map((r) => r.seconds));
  rows.push(`REST sends, 50 clients × own room      ${fmt(created / seconds).padStart(8)} msg/s   p50 ${ms(Math.max(...rest.map((r) => r.latency.p50)))}  p99 ${ms(Math.max(...rest.map((r) => r.latency.p99)))}`);

  // REST into one room: every send takes the same room's next seq.
  const shared = await createRoom(first!.url, users[0]!, "shared", users.slice(1, 20));
  const sharedLanes = users.slice(0, 20).map((user) => ({ user, roomId: shared }));
  const one = await Promise.all(
    d.servers.map((s, k) => runRestSend(target(s), sharedLanes.filter((_, i) => i % d.servers.length === k), { durationMs: DURATION_MS, maxMessages: MAX_MESSAGES, contentLength: 64 })),
  );
  const oneCreated = one.reduce((n, r) => n + r.created, 0);
  const lastSeq = (await fetch(`${first!.url}/api/rooms/${shared}`, { headers: { authorization: `Bearer ${users[0]!.token}` } }).then((r) => r.json())) as { lastSeq: number };
  const gapFree = lastSeq.lastSeq === oneCreated ? "seqs 1.." + fmt(oneCreated) + ", no gaps" : `last seq ${lastSeq.lastSeq} ≠ ${oneCreated} sent`;
  rows.push(`REST sends, 20 clients × one room      ${fmt(oneCreated / Math.max(...one.map((r) => r.seconds))).padStart(8)} msg/s   (${gapFree})`);

  // WebSocket: 50 members, sockets spread over the processes; 10 of them send.
  const members = users.slice(20, 70);
  const fanRoom = await createRoom(first!.url, members[0]!, "fanout", members);
  const peers = await openPeers(members.map((user, i) => ({ user, url: target(on(i)).wsUrl(user, [fanRoom]) })));
  try {
    const plan = [{ roomId: fanRoom, peers, senders: peers.slice(0, 10) }];
    const closed = await runWsLoad(target(first!), plan, { mode: { kind: "closed", window: 8 }, durationMs: DURATION_MS, maxMessages: MAX_MESSAGES, drainMs: 10_000, contentLength: 64 });
    rows.push(
      `WS fan-out, 1 room × 50, 10 senders     ${fmt(closed.messagesPerSecond).padStart(8)} msg/s   ${fmt(closed.deliveriesPerSecond)} deliveries/s, lost ${closed.lost}, duplicates ${closed.duplicates}`,
    );
    const paced = await runWsLoad(target(first!), plan, { mode: { kind: "rate", perSecond: 100 }, durationMs: DURATION_MS, maxMessages: MAX_MESSAGES, drainMs: 10_000, contentLength: 64 });
    rows.push(
      `WS at 100 msg/s, send → other sockets   p50 ${ms(paced.latency.p50)}  p99 ${ms(paced.latency.p99)}   (lost ${paced.lost}, duplicates ${paced.duplicates})`,
    );
  } finally {
    await closePeers(peers);
  }
  return rows;
}

try {
  const m = machine();
  const version = (await admin`SELECT current_setting('server_version') AS v`)[0].v;
  console.log(`bunchat cluster benchmark · bun ${Bun.version} · ${m.cpus} × ${m.cpu} · load ${m.loadAverage.join(" ")} · PostgreSQL ${version}${quick ? " · --quick" : ""}\n`);
  for (const [name, processes, database] of [
    ["1 process, SQLite", 1, "sqlite"],
    ["1 process, PostgreSQL", 1, "pg"],
    ["2 processes, PostgreSQL + Redis", 2, "pg"],
  ] as const) {
    const d = await deploy(name, processes, database);
    try {
      console.log(`${name}:`);
      for (const row of await measure(d)) console.log(`  ${row}`);
      console.log();
    } finally {
      await d.stop();
    }
  }
} finally {
  for (const db of databases) await admin.unsafe(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`).catch(() => {});
  await admin.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
