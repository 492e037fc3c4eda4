/**
 * `bun run soak`: one server process under every kind of traffic for a while, watched for leaks.
 *
 *   bun run soak                 # 10 minutes, a reading each minute
 *   bun run soak --minutes=0.5   # shorter runs take a reading each tenth of the run
 *   bun run soak --rate=100      # operations per second, all lanes together (default 60)
 *
 * Starts the server on a fresh SQLite file, registers a few users over the API, gives them
 * private rooms (every user a member) and public rooms (joined and left as the run goes), and
 * opens a socket per user. Then lanes of users run a random mix, paced to a steady rate:
 * WebSocket and REST sends, edits, reactions added and removed, read positions, history pages,
 * joins and leaves (sending while a member), and reconnects that resume with `sync` (`since`
 * the previous socket's `ready.at`) and must get every message of the private rooms they missed.
 *
 * Every reading prints the server's RSS, its open file descriptors (/proc/<pid>/fd) and the
 * event-loop lag seen from outside (the latency of /health, probed twice a second). It fails
 * (exit 1) when
 * - the last reading's RSS is more than 20 % over the reading at two minutes (in runs shorter
 *   than five minutes: the second of the ten readings);
 * - the server holds more file descriptors once the traffic has stopped and every socket is
 *   closed than it did before the traffic started (waited for, bounded), not counting the ends
 *   of connections this process still holds open (idle HTTP keep-alive);
 * - an acknowledged message (WebSocket `ack` or HTTP 201) is missing from history, or a room's
 *   seqs have a gap, or a resumed socket missed a message, or the server answered 5xx, or a
 *   send was never answered.
 * Everything goes to 127.0.0.1, the run is bounded in time and operations, and the server is
 * stopped on exit and on Ctrl-C.
 */
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { register } from "./lib/api";
import { serverEnv } from "./lib/env";
import { Histogram } from "./lib/histogram";
import { memory } from "./lib/proc";
import { installCleanup, type Server, spawnServer } from "./lib/server";
import type { BenchUser } from "./lib/targets";

const { values: flags } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    minutes: { type: "string", default: "10" },
    rate: { type: "string", default: "60" },
    users: { type: "string", default: "12" },
  },
});
const minutes = Number(flags.minutes);
const rate = Number(flags.rate);
const userCount = Number(flags.users);
if (!(minutes > 0 && minutes <= 24 * 60) || !(rate > 0 && rate <= 2000) || !(Number.isInteger(userCount) && userCount >= 4 && userCount <= 200)) {
  console.error("--minutes must be > 0 (fractions allowed), --rate 1–2000 operations a second, --users 4–200");
  process.exit(2);
}
const RUN_MS = minutes * 60_000;
/** Readings: each minute, or each tenth of a run shorter than five minutes. */
const SHORT = minutes < 5;
const INTERVAL_MS = SHORT ? RUN_MS / 10 : 60_000;
/** The reading RSS growth is measured from: two minutes in, or the second of ten. */
const BASELINE_READING = 2;
const LANES = 4;
const PRIVATE_ROOMS = 3;
const PUBLIC_ROOMS = 2;
const MAX_OPS = Math.ceil((rate * RUN_MS) / 1000) + 100;
const TIMEOUT_MS = 10_000;
const EMOJI = ["👍", "🎉", ":party_parrot:"];

const dir = mkdtempSync(join(tmpdir(), "bunchat-soak-"));
installCleanup(() => rmSync(dir, { recursive: true, force: true }));
const log = (text: string) => console.log(text);

const problems: string[] = [];
const problem = (text: string) => {
  if (problems.length < 50) problems.push(text);
};
const counts: Record<string, number> = {};
const count = (what: string) => (counts[what] = (counts[what] ?? 0) + 1);

interface Acked {
  roomId: string;
  id: string;
  seq: number;
}
/** Every message the server acknowledged, by id. */
const acked = new Map<string, Acked>();

let server: Server;

