/**
 * The Redis broker, bus and presence registry against a real Redis: REDIS_URL (the CI run
 * provides it), and for the restart test a private redis-server this file starts and stops.
 * Each test uses channels and keys of its own.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import type { BrokerMessage } from "../../src/realtime/broker";
import { createLogger } from "../../src/logger";
import { RedisBroker } from "../../src/realtime/redis-broker";
import { RedisBus } from "../../src/realtime/redis-bus";
import { RedisPresence } from "../../src/realtime/redis-presence";

const REDIS_URL = Bun.env.REDIS_URL;
const logger = createLogger("error");
const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function until<T>(what: string, check: () => T | undefined | null | false | Promise<T | undefined | null | false>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

async function bus(url = REDIS_URL!): Promise<RedisBus> {
  const b = await RedisBus.connect(url, logger);
  cleanup.push(() => b.close());
  return b;
}

/** A broker on its own bus, as one process has, recording what its subscribers get. */
async function process_(channel: string, url?: string) {
  const broker = await RedisBroker.create(await bus(url), channel);
  const got: BrokerMessage[] = [];
  broker.subscribe((m) => got.push(m));
  return { broker, got };
}

async function presence(prefix: string, url?: string) {
  const p = await RedisPresence.create(await bus(url), logger, { prefix, heartbeatMs: 50, staleMs: 400 });
  const gone: string[][] = [];
  p.onGone((users) => gone.push(users));
  cleanup.push(() => p.close());
  return { p, gone };
}

const user = (text: string): BrokerMessage => ({ kind: "user", userId: "u", frame: text });
const texts = (got: BrokerMessage[]) => got.map((m) => (m.kind === "user" ? m.frame : m.kind));

describe.if(!!REDIS_URL)("Redis broker", () => {
  test("a publish reaches this process at once and every other process once, in publish order", async () => {
    const channel = `bunchat-test:${Bun.randomUUIDv7()}`;
    const [a, b] = [await process_(channel), await process_(channel)];
    a.broker.publish(user("first"));
    expect(texts(a.got)).toEqual(["first"]); // synchronously, before any round trip
    await until("B to get the first message", () => b.got.length === 1);

    for (let i = 0; i < 50; i++) a.broker.publish(user(`m${i}`));
    a.broker.publish(user("end"));
    await until("B to get A's messages", () => texts(b.got).includes("end"));
    // B answers; A sees the answer only after every echo of its own messages (one connection, Redis order).
    b.broker.publish(user("seen"));
    await until("A to get B's answer", () => texts(a.got).includes("seen"));

    const sent = ["first", ...Array.from({ length: 50 }, (_, i) => `m${i}`), "end"];
    expect(texts(b.got)).toEqual([...sent, "seen"]);
    expect(texts(a.got)).toEqual([...sent, "seen"]);
  });

  test("text on the channel that is not a broker message is ignored", async () => {
    const channel = `bunchat-test:${Bun.randomUUIDv7()}`;
    const a = await process_(channel);
    const raw = await bus();
    raw.publish(channel, "not a message");
    raw.publish(channel, "someone\n{not json");
    raw.publish(channel, `other\n${JSON.stringify(user("real"))}`);
    await until("the real message", () => a.got.length === 1);
    expect(texts(a.got)).toEqual(["real"]);
  });
});

