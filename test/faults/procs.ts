/**
 * Real processes for the fault tests: server processes (`bun src/index.ts`), and a Redis and
 * a PostgreSQL of their own on free loopback ports, in temporary directories, so that a test
 * may stop, kill and start them without touching anything else. Each is stopped by its own
 * PID (or data directory) and its files removed.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, chmodSync, chownSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestResponse, TestUser } from "../helpers";
import { type Frame, WsClient } from "../realtime/helpers";

export const WAIT_MS = 15_000;
const ROOT = join(import.meta.dir, "../..");

/** Polls `check` until it answers truthy, for at most `ms`. */
export async function until<T>(what: string, check: () => T | undefined | null | false | Promise<T | undefined | null | false>, ms = WAIT_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

/** A loopback port nobody listens on right now. */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** Collects a child's output, both streams. */
function collect(proc: Bun.Subprocess<"ignore", "pipe", "pipe">, sink: (text: string) => void) {
  for (const stream of [proc.stdout, proc.stderr])
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) sink(decoder.decode(chunk));
    })();
}

export interface Server {
  name: string;
  base: string;
  proc: Bun.Subprocess;
  output: () => string;
  call(method: string, path: string, opts?: { body?: unknown; token?: string; timeoutMs?: number; headers?: Record<string, string> }): Promise<TestResponse>;
  connect(user: TestUser): Promise<WsClient & { ready: Frame }>;
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
}

/** The environment every server process of these tests runs with, besides the database and Redis. */
export const SERVER_ENV: Record<string, string> = {
  JWT_SECRET: "fault-tests-secret-fault-tests-secret-0123",
  RATE_LIMIT_AUTH: "0",
  RATE_LIMIT_ANON: "0",
  RATE_LIMIT_MESSAGES: "0",
  WS_RATE_LIMIT: "0",
  WS_SYNC_RATE_LIMIT: "0",
  PRESENCE_GRACE_MS: "50",
  PASSWORD_MEMORY_KIB: "1024",
  PASSWORD_TIME_COST: "1",
};

