/**
 * What happens between the credential check of `/ws` and the `ready` frame: changes made in
 * that window (a logout, a room joined) must not be lost on the new socket.
 */
import { afterEach, expect, test } from "bun:test";
import { type LiveServer, startServer } from "./helpers";

let server: LiveServer;
afterEach(async () => {
  await server?.close();
});

/** Makes the next call of `object[method]` stop after it has its result, until released. */
function pauseNext<K extends string, T extends Record<K, (...args: any[]) => Promise<any>>>(object: T, method: K) {
  const original = object[method].bind(object);
  let reached!: () => void;
  let release!: () => void;
  const hasReached = new Promise<void>((resolve) => (reached = resolve));
  const gate = new Promise<void>((resolve) => (release = resolve));
  let armed = true;
  object[method] = (async (...args: unknown[]) => {
    const result = await original(...args);
    if (armed) {
      armed = false;
      reached();
      await gate;
    }
    return result;
  }) as T[K];
  return { reached: hasReached, release };
}

test("a logout between the credential check and the socket joining the hub closes the socket with 4001", async () => {
  server = await startServer();
  const u = await server.user();
  const paused = pauseNext(server.services.auth, "authenticate");
  const opening = server.open(`?token=${encodeURIComponent(u.token)}`);
  await paused.reached;
  // The credential was good a moment ago; the session ends before the socket exists.
  const res = await server.call("POST", "/api/auth/logout", { token: u.token, body: { refreshToken: u.refreshToken } });
  expect(res.status).toBe(204);
  paused.release();
  const client = await opening;
  expect(await client.waitClosed()).toEqual({ code: 4001, reason: "session revoked" });
  expect(client.all("ready")).toEqual([]);
});

test("a room created for the user while their socket loads is in ready, and its messages arrive", async () => {
  server = await startServer();
  const [a, b] = [await server.user(), await server.user()];
  const paused = pauseNext(server.services.rooms, "syncStateOf");
  const opening = server.open(`?token=${encodeURIComponent(b.token)}`);
  await paused.reached;
  // b's room list has been read without it; the room and b's membership are newer.
  const created = await server.call("POST", "/api/rooms", { token: a.token, body: { name: "late", memberIds: [b.id] } });
  expect(created.status).toBe(201);
  const roomId: string = created.body.id;
  paused.release();
  const client = await opening;

  const ready = await client.next("ready");
  expect(ready.rooms).toEqual([{ id: roomId, lastSeq: 0 }]);
  expect([...server.services.realtime.hub.connectionsIn(roomId)].map((c) => c.userId)).toEqual([b.id]);

  const sent = await server.call("POST", `/api/rooms/${roomId}/messages`, { token: a.token, body: { content: "hello" } });
  expect(sent.status).toBe(201);
  const message = await client.next("message.new");
  expect(message.message).toMatchObject({ roomId, seq: 1, content: "hello" });
  // Nothing reached the socket before ready.
  expect(client.frames[0]!.type).toBe("ready");
});
