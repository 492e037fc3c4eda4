/**
 * A soak: every kind of traffic against one server process for a while, watching it for leaks.
 *
 *   bun run soak                 # 10 minutes, a sample each minute
 *   bun run soak --minutes 30
 *   bun run soak --short         # 40 s, a sample every 5 s (what the test runs)
 *
 * Clients send over WebSocket and REST, edit, react, mark read, are added to and removed from a
 * room, and drop and reconnect with `sync`. Each period prints the server's RSS, its open file
 * descriptors and its event-loop lag (the slowest /health answer of the period: a request waits
 * for the loop). Fails (exit 1) when RSS grows more than 20 % past the sample that ends the first
 * two periods, when open files grow, or when anything acknowledged is missing from history.
 * DATABASE_URL is passed on (default: a SQLite file in a temporary directory).
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memory } from "./lib/proc";
import { installCleanup, spawnServer } from "./lib/server";

const args = Bun.argv.slice(2);
const short = args.includes("--short");
const minutesArg = args.indexOf("--minutes");
const PERIOD_MS = short ? 5_000 : 60_000;
const PERIODS = short ? 8 : Math.max(3, Math.round((minutesArg >= 0 ? Number(args[minutesArg + 1]) : 10) * 60_000 / PERIOD_MS));
const WARM_PERIODS = 2;
const CLIENTS = 8;
const ROOMS = 3;
const RSS_GROWTH = 0.2;
/** Each client's pause between its actions. */
const PACE_MS = 20;
/** Open files may differ by the sockets reconnecting at that moment, and Bun's own. */
const FD_SLACK = CLIENTS + 8;

installCleanup();
const dir = mkdtempSync(join(tmpdir(), "bunchat-soak-"));
const server = await spawnServer({
  name: "soak",
  script: ["src/index.ts"],
  env: {
    DATABASE_URL: Bun.env.DATABASE_URL ?? `sqlite://${join(dir, "chat.db")}`,
    JWT_SECRET: "soak-secret-soak-secret-soak-secret-0123456",
    RATE_LIMIT_AUTH: "0",
    RATE_LIMIT_ANON: "0",
    RATE_LIMIT_MESSAGES: "0",
    WS_RATE_LIMIT: "0",
    WS_SYNC_RATE_LIMIT: "0",
    PASSWORD_MEMORY_KIB: "1024",
    PASSWORD_TIME_COST: "1",
    PRESENCE_GRACE_MS: "0",
    LOG_LEVEL: "warn",
  },
  readyPath: "/ready",
  logFile: join(dir, "server.log"),
});
await fetchReady();

async function fetchReady() {
  for (let i = 0; i < 600; i++) {
    if ((await fetch(`${server.url}/ready`).then((r) => r.status, () => 0)) === 200) return;
    await Bun.sleep(100);
  }
  throw new Error("the server did not get ready");
}