/** Starts a server process and waits until /ready answers 200 (or only until it listens, with `ready: false`). */
export async function spawnServer(name: string, env: Record<string, string>, opts: { ready?: boolean } = {}): Promise<Server> {
  let output = "";
  const proc = Bun.spawn([process.execPath, "src/index.ts"], {
    cwd: ROOT,
    env: { PATH: Bun.env.PATH ?? "/usr/bin:/bin", HOME: tmpdir(), HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info", ...SERVER_ENV, ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  collect(proc, (text) => (output += text));
  let port: string;
  try {
    port = await until(`${name} to listen`, () => {
      if (proc.exitCode !== null) throw new Error(`${name} exited ${proc.exitCode}: ${output}`);
      return /"msg":"listening","url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(output)?.[1];
    }, 60_000);
  } catch (error) {
    proc.kill("SIGKILL");
    throw new Error(`${error instanceof Error ? error.message : error}; output: ${output}`);
  }
  const base = `127.0.0.1:${port}`;
  const call: Server["call"] = async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.body !== undefined) headers["content-type"] = "application/json";
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    const res = await fetch(`http://${base}${path}`, {
      method,
      headers,
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
      signal: AbortSignal.timeout(o.timeoutMs ?? WAIT_MS),
    });
    const text = await res.text();
    let body: any = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    return { status: res.status, headers: res.headers, body };
  };
  const server: Server = {
    name,
    base,
    proc,
    output: () => output,
    call,
    async connect(user) {
      const client = new WsClient(new WebSocket(`ws://${base}/ws?token=${encodeURIComponent(user.token)}`));
      const ready = await client.next("ready", () => true, WAIT_MS);
      return Object.assign(client, { ready });
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await proc.exited;
    },
  };
  if (opts.ready !== false) await until(`${name} to be ready`, async () => (await call("GET", "/ready").catch(() => null))?.status === 200, 60_000);
  return server;
}

let counter = 0;
/** A new account, through `server`. */
export async function register(server: Server, prefix = "f"): Promise<TestUser> {
  const username = `${prefix}${++counter}_${Math.random().toString(36).slice(2, 7)}`;
  const res = await server.call("POST", "/api/auth/register", { body: { username, password: "correct-horse-battery" } });
  if (res.status !== 201) throw new Error(`register on ${server.name}: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.user.id, username, token: res.body.accessToken, refreshToken: res.body.refreshToken };
}

/** A room of `owner` with `members`, made through `server`. */
export async function makeRoom(server: Server, owner: TestUser, members: TestUser[], name = "faults"): Promise<string> {
  const res = await server.call("POST", "/api/rooms", { token: owner.token, body: { name, memberIds: members.map((m) => m.id) } });
  if (res.status !== 201) throw new Error(`room: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

/** Every message of a room, in seq order, read page by page. */
export async function history(server: Server, user: TestUser, roomId: string): Promise<any[]> {
  const all: any[] = [];
  let after = 0;
  for (;;) {
    const res = await server.call("GET", `/api/rooms/${roomId}/messages?after=${after}&limit=100`, { token: user.token });
    if (res.status !== 200) throw new Error(`history: ${res.status} ${JSON.stringify(res.body)}`);
    all.push(...res.body.messages);
    if (res.body.messages.length === 0 || !res.body.hasMore) return all;
    after = res.body.messages.at(-1).seq;
  }
}

// ---- Redis ----

export interface OwnRedis {
  url: string;
  port: number;
  /** Stops it (SIGKILL: as a crash) and waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** Stops it for good and removes its directory. */
  close(): Promise<void>;
}

/** Why a Redis of our own cannot be started here, or null. */
export function redisMissing(): string | null {
  return Bun.which("redis-server") ? null : "redis-server is not installed";
}

export async function startRedis(): Promise<OwnRedis> {
  const port = freePort();
  const dir = mkdtempSync(join(tmpdir(), "bunchat-faults-redis-"));
  let proc: Bun.Subprocess<"ignore", "pipe", "pipe"> | null = null;
  let output = "";
  const start = async () => {
    proc = Bun.spawn(["redis-server", "--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--dir", dir], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    collect(proc, (text) => (output += text));
    await until("redis to answer", async () => {
      if (proc!.exitCode !== null) throw new Error(`redis-server exited: ${output}`);
      return pingRedis(port);
    });
  };
  const kill = async () => {
    if (!proc) return;
    const p = proc;
    proc = null;
    p.kill("SIGKILL");
    await p.exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    start,
    async close() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function pingRedis(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    socket.end();
    return true;
  } catch {
    return false;
  }
}

// ---- PostgreSQL ----

export interface OwnPostgres {
  /** The superuser's URL of its `postgres` database. */
  url: string;
  port: number;
  /** Stops it at once (immediate: as a crash) and waits until it is down. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it for good and removes its directory. */
  close(): Promise<void>;
}

function pgBin(): string | null {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))).sort((x, y) => Number(y) - Number(x));
  return versions[0] ? join(root, versions[0], "bin") : null;
}

/** Why a PostgreSQL of our own cannot be started here, or null. */
export function postgresMissing(): string | null {
  if (!pgBin()) return "no PostgreSQL binaries under /usr/lib/postgresql/*/bin";
  if (process.getuid?.() === 0 && !Bun.which("runuser")) return "running as root without runuser to run PostgreSQL as postgres";
  return null;
}

/** initdb and postgres refuse to run as root: as root they run as `postgres`. */
function asPostgres(cmd: string[]): string[] {
  return process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
}

async function run(cmd: string[]): Promise<string> {
  const proc = Bun.spawn(cmd, { cwd: "/", stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${out}${err}`);
  return out;
}

export async function startPostgres(): Promise<OwnPostgres> {
  const bin = pgBin()!;
  const port = freePort();
  const dir = mkdtempSync(join(tmpdir(), "bunchat-faults-pg-"));
  const data = join(dir, "data");
  if (process.getuid?.() === 0) {
    chmodSync(dir, 0o755);
    chownSync(dir, Number((await run(["id", "-u", "postgres"])).trim()), Number((await run(["id", "-g", "postgres"])).trim()));
  }
  await run(asPostgres([join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"]));
  // Commits are written to the log before they are acknowledged (synchronous_commit on), so a
  // crash of PostgreSQL alone loses none; fsync is off: the machine itself does not crash here.
  const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c max_connections=100 -c fsync=off -c full_page_writes=off`;
  const start = async () => {
    await run(asPostgres([join(bin, "pg_ctl"), "-D", data, "-l", join(dir, "postgres.log"), "-w", "-t", "60", "-o", options, "start"]));
  };
  const stop = async () => {
    await run(asPostgres([join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "-t", "60", "stop"])).catch(() => {});
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
