/**
 * Where one message's time goes, phase by phase, at p50 and p99: `bun run bench --phases`
 * (or `bun bench/phases.ts`).
 *
 *   bun bench/phases.ts                    # 1 room × 100 members, 20 messages/s open-loop (the light-load shape), 10 s
 *   bun bench/phases.ts --quick            # the same for 4 s
 *   bun bench/phases.ts --rate=500         # another open-loop rate (messages/s)
 *   bun bench/phases.ts --closed=16        # closed loop instead: each sender keeps 16 sends in flight (the fan-out shape)
 *   bun bench/phases.ts --members=5 --senders=1 --seconds=20
 *   bun bench/phases.ts --gc               # also JSC's collections and their pauses, matched against the stalls
 *
 * Starts the server (src/index.ts) on a fresh SQLite file with BENCH_PHASES set: it then
 * timestamps each WebSocket send at each phase of its path (src/lib/phases.ts) and watches its
 * event loop for stalls. After the run this asks for the trace (SIGUSR2) and lays the server's
 * times beside its own: when each send left the sender's socket and when each member's socket
 * received its `message.new`. All times are on the wall clock of one machine, so the
 * client → server and server → client phases include both processes' event-loop delays.
 * Prints a table; asserts nothing. The first second of sends warms up and is not counted.
 *
 * With --gc the server runs with BUN_JSC_logGC=1 and its stderr is read here as it comes: JSC
 * writes a line at the end of each of a collection's pauses (`p=` its length), so the time this
 * process reads the line is the pause's end plus the pipe's and this event loop's delay. Each
 * stall is matched against the pauses read from its start to a little after it, and against the
 * server's own received → published times of each message; the same matches with the pauses and
 * messages shifted by ±MISS_SHIFT_MS say how many of them chance alone would give. It also splits
 * the end-to-end latency between messages with and without a pause inside their path.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createRoom, register } from "./lib/api";
import { Histogram } from "./lib/histogram";
import { machine } from "./lib/machine";
import { meter } from "./lib/proc";
import { installCleanup, spawnServer } from "./lib/server";
import { closePeers, openPeers, type Peer, pool } from "./lib/ws";

const { values: flags } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    quick: { type: "boolean", default: false },
    rate: { type: "string" },
    closed: { type: "string" },
    members: { type: "string" },
    senders: { type: "string" },
    seconds: { type: "string" },
    gc: { type: "boolean", default: false },
  },
});
const MEMBERS = Number(flags.members ?? 100);
const SENDERS = Math.min(MEMBERS, Number(flags.senders ?? 10));
const RATE = Number(flags.rate ?? 20);
const WINDOW = flags.closed === undefined ? 0 : Number(flags.closed);
const SECONDS = Number(flags.seconds ?? (flags.quick ? 4 : 10));
const WARMUP_MS = 1000;
const DRAIN_MS = 15_000;
/** A pause's line may be read this long after the stall it caused was seen (pipe and event loop). */
const GC_AFTER_MS = 3;
/**
 * Pauses and messages shifted this far (both ways) are unrelated to the stalls: their matches are
 * chance. Half the open-loop send interval, so that a shifted message does not land on the next one.
 */
const MISS_SHIFT_MS = WINDOW > 0 ? 25 : Math.max(5, 500 / RATE);

const clock = () => performance.timeOrigin + performance.now();
const dir = mkdtempSync(join(tmpdir(), "bunchat-phases-"));
installCleanup(() => rmSync(dir, { recursive: true, force: true }));
const traceFile = join(dir, "phases.json");

interface Trace {
  columns: string[];
  rows: number[][];
  stalls: [number, number][];
  stallTickMs: number;
  traced: number;
}

/** One pause of a collection, as JSC's GC log reports it: when its line was read here, and its length. */
interface GcPause {
  at: number;
  ms: number;
  full: boolean;
}

interface GcLog {
  /** requested: JSC asked for it because allocation passed the budget (otherwise a timer or Bun did). */
  collections: { at: number; full: boolean; cycleMs: number; requested: boolean }[];
  pauses: GcPause[];
}

/** Parses BUN_JSC_logGC=1 output as it arrives; each line is timed by when its last piece was read. */
function gcLogReader(): { log: GcLog; onText: (text: string) => void } {
  const log: GcLog = { collections: [], pauses: [] };
  let partial = "";
  let full = false;
  let requested = false;
  const onText = (text: string) => {
    const at = clock();
    const lines = (partial + text).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith("Requesting GC because")) requested = true;
      if (!line.startsWith("[GC<")) continue;
      const start = / => (Eden|Full)Collection/.exec(line);
      if (start) full = start[1] === "Full";
      const pause = / p=([\d.]+)ms/.exec(line);
      if (pause) log.pauses.push({ at, ms: Number(pause[1]), full });
      const end = /cycle ([\d.]+)ms END\]/.exec(line);
      if (end) {
        log.collections.push({ at, full, cycleMs: Number(end[1]), requested });
        requested = false;
      }
    }
  };
  return { log, onText };
}

