/**
 * The server's WebSocket send path in one process, without the network: the app's own services
 * and real-time layer (frame parsing, the socket's queue, MessageService.send, the group-commit
 * writer, the publish and the ack) driven through fake sockets, so that what the server's code
 * costs per message is measured apart from Bun's socket writes and the load generator.
 *
 *   bun bench/send-path.ts                    # 100 rooms × 5 members, 4 sends in flight per sender, a SQLite file
 *   bun bench/send-path.ts --memory           # the same on SQLite in memory: no file I/O, steadier figures
 *   bun bench/send-path.ts 1 100 16           # rooms, members per room, sends in flight per sender
 *   bun bench/send-path.ts --memory --limit   # with the message rate limit on (never reached), in this process
 *   REDIS_URL=redis://… bun bench/send-path.ts --memory --limit   # the same limit counted in Redis
 *
 * One member of each room sends (each ack lets it send the next); the others only receive,
 * through a topic publish that counts as sent. 30,000 messages warm up, 150,000 are measured
 * (`MESSAGES=` to change). Prints figures and asserts nothing. Compare runs on the same machine only.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServices } from "../src/app";
import { testConfig } from "../src/config";
import { openDatabase } from "../src/db";
import { createLogger } from "../src/logger";
import type { Connection, Socket } from "../src/realtime/connection";
import { connectRedis } from "../src/realtime/redis";

const args = Bun.argv.slice(2).filter((a) => !a.startsWith("--"));
const inMemory = Bun.argv.includes("--memory");
const limited = Bun.argv.includes("--limit");
const [ROOMS, MEMBERS, IN_FLIGHT] = [Number(args[0] ?? 100), Number(args[1] ?? 5), Number(args[2] ?? 4)];
const MEASURED = Number(Bun.env.MESSAGES ?? 150_000);
const WARM_UP = Math.min(30_000, MEASURED);
const TIMEOUT_MS = 120_000;

const dir = mkdtempSync(join(tmpdir(), "bunchat-send-path-"));
const database = openDatabase(inMemory ? "sqlite://:memory:" : `sqlite://${join(dir, "chat.db")}`);
// testConfig logs errors only, as the services' default logger is then made.
const redis = limited && Bun.env.REDIS_URL ? await connectRedis(Bun.env.REDIS_URL, createLogger("warn")) : null;
const config = testConfig({ limits: { wsFramesPerSecond: 0 } as never, ...(limited && { rateLimitMessages: 1_000_000_000 }) });
const services = createServices({ config, database, limits: redis?.limits });
const { realtime } = services;
// Bun's server publishes to a topic's sockets in native code: here every publish counts as sent.
realtime.attach({ publish: (_topic, data) => data.length });

let sent = 0;
let acked = 0;
let target = 0;
let phaseDone: () => void = () => {};
const senders: Connection[] = [];
const roomIds: string[] = [];
const pad = "x".repeat(90);

/** A socket that takes every frame; a sender's socket sends its next message on each ack. */
class FakeSocket implements Socket {
  constructor(private readonly room: number | null) {}
  subscribe() {}
  unsubscribe() {}
  getBufferedAmount() {
    return 0;
  }
  close() {}
  cork(callback: () => unknown) {
    return callback();
  }
  send(data: string) {
    if (this.room !== null && data.startsWith('{"type":"ack"')) {
      acked++;
      if (sent < target) sendNext(this.room);
      else if (acked === sent) phaseDone();
    }
    return data.length;
  }
}

function sendNext(room: number) {
  const n = sent++;
  const frame = { type: "message.send", roomId: roomIds[room], content: `${n} ${pad}`, clientId: `send-path.${room}-${n}` };
  realtime.message(senders[room]!, JSON.stringify(frame));
}

async function phase(messages: number): Promise<void> {
  target = sent + messages;
  const done = new Promise<void>((resolve) => (phaseDone = resolve));
  for (let room = 0; room < ROOMS; room++) for (let k = 0; k < IN_FLIGHT; k++) if (sent < target) sendNext(room);
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no end after ${TIMEOUT_MS} ms`)), TIMEOUT_MS)));
  await Promise.race([done, timeout]).finally(() => clearTimeout(timer));
}

try {
  await database.ready;
  console.log(`· ${ROOMS} rooms × ${MEMBERS} members, ${IN_FLIGHT} in flight per sender, SQLite ${inMemory ? "in memory" : "file"}` +
      (limited ? `, message rate limit counted ${redis ? "in Redis" : "in this process"}` : ""));
  const callers = [];
  for (let i = 0; i < ROOMS * MEMBERS; i++) {
    const registered = await services.auth.register({ username: `sender_${i}`, password: "send-path-password" });
    callers.push((await services.auth.authenticate(registered.accessToken))!);
  }
  for (let room = 0; room < ROOMS; room++) {
    const members = callers.slice(room * MEMBERS, (room + 1) * MEMBERS);
    const created = await services.rooms.create(members[0]!.userId, {
      name: `room ${room}`,
      memberIds: members.slice(1).map((m) => m.userId),
    });
    roomIds.push(created.id);
    members.forEach((caller, m) => {
      const connection = realtime.open(new FakeSocket(m === 0 ? room : null), caller);
      if (m === 0) senders.push(connection!);
    });
  }
  // Every socket says ready (its rooms are loaded) before the first send.
  await Promise.all(senders.map((c) => c.idle()));

  await phase(WARM_UP);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await phase(MEASURED);
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  const perMessage = (us: number) => (us / MEASURED).toFixed(2);
  console.log(
    `${MEASURED.toLocaleString("en-US")} messages: ${Math.round(MEASURED / seconds).toLocaleString("en-US")} msg/s, ` +
      `${perMessage(cpu.user + cpu.system)} µs of CPU a message (user ${perMessage(cpu.user)}, system ${perMessage(cpu.system)})`,
  );
} finally {
  await realtime.shutdown();
  await services.messages.drain();
  await database.close();
  await redis?.presence.close();
  await redis?.close();
  rmSync(dir, { recursive: true, force: true });
}
