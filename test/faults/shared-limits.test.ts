/**
 * Limits shared across processes: two server processes on one database and one Redis (of
 * this test's own) count one user's sends, one address's auth requests, one name's failed
 * logins and one user's typing together; without Redis each counts alone, saying so once.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshPgDatabase, type TestDatabase } from "../pg";
import { makeRoom, type OwnRedis, redisMissing, register, type Server, spawnServer, startRedis, until, WAIT_MS } from "./procs";

const missing = redisMissing();
if (missing) console.log(`skipping the shared-limits tests: ${missing}`);

describe.skipIf(!!missing)("limits shared across two processes through Redis", () => {
  let redis: OwnRedis;
  let a: Server;
  let b: Server;
  let database: TestDatabase | null = null;
  let dir: string | null = null;

  beforeAll(async () => {
    redis = await startRedis();
    let databaseUrl: string;
    if (Bun.env.TEST_DATABASE_URL) {
      database = freshPgDatabase(Bun.env.TEST_DATABASE_URL);
      await database.created;
      databaseUrl = database.url;
    } else {
      dir = mkdtempSync(join(tmpdir(), "bunchat-limits-"));
      databaseUrl = `sqlite://${join(dir, "chat.db")}`;
    }
    const env = {
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
      RATE_LIMIT_MESSAGES: "3",
      RATE_LIMIT_AUTH: "4",
      TYPING_THROTTLE_MS: "600000",
      // The test names its client addresses, so that each limit starts from a fresh one.
      TRUST_PROXY: "1",
    };
    [a, b] = await Promise.all([spawnServer("A", env), spawnServer("B", env)]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.close();
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  let address = 0;
  /** A client address of its own, so the auth limit of one step does not spill into the next. */
  const from = () => ({ "x-forwarded-for": `10.0.${Math.floor(++address / 250)}.${address % 250}` });
  const newUser = async (server: Server) => {
    const headers = from();
    const username = `lim${++address}_${Math.random().toString(36).slice(2, 7)}`;
    const res = await server.call("POST", "/api/auth/register", { headers, body: { username, password: "correct-horse-battery" } });
    expect(res.status).toBe(201);
    return { id: res.body.user.id as string, username, token: res.body.accessToken as string, refreshToken: res.body.refreshToken as string };
  };

  test("a user limited on one process is limited on the other (message rate limit)", async () => {
    const alice = await newUser(a);
    const roomId = await makeRoom(a, alice, []);
    for (let i = 0; i < 3; i++)
      expect((await a.call("POST", `/api/rooms/${roomId}/messages`, { token: alice.token, body: { content: `on A ${i}` } })).status).toBe(201);
    const onB = await b.call("POST", `/api/rooms/${roomId}/messages`, { token: alice.token, body: { content: "on B" } });
    expect(onB.status).toBe(429);
    expect(onB.body.error.code).toBe("RATE_LIMITED");
    // Over WebSocket on B too.
    const socket = await b.connect(alice);
    socket.send({ type: "message.send", roomId, content: "ws on B", clientId: "ws-b" });
    expect((await socket.next("error", (f) => f.clientId === "ws-b", WAIT_MS)).error.code).toBe("RATE_LIMITED");
    socket.close();
    // Someone else is not limited.
    const bob = await newUser(b);
    const own = await makeRoom(b, bob, []);
    expect((await b.call("POST", `/api/rooms/${own}/messages`, { token: bob.token, body: { content: "bob" } })).status).toBe(201);
  });

  test("an address limited on one process is limited on the other (auth rate limit)", async () => {
    const headers = from();
    const login = (server: Server) => server.call("POST", "/api/auth/login", { headers, body: { username: "nobody-here", password: "whatever-it-is" } });
    for (let i = 0; i < 4; i++) expect((await login(i % 2 ? b : a)).status).toBe(401);
    expect((await login(a)).status).toBe(429);
    expect((await login(b)).status).toBe(429);
  });

  test("failed logins slow a name down on every process", async () => {
    const carol = await newUser(a);
    const statuses: Record<string, number[]> = { A: [], B: [] };
    // Alternating: counted together, the name is locked after five failures, so B answers 429
    // within its first five attempts; counted per process, B would only lock at its sixth.
    for (let i = 0; i < 10; i++) {
      const server = i % 2 ? b : a;
      const res = await server.call("POST", "/api/auth/login", { headers: from(), body: { username: carol.username, password: "wrong-password-here" } });
      statuses[server.name]!.push(res.status);
    }
    expect(statuses.B).toContain(429);
    // The right password is refused while locked, wherever it is tried.
    const locked = await b.call("POST", "/api/auth/login", { headers: from(), body: { username: carol.username, password: "correct-horse-battery" } });
    expect(locked.status).toBe(429);
  });

  test("the typing throttle holds across processes", async () => {
    const [dave, erin] = [await newUser(a), await newUser(a)];
    const first = await makeRoom(a, dave, [erin], "first");
    const second = await makeRoom(a, dave, [erin], "second");
    const erinOnA = await a.connect(erin);
    const daveOnA = await a.connect(dave);
    const daveOnB = await b.connect(dave);
    daveOnA.send({ type: "typing", roomId: first });
    await erinOnA.next("typing", (f) => f.roomId === first, WAIT_MS);
    // The same room from B is within the interval: dropped. A new room is not: it comes, after
    // where the dropped one would have (B publishes in order).
    daveOnB.send({ type: "typing", roomId: first });
    daveOnB.send({ type: "typing", roomId: second });
    await erinOnA.next("typing", (f) => f.roomId === second, WAIT_MS);
    expect(erinOnA.all("typing").filter((f) => f.roomId === first)).toHaveLength(1);
    for (const s of [erinOnA, daveOnA, daveOnB]) s.close();
  });

  test("without Redis each process counts alone, says so once, and shares again once Redis is back", async () => {
    const frank = await newUser(a);
    const roomId = await makeRoom(a, frank, []);
    await redis.kill();
    const send = (server: Server, content: string) => server.call("POST", `/api/rooms/${roomId}/messages`, { token: frank.token, body: { content } });
    // Three on A and three on B: each process's own limit.
    for (const server of [a, b]) for (let i = 0; i < 3; i++) expect((await send(server, `${server.name} ${i}`)).status).toBe(201);
    expect((await send(a, "A over")).status).toBe(429);
    for (const server of [a, b]) expect(server.output().match(/shared limits unreachable/g)).toHaveLength(1);

    await redis.start();
    // A failed login asks the shared counters; once they answer, each process says so.
    for (const server of [a, b])
      await until(`${server.name} to count in Redis again`, async () => {
        await server.call("POST", "/api/auth/login", { headers: from(), body: { username: `probe${++address}`, password: "wrong-password-here" } });
        return server.output().includes("shared limits reachable again");
      });
    const henry = await newUser(a);
    const third = await makeRoom(a, henry, []);
    for (let i = 0; i < 3; i++) expect((await b.call("POST", `/api/rooms/${third}/messages`, { token: henry.token, body: { content: `B ${i}` } })).status).toBe(201);
    expect((await a.call("POST", `/api/rooms/${third}/messages`, { token: henry.token, body: { content: "A over" } })).status).toBe(429);
  }, 60_000);
});
