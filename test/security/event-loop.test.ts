/**
 * A coarse guard, on a real server: while a bounded attack of deeply nested bodies (with and
 * without a token) and frames runs, /health keeps answering. The other tests in this folder show
 * what the server refuses and that it refuses it before parsing; this one only checks that
 * nothing blocks the event loop for long. The only timed check in the suite, kept generous.
 */
import { afterEach, expect, test } from "bun:test";
import { type LiveServer, startServer } from "../realtime/helpers";

let live: LiveServer | undefined;
afterEach(async () => {
  await live?.close();
  live = undefined;
});

test("/health answers within 1 s while deep bodies and frames arrive", async () => {
  live = await startServer();
  const alice = await live.user();
  const room = await live.call("POST", "/api/rooms", { token: alice.token, body: { name: "attack" } });
  const client = await live.connect(alice);
  const base = `http://127.0.0.1:${live.port}`;

  /** An object nested `depth` levels: 6 bytes a level. */
  const nested = (depth: number) => '{"a":'.repeat(depth - 1) + "{}" + "}".repeat(depth - 1);
  // About 900 KB, under MAX_BODY_BYTES; and about 60 KB, under WS_MAX_PAYLOAD.
  const body = `{"content":"x","metadata":${nested(150_000)}}`;
  const frame = (i: number) => `{"type":"message.send","roomId":"${room.body.id}","content":"x","metadata":${nested(10_000)},"clientId":"deep-${i}"}`;
  const post = (token?: string) =>
    fetch(`${base}/api/rooms/${room.body.id}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) },
      body,
    }).then((res) => res.status);

  let done = false;
  const attack = Promise.all([...Array.from({ length: 10 }, () => post(alice.token)), ...Array.from({ length: 10 }, () => post())]).finally(
    () => (done = true),
  );
  for (let i = 0; i < 10; i++) client.send(frame(i));

  const latencies: number[] = [];
  while (!done || latencies.length < 3) {
    const start = performance.now();
    const res = await fetch(`${base}/health`);
    expect(res.status).toBe(200);
    latencies.push(performance.now() - start);
  }
  expect(await attack).toEqual([...Array<number>(10).fill(422), ...Array<number>(10).fill(401)]);
  for (let i = 0; i < 10; i++) expect((await client.next("error", (f) => f.clientId === `deep-${i}`)).error.code).toBe("VALIDATION_FAILED");
  expect(Math.max(...latencies)).toBeLessThan(1000);
});
