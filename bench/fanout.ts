/**
 * WebSocket fan-out: how many message deliveries per second the server pushes, how long a
 * message takes from `message.send` to another member's `message.new`, and how much server
 * memory an idle socket costs.
 *
 *   bun bench/fanout.ts           # SCALE=0.2 for a quick run; IDLE_SOCKETS=2000 by default
 *
 * Starts the real server (src/index.ts) as a child process on a temporary SQLite file, with
 * the auth and message rate limits off, then drives it from this process with real WebSocket
 * clients on 127.0.0.1. Every phase is bounded in count and in time. It prints figures and
 * asserts nothing; compare runs on the same machine only (client and server share its CPUs).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SCALE = Number(Bun.env.SCALE ?? 1);
const IDLE_SOCKETS = Number(Bun.env.IDLE_SOCKETS ?? 2000);
/** No phase sends for longer than this, nor waits longer than this for the last deliveries. */
const PHASE_LIMIT_MS = 20_000;
/** How long the paced latency phase sends. */
const PACED_MS = Math.max(1000, 4000 * SCALE);

interface Scenario {
  name: string;
  /** Messages per second across the scenario for the latency phase (well under saturation). */
  pacedRate: number;
  rooms: number;
  members: number;
  /** Members of each room that send. */
  senders: number;
  /** Messages each sender sends. */
  messages: number;
  /** Sends a sender keeps unacknowledged at once. */
  window: number;
}

const SCENARIOS: Scenario[] = [
  { name: "1 room × 100 members", rooms: 1, members: 100, senders: 10, messages: Math.ceil(200 * SCALE), window: 8, pacedRate: 100 },
  { name: "100 rooms × 5 members", rooms: 100, members: 5, senders: 1, messages: Math.ceil(100 * SCALE), window: 4, pacedRate: 500 },
];

// ---- the server ----

const dir = mkdtempSync(join(tmpdir(), "bunchat-fanout-"));
let base = "";
let server: ReturnType<typeof Bun.spawn> | null = null;

/** A fresh server process on its own database file. */
async function startServer(name: string) {
  const port = freePort();
  base = `127.0.0.1:${port}`;
  server = Bun.spawn(["bun", join(import.meta.dir, "..", "src", "index.ts")], {
    env: {
      ...Bun.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: `sqlite://${join(dir, `${name}.db`)}`,
      JWT_SECRET: "fanout-bench-secret-fanout-bench-secret-0123",
      RATE_LIMIT_AUTH: "0",
      RATE_LIMIT_ANON: "0",
      WS_MAX_PER_USER: "0",
      WS_MAX_PER_ADDRESS: "0",
      WS_SYNC_RATE_LIMIT: "0",
      RATE_LIMIT_MESSAGES: "0",
      WS_RATE_LIMIT: "0",
      LOG_LEVEL: "warn",
      // Registration is setup, not what is measured.
      PASSWORD_MEMORY_KIB: "1024",
      PASSWORD_TIME_COST: "1",
    },
    cwd: dir,
    stdout: "inherit",
    stderr: "inherit",
  });
  await waitUntilUp();
}

async function stopServer() {
  if (!server) return;
  server.kill("SIGTERM");
  await server.exited;
  server = null;
}

function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = probe.port;
  probe.stop(true);
  return p;
}

async function waitUntilUp() {
  const deadline = performance.now() + 15_000;
  while (performance.now() < deadline) {
    const ok = await fetch(`http://${base}/health`).then((r) => r.ok, () => false);
    if (ok) return;
    await Bun.sleep(50);
  }
  throw new Error("the server did not start");
}

/** The server's resident memory, from /proc (Linux). */
function serverRssBytes(): number {
  const status = readFileSync(`/proc/${server!.pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1]);
  return kb * 1024;
}

// ---- clients ----

interface User {
  id: string;
  token: string;
}

async function api(method: string, path: string, body?: unknown, token?: string) {
  const res = await fetch(`http://${base}${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<any>;
}

let userCount = 0;
async function users(n: number): Promise<User[]> {
  const made: User[] = [];
  for (let i = 0; i < n; i += 25) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(25, n - i) }, () =>
        api("POST", "/api/auth/register", { username: `fan_${++userCount}_${Math.random().toString(36).slice(2, 6)}`, password: "bench-password" }),
      ),
    );
    made.push(...batch.map((r) => ({ id: r.user.id, token: r.accessToken })));
  }
  return made;
}

