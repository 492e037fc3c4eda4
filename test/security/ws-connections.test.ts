/**
 * Sockets held open: one user (WS_MAX_PER_USER) and one client address (WS_MAX_PER_ADDRESS)
 * may keep only so many; the newest beyond a cap is closed with 4008 and costs the others nothing.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { loadConfig, testConfig } from "../../src/config";
import type { TestUser } from "../helpers";
import { eventually, type LiveServer, startServer, type WsClient } from "../realtime/helpers";

let server: LiveServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const PER_USER = "too many connections: at most 20 per user";

async function roomOf(owner: TestUser, members: TestUser[] = []): Promise<string> {
  const res = await server!.call("POST", "/api/rooms", { token: owner.token, body: { name: "room", memberIds: members.map((m) => m.id) } });
  expect(res.status).toBe(201);
  return res.body.id;
}

/** Every client is open, answers a ping, and receives a message sent to the room now. */
async function allWork(clients: WsClient[], sender: TestUser, roomId: string) {
  await Promise.all(clients.map((c) => c.barrier()));
  const res = await server!.call("POST", `/api/rooms/${roomId}/messages`, { token: sender.token, body: { content: `hello ${Math.random()}` } });
  expect(res.status).toBe(201);
  await Promise.all(clients.map((c) => c.next("message.new", (f) => f.message.id === res.body.id)));
  expect(clients.every((c) => c.isOpen)).toBe(true);
}

describe("sockets per user (WS_MAX_PER_USER)", () => {
  test("the 21st socket of a user is closed with 4008 while the first 20 keep working", async () => {
    server = await startServer({ limits: { ...testConfig().limits, wsMaxPerUser: 20 } });
    const u = await server.user();
    const roomId = await roomOf(u);
    const first: WsClient[] = [];
    for (let i = 0; i < 20; i++) first.push(await server.connect(u));

    for (const query of [`?token=${u.token}`, `?ticket=${(await server.call("POST", "/api/auth/ws-ticket", { token: u.token })).body.ticket}`]) {
      const extra = await server.open(query);
      expect(await extra.waitClosed()).toEqual({ code: 4008, reason: PER_USER });
      // Refused before anything was loaded or sent for it.
      expect(extra.frames).toEqual([]);
    }
    expect(server.services.realtime.hub.connectionsOf(u.id).length).toBe(20);
    await allWork(first, u, roomId);

    // Another user is not affected; a socket closed frees its place.
    await server.connect(await server.user());
    first.shift()!.close();
    await eventually(() => server!.services.realtime.hub.connectionsOf(u.id).length === 19, "the closed socket to be gone");
    first.push(await server.connect(u));
    await allWork(first, u, roomId);
  });

  test("sockets opened all at once: exactly the cap get ready, the rest 4008", async () => {
    server = await startServer({ limits: { ...testConfig().limits, wsMaxPerUser: 20 } });
    const u = await server.user();
    const clients = await Promise.all(Array.from({ length: 30 }, () => server!.open(`?token=${u.token}`)));
    const outcomes = await Promise.all(
      clients.map((c) => Promise.race([c.next("ready").then(() => "ready"), c.closed.then((e) => `${e.code} ${e.reason}`)])),
    );
    expect(outcomes.filter((o) => o === "ready")).toHaveLength(20);
    expect(outcomes.filter((o) => o !== "ready")).toEqual(Array(10).fill(`4008 ${PER_USER}`));
    await Promise.all(clients.filter((c) => c.isOpen).map((c) => c.barrier()));
  });

  test("0 turns the cap off", async () => {
    server = await startServer({ limits: { ...testConfig().limits, wsMaxPerUser: 0 } });
    const u = await server.user();
    const clients: WsClient[] = [];
    for (let i = 0; i < 25; i++) clients.push(await server.connect(u));
    await allWork(clients, u, await roomOf(u));
  });
});

describe("sockets per client address (WS_MAX_PER_ADDRESS)", () => {
  test("sockets of several users from one address count together; the one beyond the cap gets 4008", async () => {
    server = await startServer({ limits: { ...testConfig().limits, wsMaxPerUser: 20, wsMaxPerAddress: 3 } });
    const [a, b] = [await server.user(), await server.user()];
    const roomId = await roomOf(a, [b]);
    const first = [await server.connect(a), await server.connect(a), await server.connect(b)];
    // Without TRUST_PROXY a forwarded address is not believed: it is the same peer.
    const extra = await server.open(`?token=${b.token}`, undefined, { "x-forwarded-for": "203.0.113.9" });
    expect(await extra.waitClosed()).toEqual({ code: 4008, reason: "too many connections: at most 3 per address" });
    expect(extra.frames).toEqual([]);
    await allWork(first, a, roomId);

    first.pop()!.close();
    await eventually(() => server!.services.realtime.hub.size === 2, "the closed socket to be gone");
    first.push(await server.connect(b));
    await allWork(first, b, roomId);
  });

  test("behind TRUST_PROXY proxies the forwarded client address is counted", async () => {
    server = await startServer({ trustProxy: 1, limits: { ...testConfig().limits, wsMaxPerAddress: 2 } });
    const u = await server.user();
    const from = (address: string) => server!.open(`?token=${u.token}`, undefined, { "x-forwarded-for": address });
    const one = [await from("203.0.113.1"), await from("198.51.100.7, 203.0.113.1")];
    await Promise.all(one.map((c) => c.next("ready")));
    const extra = await from("203.0.113.1");
    expect(await extra.waitClosed()).toEqual({ code: 4008, reason: "too many connections: at most 2 per address" });
    const other = await from("203.0.113.2");
    await other.next("ready");
    await allWork([...one, other], u, await roomOf(u));
  });

  test("0 turns the cap off", async () => {
    server = await startServer({ limits: { ...testConfig().limits, wsMaxPerUser: 0, wsMaxPerAddress: 0 } });
    const users = [await server.user(), await server.user()];
    const clients: WsClient[] = [];
    for (let i = 0; i < 24; i++) clients.push(await server.connect(users[i % 2]!));
    await allWork(clients, users[0]!, await roomOf(users[0]!, [users[1]!]));
  });
});

describe("configuration", () => {
  const SECRET = "x".repeat(32);
  test("defaults: 20 per user, 100 per address; 0 turns each off", () => {
    expect(loadConfig({ JWT_SECRET: SECRET }, "/dev/null").limits).toMatchObject({ wsMaxPerUser: 20, wsMaxPerAddress: 100 });
    expect(loadConfig({ JWT_SECRET: SECRET, WS_MAX_PER_USER: "0", WS_MAX_PER_ADDRESS: "0" }, "/dev/null").limits).toMatchObject({
      wsMaxPerUser: 0,
      wsMaxPerAddress: 0,
    });
    // Tests open as many sockets as they like unless they set a cap.
    expect(testConfig().limits).toMatchObject({ wsMaxPerUser: 0, wsMaxPerAddress: 0 });
  });
});
