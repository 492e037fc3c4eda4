import { afterEach, describe, expect, test } from "bun:test";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { ErrorFrame, ReadyFrame } from "../../src/realtime/protocol";
import { errorCode, manualClock } from "../helpers";
import { eventually, type LiveServer, startServer } from "./helpers";

let server: LiveServer;
afterEach(async () => {
  await server?.close();
});

const readyShape = TypeCompiler.Compile(ReadyFrame);
const errorShape = TypeCompiler.Compile(ErrorFrame);

describe("authentication before the upgrade", () => {
  test("a ticket, a token and the bearer subprotocol each open a socket that says ready", async () => {
    server = await startServer();
    const u = await server.user();
    const room = await server.call("POST", "/api/rooms", { token: u.token, body: { name: "mine" } });
    for (const how of ["ticket", "token", "protocol"] as const) {
      const client = await server.connect(u, how);
      expect(readyShape.Check(client.ready)).toBe(true);
      expect(client.ready.user.id).toBe(u.id);
      expect(client.ready.user.presence).toBe("online");
      expect(client.ready.rooms).toEqual([{ id: room.body.id, lastSeq: 0 }]);
      expect(client.ws.protocol).toBe(how === "protocol" ? "bearer" : "");
      client.close();
    }
  });

  test("no credential, a bad token or a bad subprotocol token: 401 with the error envelope", async () => {
    server = await startServer();
    for (const [query, headers] of [
      ["", {}],
      ["?token=not-a-jwt", {}],
      ["?token=", {}],
      ["?ticket=unknown-ticket", {}],
      ["", { "sec-websocket-protocol": "bearer, not-a-jwt" }],
      ["", { "sec-websocket-protocol": "bearer" }],
      ["", { "sec-websocket-protocol": "chat.v1" }],
    ] as const) {
      const res = await server.refusedUpgrade(query, headers);
      expect(res.status).toBe(401);
      expect(errorCode(res)).toBe("UNAUTHENTICATED");
      expect(res.headers.get("upgrade")).toBeNull();
    }
  });

  test("a ticket works once", async () => {
    server = await startServer();
    const u = await server.user();
    const { body } = await server.call("POST", "/api/auth/ws-ticket", { token: u.token });
    const first = await server.open(`?ticket=${body.ticket}`);
    await first.next("ready");
    const again = await server.refusedUpgrade(`?ticket=${body.ticket}`);
    expect(again.status).toBe(401);
    expect(again.body.error.message).toMatch(/ticket/);
  });

  test("an expired ticket and an expired access token are refused", async () => {
    const clock = manualClock();
    server = await startServer({}, { now: clock.now });
    const u = await server.user();
    const { body } = await server.call("POST", "/api/auth/ws-ticket", { token: u.token });
    clock.advance(31_000);
    expect((await server.refusedUpgrade(`?ticket=${body.ticket}`)).status).toBe(401);
    clock.advance(server.services.config.accessTokenTtl * 1000);
    expect((await server.refusedUpgrade(`?token=${u.token}`)).status).toBe(401);
    expect((await server.refusedUpgrade("", { "sec-websocket-protocol": `bearer, ${u.token}` })).status).toBe(401);
  });

  test("a plain GET is not the WebSocket route and spends no ticket", async () => {
    server = await startServer();
    const u = await server.user();
    const { body } = await server.call("POST", "/api/auth/ws-ticket", { token: u.token });
    const res = await server.call("GET", `/ws?ticket=${body.ticket}`);
    expect(res.status).toBe(404);
    expect(errorCode(res)).toBe("NOT_FOUND");
    const client = await server.open(`?ticket=${body.ticket}`);
    await client.next("ready");
  });
});

