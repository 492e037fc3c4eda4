/**
 * `bun run bench:scale`: the server at 10,000 sockets and 10,000,000 messages.
 *
 *   bun run bench:scale                          # 10,000 sockets, 10,000,000 messages (seeding takes minutes)
 *   bun run bench:scale --sockets=4000 --messages=1000000
 *   bun run bench:scale --quick                  # 2,500 sockets, 1,000,000 messages, shorter phases
 *
 * One server on a fresh SQLite file. While it is stopped, its users (one session and access
 * token each), their rooms (`--room-size` consecutive users each) and a history room of
 * `--messages` messages are written straight into the file. Then, against the running server:
 * - the first `--small` sockets open in five steps (server RSS after each), and carry a steady
 *   open-loop message rate (one sender per room, latency from the scheduled send time);
 * - the other sockets open, up to `--sockets`, and carry the same rate through every room;
 * - with the sockets closed, history pages (`before=S` at random) and searches in the big room.
 * It reports RSS per socket (the slope of RSS over sockets, and the total growth over the
 * sockets open), p99 send → receive latency and deliveries per server CPU-second at both sizes,
 * history and search p99 and the database size, with PASS/MISS for the targets.
 *
 * Each socket needs a file descriptor in this process and one in the server. Where the
 * open-file limit is too low this process raises its own (prlimit; the server inherits it), and
 * runs fewer sockets, saying so, where it cannot. Everything goes to 127.0.0.1, every phase is
 * bounded in count and time, and the server is stopped on exit and on Ctrl-C.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { BENCH_JWT_SECRET, BENCH_TOKEN_TTL, serverEnv } from "./lib/env";
import { Histogram, type Summary } from "./lib/histogram";
import { type HistoryResult, runHistory, runSearch, type SearchResult } from "./lib/http-load";
import { slope } from "./lib/idle";
import { machine } from "./lib/machine";
import { memory, openFileLimits, quiet } from "./lib/proc";
import { type Goal, goals, pass } from "./lib/report";
import { seedRoom } from "./lib/seed";
import { seedEmptyRoom, seedUsersAndRooms } from "./lib/seed-users";
import { installCleanup, type Server, spawnServer } from "./lib/server";
import { ourServer } from "./lib/targets";
import { closePeers, openPeers, type Peer } from "./lib/ws";
import { type RoomPlan, runWsLoad, type WsLoadResult } from "./lib/ws-load";

const { values: flags } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    quick: { type: "boolean", default: false },
    sockets: { type: "string" },
    small: { type: "string" },
    "room-size": { type: "string" },
    rate: { type: "string" },
    messages: { type: "string" },
    out: { type: "string" },
  },
});
const quick = flags.quick!;
const int = (value: string | undefined, fallback: number, name: string, min = 1) => {
  const n = value === undefined ? fallback : Number(value.replaceAll("_", ""));
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be a whole number ≥ ${min}`);
    process.exit(2);
  }
  return n;
};

const P = {
  sockets: int(flags.sockets, quick ? 2500 : 10_000, "sockets"),
  small: int(flags.small, quick ? 500 : 2000, "small"),
  roomSize: int(flags["room-size"], 5, "room-size", 2),
  /** Messages per second through all rooms, the same at both sizes. */
  messagesPerSecond: int(flags.rate, 500, "rate"),
  historySize: int(flags.messages, quick ? 1_000_000 : 10_000_000, "messages", 100),
  loadMs: quick ? 5000 : 10_000,
  drainMs: 15_000,
  steps: 5,
  settleMs: quick ? 500 : 1500,
  historyRequests: quick ? 500 : 2000,
  searchRequests: quick ? 100 : 300,
  contentLength: 100,
};
// Whole rooms only: every socket's room has all its members connected.
P.sockets = Math.max(P.roomSize, Math.floor(P.sockets / P.roomSize) * P.roomSize);
P.small = Math.max(P.roomSize, Math.floor(Math.min(P.small, P.sockets) / P.roomSize) * P.roomSize);

const ROOT = join(import.meta.dir, "..");
const RESULTS = join(import.meta.dir, "results");
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const dir = mkdtempSync(join(tmpdir(), "bunchat-scale-"));
const dbPath = join(dir, "chat.db");
installCleanup(() => rmSync(dir, { recursive: true, force: true }));
const log = (text: string) => console.log(text);
const step = (text: string) => console.log(`· ${text}`);

/**
 * Makes room for `sockets` descriptors in this process and in the server (which inherits this
 * process's limits): raises the limit with prlimit where allowed, else returns how many fit.
 */
