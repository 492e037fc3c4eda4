/**
 * The typed client's live session against a live server: after the server closes its socket,
 * after the server process restarts, and after its access token expires, it ends holding
 * exactly the server's history, with every send made while it was away delivered once.
 */
import { describe, expect, test } from "bun:test";
import { testConfig } from "../../src/config";
import { manualClock } from "../helpers";
import { startServer, type LiveServer } from "../realtime/helpers";
import { createClient } from "bunchat/client";
import { Gate, processDatabase, processEnv, type ServerProcess, spawnServer, stopServer, until, untilSameHistory, within } from "./helpers";
import { resumeScenario } from "./scenario";

const testLimits = () => testConfig().limits;

/** Closes the user's sockets from the server's side, as it does for a socket that fell too far behind. */
function dropSockets(server: LiveServer, userId: string): number {
  const doomed = [...server.services.realtime.hub.connections()].filter((c) => c.userId === userId);
  for (const connection of doomed) connection.disconnect(1008, "too far behind: reconnect and sync");
  return doomed.length;
}

describe("the live session resumes", () => {
  test("after the server closes its socket", async () => {
    const server = await startServer();
    try {
      await resumeScenario(
        () => `http://127.0.0.1:${server.port}`,
        {
          async disconnect({ userId }) {
            expect(dropSockets(server, userId)).toBe(1);
          },
        },
      );
    } finally {
      await server.close();
    }
  }, 60_000);

  test("after the server process restarts on the same port", async () => {
    const database = await processDatabase();
    const env = processEnv(database.url);
    let server: ServerProcess | null = null;
    try {
      server = await spawnServer(env);
      const first = server;
      await resumeScenario(
        () => first.baseUrl,
        {
          async disconnect() {
            await stopServer(server);
            expect(server!.proc.exitCode).toBe(0);
            server = await spawnServer(env, first.port);
            expect(server.baseUrl).toBe(first.baseUrl);
          },
        },
      );
    } finally {
      await stopServer(server);
      await database.drop();
    }
  }, 90_000);

  test("after its access token expires: one 401, one refresh, then on", async () => {
    const clock = manualClock();
    const server = await startServer({}, { now: clock.now });
    const ttl = server.services.config.accessTokenTtl;
    try {
      const { gate, refreshTokens } = await resumeScenario(
        () => `http://127.0.0.1:${server.port}`,
        {
          async disconnect({ userId }) {
            // The server's clock moves past the token's life; the client's does not, so it learns from a 401.
            clock.advance((ttl + 1) * 1000);
            expect(dropSockets(server, userId)).toBe(1);
          },
        },
      );
      const refusals = gate.answers.filter((a) => a.status === 401);
      expect(refusals.length).toBeGreaterThanOrEqual(1);
      const refreshes = gate.answers.filter((a) => a.path === "/api/auth/refresh");
      expect(refreshes.map((a) => a.status)).toEqual([200]);
      // Each request refused with the old token was answered again with the new one.
      const after = gate.answers.slice(gate.answers.indexOf(refreshes[0]!) + 1);
      expect(after.filter((a) => a.status === 401)).toEqual([]);
      expect(refreshTokens).toHaveLength(2);
    } finally {
      await server.close();
    }
  }, 60_000);
});

describe("a direct room", () => {
  test("after a resume, its messages' statuses are the server's: receipts missed while away are read again", async () => {
    const server = await startServer();
    const base = `http://127.0.0.1:${server.port}`;
    const gate = new Gate();
    const alice = createClient({ baseUrl: base, fetch: gate.fetch });
    const bob = createClient({ baseUrl: base });
    const a = await alice.register({ username: `alice_${Date.now().toString(36)}`, password: "correct-horse-battery" });
    await bob.register({ username: `bob_${Date.now().toString(36)}`, password: "correct-horse-battery" });
    const { data: room } = await bob.api.rooms.direct.post({ userId: a.id });
    const session = alice.connect({ reconnect: { baseMs: 10, maxMs: 100 }, heartbeatMs: 0 });
    let synced = 0;
    session.on("synced", () => synced++);
    try {
      await until("the first sync", () => synced >= 1);
      const sent = await within("the send", session.send(room!.id, "are you there?"));
      expect(sent.status).toBe("sent");

      gate.hold();
      expect(dropSockets(server, a.id)).toBe(1);
      await until("the session to notice", () => session.state === "reconnecting");
      await bob.api.rooms({ id: room!.id }).read.post({ seq: sent.seq });
      await bob.api.rooms({ id: room!.id }).messages.post({ content: "yes" });
      gate.release();

      await until("the resume", () => synced >= 2);
      const history = await untilSameHistory(session, alice, room!.id);
      expect(history.map((m) => m.status)).toEqual(["read", "delivered"]);
    } finally {
      gate.release();
      session.close();
      await server.close();
    }
  }, 60_000);
});