async function call(method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...(token && { authorization: `Bearer ${token}` }), ...(body !== undefined && { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

interface User {
  id: string;
  token: string;
}
async function register(name: string): Promise<User> {
  const res = await call("POST", "/api/auth/register", undefined, { username: `${name}_${Math.random().toString(36).slice(2, 7)}`, password: "soak-password-123" });
  if (res.status !== 201) throw new Error(`register: ${res.status}`);
  return { id: res.body.user.id, token: res.body.accessToken };
}

const owner = await register("owner");
const users = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => register(`c${i}`)));
const guest = await register("guest");
const roomIds: string[] = [];
for (let r = 0; r < ROOMS; r++) {
  const res = await call("POST", "/api/rooms", owner.token, { name: `soak ${r}`, memberIds: users.map((u) => u.id) });
  roomIds.push(res.body.id);
}

/** seq → content of everything acknowledged, per room. */
const acked = new Map<string, Map<number, string>>(roomIds.map((id) => [id, new Map()]));
const errors: string[] = [];
let running = true;
let counter = 0;
let operations = 0;

/** One client: a socket that sends, and between sends a REST action; now and then it drops and resumes. */
async function client(user: User, index: number) {
  let position: string | undefined;
  const seen = new Map<string, number>(roomIds.map((id) => [id, 0]));
  while (running) {
    const ws = new WebSocket(`${server.wsUrl}/ws?token=${encodeURIComponent(user.token)}`);
    const waiting = new Map<string, (frame: any) => void>();
    ws.onmessage = (e) => {
      const frame = JSON.parse(String(e.data));
      if (frame.type === "message.new") seen.set(frame.message.roomId, Math.max(seen.get(frame.message.roomId) ?? 0, frame.message.seq));
      const key = frame.type === "ack" || frame.type === "error" ? `${frame.type === "ack" ? "ack" : "error"}:${frame.clientId ?? ""}` : frame.type;
      const resolve = waiting.get(key) ?? (frame.type === "error" ? waiting.get(`ack:${frame.clientId}`) : undefined);
      if (resolve) {
        waiting.delete(key);
        waiting.delete(`ack:${frame.clientId}`);
        resolve(frame);
      }
    };
    const next = (key: string) =>
      new Promise<any>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${key} within 15 s`)), 15_000);
        waiting.set(key, (frame) => {
          clearTimeout(timer);
          resolve(frame);
        });
      });
    const ready = await next("ready");
    ws.send(JSON.stringify({ type: "sync", rooms: Object.fromEntries(seen), ...(position && { since: position }) }));
    await next("sync.done");
    position = ready.position;
    // A life of 20 to 60 actions, then the socket drops (as a phone going through a tunnel).
    const life = 20 + Math.floor(Math.random() * 40);
    for (let i = 0; i < life && running; i++) {
      const roomId = roomIds[(index + i) % ROOMS]!;
      const clientId = `w${++counter}`;
      ws.send(JSON.stringify({ type: "message.send", roomId, content: clientId, clientId }));
      const ack = await next(`ack:${clientId}`);
      if (ack.type !== "ack") errors.push(`ws send: ${JSON.stringify(ack.error)}`);
      else acked.get(roomId)!.set(ack.message.seq, clientId);
      await rest(user, roomId, i, ack.message?.id);
      operations += 2;
      // A steady pace, not a flood: the soak looks for leaks, not for the ceiling.
      await Bun.sleep(PACE_MS);
    }
    ws.close();
  }
}

async function rest(user: User, roomId: string, i: number, messageId?: string) {
  const check = (what: string, res: { status: number; body: any }) => {
    if (res.status >= 400) errors.push(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
    return res;
  };
  switch (i % 5) {
    case 0: {
      const content = `r${++counter}`;
      const res = check("rest send", await call("POST", `/api/rooms/${roomId}/messages`, user.token, { content }));
      if (res.status === 201) acked.get(roomId)!.set(res.body.seq, content);
      return;
    }
    case 1:
      if (messageId) {
        const edited = `e${++counter}`;
        const res = check("edit", await call("PATCH", `/api/messages/${messageId}`, user.token, { content: edited }));
        if (res.status === 200) acked.get(roomId)!.set(res.body.seq, edited);
      }
      return;
    case 2:
      if (messageId) check("react", await call(i % 2 ? "DELETE" : "PUT", `/api/messages/${messageId}/reactions/${encodeURIComponent("👍")}`, user.token));
      return;
    case 3:
      check("read", await call("POST", `/api/rooms/${roomId}/read`, user.token, { seq: 1 }));
      return;
    case 4: {
      // The guest is added and removed again: joins and leaves.
      const added = await call("POST", `/api/rooms/${roomId}/members`, owner.token, { userId: guest.id });
      if (added.status !== 201 && added.status !== 409) errors.push(`add member: ${added.status}`);
      const removed = await call("DELETE", `/api/rooms/${roomId}/members/${guest.id}`, owner.token);
      if (removed.status !== 204 && removed.status !== 404) errors.push(`remove member: ${removed.status}`);
      return;
    }
  }
}

const openFiles = () => readdirSync(`/proc/${server.pid}/fd`).length;
const clients = users.map((user, i) => client(user, i).catch((error) => errors.push(`client ${i}: ${error}`)));
let lag = 0;
const lagProbe = setInterval(async () => {
  const t0 = performance.now();
  await fetch(`${server.url}/health`).catch(() => {});
  lag = Math.max(lag, performance.now() - t0);
}, 250);

const samples: { rss: number; fds: number }[] = [];
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
console.log(`soak: ${PERIODS} periods of ${PERIOD_MS / 1000} s, ${CLIENTS} clients in ${ROOMS} rooms, pid ${server.pid}`);
let failed = false;
try {
  for (let period = 1; period <= PERIODS; period++) {
    await Bun.sleep(PERIOD_MS);
    const sample = { rss: memory(server.pid).rss, fds: openFiles() };
    samples.push(sample);
    console.log(`${String(period).padStart(3)}  rss ${mib(sample.rss)}  fds ${sample.fds}  lag ${lag.toFixed(1)} ms  ops ${operations}  errors ${errors.length}`);
    lag = 0;
    if (errors.length > 0) break;
  }
} finally {
  running = false;
  clearInterval(lagProbe);
  await Promise.all(clients);
}

const base = samples[WARM_PERIODS - 1];
const last = samples.at(-1);
if (errors.length > 0) {
  failed = true;
  console.log(`FAIL: ${errors.length} errors, the first: ${errors.slice(0, 3).join(" | ")}`);
}
if (base && last && last.rss > base.rss * (1 + RSS_GROWTH)) {
  failed = true;
  console.log(`FAIL: RSS grew from ${mib(base.rss)} to ${mib(last.rss)} (more than ${RSS_GROWTH * 100} %)`);
}
if (base && last && last.fds > base.fds + FD_SLACK) {
  failed = true;
  console.log(`FAIL: open files grew from ${base.fds} to ${last.fds}`);
}
// Nothing acknowledged is missing: each room's history holds every acknowledged seq, as last written.
let checked = 0;
for (const roomId of roomIds) {
  const bySeq = new Map<number, string>();
  for (let after = 0; ; ) {
    const page = await call("GET", `/api/rooms/${roomId}/messages?after=${after}&limit=100`, owner.token);
    for (const m of page.body.messages) bySeq.set(m.seq, m.content);
    if (!page.body.hasMore || page.body.messages.length === 0) break;
    after = page.body.messages.at(-1).seq;
  }
  const seqs = [...bySeq.keys()];
  if (seqs.some((seq, i) => seq !== i + 1)) {
    failed = true;
    console.log(`FAIL: room ${roomId}'s seqs have gaps`);
  }
  for (const [seq, content] of acked.get(roomId)!) {
    checked++;
    if (bySeq.get(seq) !== content) {
      failed = true;
      console.log(`FAIL: seq ${seq} of room ${roomId} should read ${content}, reads ${bySeq.get(seq)}`);
      break;
    }
  }
}
console.log(`${checked} acknowledged messages checked in history`);
await server.stop();
rmSync(dir, { recursive: true, force: true });
console.log(failed ? "soak: FAIL" : "soak: ok");
process.exit(failed ? 1 : 0);