describe("frames", () => {
  test("ping gets pong", async () => {
    server = await startServer();
    const client = await server.connect(await server.user());
    client.send({ type: "ping" });
    expect(await client.next("pong")).toEqual({ type: "pong" });
  });

  test("malformed, unknown and invalid frames get an error frame naming the problem; the socket stays open", async () => {
    server = await startServer();
    const client = await server.connect(await server.user());
    const cases: [string | Uint8Array, string, RegExp][] = [
      ["{oops", "BAD_REQUEST", /not valid JSON/],
      ["hello", "BAD_REQUEST", /not valid JSON/],
      ["[1,2]", "BAD_REQUEST", /JSON object/],
      ["17", "BAD_REQUEST", /JSON object/],
      [JSON.stringify({ roomId: "x" }), "BAD_REQUEST", /string `type`/],
      [JSON.stringify({ type: "subscribe", roomId: "x" }), "BAD_REQUEST", /Unknown frame type "subscribe"/],
      [JSON.stringify({ type: "read", roomId: "x", seq: "three" }), "VALIDATION_FAILED", /read frame: seq/],
      [JSON.stringify({ type: "sync", rooms: [] }), "VALIDATION_FAILED", /sync frame: rooms/],
      [new Uint8Array([1, 2, 3]), "BAD_REQUEST", /Binary/],
    ];
    for (const [data, code, message] of cases) {
      client.ws.send(data);
      const error = await client.next("error");
      expect(errorShape.Check(error)).toBe(true);
      expect(error.error.code).toBe(code);
      expect(error.error.message).toMatch(message);
    }
    await client.barrier();
    expect(client.isOpen).toBe(true);
  });

  test("an invalid message.send answers with its clientId and the failing fields", async () => {
    server = await startServer();
    const client = await server.connect(await server.user());
    client.send({ type: "message.send", roomId: "r", clientId: "c-7", content: 5 });
    const error = await client.next("error");
    expect(error.clientId).toBe("c-7");
    expect(error.error.code).toBe("VALIDATION_FAILED");
    expect(error.error.details.fields[0].field).toBe("content");
  });

  test("a frame over the size limit closes the socket with 1009", async () => {
    server = await startServer({ limits: { wsMaxPayload: 4096 } as never });
    const client = await server.connect(await server.user());
    client.send({ type: "ping", pad: "x".repeat(3000) }); // under the limit: fine
    await client.next("pong");
    client.send({ type: "ping", pad: "x".repeat(5000) });
    const closed = await client.waitClosed();
    expect(closed.code).toBe(1009);
    expect(closed.reason.length).toBeGreaterThan(0);
  });

  test("a flood over the frame rate closes the socket with 1008", async () => {
    server = await startServer({ limits: { wsFramesPerSecond: 5 } as never });
    const client = await server.connect(await server.user());
    for (let i = 0; i < 50; i++) client.send({ type: "ping" });
    const closed = await client.waitClosed();
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/too many frames/);
    // It was cut off: nowhere near every ping was answered.
    expect(client.all("pong").length).toBeLessThanOrEqual(5);
  });

  test("a rate of 0 turns the frame limit off", async () => {
    server = await startServer({ limits: { wsFramesPerSecond: 0 } as never });
    const client = await server.connect(await server.user());
    for (let i = 0; i < 200; i++) client.send({ type: "ping" });
    await eventually(() => client.all("pong").length === 200, "200 pongs");
    expect(client.isOpen).toBe(true);
  });
});