async function readTrace(pid: number): Promise<Trace> {
  process.kill(pid, "SIGUSR2");
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    if (existsSync(traceFile))
      try {
        return JSON.parse(readFileSync(traceFile, "utf8")) as Trace;
      } catch {} // still being written
    await Bun.sleep(50);
  }
  throw new Error("the server wrote no phase trace (is BENCH_PHASES read?)");
}

async function main() {
  const m = machine();
  const shape = WINDOW > 0 ? `closed loop, ${WINDOW} in flight per sender` : `${RATE} messages/s open-loop`;
  console.log(`bench/phases.ts · 1 room × ${MEMBERS} members, ${SENDERS} senders, ${shape}, ${SECONDS} s · ${m.cpus} × ${m.cpu} · Bun ${m.bun} · load ${m.loadAverage.join(" ")}`);
  const gc = flags.gc ? gcLogReader() : null;
  const server = await spawnServer({
    name: "server",
    script: [join(import.meta.dir, "../src/index.ts")],
    env: {
      DATABASE_URL: `sqlite://${join(dir, "chat.db")}`,
      JWT_SECRET: "bench-secret-bench-secret-bench-secret-0123456789",
      RATE_LIMIT_AUTH: "0",
      RATE_LIMIT_ANON: "0",
      RATE_LIMIT_MESSAGES: "0",
      WS_RATE_LIMIT: "0",
      WS_MAX_PER_USER: "0",
      WS_MAX_PER_ADDRESS: "0",
      LOG_LEVEL: "warn",
      PASSWORD_MEMORY_KIB: "1024",
      PASSWORD_TIME_COST: "1",
      BENCH_PHASES: traceFile,
      ...(gc && { BUN_JSC_logGC: "1" }),
    },
    readyPath: "/ready",
    logFile: join(dir, "server.log"),
    ...(gc && { onStderr: gc.onText }),
  });
  let peers: Peer[] = [];
  try {
    const tag = Date.now().toString(36).slice(-6);
    const users = await pool(
      Array.from({ length: MEMBERS }, (_, i) => i),
      8,
      (i) => register(server.url, `phases_${tag}_${i}`),
    );
    const roomId = await createRoom(server.url, users[0]!, "phases", users);
    peers = await openPeers(users.map((user) => ({ user, url: `${server.wsUrl}/ws?token=${encodeURIComponent(user.token)}` })));
    const senders = peers.slice(0, SENDERS);

    /** clientId → when it left the sender; seq → that time, once a frame names the seq. */
    const sentAt = new Map<string, number>();
    const sentBySeq = new Map<number, number>();
    /** seq → receive times at the other members' sockets. */
    const receivedBySeq = new Map<number, number[]>();
    let countFrom = Number.POSITIVE_INFINITY;
    let acked = 0;
    let sent = 0;
    let sending = true;
    const pad = "x".repeat(90);
    const send = (peer: Peer) => {
      if (!sending) return;
      const clientId = `${tag}-${sent++}`;
      sentAt.set(clientId, clock());
      peer.ws.send(JSON.stringify({ type: "message.send", roomId, clientId, content: pad }));
    };
    for (const peer of peers)
      peer.onFrame = (text) => {
        const at = clock();
        if (text.startsWith('{"type":"message.new"')) {
          const { message } = JSON.parse(text) as { message: { seq: number; senderId: string; clientId: string | null } };
          if (message.senderId === peer.user.id) return;
          const list = receivedBySeq.get(message.seq);
          if (list) list.push(at);
          else receivedBySeq.set(message.seq, [at]);
          const t = message.clientId !== null ? sentAt.get(message.clientId) : undefined;
          if (t !== undefined) sentBySeq.set(message.seq, t);
        } else if (text.startsWith('{"type":"ack"')) {
          acked++;
          if (WINDOW > 0) send(peer);
        }
      };

    const metered = meter(server.pid);
    const started = performance.now();
    countFrom = clock() + WARMUP_MS;
    let ticker: Timer | undefined;
    if (WINDOW > 0) {
      for (let i = 0; i < WINDOW; i++) for (const s of senders) send(s);
    } else {
      const interval = 1000 / RATE;
      let k = 0;
      ticker = setInterval(() => {
        const due = Math.floor((performance.now() - started) / interval) + 1;
        for (; k < due; k++) send(senders[k % senders.length]!);
      }, 1);
    }
    await Bun.sleep(WARMUP_MS + SECONDS * 1000);
    sending = false;
    clearInterval(ticker);
    const drainUntil = performance.now() + DRAIN_MS;
    while (acked < sent && performance.now() < drainUntil) await Bun.sleep(20);
    await Bun.sleep(200);
    const cpu = metered.end();
    const trace = await readTrace(server.pid);
    report(trace, sentBySeq, receivedBySeq, { countFrom, sent, acked, cpuSeconds: cpu.cpuSeconds }, gc?.log ?? null);
  } finally {
    await closePeers(peers);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(
  trace: Trace,
  sentBySeq: Map<number, number>,
  receivedBySeq: Map<number, number[]>,
  run: { countFrom: number; sent: number; acked: number; cpuSeconds: number },
  gc: GcLog | null,
) {
  const col = (name: string) => trace.columns.indexOf(name);
  const [SEQ, BATCH] = [col("seq"), col("batch")];
  const phases = trace.columns.slice(2);
  const names = ["sent → received (client → server)", ...phases.slice(1).map((p, i) => `${phases[i]} → ${p}`), "published → received at client", "total: sent → received at client"];
  const hist = names.map(() => new Histogram());
  const batches = new Histogram();
  let complete = 0;
  let incomplete = 0;
  let windowStart = Number.POSITIVE_INFINITY;
  let windowEnd = 0;
  /** [from, to] of each counted message's path, for stalls inside it. */
  const paths: [number, number][] = [];
  /** sent and each member's receive time of each counted message. */
  const deliveries: [number, number[]][] = [];
  for (const row of trace.rows) {
    const seq = row[SEQ]!;
    const sent = sentBySeq.get(seq);
    const received = receivedBySeq.get(seq);
    if (!(seq > 0) || sent === undefined || sent < run.countFrom) continue;
    const times = phases.map((_, i) => row[2 + i]!);
    if (!received || times.some((t) => !Number.isFinite(t))) {
      incomplete++;
      continue;
    }
    complete++;
    batches.record(row[BATCH]!);
    hist[0]!.record(times[0]! - sent);
    for (let i = 1; i < times.length; i++) hist[i]!.record(times[i]! - times[i - 1]!);
    const published = times.at(-1)!;
    for (const at of received) {
      hist[names.length - 2]!.record(at - published);
      hist[names.length - 1]!.record(at - sent);
    }
    const last = Math.max(...received);
    paths.push([sent, last]);
    deliveries.push([sent, received]);
    windowStart = Math.min(windowStart, sent);
    windowEnd = Math.max(windowEnd, last);
  }
  const width = Math.max(...names.map((n) => n.length)) + 2;
  console.log(`\n${complete} messages traced end to end (${incomplete} incomplete; ${run.sent} sent, ${run.acked} acked; server ${run.cpuSeconds.toFixed(1)} CPU s)`);
  console.log(`${"phase".padEnd(width)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}${"max ms".padStart(9)}${"samples".padStart(10)}`);
  for (const [i, name] of names.entries()) {
    const s = hist[i]!.summary();
    console.log(`${name.padEnd(width)}${s.p50.toFixed(3).padStart(9)}${s.p99.toFixed(3).padStart(9)}${s.max.toFixed(3).padStart(9)}${String(s.count).padStart(10)}`);
  }
  // Batch sizes go through the histogram as if they were ms.
  const b = batches.summary();
  console.log(`batch size: p50 ${Math.round(b.p50)}, p99 ${Math.round(b.p99)}, max ${Math.round(b.max)} messages`);
  const stalls = trace.stalls.filter(([at]) => at >= windowStart && at <= windowEnd);
  const stallHist = new Histogram();
  for (const [, late] of stalls) stallHist.record(late);
  const s = stallHist.summary();
  const hit = paths.filter(([from, to]) => stalls.some(([at, late]) => at - late <= to && at >= from)).length;
  const span = (windowEnd - windowStart) / 1000;
  console.log(
    `event-loop stalls (a ${trace.stallTickMs} ms tick more than 1 ms late) over ${Number.isFinite(span) ? span.toFixed(1) : 0} s: ${stalls.length}` +
      (stalls.length ? `, p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(2)} ms, ${stalls.reduce((n, [, l]) => n + l, 0).toFixed(0)} ms in all` : "") +
      `; ${hit} of ${paths.length} messages had one inside their path`,
  );
  if (gc) reportGc(gc, stalls, windowStart, windowEnd, handling(trace), deliveries);
  console.log("The writer's wait is queued → batchStart; the server's own part ends at published.");
}

/** [received, published] of every message the server traced, on its own clock. */
function handling(trace: Trace): [number, number][] {
  const [from, to] = [trace.columns.indexOf("received"), trace.columns.indexOf("published")];
  return trace.rows.map((row) => [row[from]!, row[to]!] as [number, number]).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
}

const fmt = (s: { p50: number; p99: number; max: number }) => `p50 ${s.p50.toFixed(2)}, p99 ${s.p99.toFixed(2)}, max ${s.max.toFixed(2)} ms`;

/** The collections and pauses inside [from, to], and how many of the stalls a pause explains. */
function reportGc(
  gc: GcLog,
  stalls: [number, number][],
  from: number,
  to: number,
  messages: [number, number][],
  deliveries: [number, number[]][],
) {
  const pauses = gc.pauses.filter((p) => p.at >= from && p.at <= to);
  const collections = gc.collections.filter((c) => c.at >= from && c.at <= to);
  const span = (to - from) / 1000;
  const eden = collections.filter((c) => !c.full).length;
  const pauseHist = new Histogram();
  for (const p of pauses) pauseHist.record(p.ms);
  const cycleHist = new Histogram();
  for (const c of collections) cycleHist.record(c.cycleMs);
  const sum = pauses.reduce((n, p) => n + p.ms, 0);
  /** A stall [at, late] matches a pause read from `late` + 1 ms before it to GC_AFTER_MS after it. */
  const matching = (shift: number) => (stall: [number, number]) =>
    pauses.some((p) => p.at + shift >= stall[0] - stall[1] - 1 && p.at + shift <= stall[0] + GC_AFTER_MS);
  const matched = stalls.filter(matching(0));
  const chance = (stalls.filter(matching(MISS_SHIFT_MS)).length + stalls.filter(matching(-MISS_SHIFT_MS)).length) / 2;
  const lag = new Histogram();
  for (const [at, late] of matched) {
    const p = pauses.find((p) => p.at >= at - late - 1 && p.at <= at + GC_AFTER_MS)!;
    lag.record(Math.max(0, p.at - at));
  }
  /** A stall's tick was due at `at - late`; the loop was busy from before then until `at`. */
  const inMessage = (shift: number) => (stall: [number, number]) =>
    messages.some(([a, b]) => a + shift <= stall[0] && b + shift >= stall[0] - stall[1] - 2);
  const during = stalls.filter(inMessage(0));
  const duringChance = (stalls.filter(inMessage(MISS_SHIFT_MS)).length + stalls.filter(inMessage(-MISS_SHIFT_MS)).length) / 2;
  const neither = stalls.filter((s) => !matching(0)(s) && !inMessage(0)(s));
  const neitherHist = new Histogram();
  for (const [, late] of neither) neitherHist.record(late);
  const long = pauses.filter((p) => p.ms > 1);
  const longSeen = long.filter((p) => stalls.some(([at, late]) => p.at >= at - late - 1 && p.at <= at + GC_AFTER_MS)).length;
  console.log(
    `GC (BUN_JSC_logGC=1) over ${span.toFixed(1)} s: ${collections.length} collections (${eden} eden, ${collections.length - eden} full; ${collections.filter((c) => c.requested).length} for passing the allocation budget)` +
      (collections.length ? `, cycle ${fmt(cycleHist.summary())}` : "") +
      `; ${pauses.length} pauses` +
      (pauses.length ? `, ${fmt(pauseHist.summary())}, ${sum.toFixed(0)} ms in all` : ""),
  );
  console.log(
    `stalls with a GC pause: ${matched.length} of ${stalls.length} (by chance, pauses shifted ±${MISS_SHIFT_MS} ms: ${chance.toFixed(1)}); ` +
      `pauses over 1 ms seen as a stall: ${longSeen} of ${long.length}. ` +
      `Matched by when this process read each pause's line from the server's stderr, from the stall's start - 1 ms to ${GC_AFTER_MS} ms after it was seen` +
      (matched.length ? ` (read after the stall: p50 ${lag.summary().p50.toFixed(2)}, max ${lag.summary().max.toFixed(2)} ms)` : ""),
  );
  // A pause's line read between a message's send and its last delivery (plus the read's delay) fell in its path.
  const [withPause, withoutPause] = [new Histogram(), new Histogram()];
  let hitMessages = 0;
  for (const [sent, received] of deliveries) {
    const last = Math.max(...received);
    const hit = pauses.some((p) => p.at >= sent && p.at - p.ms <= last);
    if (hit) hitMessages++;
    for (const at of received) (hit ? withPause : withoutPause).record(at - sent);
  }
  console.log(
    `total sent → received: ${fmt(withoutPause.summary())} for the ${deliveries.length - hitMessages} messages without a pause in their path, ` +
      (hitMessages ? `${fmt(withPause.summary())} for the ${hitMessages} with one` : "none had one"),
  );
  console.log(
    `stalls while the server handled a message (its received → published on the server's clock, the tick due within 2 ms of it): ${during.length} of ${stalls.length} ` +
      `(by chance, shifted ±${MISS_SHIFT_MS} ms: ${duringChance.toFixed(1)}); with neither: ${neither.length}` +
      (neither.length ? `, ${fmt(neitherHist.summary())}` : ""),
  );
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
