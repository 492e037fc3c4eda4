/**
 * Two server processes (`bun src/index.ts`) on one database and one Redis, as behind a load
 * balancer: what happens through one reaches sockets on the other. Needs REDIS_URL (the CI
 * run provides it); the database is this run's: a fresh PostgreSQL database when
 * TEST_DATABASE_URL is set, otherwise one SQLite file both processes open.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestResponse, TestUser } from "./helpers";
import { freshPgDatabase, type TestDatabase } from "./pg";
import { type Frame, WsClient } from "./realtime/helpers";

const REDIS_URL = Bun.env.REDIS_URL;
const WAIT_MS = 10_000;

interface Server {
  name: string;
  base: string;
  proc: Bun.Subprocess;
  output: () => string;
  call(method: string, path: string, opts?: { body?: unknown; token?: string }): Promise<TestResponse>;
  connect(user: TestUser): Promise<WsClient & { ready: Frame }>;
}

async function until<T>(what: string, check: () => T | undefined | null | false | Promise<T | undefined | null | false>, ms = WAIT_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

async function spawnServer(name: string, env: Record<string, string>): Promise<Server> {
  let output = "";
  const proc = Bun.spawn([process.execPath, "src/index.ts"], {
    cwd: join(import.meta.dir, ".."),
    env: { PATH: Bun.env.PATH ?? "/usr/bin:/bin", HOME: tmpdir(), HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  for (const stream of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[])
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) output += decoder.decode(chunk);
    })();
  const port = await until(`${name} to listen (output: ${output})`, () => {
    if (proc.exitCode !== null) throw new Error(`${name} exited ${proc.exitCode}: ${output}`);
    return /"msg":"listening","url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(output)?.[1];
  });
  const base = `127.0.0.1:${port}`;

  const call: Server["call"] = async (method, path, opts = {}) => {
    const headers: Record<string, string> = {};
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const res = await fetch(`http://${base}${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
  };
  await until(`${name} to be ready`, async () => (await call("GET", "/ready")).status === 200);

  const connect: Server["connect"] = async (user) => {
    const ws = new WebSocket(`ws://${base}/ws?token=${encodeURIComponent(user.token)}`);
    const client = new WsClient(ws);
    sockets.push(client);
    const ready = await client.next("ready", () => true, WAIT_MS);
    return Object.assign(client, { ready });
  };
  return { name, base, proc, output: () => output, call, connect };
}

const sockets: WsClient[] = [];
let a: Server;
let b: Server;
let database: TestDatabase | null = null;
let dir: string | null = null;
let counter = 0;
/** The environment both servers run with. */
let env: Record<string, string>;

