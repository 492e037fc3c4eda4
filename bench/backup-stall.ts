/**
 * How long a send can stall while `bunchat backup` copies a large database.
 *
 *   bun bench/backup-stall.ts                     # a 1,000,000-message room (seeding takes about a minute)
 *   bun bench/backup-stall.ts --messages=100000   # smaller, for a quick check
 *
 * Starts the server on a fresh SQLite file in a temporary directory, creates a user and a room,
 * seeds the room straight into the file while the server is stopped, restarts it, then keeps
 * `--lanes` REST senders busy (each sends, waits for its 201, sends again). It measures every
 * send for `--baselineMs` without a backup, then runs `bun src/index.ts backup <file>` as its
 * own process while the senders go on, and prints the send latencies of both windows: the
 * longest send overlapping the backup is the longest stall. Everything goes to 127.0.0.1,
 * children are stopped on exit or Ctrl-C. Figures go to bench/RESULTS.md by hand.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createRoom, register } from "./lib/api";
import { seedRoom } from "./lib/seed";
import { serverEnv } from "./lib/env";
import { installCleanup, spawnServer } from "./lib/server";

const { values: flags } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    messages: { type: "string", default: "1000000" },
    lanes: { type: "string", default: "4" },
    baselineMs: { type: "string", default: "3000" },
  },
});
const MESSAGES = Number(flags.messages);
const LANES = Number(flags.lanes);
const BASELINE_MS = Number(flags.baselineMs);
for (const [name, value] of [["messages", MESSAGES], ["lanes", LANES], ["baselineMs", BASELINE_MS]] as const)
  if (!Number.isSafeInteger(value) || value < 1) {
    console.error(`--${name} must be a positive whole number`);
    process.exit(2);
  }

const ROOT = join(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "bunchat-backup-stall-"));
installCleanup(() => rmSync(dir, { recursive: true, force: true }));
const dbPath = join(dir, "chat.db");
const env = serverEnv(dbPath);
const step = (text: string) => console.log(`· ${text}`);

interface Send {
  start: number;
  end: number;
}

function summary(sends: Send[]) {
  const ms = sends.map((s) => s.end - s.start).sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? NaN;
  return `${ms.length} sends · p50 ${at(0.5).toFixed(1)} ms · p99 ${at(0.99).toFixed(1)} ms · max ${(ms.at(-1) ?? NaN).toFixed(1)} ms`;
}

async function main() {
  step("starting the server on a fresh database");
  const start = () => spawnServer({ name: "server", script: [join(ROOT, "src/index.ts")], env, readyPath: "/ready", logFile: join(dir, "server.log") });
  let server = await start();
  const user = await register(server.url, `stall_${Date.now().toString(36)}`);
  const roomId = await createRoom(server.url, user, "history", []);
  await server.stop();
  step(`seeding ${MESSAGES.toLocaleString("en-US")} messages`);
  const seeded = seedRoom(dbPath, roomId, user.id, MESSAGES);
  step(`seeded in ${seeded.seconds.toFixed(1)} s (${(Bun.file(dbPath).size / 2 ** 20).toFixed(0)} MiB); restarting the server`);
  server = await start();

  const sends: Send[] = [];
  let running = true;
  let failures = 0;
  const lane = async (n: number) => {
    for (let i = 0; running; i++) {
      const started = performance.now();
      const res = await fetch(`${server.url}/api/rooms/${roomId}/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${user.token}` },
        body: JSON.stringify({ content: `lane ${n} send ${i}` }),
        signal: AbortSignal.timeout(60_000),
      });
      await res.arrayBuffer();
      if (res.status === 201) sends.push({ start: started, end: performance.now() });
      else failures++;
    }
  };
  const lanes = Promise.all(Array.from({ length: LANES }, (_, n) => lane(n)));
  try {
    step(`${LANES} lanes sending; ${BASELINE_MS / 1000} s without a backup`);
    const baselineFrom = performance.now();
    await Bun.sleep(BASELINE_MS);
    const backupFrom = performance.now();
    step("backup running");
    const target = join(dir, "backup.db");
    const proc = Bun.spawn([process.execPath, join(ROOT, "src/index.ts"), "backup", target], {
      env: { ...process.env, ...env },
      cwd: dir,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    const backupTo = performance.now();
    // A little after, so the sends that overlapped the end have finished.
    await Bun.sleep(500);
    running = false;
    await lanes;
    if (code !== 0) throw new Error(`backup exited ${code}: ${stderr}`);
    const baseline = sends.filter((s) => s.start >= baselineFrom && s.end <= backupFrom);
    const during = sends.filter((s) => s.end > backupFrom && s.start < backupTo);
    const longest = Math.max(...during.map((s) => s.end - s.start));
    console.log("");
    console.log(stdout.trim());
    console.log(`backup took ${((backupTo - backupFrom) / 1000).toFixed(2)} s (process start included) of a ${MESSAGES.toLocaleString("en-US")}-message database`);
    console.log(`without backup: ${summary(baseline)}`);
    console.log(`during backup:  ${summary(during)}`);
    console.log(`longest stall of a send during the backup: ${longest.toFixed(1)} ms${failures ? ` (${failures} sends failed)` : ""}`);
  } finally {
    running = false;
    await lanes.catch(() => {});
    await server.stop();
  }
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
