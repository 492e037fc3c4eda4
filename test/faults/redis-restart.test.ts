/**
 * Redis killed and started again (empty) while two processes carry traffic, a Redis of the
 * test's own: both processes subscribe again by themselves, nothing acknowledged is lost, no
 * event reaches a socket twice after the recovery, presence is right again, and the outage is
 * in the logs, not a crash.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshPgDatabase, type TestDatabase } from "../pg";
import { history, makeRoom, type OwnRedis, redisMissing, register, type Server, spawnServer, startRedis, until, WAIT_MS } from "./procs";

const missing = redisMissing();
if (missing) console.log(`skipping the Redis restart test: ${missing}`);

const count = (text: string, pattern: RegExp) => text.match(pattern)?.length ?? 0;

describe.skipIf(!!missing)("Redis restarted under traffic from two processes", () => {
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
      dir = mkdtempSync(join(tmpdir(), "bunchat-redis-restart-"));
      databaseUrl = `sqlite://${join(dir, "chat.db")}`;
    }
    const env = { DATABASE_URL: databaseUrl, REDIS_URL: redis.url };
    [a, b] = await Promise.all([spawnServer("A", env), spawnServer("B", env)]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.close();
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  test("resubscribe alone, nothing acknowledged lost, nothing twice after recovery, presence right again", async () => {
    const [alice, bob, carol] = [await register(a, "rr"), await register(b, "rr"), await register(a, "rr")];
    const roomId = await makeRoom(a, alice, [bob, carol]);
    const bobOnB = await b.connect(bob);
    const carolOnA = await a.connect(carol);
    const presenceOnB = async () => (await b.call("GET", `/api/users/${carol.id}`, { token: bob.token })).body.presence;
    await until("carol online as B sees it", async () => (await presenceOnB()) === "online");

    // Alice sends from A, one after another, for the whole test.
    const aliceOnA = await a.connect(alice);
    const acked = new Map<number, string>();
    let stop = false;
    let n = 0;
    const sending = (async () => {
      while (!stop) {
        const clientId = `m${++n}`;
        aliceOnA.send({ type: "message.send", roomId, content: clientId, clientId });
        const ack = await aliceOnA.next("ack", (f) => f.clientId === clientId, WAIT_MS).catch(() => null);
        if (!ack) throw new Error(`no ack for ${clientId}`);
        acked.set(ack.message.seq, clientId);
      }
    })();
    const liveSeqs = () => bobOnB.all("message.new").map((f) => f.message.seq as number);
    await until("B's socket hears A's sends", () => liveSeqs().length >= 10);

    const resubscribed = (s: Server) => count(s.output(), /"msg":"redis resubscribed"/g);
    const [resubA, resubB] = [resubscribed(a), resubscribed(b)];
    await redis.kill();
    const during = acked.size;
    await until("sends acknowledged while Redis is down", () => acked.size >= during + 10);
    // The outage is logged, by both.
    for (const s of [a, b]) await until(`${s.name} to log the outage`, () => s.output().includes('"msg":"redis unreachable'));

    await redis.start();
    await until("both to subscribe again", () => resubscribed(a) > resubA && resubscribed(b) > resubB, 30_000);
    // From now on, everything alice sends reaches Bob live, once.
    const mark = Math.max(0, ...acked.keys());
    const heardBefore = bobOnB.all("message.new").length;
    await until("B's socket to hear new sends again", () => liveSeqs().some((seq) => seq > mark + 10), 30_000);
    stop = true;
    await sending;
    const last = Math.max(...acked.keys());
    await until("B's socket to hear the last send", () => liveSeqs().includes(last));
    const after = bobOnB.all("message.new").slice(heardBefore).map((f) => f.message.seq as number);
    expect(new Set(after).size).toBe(after.length);
    // Every send after the recovery reached it live.
    for (let seq = mark + 2; seq <= last; seq++) expect(after).toContain(seq);

    // Nothing acknowledged lost; Bob, resuming with sync, holds exactly the history.
    const messages = await history(a, alice, roomId);
    expect(messages.map((m) => m.seq)).toEqual(messages.map((_, i) => i + 1));
    for (const [seq, clientId] of acked) expect(messages[seq - 1]?.content).toBe(clientId);
    const held = new Map(bobOnB.all("message.new").map((f) => [f.message.seq as number, f.message.content as string]));
    let contiguous = 0;
    while (held.has(contiguous + 1)) contiguous++;
    // A sync replays up to 500 messages a room: go on from where it stopped, as a client does.
    for (let from = contiguous, more = true; more; ) {
      bobOnB.send({ type: "sync", rooms: { [roomId]: from } });
      const done = await bobOnB.next("sync.done", () => true, WAIT_MS);
      ({ lastSeq: from, hasMore: more } = done.rooms[roomId]);
    }
    for (const f of bobOnB.all("message.new")) held.set(f.message.seq, f.message.content);
    expect([...held.entries()].sort((x, y) => x[0] - y[0])).toEqual(messages.map((m) => [m.seq, m.content]));

    // Presence is right again, both ways.
    await until("carol online as B sees it after the restart", async () => (await presenceOnB()) === "online", 30_000);
    carolOnA.close();
    await until("carol offline as B sees it", async () => (await presenceOnB()) === "offline", 30_000);
    expect([a.proc.exitCode, b.proc.exitCode]).toEqual([null, null]);
    aliceOnA.close();
    bobOnB.close();
  }, 120_000);
});