describe("readCount after a resume", () => {
  test("a read position that moves while the end of a sync is read over REST is counted", async () => {
    const server = await startServer();
    const base = `http://127.0.0.1:${server.port}`;
    const gate = new Gate();
    /** Once set: runs after the server answered the sync's next re-read of held messages, before the session sees the answer. */
    let beforeReread: (() => Promise<void>) | null = null;
    let hooked = false;
    const fetchHeld = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const res = await gate.fetch(input, init);
      const url = new URL(input instanceof Request ? input.url : input);
      const hook = beforeReread;
      if (hook && url.pathname.endsWith("/messages") && url.searchParams.has("before")) {
        beforeReread = null;
        await hook();
        hooked = true;
      }
      return res;
    };
    const alice = createClient({ baseUrl: base, fetch: fetchHeld });
    const bob = createClient({ baseUrl: base });
    const a = await alice.register({ username: `alice_${Date.now().toString(36)}`, password: "correct-horse-battery" });
    await bob.register({ username: `bob_${Date.now().toString(36)}`, password: "correct-horse-battery" });
    const { data: room } = await bob.api.rooms.post({ name: "counts", memberIds: [a.id] });
    const session = alice.connect({ reconnect: { baseMs: 10, maxMs: 100 }, heartbeatMs: 0 });
    let synced = 0;
    session.on("synced", () => synced++);
    const seen = new Set<string>();
    session.on("message", (m) => void seen.add(m.content));
    try {
      await until("the first sync", () => synced >= 1);
      const mine = await within("the send", session.send(room!.id, "unread by bob"));
      expect(mine.readCount).toBe(0);

      gate.hold();
      expect(dropSockets(server, a.id)).toBe(1);
      await until("the session to notice", () => session.state === "reconnecting");
      // The re-read has been answered (bob has not read alice's message): bob now sends, which moves
      // his read position past it, and the session takes his message before it sees that answer.
      beforeReread = async () => {
        await bob.api.rooms({ id: room!.id }).messages.post({ content: "bob after the re-read" });
        await until("bob's message at the session", () => seen.has("bob after the re-read"));
      };
      gate.release();

      await until("the resume", () => synced >= 2);
      expect(hooked).toBe(true);
      const history = await untilSameHistory(session, alice, room!.id);
      expect(history.find((m) => m.id === mine.id)!.readCount).toBe(1);
    } finally {
      gate.release();
      session.close();
      await server.close();
    }
  }, 60_000);
});

describe("a sync cut short by WS_SYNC_MAX_BYTES", () => {
  test("the messages and changes it could not replay are read over REST", async () => {
    const server = await startServer({ limits: { ...testLimits(), wsSyncMaxBytes: 65_536 } });
    const base = `http://127.0.0.1:${server.port}`;
    const gate = new Gate();
    const alice = createClient({ baseUrl: base, fetch: gate.fetch });
    const bob = createClient({ baseUrl: base });
    const a = await alice.register({ username: `alice_${Date.now().toString(36)}`, password: "correct-horse-battery" });
    await bob.register({ username: `bob_${Date.now().toString(36)}`, password: "correct-horse-battery" });
    const { data: room } = await bob.api.rooms.post({ name: "big", memberIds: [a.id] });
    const big = (label: string) => `${label} `.padEnd(4000, "x");
    const session = alice.connect({ reconnect: { baseMs: 10, maxMs: 100 }, heartbeatMs: 0 });
    const frames: { type: string; rooms?: Record<string, { hasMore: boolean; changesHaveMore?: boolean }> }[] = [];
    session.on("frame", (f) => void frames.push(f as never));
    let synced = 0;
    session.on("synced", () => synced++);
    try {
      await until("the first sync", () => synced >= 1);
      const held = [];
      for (let i = 0; i < 20; i++) held.push((await bob.api.rooms({ id: room!.id }).messages.post({ content: big(`held ${i}`) })).data!);
      await untilSameHistory(session, alice, room!.id);

      gate.hold();
      expect(dropSockets(server, a.id)).toBe(1);
      await until("the session to notice", () => session.state === "reconnecting");
      for (const m of held) await bob.api.messages({ id: m.id }).patch({ content: big(`edited ${m.seq}`) });
      for (let i = 0; i < 20; i++) await bob.api.rooms({ id: room!.id }).messages.post({ content: big(`away ${i}`) });
      gate.release();

      await until("the resume", () => synced >= 2);
      const history = await untilSameHistory(session, alice, room!.id);
      expect(history).toHaveLength(40);
      const done = frames.filter((f) => f.type === "sync.done").at(-1)!;
      expect(done.rooms![room!.id]).toMatchObject({ hasMore: true, changesHaveMore: true });
    } finally {
      gate.release();
      session.close();
      await server.close();
    }
  }, 60_000);
});

describe("a short-lived access token", () => {
  test("is refreshed before it expires, and the session lives on past it", async () => {
    const server = await startServer({ accessTokenTtl: 1 });
    try {
      const { gate, refreshTokens } = await resumeScenario(
        () => `http://127.0.0.1:${server.port}`,
        {
          async disconnect({ userId, gate }) {
            const first = gate.answers.find((a) => a.authorization)!.authorization!;
            await until("the first access token to expire", async () => {
              const res = await fetch(`http://127.0.0.1:${server.port}/api/auth/me`, { headers: { authorization: first } });
              return res.status === 401;
            });
            expect(dropSockets(server, userId)).toBe(1);
          },
        },
      );
      expect(refreshTokens.length).toBeGreaterThanOrEqual(2);
      expect(gate.answers.filter((a) => a.path === "/api/auth/refresh").every((a) => a.status === 200)).toBe(true);
    } finally {
      await server.close();
    }
  }, 60_000);
});
