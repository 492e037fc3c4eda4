import { afterAll, expect, test } from "bun:test";
import { serveCeiling } from "../../bench/ceiling/pubsub";
import { setup, type TestContext } from "../helpers";
import { makeRoom } from "../modules/messages-fixtures";

const ceiling = serveCeiling(null);
let ctx: TestContext | undefined;
afterAll(async () => {
  await ceiling.stop(true);
  await ctx?.close();
});

// The benchmarks compare the server with the ceiling per delivery: the same frame bytes, give or take the values.
test("the ceiling sends the message a group room's members get from the server: the same fields in the same order", async () => {
  ctx = setup();
  const alice = await ctx.user();
  const room = await makeRoom(ctx, alice);
  const ours = (await ctx.call("POST", `/api/rooms/${room}/messages`, { token: alice.token, body: { content: "hi", clientId: "c1" } })).body;
  const res = await fetch(new URL(`/api/rooms/${room}/messages`, ceiling.url), {
    method: "POST",
    headers: { "content-type": "application/json", "x-user-id": alice.id, "x-user-name": alice.username },
    body: JSON.stringify({ content: "hi", clientId: "c1" }),
  });
  const theirs = (await res.json()) as { sender: object };
  expect(Object.keys(theirs)).toEqual(Object.keys(ours));
  expect(Object.keys(theirs.sender)).toEqual(Object.keys(ours.sender));
});
