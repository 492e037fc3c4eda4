import { afterEach, expect, test } from "bun:test";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { PresenceEvent } from "../../src/realtime/protocol";
import { manualClock, type TestUser } from "../helpers";
import { eventually, type LiveServer, startServer } from "./helpers";

let server: LiveServer;
afterEach(async () => {
  await server?.close();
});

const presenceShape = TypeCompiler.Compile(PresenceEvent);

async function room(owner: TestUser, members: TestUser[]): Promise<string> {
  const res = await server.call("POST", "/api/rooms", { token: owner.token, body: { name: "room", memberIds: members.map((m) => m.id) } });
  return res.body.id;
}

const presenceOf = async (viewer: TestUser, user: TestUser) =>
  (await server.call("GET", `/api/users/${user.id}`, { token: viewer.token })).body as { presence: string; lastSeenAt: string | null };

test("co-members hear online and offline once per socket however many rooms they share; others hear nothing", async () => {
  server = await startServer();
  const [a, b, c] = [await server.user(), await server.user(), await server.user()];
  for (let i = 0; i < 3; i++) await room(a, [b]);
  await room(b, [c]); // c shares a room with b, not with a
  const b1 = await server.connect(b);
  const b2 = await server.connect(b);
  const c1 = await server.connect(c);
  expect((await presenceOf(b, a)).presence).toBe("offline");

  const a1 = await server.connect(a);
  for (const client of [b1, b2]) {
    const frame = await client.next("presence", (f) => f.userId === a.id);
    expect(presenceShape.Check(frame)).toBe(true);
    expect(frame.presence).toBe("online");
  }
  expect((await presenceOf(b, a)).presence).toBe("online");

  a1.close();
  for (const client of [b1, b2]) {
    const frame = await client.next("presence", (f) => f.userId === a.id && f.presence === "offline");
    expect(presenceShape.Check(frame)).toBe(true);
    expect(frame.lastSeenAt).not.toBeNull();
  }
  const stored = await presenceOf(b, a);
  expect(stored.presence).toBe("offline");
  expect(stored.lastSeenAt).toBe(b1.all("presence").find((f) => f.presence === "offline")!.lastSeenAt);

  await Promise.all([b1.barrier(), b2.barrier(), c1.barrier()]);
  for (const client of [b1, b2]) expect(client.all("presence").filter((f) => f.userId === a.id)).toHaveLength(2);
  expect(c1.all("presence").filter((f) => f.userId === a.id)).toHaveLength(0);
});

test("two tabs: closing one keeps the user online; offline comes with the other, stamped when it closed", async () => {
  const clock = manualClock();
  server = await startServer({}, { now: clock.now });
  const [a, b] = [await server.user(), await server.user()];
  await room(a, [b]);
  const b1 = await server.connect(b);
  const tab1 = await server.connect(a);
  const tab2 = await server.connect(a);
  await b1.next("presence", (f) => f.userId === a.id && f.presence === "online");

  tab1.close();
  await eventually(() => server.services.realtime.hub.connectionsOf(a.id).length === 1, "the server to see the first tab go");
  expect((await presenceOf(b, a)).presence).toBe("online");

  clock.advance(60_000);
  const closedAt = new Date(clock.now()).toISOString();
  tab2.close();
  const offline = await b1.next("presence", (f) => f.userId === a.id && f.presence === "offline");
  expect(offline.lastSeenAt).toBe(closedAt);
  await b1.barrier();
  expect(b1.all("presence").filter((f) => f.userId === a.id).map((f) => f.presence)).toEqual(["online", "offline"]);
  expect(await presenceOf(b, a)).toMatchObject({ presence: "offline", lastSeenAt: closedAt });
});

test("back within the grace period: nobody is told anything and the user stays online", async () => {
  server = await startServer({ limits: { presenceGraceMs: 60_000 } as never });
  const [a, b] = [await server.user(), await server.user()];
  await room(a, [b]);
  const b1 = await server.connect(b);
  const first = await server.connect(a);
  await b1.next("presence", (f) => f.userId === a.id);

  first.close();
  await eventually(() => !server.services.realtime.hub.isConnected(a.id), "the server to see the socket go");
  expect((await presenceOf(b, a)).presence).toBe("online");
  await server.connect(a);
  await b1.barrier();
  expect(b1.all("presence").filter((f) => f.userId === a.id).map((f) => f.presence)).toEqual(["online"]);
  expect((await presenceOf(b, a)).presence).toBe("online");
});

test("shutdown stores last-seen times for everyone still online", async () => {
  const clock = manualClock();
  server = await startServer({}, { now: clock.now });
  const a = await server.user();
  await server.connect(a);
  clock.advance(5_000);
  await server.services.realtime.shutdown();
  const row = await server.services.users.get(a.id);
  expect(row.lastSeenAt?.getTime()).toBe(clock.now());
});