describe.if(!!REDIS_URL)("Redis presence", () => {
  test("the first claim anywhere and the last release anywhere are told apart; others know at once", async () => {
    const prefix = `bunchat-test:${Bun.randomUUIDv7()}`;
    const [a, b] = [await presence(prefix), await presence(prefix)];
    expect(await a.p.claim("u1")).toBe(true);
    await until("B to learn u1 is online on A", () => b.p.isOnlineElsewhere("u1"));
    expect(await b.p.claim("u1")).toBe(false);
    expect(await a.p.release("u1")).toBe(false); // still on B
    await until("B to learn A let go", () => !b.p.isOnlineElsewhere("u1"));
    expect(a.p.isOnlineElsewhere("u1")).toBe(true);
    expect(await b.p.release("u1")).toBe(true);
    await until("A to learn B let go", () => !a.p.isOnlineElsewhere("u1"));
  });

  test("a process that starts later learns who is online elsewhere", async () => {
    const prefix = `bunchat-test:${Bun.randomUUIDv7()}`;
    const a = await presence(prefix);
    await a.p.claim("early");
    const late = await presence(prefix);
    await until("the late process to learn of early", () => late.p.isOnlineElsewhere("early"));
  });

  test("the users of a process that stops answering go offline once, unless online elsewhere", async () => {
    const prefix = `bunchat-test:${Bun.randomUUIDv7()}`;
    const [a, c, dying] = [await presence(prefix), await presence(prefix), await presence(prefix)];
    await dying.p.claim("lonely");
    await dying.p.claim("shared");
    await a.p.claim("shared");
    await until("the others to learn of lonely", () => a.p.isOnlineElsewhere("lonely") && c.p.isOnlineElsewhere("lonely"));
    await dying.p.close(); // no more heartbeats, as if killed
    await until("one process to announce lonely offline", () => a.gone.length + c.gone.length > 0);
    await until("both to forget the dead process", () => !a.p.isOnlineElsewhere("lonely") && !c.p.isOnlineElsewhere("lonely"));
    // Exactly one announcement, and only of the user no live process holds.
    expect([...a.gone, ...c.gone]).toEqual([["lonely"]]);
    expect(c.p.isOnlineElsewhere("shared")).toBe(true);
  });
});

describe.if(!!REDIS_URL && !!Bun.which("redis-server"))("after a Redis restart", () => {
  test("processes subscribe again by themselves, deliver once, and restore presence", async () => {
    const server = await privateRedis();
    const channel = "bunchat-test:restart";
    const prefix = "bunchat-test:restart";
    const [a, b] = [await process_(channel, server.url), await process_(channel, server.url)];
    const [pa, pb] = [await presence(prefix, server.url), await presence(prefix, server.url)];
    await pa.p.claim("u");
    a.broker.publish(user("before"));
    await until("the message before the restart", () => texts(b.got).includes("before"));

    await server.restart(); // without saving: Redis comes back empty

    // Publish until one gets through: B has subscribed again.
    let n = 0;
    await until("B to receive again", () => {
      a.broker.publish(user(`after ${n++}`));
      return b.got.some((m) => m.kind === "user" && m.frame.startsWith("after"));
    });
    for (let i = 0; i < 5; i++) a.broker.publish(user(`once ${i}`));
    b.broker.publish(user("from B"));
    await until("the numbered messages", () => texts(b.got).includes("once 4") && texts(a.got).includes("from B"));
    const onB = texts(b.got).filter((t) => t.startsWith("once"));
    expect(onB).toEqual(["once 0", "once 1", "once 2", "once 3", "once 4"]);
    expect(texts(a.got).filter((t) => t === "from B")).toHaveLength(1);

    // A wrote its users to the empty Redis again, and B knows them.
    const raw = new RedisClient(server.url);
    cleanup.push(() => raw.close());
    await until("A's user back in Redis", async () => (await raw.send("HEXISTS", [`${prefix}:proc:${pa.p.proc}`, "u"])) === 1);
    await until("B to know u is online on A", () => pb.p.isOnlineElsewhere("u"));
    expect(await pb.p.claim("u")).toBe(false);
  }, 30_000);
});

/** A redis-server of this test's own, on a free loopback port, that it can restart. */
async function privateRedis() {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  const url = `redis://127.0.0.1:${port}`;
  let proc: Bun.Subprocess;
  const start = async () => {
    proc = Bun.spawn(["redis-server", "--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"], {
      stdout: "ignore",
      stderr: "ignore",
    });
    await until("the private redis-server to answer", async () => {
      const client = new RedisClient(url, { autoReconnect: false, connectionTimeout: 500 });
      try {
        return (await client.ping()) === "PONG";
      } catch {
        return false;
      } finally {
        client.close();
      }
    });
  };
  const stop = async () => {
    proc.kill("SIGKILL");
    await proc.exited;
  };
  await start();
  cleanup.unshift(stop); // stopped after everything connected to it closed
  return {
    url,
    async restart() {
      await stop();
      await start();
    },
  };
}
