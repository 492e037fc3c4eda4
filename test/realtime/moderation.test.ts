import { afterEach, expect, test } from "bun:test";
import { manualClock } from "../helpers";
import { type LiveServer, startServer } from "./helpers";

let server: LiveServer;
afterEach(async () => {
  await server?.close();
});

test("a muted member's WebSocket sends are refused with FORBIDDEN until the time passes, then accepted", async () => {
  const clock = manualClock(Date.UTC(2026, 0, 1));
  server = await startServer({}, { now: clock.now });
  const [owner, member] = [await server.user(), await server.user()];
  const created = await server.call("POST", "/api/rooms", { token: owner.token, body: { name: "muted", memberIds: [member.id] } });
  expect(created.status).toBe(201);
  const roomId = created.body.id;
  const socket = await server.connect(member);

  const until = new Date(clock.now() + 60_000).toISOString();
  const muted = await server.call("PATCH", `/api/rooms/${roomId}/members/${member.id}`, { token: owner.token, body: { mutedUntil: until } });
  expect(muted.status).toBe(200);
  expect(await socket.next("member.updated")).toMatchObject({ roomId, userId: member.id, mutedUntil: until });

  socket.send({ type: "message.send", roomId, content: "too soon", clientId: "m-1" });
  expect(await socket.next("error")).toMatchObject({ clientId: "m-1", error: { code: "FORBIDDEN" } });
  expect((await server.call("POST", `/api/rooms/${roomId}/messages`, { token: member.token, body: { content: "rest" } })).status).toBe(403);

  clock.advance(60_000);
  socket.send({ type: "message.send", roomId, content: "now", clientId: "m-2" });
  const ack = await socket.next("ack");
  expect(ack).toMatchObject({ clientId: "m-2", message: { content: "now", seq: 1 } });
});
