/**
 * What happens between the credential check of `/ws` and the `ready` frame: changes made in
 * that window (a logout) must not be lost on the new socket.
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