function fitOpenFiles(sockets: number): number {
  const need = sockets + 1000;
  let limits = openFileLimits();
  if (limits && limits.soft < need) {
    const want = Math.max(need, 16_384);
    const raise = Bun.spawnSync(["prlimit", `--pid=${process.pid}`, `--nofile=${want}:${Math.max(want, limits.hard)}`], { stderr: "pipe" });
    if (raise.exitCode !== 0) Bun.spawnSync(["prlimit", `--pid=${process.pid}`, `--nofile=${limits.hard}:${limits.hard}`]);
    limits = openFileLimits();
  }
  if (!limits || limits.soft >= need) return sockets;
  const fits = Math.max(P.roomSize, Math.floor((limits.soft - 1000) / P.roomSize) * P.roomSize);
  console.warn(
    `! The open-file limit is ${limits.soft} (hard ${limits.hard}) and could not be raised; ${sockets} sockets need ${need}.\n` +
      `  Raise it (\`ulimit -Hn 32768; ulimit -n 32768\` as root, or /etc/security/limits.conf) and run again. This run opens ${fits}.`,
  );
  return fits;
}

function serverOpenFiles(pid: number): string {
  try {
    return /^Max open files\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"))?.[1] ?? "?";
  } catch {
    return "?";
  }
}

const fileSize = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

/**
 * Event-loop lag while a phase runs, on both sides of the wire: this process's (a 10 ms timer's
 * delay past its due time: the load generator holds as many sockets as the server) and the
 * server's as seen from outside (the latency of /health, ten times a second).
 */
function lagMonitor(server: Server) {
  const client = new Histogram();
  const health = new Histogram();
  let due = performance.now() + 10;
  const timer = setInterval(() => {
    const now = performance.now();
    client.record(Math.max(0, now - due));
    due = now + 10;
  }, 10);
  let running = true;
  const probes = (async () => {
    while (running) {
      const t0 = performance.now();
      const ok = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(10_000) }).then(
        async (r) => (await r.arrayBuffer(), r.ok),
        () => false,
      );
      if (ok) health.record(performance.now() - t0);
      await Bun.sleep(100);
    }
  })();
  return {
    async end() {
      clearInterval(timer);
      running = false;
      await probes;
      return { client: client.summary(), health: health.summary() };
    },
  };
}

interface Level {
  sockets: number;
  /** [sockets open, server RSS] after each step of opening, from the level before. */
  points: [number, number][];
  /** Least-squares slope of RSS over sockets in this level's steps. */
  bytesPerSocket: number;
  /** (RSS now − RSS with no socket) ÷ sockets open. */
  growthPerSocket: number;
  openSeconds: number;
  load: WsLoadResult;
  lag: { client: Summary; health: Summary };
}

function lostIn(run: WsLoadResult): number {
  return run.lost + run.unanswered + (run.persisted !== null ? Math.max(0, run.acked - run.persisted) : 0);
}

