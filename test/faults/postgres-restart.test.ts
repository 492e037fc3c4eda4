/**
 * PostgreSQL stopped (immediate: as a crash) and started again under load, a PostgreSQL of the
 * test's own: /ready answers 503 while it is down, sends fail with 503 (never a hang or a
 * crash), and the server recovers by itself once it is back, with every acknowledged message kept.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { TestUser } from "../helpers";
import { history, makeRoom, type OwnPostgres, postgresMissing, register, type Server, spawnServer, startPostgres, until, WAIT_MS } from "./procs";

const missing = postgresMissing();
if (missing) console.log(`skipping the PostgreSQL restart test: ${missing}`);

describe.skipIf(!!missing)("PostgreSQL restarted under load", () => {
  let pg: OwnPostgres;
  let server: Server;

  beforeAll(async () => {
    pg = await startPostgres();
    server = await spawnServer("server", { DATABASE_URL: pg.url });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await pg?.close();
  }, 60_000);

  test("503 while down, quickly; recovery alone; nothing acknowledged lost", async () => {
    const alice = await register(server, "pg");
    const bob = await register(server, "pg");
    const roomId = await makeRoom(server, alice, [bob]);
    const socket = await server.connect(bob);
    const acked = new Map<string, number>();
    let stop = false;
    const statuses: number[] = [];
    // Load: REST sends in a loop from two users, recording what was acknowledged.
    const load = (user: TestUser, name: string) =>
      (async () => {
        for (let i = 0; !stop; i++) {
          const clientId = `${name}-${i}`;
          const res = await server.call("POST", `/api/rooms/${roomId}/messages`, { token: user.token, body: { content: clientId, clientId } }).catch(() => null);
          if (!res) continue;
          statuses.push(res.status);
          if (res.status === 201) acked.set(clientId, res.body.seq);
          else if (res.status !== 503) throw new Error(`send answered ${res.status}: ${JSON.stringify(res.body)}`);
          else await Bun.sleep(20);
        }
      })();
    const loads = [load(alice, "a"), load(bob, "b")];
    await until("sends acknowledged before the outage", () => acked.size >= 20);

    await pg.stop();
    await until("/ready to answer 503", async () => (await server.call("GET", "/ready")).status === 503);
    const down = await server.call("POST", `/api/rooms/${roomId}/messages`, { token: alice.token, body: { content: "while down" }, timeoutMs: WAIT_MS });
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe("UNAVAILABLE");
    await until("the load to see 503s", () => statuses.includes(503));
    // Over a socket opened before the outage: an error frame saying so, the socket open.
    socket.send({ type: "message.send", roomId, content: "ws while down", clientId: "ws-down" });
    expect((await socket.next("error", (f) => f.clientId === "ws-down", WAIT_MS)).error.code).toBe("UNAVAILABLE");

    await pg.start();
    await until("/ready to answer 200 again", async () => (await server.call("GET", "/ready")).status === 200, 60_000);
    const before = acked.size;
    await until("sends acknowledged after the outage", () => acked.size >= before + 20, 60_000);
    stop = true;
    await Promise.all(loads);
    expect(server.proc.exitCode).toBeNull();
    socket.send({ type: "message.send", roomId, content: "ws after", clientId: "ws-after" });
    acked.set("ws after", (await socket.next("ack", (f) => f.clientId === "ws-after", WAIT_MS)).message.seq);
    socket.close();

    const messages = await history(server, alice, roomId);
    expect(messages.map((m) => m.seq)).toEqual(messages.map((_, i) => i + 1));
    const bySeq = new Map(messages.map((m) => [m.seq, m.content]));
    for (const [clientId, seq] of acked) expect([clientId, bySeq.get(seq)]).toEqual([clientId, clientId]);
  }, 180_000);
});