async function api(user: BenchUser, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${user.token}`, ...(body !== undefined && { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await res.text();
  if (res.status >= 500) problem(`${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

function expect(what: string, got: number, ...ok: number[]) {
  if (!ok.includes(got)) problem(`${what}: unexpected ${got}`);
}

/** One user's socket: the seqs it saw per room, and its pending sends. */
class Client {
  ws!: WebSocket;
  readyAt: string | null = null;
  readonly seen = new Map<string, Set<number>>();
  private pending = new Map<string, (frame: any) => void>();
  private syncWaiter: ((frame: any) => void) | null = null;
  private n = 0;

  constructor(readonly user: BenchUser) {}

  lastSeen(roomId: string): number {
    let max = 0;
    for (const seq of this.seen.get(roomId) ?? []) if (seq > max) max = seq;
    return max;
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${server.wsUrl}/ws?token=${encodeURIComponent(this.user.token)}`);
      const timer = setTimeout(() => reject(new Error("no ready frame")), TIMEOUT_MS);
      ws.onmessage = (event) => {
        const frame = JSON.parse(String(event.data));
        if (frame.type === "ready") {
          clearTimeout(timer);
          this.readyAt = frame.at;
          resolve();
        } else if (frame.type === "message.new") {
          const set = this.seen.get(frame.message.roomId) ?? new Set<number>();
          set.add(frame.message.seq);
          this.seen.set(frame.message.roomId, set);
        } else if ((frame.type === "ack" || frame.type === "error") && frame.clientId) {
          this.pending.get(frame.clientId)?.(frame);
          this.pending.delete(frame.clientId);
        } else if (frame.type === "sync.done") {
          this.syncWaiter?.(frame);
        } else if (frame.type === "error") problem(`socket of ${this.user.username}: ${JSON.stringify(frame.error)}`);
      };
      ws.onerror = () => reject(new Error("socket error before ready"));
      this.ws = ws;
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      const timer = setTimeout(resolve, TIMEOUT_MS);
      this.ws.addEventListener("close", () => {
        clearTimeout(timer);
        resolve();
      });
      this.ws.close();
    });
  }

  /** A send over the socket: the ack's message, or null (an error frame, or no answer in time). */
  send(roomId: string, content: string): Promise<Acked | null> {
    const clientId = `${this.user.username}-${this.n++}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(clientId);
        problem(`socket send ${clientId}: no answer in ${TIMEOUT_MS} ms`);
        resolve(null);
      }, TIMEOUT_MS);
      this.pending.set(clientId, (frame) => {
        clearTimeout(timer);
        if (frame.type === "ack") return resolve({ roomId, id: frame.message.id, seq: frame.message.seq });
        problem(`socket send ${clientId}: ${JSON.stringify(frame.error)}`);
        resolve(null);
      });
      this.ws.send(JSON.stringify({ type: "message.send", roomId, content, clientId }));
    });
  }

  /** Reconnects and resumes: `sync` from the last seq seen in each room, since the previous `ready.at`. */
  async reconnect(rooms: string[]): Promise<void> {
    const from = Object.fromEntries(rooms.map((id) => [id, this.lastSeen(id)]));
    const since = this.readyAt;
    await this.close();
    // What the new socket sees: a resumed client must end up holding the whole room.
    for (const id of rooms) this.seen.set(id, new Set());
    await this.open();
    const done = await new Promise<any>((resolve) => {
      const timer = setTimeout(() => resolve(null), TIMEOUT_MS);
      this.syncWaiter = (frame) => {
        clearTimeout(timer);
        resolve(frame);
      };
      this.ws.send(JSON.stringify({ type: "sync", rooms: from, ...(since && { since }) }));
    });
    this.syncWaiter = null;
    if (!done) return problem(`sync of ${this.user.username}: no sync.done in ${TIMEOUT_MS} ms`);
    for (const id of rooms) {
      const state = done.rooms[id];
      if (!state || state.hasMore) continue;
      const got = this.seen.get(id)!;
      for (let seq = from[id]! + 1; seq <= state.lastSeq; seq++)
        if (!got.has(seq)) {
          problem(`sync of ${this.user.username} in ${id}: seq ${seq} missing after sync.done (from ${from[id]}, lastSeq ${state.lastSeq})`);
          break;
        }
      // Later messages still arrive live on this socket; what the sync covered is checked above.
      for (let seq = 1; seq <= from[id]!; seq++) got.add(seq);
    }
  }
}

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** What the descriptors point at, by kind ("socket", "anon_inode:[eventfd]", a file's path), with counts. */
function fdKinds(pid: number): Map<string, number> {
  const kinds = new Map<string, number>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let link = "gone";
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`).replace(/^(socket|pipe):\[\d+\]$/, "$1");
    } catch {}
    kinds.set(link, (kinds.get(link) ?? 0) + 1);
  }
  return kinds;
}

function fdDiff(before: Map<string, number>, after: Map<string, number>): string {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys]
    .filter((k) => (before.get(k) ?? 0) !== (after.get(k) ?? 0))
    .map((k) => `${k} ${before.get(k) ?? 0} → ${after.get(k) ?? 0}`)
    .join(", ");
}

/** Sockets this process holds: each a connection to the server (idle HTTP keep-alive ones included), which holds its end. */
function ownSockets(): number {
  let n = 0;
  for (const fd of readdirSync("/proc/self/fd"))
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith("socket:")) n++;
    } catch {}
  return n;
}

/** The server's descriptors other than the ends of connections this process still holds open. */
const serverOwnFds = (pid: number) => openFds(pid) - ownSockets();

/** Waits (bounded) until serverOwnFds is at most `target`; the count it settled at. */
async function settleFds(pid: number, target: number, maxMs: number): Promise<number> {
  const deadline = performance.now() + maxMs;
  let n = serverOwnFds(pid);
  while (n > target && performance.now() < deadline) {
    await Bun.sleep(250);
    n = serverOwnFds(pid);
  }
  return n;
}

const pick = <T>(list: T[]): T => list[Math.floor(Math.random() * list.length)]!;

async function main(): Promise<number> {
  const dbPath = join(dir, "chat.db");
  server = await spawnServer({ name: "server", script: [join(import.meta.dir, "../src/index.ts")], env: serverEnv(dbPath), readyPath: "/ready", logFile: join(dir, "server.log") });
  log(`soak: ${minutes} min, ${rate} operations/s, ${userCount} users · server pid ${server.pid}`);
  const tag = Date.now().toString(36).slice(-6);
  const users: BenchUser[] = [];
  for (let i = 0; i < userCount; i++) users.push(await register(server.url, `soak_${tag}_${i}`));
  const owner = users[0]!;
  const privateRooms: string[] = [];
  for (let r = 0; r < PRIVATE_ROOMS; r++) {
    const { status, json } = await api(owner, "POST", "/api/rooms", { name: `private-${r}`, memberIds: users.slice(1).map((u) => u.id) });
    expect("create room", status, 201);
    privateRooms.push(json.id);
  }
  const publicRooms: string[] = [];
  for (let r = 0; r < PUBLIC_ROOMS; r++) {
    const { status, json } = await api(owner, "POST", "/api/rooms", { name: `public-${r}`, visibility: "public" });
    expect("create room", status, 201);
    publicRooms.push(json.id);
  }
  /** Public rooms each user is in (the owner stays in them all, and is never picked to leave). */
  const joined = new Map(users.map((u) => [u.id, new Set(u === owner ? publicRooms : [])]));

  const fdsBefore = serverOwnFds(server.pid);
  const kindsBefore = fdKinds(server.pid);
  const clients = users.map((u) => new Client(u));
  for (const c of clients) await c.open();

  /** Messages each user may edit or react to: its own acknowledged ones, the newest kept. */
  const mine = new Map(users.map((u) => [u.id, [] as Acked[]]));
  const remember = (user: BenchUser, message: Acked | null) => {
    if (!message) return;
    if (acked.has(message.id)) problem(`message ${message.id} acknowledged twice`);
    acked.set(message.id, message);
    const list = mine.get(user.id)!;
    list.push(message);
    if (list.length > 50) list.shift();
  };
  const content = (what: string) => `${what} ${Math.random().toString(36).slice(2)} soak text`;

  /** One operation for `client`'s user, chosen by weight. */
  const operate = async (client: Client) => {
    const user = client.user;
    const rooms = [...privateRooms, ...joined.get(user.id)!];
    const roll = Math.random() * 100;
    if (roll < 30) {
      count("socket send");
      remember(user, await client.send(pick(rooms), content("ws")));
    } else if (roll < 45) {
      count("REST send");
      const roomId = pick(rooms);
      const { status, json } = await api(user, "POST", `/api/rooms/${roomId}/messages`, { content: content("rest"), clientId: `${user.username}-r${Bun.randomUUIDv7()}` });
      expect("REST send", status, 201);
      if (status === 201) remember(user, { roomId, id: json.id, seq: json.seq });
    } else if (roll < 53) {
      const message = mine.get(user.id)!.at(-1 - Math.floor(Math.random() * 5));
      if (!message || !rooms.includes(message.roomId)) return;
      count("edit");
      expect("edit", (await api(user, "PATCH", `/api/messages/${message.id}`, { content: content("edited") })).status, 200);
    } else if (roll < 63) {
      const message = pick(mine.get(pick(users).id)!);
      if (!message || !rooms.includes(message.roomId)) return;
      const emoji = encodeURIComponent(pick(EMOJI));
      const remove = Math.random() < 0.4;
      count(remove ? "reaction removed" : "reaction added");
      const { status } = await api(user, remove ? "DELETE" : "PUT", `/api/messages/${message.id}/reactions/${emoji}`);
      expect("reaction", status, 200, 201, 204);
    } else if (roll < 71) {
      const roomId = pick(rooms);
      const seq = client.lastSeen(roomId);
      if (Math.random() < 0.5) {
        count("read (socket)");
        client.ws.send(JSON.stringify({ type: "read", roomId, seq }));
      } else {
        count("read (REST)");
        expect("read", (await api(user, "POST", `/api/rooms/${roomId}/read`, { seq })).status, 200, 204);
      }
    } else if (roll < 81) {
      count("history page");
      const roomId = pick(rooms);
      const before = client.lastSeen(roomId);
      expect("history", (await api(user, "GET", `/api/rooms/${roomId}/messages?limit=50${before > 1 ? `&before=${before}` : ""}`)).status, 200);
    } else if (roll < 91) {
      if (user === owner) return;
      const roomId = pick(publicRooms);
      const inRooms = joined.get(user.id)!;
      if (inRooms.has(roomId)) {
        count("leave");
        expect("leave", (await api(user, "POST", `/api/rooms/${roomId}/leave`)).status, 200, 204);
        inRooms.delete(roomId);
      } else {
        count("join");
        expect("join", (await api(user, "POST", `/api/rooms/${roomId}/join`)).status, 200, 201);
        inRooms.add(roomId);
      }
    } else if (roll < 95) {
      count("typing");
      client.ws.send(JSON.stringify({ type: "typing", roomId: pick(rooms) }));
    } else {
      count("reconnect + sync");
      await client.reconnect(privateRooms);
    }
  };

  // Event-loop lag from outside: /health's latency, twice a second.
  let lag = new Histogram();
  let probing = true;
  const prober = (async () => {
    while (probing) {
      const t0 = performance.now();
      const ok = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(TIMEOUT_MS) }).then(
        async (r) => (await r.arrayBuffer(), r.ok),
        () => false,
      );
      if (ok) lag.record(performance.now() - t0);
      else problem("/health did not answer 200");
      await Bun.sleep(500);
    }
  })();

  const readings: { at: number; rss: number; fds: number; lagP50: number; lagMax: number; ops: number }[] = [];
  let ops = 0;
  const started = performance.now();
  const deadline = started + RUN_MS;
  const reading = () => {
    const r = { at: (performance.now() - started) / 1000, rss: memory(server.pid).rss, fds: openFds(server.pid), lagP50: lag.percentile(50), lagMax: lag.summary().max, ops };
    lag = new Histogram();
    readings.push(r);
    log(
      `${r.at.toFixed(0).padStart(5)} s  RSS ${(r.rss / 2 ** 20).toFixed(1).padStart(6)} MiB · fds ${String(r.fds).padStart(4)} · ` +
        `lag (/health) p50 ${r.lagP50.toFixed(2)} ms, max ${r.lagMax.toFixed(2)} ms · ${r.ops} operations${readings.length === BASELINE_READING ? " · baseline" : ""}`,
    );
  };
  const ticker = setInterval(reading, INTERVAL_MS);
  // Lanes own disjoint users, so each user's operations run one at a time.
  const perLaneMs = (1000 * LANES) / rate;
  await Promise.all(
    Array.from({ length: LANES }, async (_, lane) => {
      const own = clients.filter((_, i) => i % LANES === lane);
      let next = performance.now();
      while (performance.now() < deadline && ops < MAX_OPS) {
        ops++;
        try {
          await operate(pick(own));
        } catch (error) {
          problem(`operation failed: ${error instanceof Error ? error.message : String(error)}`);
        }
        next += perLaneMs;
        const wait = next - performance.now();
        if (wait > 0) await Bun.sleep(wait);
        else next = performance.now();
      }
    }),
  );
  clearInterval(ticker);
  // The last reading is taken at the end of the traffic, unless the ticker has just taken it.
  if (!readings.length || performance.now() - started - readings.at(-1)!.at * 1000 > INTERVAL_MS / 2) reading();
  probing = false;
  await prober;

  // Every acknowledged message in history, each room's seqs 1..lastSeq without a gap.
  let checked = 0;
  for (const roomId of [...privateRooms, ...publicRooms]) {
    const seqs = new Map<number, string>();
    let after = 0;
    for (let page = 0; page < 10_000; page++) {
      const { status, json } = await api(owner, "GET", `/api/rooms/${roomId}/messages?after=${after}&limit=100`);
      if (status !== 200) {
        problem(`history of ${roomId}: ${status}`);
        break;
      }
      for (const m of json.messages) seqs.set(m.seq, m.id);
      if (!json.hasMore || json.messages.length === 0) break;
      after = json.messages.at(-1).seq;
    }
    for (let seq = 1; seq <= seqs.size; seq++)
      if (!seqs.has(seq)) {
        problem(`room ${roomId}: seq ${seq} missing (${seqs.size} messages)`);
        break;
      }
    for (const m of acked.values())
      if (m.roomId === roomId) {
        checked++;
        if (seqs.get(m.seq) !== m.id) problem(`acknowledged message ${m.id} (seq ${m.seq}) not in the history of ${roomId}`);
      }
  }

  for (const c of clients) await c.close();
  const fdsAfter = await settleFds(server.pid, fdsBefore, 20_000);
  const kindsAfter = fdKinds(server.pid);
  await server.stop();

  const base = readings[BASELINE_READING - 1];
  const last = readings.at(-1);
  const growth = base && last ? last.rss / base.rss - 1 : null;
  log("");
  log(`operations: ${Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`).join(" · ")}`);
  log(`acknowledged messages: ${acked.size}, all checked against history (${checked})`);
  const verdicts: [boolean, string][] = [
    [growth !== null && growth <= 0.2, `RSS growth after the baseline reading: ${growth === null ? "not measured (too few readings)" : `${(growth * 100).toFixed(1)} %`} (≤ 20 %)`],
    [fdsAfter <= fdsBefore, `server file descriptors (besides the connections this process holds) with no traffic and no socket: ${fdsBefore} before, ${fdsAfter} after${fdsAfter > fdsBefore ? ` (${fdDiff(kindsBefore, kindsAfter)})` : ""}`],
    [problems.length === 0, `problems: ${problems.length}${problems.length ? `\n  ${problems.join("\n  ")}` : ""}`],
  ];
  for (const [ok, text] of verdicts) log(`${ok ? "PASS" : "FAIL"}  ${text}`);
  const passed = verdicts.every(([ok]) => ok);
  log(passed ? "soak passed" : "soak FAILED");
  return passed ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(error);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