async function main() {
  const started = performance.now();
  const m = machine();
  log(`bunchat scale benchmark${quick ? " (--quick)" : ""} · ${m.cpus} × ${m.cpu} · ${m.memoryGiB} GiB · Bun ${m.bun} · SQLite ${m.sqlite} · load ${m.loadAverage.join(" ")}`);
  const sockets = fitOpenFiles(P.sockets);
  const small = Math.min(P.small, sockets);
  const users = sockets;
  const env = serverEnv(dbPath);
  const start = () => spawnServer({ name: "server", script: [join(ROOT, "src/index.ts")], env, readyPath: "/ready", logFile: join(dir, "server.log"), readyTimeoutMs: 120_000 });

  step("creating the database");
  await (await start()).stop();
  step(`seeding ${users.toLocaleString("en-US")} users with a session each, in ${(users / P.roomSize).toLocaleString("en-US")} rooms of ${P.roomSize}`);
  const world = await seedUsersAndRooms(dbPath, {
    users,
    roomSize: P.roomSize,
    prefix: `scale_${Date.now().toString(36).slice(-6)}`,
    jwtSecret: BENCH_JWT_SECRET,
    tokenTtlSeconds: BENCH_TOKEN_TTL,
  });
  const reader = world.users[0]!;
  const historyRoom = seedEmptyRoom(dbPath, reader, "history");
  step(`seeding ${P.historySize.toLocaleString("en-US")} messages into the history room`);
  const seed = seedRoom(dbPath, historyRoom, reader.id, P.historySize, (text) => step(`  ${text}`));
  const databaseBytes = fileSize(dbPath) + fileSize(`${dbPath}-wal`);
  step(`seeded in ${(world.seconds + seed.seconds).toFixed(0)} s; database ${(databaseBytes / 2 ** 30).toFixed(2)} GiB`);

  step("starting the server");
  const server: Server = await start();
  const target = ourServer(server, dbPath);
  step(`server pid ${server.pid}, open-file limit ${serverOpenFiles(server.pid)}`);
  const peers: Peer[] = [];
  const levels: Level[] = [];
  let history: HistoryResult | undefined;
  let search: SearchResult | undefined;
  try {
    await quiet(server.pid);
    await Bun.sleep(P.settleMs);
    const rss0 = memory(server.pid).rss;
    const points: [number, number][] = [[0, rss0]];
    /** Opens sockets up to `upto` in `steps` steps, reading RSS after each; then the rate through their rooms. */
    const level = async (upto: number, from: number): Promise<Level> => {
      const size = Math.ceil((upto - from) / P.steps / P.roomSize) * P.roomSize;
      const mine: [number, number][] = [];
      let openSeconds = 0;
      for (let at = from; at < upto; at += size) {
        const room = (i: number) => world.rooms[Math.floor(i / P.roomSize)]!;
        const specs = world.users.slice(at, Math.min(upto, at + size)).map((user, k) => ({ user, url: target.wsUrl(user, [room(at + k).id]) }));
        const t0 = performance.now();
        peers.push(...(await openPeers(specs, { concurrency: 32, timeoutMs: 30_000 })));
        openSeconds += (performance.now() - t0) / 1000;
        await quiet(server.pid, { maxMs: 5000 });
        await Bun.sleep(P.settleMs);
        const point: [number, number] = [peers.length, memory(server.pid).rss];
        points.push(point);
        mine.push(point);
        step(`  ${peers.length.toLocaleString("en-US")} sockets open: server RSS ${(point[1] / 2 ** 20).toFixed(1)} MiB`);
      }
      // The first level's first step is its warm-up (code paths compiled, pools grown): the slope starts after it.
      const slopePoints = from === 0 ? mine.slice(1) : [points[points.length - mine.length - 1]!, ...mine];
      const rooms = world.rooms.slice(0, upto / P.roomSize);
      const plans: RoomPlan[] = rooms.map((r, i) => {
        const members = peers.slice(i * P.roomSize, (i + 1) * P.roomSize);
        return { roomId: r.id, peers: members, senders: members.slice(0, 1) };
      });
      step(`  ${P.messagesPerSecond} messages/s for ${P.loadMs / 1000} s through ${rooms.length.toLocaleString("en-US")} rooms`);
      await quiet(server.pid);
      const lag = lagMonitor(server);
      const load = await runWsLoad(target, plans, {
        mode: { kind: "rate", perSecond: P.messagesPerSecond },
        durationMs: P.loadMs,
        maxMessages: P.messagesPerSecond * (P.loadMs / 1000) + 1000,
        drainMs: P.drainMs,
        contentLength: P.contentLength,
      });
      const lagged = await lag.end();
      return {
        sockets: peers.length,
        points: mine,
        bytesPerSocket: slope(slopePoints),
        growthPerSocket: (mine.at(-1)![1] - rss0) / peers.length,
        openSeconds,
        load,
        lag: lagged,
      };
    };
    step(`opening ${small.toLocaleString("en-US")} sockets in ${P.steps} steps`);
    levels.push(await level(small, 0));
    if (sockets > small) {
      step(`opening up to ${sockets.toLocaleString("en-US")} sockets in ${P.steps} steps`);
      levels.push(await level(sockets, small));
    }
    await closePeers(peers, 20_000);
    await quiet(server.pid);
    step(`history: ${P.historyRequests} pages of 50 in the room of ${P.historySize.toLocaleString("en-US")}`);
    history = await runHistory(target, reader, historyRoom, P.historySize, { requests: P.historyRequests, durationMs: 60_000, warmup: 100 });
    step(`search: ${P.searchRequests} searches over the reader's rooms`);
    // A word in one message of twelve, two words together in one of twelve, a number in one message only, a word in none.
    const queries = ["lorem", "ipsum message", String(Math.max(1, P.historySize - 12_345)), "zzyzx"];
    search = await runSearch(target, reader, queries, { requests: P.searchRequests, durationMs: 60_000, warmup: 20 });
  } finally {
    await closePeers(peers, 5000);
    await server.stop();
  }

  const lost = levels.reduce((n, l) => n + lostIn(l.load), 0);
  const top = levels.at(-1);
  const lat = (s: Summary) => `p50 ${s.p50.toFixed(2)} · p95 ${s.p95.toFixed(2)} · p99 ${s.p99.toFixed(2)} ms`;
  log("");
  for (const l of levels) {
    const r = l.load;
    log(
      `${l.sockets.toLocaleString("en-US").padStart(6)} sockets  RSS ${(r.server.rssStart / 2 ** 20).toFixed(0)} MiB · ` +
        `${(l.bytesPerSocket / 1024).toFixed(2)} KiB per socket (slope), ${(l.growthPerSocket / 1024).toFixed(2)} KiB (total growth ÷ sockets) · opened in ${l.openSeconds.toFixed(1)} s`,
    );
    log(
      `${"".padStart(6)}          ${r.acked.toLocaleString("en-US")} messages, ${r.deliveries.toLocaleString("en-US")} deliveries: ` +
        `${Math.round(r.deliveriesPerSecond).toLocaleString("en-US")} deliv/s, ${Math.round(r.deliveriesPerCpuSecond).toLocaleString("en-US")} deliv/CPU-s · ` +
        `${lat(r.latency)} · server CPU ${r.server.cpuSeconds.toFixed(1)} s · lost ${lostIn(r)}` +
        `${r.kicked.length ? ` · ${r.kicked.length} closed by the server` : ""}${Object.keys(r.errors).length ? ` · errors ${JSON.stringify(r.errors)}` : ""}`,
    );
    log(
      `${"".padStart(6)}          event-loop lag: load generator p99 ${l.lag.client.p99.toFixed(1)} ms (max ${l.lag.client.max.toFixed(1)}), ` +
        `server /health p99 ${l.lag.health.p99.toFixed(1)} ms (max ${l.lag.health.max.toFixed(1)})`,
    );
  }
  if (levels.length === 2) {
    const [a, b] = levels as [Level, Level];
    log(
      `${b.sockets.toLocaleString("en-US")} against ${a.sockets.toLocaleString("en-US")}: p99 × ${(b.load.latency.p99 / a.load.latency.p99).toFixed(2)}, ` +
        `deliveries per CPU-second × ${(b.load.deliveriesPerCpuSecond / a.load.deliveriesPerCpuSecond).toFixed(2)}, ` +
        `KiB per socket (slope) ${(a.bytesPerSocket / 1024).toFixed(2)} → ${(b.bytesPerSocket / 1024).toFixed(2)}`,
    );
  }
  if (history) log(`history (${P.historySize.toLocaleString("en-US")} messages)  before=S ${lat(history.before)} · newest page ${lat(history.newest)}${history.wrongPages || history.errors ? ` · ${history.wrongPages} wrong pages, ${history.errors} errors` : ""}`);
  if (search) log(`search  ${lat(search.latency)} · ${search.requests} searches, ${search.errors} errors; found nothing: ${JSON.stringify(search.empty)}`);
  log(`database ${(databaseBytes / 2 ** 30).toFixed(2)} GiB after seeding (${(databaseBytes / P.historySize).toFixed(0)} bytes a message with every index); seeding took ${seed.seconds.toFixed(0)} s`);

  const goalList: Goal[] = [
    {
      name: "memory per idle socket",
      measure: "KiB of server RSS (slope)",
      value: top ? top.bytesPerSocket / 1024 : null,
      limit: 8,
      kind: "max",
      note: top ? `(${top.sockets.toLocaleString("en-US")} sockets${top.sockets < 10_000 ? ", fewer than the 10,000 of the target" : ""})` : undefined,
    },
    {
      name: `history page at ${(P.historySize / 1e6).toLocaleString("en-US")}M messages`,
      measure: "p99 ms (before=S, 50)",
      value: history?.before.p99 ?? null,
      limit: 5,
      kind: "max",
      note: P.historySize < 10_000_000 ? "(a smaller room than the 10M target)" : undefined,
    },
    { name: "messages lost", measure: "lost + unanswered + acked-not-stored", value: levels.length ? lost : null, limit: 0, kind: "max" },
  ];
  log("");
  log(goals(goalList));
  const seconds = (performance.now() - started) / 1000;
  log(`\n${goalList.filter(pass).length}/${goalList.length} targets met · ${seconds.toFixed(0)} s`);

  mkdirSync(RESULTS, { recursive: true });
  const file = flags.out ?? join(RESULTS, `scale-${stamp}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        startedAt: new Date(Date.now() - seconds * 1000).toISOString(),
        seconds,
        quick,
        machine: m,
        parameters: { ...P, sockets, small },
        databaseBytes,
        seedSeconds: { users: world.seconds, messages: seed.seconds },
        levels,
        history,
        search,
        targets: goalList.map((g) => ({ ...g, pass: pass(g) })),
      },
      null,
      2,
    ),
  );
  log(`results: ${file}`);
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