type OnFrame = (frame: any, raw: string) => void;

function connect(user: User, onFrame: OnFrame): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${base}/ws?token=${user.token}`);
    const timer = setTimeout(() => reject(new Error("no ready frame")), 10_000);
    ws.onmessage = (e) => {
      const raw = String(e.data);
      const frame = JSON.parse(raw);
      if (frame.type === "ready") {
        clearTimeout(timer);
        resolve(ws);
      }
      onFrame(frame, raw);
    };
    ws.onerror = () => reject(new Error("socket error"));
  });
}

function percentile(sorted: number[], p: number) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// ---- scenarios ----

async function run(s: Scenario) {
  const people = await users(s.rooms * s.members);
  const rooms: { id: string; members: User[] }[] = [];
  for (let r = 0; r < s.rooms; r++) {
    const members = people.slice(r * s.members, (r + 1) * s.members);
    const room = await api("POST", "/api/rooms", { name: `bench ${r}`, memberIds: members.slice(1).map((m) => m.id) }, members[0]!.token);
    rooms.push({ id: room.id, members });
  }

  let latencies: number[] = [];
  let deliveries = 0;
  let lastDelivery = 0;
  const acks = new Map<string, () => void>();
  const sockets: WebSocket[] = [];
  const senders: { ws: WebSocket; roomId: string; user: User }[] = [];
  for (const room of rooms) {
    for (const [i, member] of room.members.entries()) {
      const ws = await connect(member, (frame) => {
        if (frame.type === "message.new") {
          deliveries++;
          lastDelivery = performance.now();
          // The sender's own socket also gets message.new; only other members' count for latency.
          if (frame.message.senderId !== member.id) latencies.push(lastDelivery - frame.message.metadata.t);
        } else if (frame.type === "ack") {
          acks.get(frame.clientId)?.();
          acks.delete(frame.clientId);
        } else if (frame.type === "error") {
          throw new Error(`error frame: ${JSON.stringify(frame)}`);
        }
      });
      sockets.push(ws);
      if (i < s.senders) senders.push({ ws, roomId: room.id, user: member });
    }
  }
  let n = 0;
  const send = (sender: (typeof senders)[number]) => {
    const clientId = `${sender.user.id}:${n++}`;
    const acked = new Promise<void>((resolve) => acks.set(clientId, resolve));
    sender.ws.send(
      JSON.stringify({ type: "message.send", roomId: sender.roomId, clientId, content: `benchmark message ${clientId}`, metadata: { t: performance.now() } }),
    );
    return acked;
  };
  const settle = async (target: number) => {
    const deadline = performance.now() + PHASE_LIMIT_MS;
    while (deliveries < target && performance.now() < deadline) await Bun.sleep(5);
  };
  const summary = (sorted: number[]) =>
    `p50 ${percentile(sorted, 50).toFixed(2)} ms · p99 ${percentile(sorted, 99).toFixed(2)} ms (${sorted.length.toLocaleString("en-US")} samples)`;
  console.log(`\n${s.name} (${sockets.length} sockets)`);

  // Throughput: every sender keeps `window` sends unacknowledged, as fast as the server takes them.
  const planned = s.rooms * s.senders * s.messages;
  const started = performance.now();
  const sendDeadline = started + PHASE_LIMIT_MS;
  let sent = 0;
  await Promise.all(
    senders.map(async (sender) => {
      let mine = 0;
      const lane = async () => {
        while (mine < s.messages && performance.now() < sendDeadline) {
          mine++;
          sent++;
          await send(sender);
        }
      };
      await Promise.all(Array.from({ length: s.window }, lane));
    }),
  );
  await settle(sent * s.members);
  const seconds = (lastDelivery - started) / 1000;
  latencies.sort((a, b) => a - b);
  console.log(`  saturated: ${s.senders} sender(s) per room, ${s.window} sends in flight each`);
  console.log(`    messages sent      ${sent.toLocaleString("en-US")} of ${planned.toLocaleString("en-US")} planned`);
  console.log(`    deliveries         ${deliveries.toLocaleString("en-US")} of ${(sent * s.members).toLocaleString("en-US")} in ${seconds.toFixed(2)} s`);
  console.log(`    deliveries/second  ${Math.round(deliveries / seconds).toLocaleString("en-US")}`);
  console.log(`    send → receive     ${summary(latencies)}`);

  // Latency under a steady load well below saturation: sends at a fixed rate, not waiting for acks.
  latencies = [];
  const baseline = deliveries;
  const count = Math.round((s.pacedRate * PACED_MS) / 1000);
  const pacedStart = performance.now();
  for (let i = 0; i < count; i++) {
    const due = pacedStart + (i * 1000) / s.pacedRate;
    const wait = due - performance.now();
    if (wait > 1) await Bun.sleep(wait);
    void send(senders[i % senders.length]!);
  }
  await settle(baseline + count * s.members);
  latencies.sort((a, b) => a - b);
  console.log(`  paced: ${s.pacedRate} messages/s (${(s.pacedRate * s.members).toLocaleString("en-US")} deliveries/s) for ${(PACED_MS / 1000).toFixed(1)} s`);
  console.log(`    deliveries         ${(deliveries - baseline).toLocaleString("en-US")} of ${(count * s.members).toLocaleString("en-US")}`);
  console.log(`    send → receive     ${summary(latencies)}`);

  for (const ws of sockets) ws.close();
}

/**
 * Server RSS per idle socket: a fresh server, sockets opened in five equal steps, and the slope
 * of a least-squares line through the RSS readings, so that one garbage collection in between
 * does not decide the figure.
 */
async function idleMemory() {
  await startServer("idle");
  const pool = await users(Math.min(500, IDLE_SOCKETS));
  for (let i = 0; i + 1 < pool.length; i += 2) await api("POST", "/api/rooms", { name: "pair", memberIds: [pool[i + 1]!.id] }, pool[i]!.token);
  await Bun.sleep(1000);
  const sockets: WebSocket[] = [];
  const points: [number, number][] = [[0, serverRssBytes()]];
  const step = Math.ceil(IDLE_SOCKETS / 5);
  const deadline = performance.now() + PHASE_LIMIT_MS;
  while (sockets.length < IDLE_SOCKETS && performance.now() < deadline) {
    const goal = Math.min(IDLE_SOCKETS, sockets.length + step);
    while (sockets.length < goal) {
      const batch = Array.from({ length: Math.min(50, goal - sockets.length) }, (_, j) => connect(pool[(sockets.length + j) % pool.length]!, () => {}));
      sockets.push(...(await Promise.all(batch)));
    }
    await Bun.sleep(500);
    points.push([sockets.length, serverRssBytes()]);
  }
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const slope = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  console.log(`\nidle sockets: ${sockets.length.toLocaleString("en-US")} over ${pool.length} users (pairs sharing a room), fresh server`);
  console.log(`  server RSS         ${points.map(([x, y]) => `${x}: ${(y / 2 ** 20).toFixed(1)} MiB`).join(" · ")}`);
  const [x1, y1] = points.at(-2)!;
  const [x2, y2] = points.at(-1)!;
  console.log(`  per idle socket    ${(slope / 1024).toFixed(1)} KiB (least-squares slope); ${((y2 - y1) / (x2 - x1) / 1024).toFixed(1)} KiB over the last step`);
  for (const ws of sockets) ws.close();
  await stopServer();
}

try {
  console.log(`bench/fanout.ts — Bun ${Bun.version}, SCALE=${SCALE}, IDLE_SOCKETS=${IDLE_SOCKETS}`);
  await startServer("fanout");
  for (const scenario of SCENARIOS) await run(scenario);
  await stopServer();
  await idleMemory();
} finally {
  await stopServer();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
