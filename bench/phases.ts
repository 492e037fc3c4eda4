/**
 * Where one message's time goes, phase by phase, at p50 and p99: `bun run bench --phases`
 * (or `bun bench/phases.ts`).
 *
 *   bun bench/phases.ts                    # 1 room × 100 members, 20 messages/s open-loop (the light-load shape), 10 s
 *   bun bench/phases.ts --quick            # the same for 4 s
 *   bun bench/phases.ts --rate=500         # another open-loop rate (messages/s)
 *   bun bench/phases.ts --closed=16        # closed loop instead: each sender keeps 16 sends in flight (the fan-out shape)
 *   bun bench/phases.ts --members=5 --senders=1 --seconds=20
 *
 * Starts the server (src/index.ts) on a fresh SQLite file with BENCH_PHASES set: it then
 * timestamps each WebSocket send at each phase of its path (src/lib/phases.ts) and watches its
 * event loop for stalls. After the run this asks for the trace (SIGUSR2) and lays the server's
 * times beside its own: when each send left the sender's socket and when each member's socket
 * received its `message.new`. All times are on the wall clock of one machine, so the
 * client → server and server → client phases include both processes' event-loop delays.
 * Prints a table; asserts nothing. The first second of sends warms up and is not counted.
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
  },
});
const MEMBERS = Number(flags.members ?? 100);
const SENDERS = Math.min(MEMBERS, Number(flags.senders ?? 10));
const RATE = Number(flags.rate ?? 20);
const WINDOW = flags.closed === undefined ? 0 : Number(flags.closed);
const SECONDS = Number(flags.seconds ?? (flags.quick ? 4 : 10));
const WARMUP_MS = 1000;
const DRAIN_MS = 15_000;

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
    },
    readyPath: "/ready",
    logFile: join(dir, "server.log"),
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
    report(trace, sentBySeq, receivedBySeq, { countFrom, sent, acked, cpuSeconds: cpu.cpuSeconds });
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
  console.log("The writer's wait is queued → batchStart; the server's own part ends at published.");
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
