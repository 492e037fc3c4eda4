/** What a user's own account changes do to their open sockets: ended sessions close with 4001, the rest stay. */
import { afterEach, describe, expect, test } from "bun:test";
import type { TestUser } from "../helpers";
import { type LiveServer, startServer } from "./helpers";

let server: LiveServer;
afterEach(async () => {
  await server?.close();
});

const PASSWORD = "correct-horse-battery";

/** Another session of `user` (a second login). */
async function otherSession(user: TestUser): Promise<TestUser> {
  const res = await server.call("POST", "/api/auth/login", { body: { username: user.username, password: PASSWORD }, headers: { "user-agent": "other-device" } });
  expect(res.status).toBe(200);
  return { ...user, token: res.body.accessToken, refreshToken: res.body.refreshToken };
}

describe("sockets of ended sessions", () => {
  test("a password change closes the other sessions' sockets with 4001; the caller's stay open", async () => {
    server = await startServer();
    const u = await server.user();
    const other = await otherSession(u);
    const kept = [await server.connect(u), await server.connect(u, "ticket")];
    const doomed = [await server.connect(other), await server.connect(other, "protocol")];
    const res = await server.call("POST", "/api/auth/password", { token: u.token, body: { currentPassword: PASSWORD, newPassword: "a-new-password-1" } });
    expect(res.status).toBe(204);
    for (const client of doomed) expect(await client.waitClosed()).toEqual({ code: 4001, reason: "session revoked" });
    for (const client of kept) {
      await client.barrier();
      expect(client.isOpen).toBe(true);
    }
  });

  test("a wrong current password closes nothing", async () => {
    server = await startServer();
    const u = await server.user();
    const other = await otherSession(u);
    const client = await server.connect(other);
    const res = await server.call("POST", "/api/auth/password", { token: u.token, body: { currentPassword: "wrong-password", newPassword: "a-new-password-1" } });
    expect(res.status).toBe(401);
    await client.barrier();
    expect(client.isOpen).toBe(true);
  });

  test("ending one session closes its sockets only", async () => {
    server = await startServer();
    const u = await server.user();
    const other = await otherSession(u);
    const kept = await server.connect(u);
    const doomed = await server.connect(other);
    const sessions = (await server.call("GET", "/api/auth/sessions", { token: u.token })).body as { id: string; userAgent: string; current: boolean }[];
    const target = sessions.find((s) => !s.current)!;
    expect(target.userAgent).toBe("other-device");
    expect((await server.call("DELETE", `/api/auth/sessions/${target.id}`, { token: u.token })).status).toBe(204);
    expect(await doomed.waitClosed()).toEqual({ code: 4001, reason: "session revoked" });
    await kept.barrier();
    expect(kept.isOpen).toBe(true);
  });

  test("deleting the account closes every socket of it; the other member reads the anonymised author live and in history", async () => {
    server = await startServer();
    const gone = await server.user();
    const friend = await server.user();
    const other = await otherSession(gone);
    const room = (await server.call("POST", "/api/rooms/direct", { token: friend.token, body: { userId: gone.id } })).body.id;
    const doomed = [await server.connect(gone), await server.connect(other)];
    const watcher = await server.connect(friend);
    doomed[0]!.send({ type: "message.send", roomId: room, content: "last words", clientId: "c-1" });
    await doomed[0]!.next("ack");
    await watcher.next("message.new");

    expect((await server.call("DELETE", "/api/users/me", { token: gone.token, body: { password: PASSWORD } })).status).toBe(204);
    for (const client of doomed) expect(await client.waitClosed()).toEqual({ code: 4001, reason: "session revoked" });
    expect((await server.call("POST", "/api/auth/ws-ticket", { token: gone.token })).status).toBe(401);
    expect((await server.refusedUpgrade(`?token=${encodeURIComponent(gone.token)}`)).status).toBe(401);

    await watcher.barrier();
    expect(watcher.isOpen).toBe(true);
    watcher.send({ type: "sync", rooms: { [room]: 0 } });
    const replayed = await watcher.next("message.new");
    expect(replayed.message).toMatchObject({ seq: 1, content: "last words", sender: { id: gone.id, displayName: "Deleted user", avatarUrl: null } });
    expect(replayed.message.sender.username.startsWith("deleted-")).toBe(true);
  });
});
