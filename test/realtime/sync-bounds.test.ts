/** `sync` with seqs a client cannot have seen: sync.done never reports beyond the room's last seq. */
import { afterEach, expect, test } from "bun:test";
import { type LiveServer, startServer } from "./helpers";

let server: LiveServer;
afterEach(async () => {
  await server?.close();
});

async function setup() {
  server = await startServer();
  const u = await server.user();
  const room = async (messages: number) => {
    const res = await server.call("POST", "/api/rooms", { token: u.token, body: { name: "room" } });
    for (let i = 0; i < messages; i++)
      expect((await server.call("POST", `/api/rooms/${res.body.id}/messages`, { token: u.token, body: { content: `m${i}` } })).status).toBe(201);
    return res.body.id as string;
  };
  return { u, room };
}

test("seqs beyond the largest safe integer are refused", async () => {
  const { u, room } = await setup();
  const roomId = await room(1);
  const client = await server.connect(u);
  for (const seq of [1e300, Number.MAX_SAFE_INTEGER + 1]) {
    client.send(JSON.stringify({ type: "sync", rooms: { [roomId]: seq } }));
    const error = await client.next("error");
    expect(error.error.code).toBe("VALIDATION_FAILED");
    client.send(JSON.stringify({ type: "read", roomId, seq }));
    expect((await client.next("error")).error.code).toBe("VALIDATION_FAILED");
  }
  client.send({ type: "sync", rooms: { [roomId]: Number.MAX_SAFE_INTEGER } });
  expect((await client.next("sync.done")).rooms).toEqual({ [roomId]: { lastSeq: 1, hasMore: false } });
  expect(client.all("message.new")).toEqual([]);
});

test("sync.done reports the room's last seq when the client claims more, and the client's when it is up to date", async () => {
  const { u, room } = await setup();
  const [two, empty] = [await room(2), await room(0)];
  const client = await server.connect(u);

  client.send({ type: "sync", rooms: { [two]: 1000, [empty]: 5 } });
  expect((await client.next("sync.done")).rooms).toEqual({ [two]: { lastSeq: 2, hasMore: false }, [empty]: { lastSeq: 0, hasMore: false } });

  client.send({ type: "sync", rooms: { [two]: 2, [empty]: 0 } });
  expect((await client.next("sync.done")).rooms).toEqual({ [two]: { lastSeq: 2, hasMore: false }, [empty]: { lastSeq: 0, hasMore: false } });

  client.send({ type: "sync", rooms: { [two]: 1 } });
  expect((await client.next("message.new")).message.seq).toBe(2);
  expect((await client.next("sync.done")).rooms).toEqual({ [two]: { lastSeq: 2, hasMore: false } });
  expect(client.all("message.new")).toHaveLength(1);
});