async function register(server: Server): Promise<TestUser> {
  const username = `mp${++counter}_${Math.random().toString(36).slice(2, 7)}`;
  const res = await server.call("POST", "/api/auth/register", { body: { username, password: "correct-horse-battery" } });
  if (res.status !== 201) throw new Error(`register on ${server.name}: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.user.id, username, token: res.body.accessToken, refreshToken: res.body.refreshToken };
}

async function room(server: Server, owner: TestUser, members: TestUser[]): Promise<string> {
  const res = await server.call("POST", "/api/rooms", { token: owner.token, body: { name: "shared", memberIds: members.map((m) => m.id) } });
  expect(res.status).toBe(201);
  return res.body.id;
}

const newMessages = (client: WsClient, roomId: string) => client.all("message.new").filter((f) => f.message.roomId === roomId);

describe.if(!!REDIS_URL)("two processes on one database and one Redis", () => {
  beforeAll(async () => {
    let databaseUrl: string;
    if (Bun.env.TEST_DATABASE_URL) {
      database = freshPgDatabase(Bun.env.TEST_DATABASE_URL);
      await database.created;
      databaseUrl = database.url;
    } else {
      dir = mkdtempSync(join(tmpdir(), "bunchat-multiprocess-"));
      databaseUrl = `sqlite://${join(dir, "chat.db")}`;
    }
    env = {
      DATABASE_URL: databaseUrl,
      REDIS_URL: REDIS_URL!,
      JWT_SECRET: "multiprocess-secret-multiprocess-secret-0123",
      RATE_LIMIT_AUTH: "0",
      RATE_LIMIT_ANON: "0",
      RATE_LIMIT_MESSAGES: "0",
      PRESENCE_GRACE_MS: "50",
      PASSWORD_MEMORY_KIB: "1024",
      PASSWORD_TIME_COST: "1",
    };
    // Started together: they migrate the same database at the same time.
    [a, b] = await Promise.all([spawnServer("A", env), spawnServer("B", env)]);
  }, 60_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const server of [a, b]) server?.proc.kill("SIGTERM");
    await Promise.all([a, b].map((server) => server?.proc.exited));
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  test("a message sent through one process reaches sockets on both, once each (REST and WebSocket)", async () => {
    const [alice, bob] = [await register(a), await register(b)];
    const roomId = await room(a, alice, [bob]);
    const bobOnB = await b.connect(bob);
    const aliceOnA = await a.connect(alice);
    expect(bobOnB.ready.rooms.map((r: { id: string }) => r.id)).toContain(roomId);

    // REST on A → the socket on B.
    expect((await a.call("POST", `/api/rooms/${roomId}/messages`, { token: alice.token, body: { content: "over rest on A" } })).status).toBe(201);
    expect((await bobOnB.next("message.new", (f) => f.message.content === "over rest on A", WAIT_MS)).message.seq).toBe(1);

    // WebSocket on B → the socket on A; the sender gets its ack on B.
    bobOnB.send({ type: "message.send", roomId, content: "over ws on B", clientId: "ws-1" });
    const ack = await bobOnB.next("ack", (f) => f.clientId === "ws-1", WAIT_MS);
    expect(ack.message.seq).toBe(2);
    expect((await aliceOnA.next("message.new", (f) => f.message.content === "over ws on B", WAIT_MS)).message.seq).toBe(2);

    // Nothing arrives twice: each socket has exactly the two messages.
    await Promise.all([aliceOnA.barrier(), bobOnB.barrier()]);
    await until("both messages on both sockets", () => newMessages(aliceOnA, roomId).length === 2 && newMessages(bobOnB, roomId).length === 2);
    await Promise.all([aliceOnA.barrier(), bobOnB.barrier()]);
    expect(newMessages(aliceOnA, roomId).map((f) => f.message.seq)).toEqual([1, 2]);
    expect(newMessages(bobOnB, roomId).map((f) => f.message.seq)).toEqual([1, 2]);
  });

  test("membership changed on one process subscribes and unsubscribes sockets on the other", async () => {
    const [alice, carol] = [await register(a), await register(b)];
    const roomId = await room(a, alice, []);
    const carolOnB = await b.connect(carol);
    expect(carolOnB.ready.rooms.map((r: { id: string }) => r.id)).not.toContain(roomId);

    expect((await a.call("POST", `/api/rooms/${roomId}/members`, { token: alice.token, body: { userId: carol.id } })).status).toBe(201);
    await carolOnB.next("member.joined", (f) => f.roomId === roomId && f.userId === carol.id, WAIT_MS);
    expect((await a.call("POST", `/api/rooms/${roomId}/messages`, { token: alice.token, body: { content: "welcome" } })).status).toBe(201);
    await carolOnB.next("message.new", (f) => f.message.roomId === roomId && f.message.content === "welcome", WAIT_MS);

    expect((await a.call("DELETE", `/api/rooms/${roomId}/members/${carol.id}`, { token: alice.token })).status).toBe(204);
    await carolOnB.next("member.left", (f) => f.roomId === roomId && f.userId === carol.id, WAIT_MS);
    expect((await a.call("POST", `/api/rooms/${roomId}/messages`, { token: alice.token, body: { content: "after you left" } })).status).toBe(201);
    // Alice's own socket on A hears it; by the time a round trip to B is done, B would have too.
    const aliceOnA = await a.connect(alice);
    expect((await a.call("POST", `/api/rooms/${roomId}/messages`, { token: alice.token, body: { content: "marker" } })).status).toBe(201);
    await aliceOnA.next("message.new", (f) => f.message.content === "marker", WAIT_MS);
    await carolOnB.barrier();
    expect(newMessages(carolOnB, roomId).map((f) => f.message.content)).toEqual(["welcome"]);
  });

  test("20 concurrent sends split across both processes take seqs 1..20 with no gaps", async () => {
    const users = await Promise.all(Array.from({ length: 4 }, (_, i) => register(i % 2 ? b : a)));
    const roomId = await room(a, users[0]!, users.slice(1));
    const watcher = await b.connect(users[1]!);
    const sends = Array.from({ length: 20 }, (_, i) =>
      (i % 2 ? b : a).call("POST", `/api/rooms/${roomId}/messages`, {
        token: users[i % users.length]!.token,
        body: { content: `concurrent ${i}`, clientId: `c-${i}` },
      }),
    );
    const answers = await Promise.all(sends);
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(201));
    expect(answers.map((r) => r.body.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));

    // Both processes read the same history, and the socket saw every message once. (Messages
    // committed on different processes may reach it out of seq order; clients order by seq.)
    for (const server of [a, b]) {
      const page = await server.call("GET", `/api/rooms/${roomId}/messages?limit=50`, { token: users[0]!.token });
      expect(page.body.messages.map((m: { seq: number }) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    }
    await until("20 messages on the watching socket", () => newMessages(watcher, roomId).length >= 20);
    await watcher.barrier();
    expect(newMessages(watcher, roomId).map((f) => f.message.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  test("the same clientId sent to both processes at once makes one message", async () => {
    const [alice, bob] = [await register(a), await register(b)];
    const roomId = await room(a, alice, [bob]);
    for (let round = 0; round < 5; round++) {
      const body = { content: `retry ${round}`, clientId: `same-${round}` };
      const [viaA, viaB] = await Promise.all([a, b].map((s) => s.call("POST", `/api/rooms/${roomId}/messages`, { token: alice.token, body })));
      expect([viaA!.status, viaB!.status].sort()).toEqual([200, 201]);
      expect(viaA!.body.id).toBe(viaB!.body.id);
    }
    const page = await b.call("GET", `/api/rooms/${roomId}/messages?limit=50`, { token: bob.token });
    expect(page.body.messages.map((m: { seq: number; content: string }) => [m.seq, m.content])).toEqual(
      Array.from({ length: 5 }, (_, i) => [i + 1, `retry ${i}`]),
    );
  });

  test("bunchat admin deactivate, a process of its own, closes the user's sockets on both servers with 4001", async () => {
    const troll = await register(a);
    const bystander = await register(b);
    const doomed = [await a.connect(troll), await b.connect(troll)];
    const kept = await b.connect(bystander);
    const proc = Bun.spawn([process.execPath, "src/index.ts", "admin", "deactivate", troll.username], {
      cwd: join(import.meta.dir, ".."),
      env: { PATH: Bun.env.PATH ?? "/usr/bin:/bin", HOME: tmpdir(), ...env, LOG_LEVEL: "error" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: `${troll.username} is deactivated; its sessions have ended.\n`, stderr: "" });
    for (const client of doomed) expect(await client.waitClosed()).toEqual({ code: 4001, reason: "session revoked" });
    await kept.barrier();
    expect(kept.isOpen).toBe(true);
    expect((await b.call("GET", "/api/auth/me", { token: troll.token })).status).toBe(401);
  });

  test("a password change on one process closes the user's other sessions' sockets on both with 4001", async () => {
    const user = await register(a);
    const res = await b.call("POST", "/api/auth/login", { body: { username: user.username, password: "correct-horse-battery" } });
    expect(res.status).toBe(200);
    const other: TestUser = { ...user, token: res.body.accessToken, refreshToken: res.body.refreshToken };
    const doomed = [await a.connect(other), await b.connect(other)];
    const kept = [await a.connect(user), await b.connect(user)];
    const changed = await a.call("POST", "/api/auth/password", { token: user.token, body: { currentPassword: "correct-horse-battery", newPassword: "a-new-password-1" } });
    expect(changed.status).toBe(204);
    for (const client of doomed) expect(await client.waitClosed(WAIT_MS)).toEqual({ code: 4001, reason: "session revoked" });
    for (const client of kept) {
      await client.barrier();
      expect(client.isOpen).toBe(true);
    }
    expect((await b.call("GET", "/api/auth/me", { token: other.token })).status).toBe(401);
  });

  test("presence counts sockets on both processes and is announced once", async () => {
    const [alice, bob] = [await register(a), await register(b)];
    await room(a, alice, [bob]);
    const aliceOnA = await a.connect(alice);
    const bobOnA = await a.connect(bob);
    await aliceOnA.next("presence", (f) => f.userId === bob.id && f.presence === "online", WAIT_MS);
    // A second socket, on the other process: online already, nobody is told again.
    const bobOnB = await b.connect(bob);
    const presenceOfBob = async (server: Server) => (await server.call("GET", `/api/users/${bob.id}`, { token: alice.token })).body.presence;
    expect(await presenceOfBob(b)).toBe("online");

    // The socket on A closes. Once A's grace period has passed (it stores lastSeenAt then), bob
    // is still online through B, on both processes, and A has announced nothing: an offline
    // from A would show in the list of presence frames checked at the end.
    bobOnA.close();
    const seen = async (server: Server) => (await server.call("GET", `/api/users/${bob.id}`, { token: alice.token })).body;
    await until("A to store bob's last seen time", async () => (await seen(a)).lastSeenAt !== null);
    expect(await presenceOfBob(a)).toBe("online");
    expect(await presenceOfBob(b)).toBe("online");

    // The last socket, on B, closes: offline, announced to alice on A exactly once.
    bobOnB.close();
    const offline = await aliceOnA.next("presence", (f) => f.userId === bob.id && f.presence === "offline", WAIT_MS);
    expect(offline.lastSeenAt).not.toBeNull();
    await until("A to report bob offline", async () => (await presenceOfBob(a)) === "offline");
    await aliceOnA.barrier();
    expect(aliceOnA.all("presence").filter((f) => f.userId === bob.id).map((f) => f.presence)).toEqual(["online", "offline"]);
  });
});