describe("sessions", () => {
  test("logout closes that session's sockets with 4001 and leaves the user's other sessions open", async () => {
    server = await startServer();
    const u = await server.user();
    const login = await server.call("POST", "/api/auth/login", { body: { username: u.username, password: "correct-horse-battery" } });
    const other = { ...u, token: login.body.accessToken, refreshToken: login.body.refreshToken };
    const doomed = [await server.connect(u), await server.connect(u, "ticket")];
    const kept = await server.connect(other);
    const res = await server.call("POST", "/api/auth/logout", { token: u.token, body: { refreshToken: u.refreshToken } });
    expect(res.status).toBe(204);
    for (const client of doomed) expect(await client.waitClosed()).toEqual({ code: 4001, reason: "session revoked" });
    await kept.barrier();
    expect(kept.isOpen).toBe(true);
    // The revoked token cannot open a new one either.
    expect((await server.refusedUpgrade(`?token=${u.token}`)).status).toBe(401);
  });

  test("reusing a refresh token ends the session and closes its sockets", async () => {
    server = await startServer();
    const u = await server.user();
    const client = await server.connect(u);
    const rotated = await server.call("POST", "/api/auth/refresh", { body: { refreshToken: u.refreshToken } });
    expect(rotated.status).toBe(200);
    // Once its successor has been used, the old token is a reuse, not a double submit.
    expect((await server.call("POST", "/api/auth/refresh", { body: { refreshToken: rotated.body.refreshToken } })).status).toBe(200);
    expect((await server.call("POST", "/api/auth/refresh", { body: { refreshToken: u.refreshToken } })).status).toBe(401);
    expect((await client.waitClosed()).code).toBe(4001);
  });
});

describe("shutdown", () => {
  /** Holds every message send inside the service until released. */
  function holdSends() {
    const messages = server.services.messages;
    const original = messages.send.bind(messages);
    let entered = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    messages.send = async (...args) => {
      entered++;
      await gate;
      return original(...args);
    };
    return { entered: () => entered, release };
  }

  test("as on SIGTERM: a send being committed is acknowledged, then every socket closes with 1001", async () => {
    server = await startServer();
    const a = await server.user();
    const b = await server.user();
    const room = await server.call("POST", "/api/rooms", { token: a.token, body: { name: "r", memberIds: [b.id] } });
    const ca = await server.connect(a);
    const cb = await server.connect(b);
    const held = holdSends();
    ca.send({ type: "message.send", roomId: room.body.id, content: "last words", clientId: "bye" });
    await eventually(() => held.entered() === 1, "the send to reach the service");

    // What src/index.ts does: stop listening, then run the shutdown hooks in order.
    const stopped = server.app.stop(false);
    const hooks = (async () => {
      for (const hook of server.services.shutdownHooks) await hook();
    })();
    expect(ca.isOpen).toBe(true);
    held.release();
    await hooks;
    await stopped;

    const ack = await ca.next("ack");
    expect(ack.message.content).toBe("last words");
    expect(await ca.waitClosed()).toEqual({ code: 1001, reason: "server shutting down" });
    expect(await cb.waitClosed()).toEqual({ code: 1001, reason: "server shutting down" });
    expect(cb.all("message.new").map((f) => f.message.content)).toEqual(["last words"]);
    // The ack was written before the close frame.
    expect(ca.frames.at(-1)?.type).toBe("ack");
    // And it is in the database.
    const stored = await server.services.messages.history(a.id, room.body.id, { after: 0, limit: 10 });
    expect(stored.messages.map((m) => m.content)).toEqual(["last words"]);
  });

  test("while shutting down, new sockets are refused with 503 and frames get UNAVAILABLE", async () => {
    server = await startServer();
    const a = await server.user();
    const room = await server.call("POST", "/api/rooms", { token: a.token, body: { name: "r" } });
    const ca = await server.connect(a);
    const held = holdSends();
    ca.send({ type: "message.send", roomId: room.body.id, content: "in flight", clientId: "one" });
    await eventually(() => held.entered() === 1, "the send to reach the service");
    const stopping = server.services.realtime.shutdown();

    const refused = await server.refusedUpgrade(`?token=${a.token}`);
    expect(refused.status).toBe(503);
    expect(errorCode(refused)).toBe("UNAVAILABLE");
    ca.send({ type: "message.send", roomId: room.body.id, content: "too late", clientId: "two" });
    expect(await ca.next("error")).toMatchObject({ clientId: "two", error: { code: "UNAVAILABLE" } });
    expect(ca.isOpen).toBe(true);

    held.release();
    await stopping;
    expect((await ca.next("ack")).clientId).toBe("one");
    expect((await ca.waitClosed()).code).toBe(1001);
    expect(held.entered()).toBe(1);
  });
});
