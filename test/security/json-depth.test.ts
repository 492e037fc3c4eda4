/**
 * Free JSON (message metadata) nests at most 32 levels: deeper is refused with 422
 * VALIDATION_FAILED (an `error` frame on a socket, which stays open) before anything
 * recursive (JSON.parse, validation, JSON.stringify) sees the value. And a metadata key
 * `__proto__` is refused rather than lost.
 */
import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { JSON_MAX_DEPTH } from "../../src/lib/json-scan";
import { parseFrame } from "../../src/realtime/protocol";
import { errorCode, setup, type TestContext } from "../helpers";
import { type LiveServer, startServer } from "../realtime/helpers";

/** A JSON object nested `depth` levels (`{}` is one). */
const nestedText = (depth: number) => '{"a":'.repeat(depth - 1) + "{}" + "}".repeat(depth - 1);
/** The same as a value, built in a loop. */
function nestedValue(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}

const DEEP = 100_000;
const TOO_DEEP = "must be nested at most 32 levels deep";

/** Calls of a JSON.parse spy that were given `text`. */
const parsedTexts = (spy: { mock: { calls: unknown[][] } }, text: string) => spy.mock.calls.filter(([arg]) => arg === text).length;

let ctx: TestContext | undefined;
let live: LiveServer | undefined;
afterEach(async () => {
  await ctx?.close();
  await live?.close();
  ctx = live = undefined;
});

async function roomOf(c: TestContext) {
  const alice = await c.user();
  const room = await c.call("POST", "/api/rooms", { token: alice.token, body: { name: "deep" } });
  return { alice, roomId: room.body.id as string };
}

describe("request bodies", () => {
  test("metadata nested 32 levels is kept; 33 is 422 naming the field", async () => {
    ctx = setup();
    const { alice, roomId } = await roomOf(ctx);
    const path = `/api/rooms/${roomId}/messages`;
    const ok = await ctx.call("POST", path, { token: alice.token, body: `{"content":"hi","metadata":${nestedText(JSON_MAX_DEPTH)}}` });
    expect(ok.status).toBe(201);
    expect(ok.body.metadata).toEqual(nestedValue(JSON_MAX_DEPTH));

    const res = await ctx.call("POST", path, { token: alice.token, body: `{"content":"hi","metadata":${nestedText(JSON_MAX_DEPTH + 1)}}` });
    expect(res.status).toBe(422);
    expect(res.body.error).toEqual({
      code: "VALIDATION_FAILED",
      message: `Invalid body: metadata ${TOO_DEEP}`,
      details: { in: "body", fields: [{ field: "metadata", message: TOO_DEEP }] },
    });
  });

  test("a body 100,000 levels deep is refused before it is parsed, and the service never sees it", async () => {
    ctx = setup();
    const { alice, roomId } = await roomOf(ctx);
    const send = spyOn(ctx.services.messages, "send");
    const parse = spyOn(JSON, "parse");
    try {
      const bodies = [
        [`/api/rooms/${roomId}/messages`, `{"content":"hi","metadata":${"[".repeat(DEEP)}${"]".repeat(DEEP)}}`, "metadata"],
        [`/api/rooms/${roomId}/messages`, `{"content":"hi","metadata":${nestedText(DEEP)}}`, "metadata"],
        // Any body, on any route, not only free JSON: nothing in the API nests this deep.
        ["/api/auth/login", `{"username":"someone","password":${"[".repeat(DEEP)}${"]".repeat(DEEP)}}`, "password"],
        ["/api/rooms", "[".repeat(DEEP) + "]".repeat(DEEP), "body"],
      ] as const;
      for (const [path, body, field] of bodies) {
        const res = await ctx.call("POST", path, { token: alice.token, body });
        expect(res.status).toBe(422);
        expect(res.body.error.details).toEqual({ in: "body", fields: [{ field, message: TOO_DEEP }] });
        expect(parsedTexts(parse, body)).toBe(0);
      }
    } finally {
      parse.mockRestore();
    }
    expect(send).not.toHaveBeenCalled();
  });

  test("the message service itself refuses deep metadata without serializing it (callers other than HTTP)", async () => {
    ctx = setup();
    const { alice, roomId } = await roomOf(ctx);
    const metadata = nestedValue(DEEP);
    const stringify = spyOn(JSON, "stringify");
    try {
      await expect(ctx.services.messages.send(alice.id, roomId, { content: "hi", metadata })).rejects.toMatchObject({
        status: 422,
        code: "VALIDATION_FAILED",
        details: { fields: [{ field: "metadata", message: TOO_DEEP }] },
      });
      expect(stringify.mock.calls.filter(([value]) => value === metadata)).toEqual([]);
    } finally {
      stringify.mockRestore();
    }
    // Too many values for the size limit, or a value that is no tree: refused before it is serialized too.
    const wide = { a: Array.from({ length: 5000 }, () => 0) };
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const spied = spyOn(JSON, "stringify");
    try {
      await expect(ctx.services.messages.send(alice.id, roomId, { content: "hi", metadata: wide })).rejects.toMatchObject({
        details: { fields: [{ field: "metadata", message: "must be at most 4096 bytes as JSON" }] },
      });
      await expect(ctx.services.messages.send(alice.id, roomId, { content: "hi", metadata: cyclic })).rejects.toMatchObject({ status: 422 });
      expect(spied.mock.calls.filter(([value]) => value === wide || value === cyclic)).toEqual([]);
    } finally {
      spied.mockRestore();
    }
    // The boundary holds there too.
    const kept = await ctx.services.messages.send(alice.id, roomId, { content: "hi", metadata: nestedValue(JSON_MAX_DEPTH) });
    expect(kept.message.metadata).toEqual(nestedValue(JSON_MAX_DEPTH));
    await expect(ctx.services.messages.send(alice.id, roomId, { content: "hi", metadata: nestedValue(JSON_MAX_DEPTH + 1) })).rejects.toMatchObject({ status: 422 });
  });
});

describe("metadata keys __proto__", () => {
  test("are refused with 422, at the top and nested, instead of being dropped", async () => {
    ctx = setup();
    const { alice, roomId } = await roomOf(ctx);
    const path = `/api/rooms/${roomId}/messages`;
    for (const metadata of ['{"__proto__":{"x":1}}', '{"a":1,"__proto__":2}', '{"a":{"b":[{"__proto__":{}}]}}', '{"\\u005f_proto__":{}}']) {
      const res = await ctx.call("POST", path, { token: alice.token, body: `{"content":"hi","metadata":${metadata}}` });
      expect(res.status).toBe(422);
      expect(res.body.error).toMatchObject({
        code: "VALIDATION_FAILED",
        details: { in: "body", fields: [{ field: "metadata", message: 'must not have a key "__proto__"' }] },
      });
    }
    // Nothing was stored.
    const history = await ctx.call("GET", path, { token: alice.token });
    expect(history.body.messages).toEqual([]);
    // Keys that only look alike are data like any other.
    const ok = await ctx.call("POST", path, { token: alice.token, body: '{"content":"hi","metadata":{"proto":1,"__proto":2,"constructor":{"prototype":3}}}' });
    expect(ok.status).toBe(201);
    expect(ok.body.metadata).toEqual({ proto: 1, __proto: 2, constructor: { prototype: 3 } });
  });
});

describe("WebSocket frames", () => {
  test("parseFrame refuses a frame nested too deep without parsing it, naming the frame and its clientId", () => {
    const text = `{"type":"message.send","roomId":"r","content":"hi","metadata":${nestedText(DEEP)},"clientId":"c-1"}`;
    const parse = spyOn(JSON, "parse");
    let parsed: ReturnType<typeof parseFrame>;
    try {
      parsed = parseFrame(text);
      expect(parsedTexts(parse, text)).toBe(0);
    } finally {
      parse.mockRestore();
    }
    expect(parsed).toEqual({
      ok: false,
      clientId: "c-1",
      error: {
        code: "VALIDATION_FAILED",
        message: `Invalid message.send frame: metadata ${TOO_DEEP}`,
        details: { frame: "message.send", fields: [{ field: "metadata", message: TOO_DEEP }] },
      },
    });
    expect(parseFrame("[".repeat(DEEP) + "]".repeat(DEEP))).toMatchObject({ ok: false, error: { code: "VALIDATION_FAILED" } });
    // At the limit the frame is whole.
    const fine = parseFrame(`{"type":"message.send","roomId":"r","content":"hi","metadata":${nestedText(JSON_MAX_DEPTH)},"clientId":"c-2"}`);
    expect(fine.ok).toBe(true);
  });

  test("over a socket: an error frame with the clientId, nothing sent, and the socket stays open", async () => {
    live = await startServer();
    const alice = await live.user();
    const room = await live.call("POST", "/api/rooms", { token: alice.token, body: { name: "deep" } });
    const send = spyOn(live.services.messages, "send");
    const client = await live.connect(alice);
    // Under the 64 KiB frame limit.
    const depth = 30_000;
    client.send(`{"type":"message.send","roomId":"${room.body.id}","content":"hi","metadata":${"[".repeat(depth)}${"]".repeat(depth)},"clientId":"deep-1"}`);
    const error = await client.next("error");
    expect(error).toMatchObject({ clientId: "deep-1", error: { code: "VALIDATION_FAILED", message: `Invalid message.send frame: metadata ${TOO_DEEP}` } });
    client.send(`{"type":"message.send","roomId":"${room.body.id}","content":"hi","metadata":{"a":{"__proto__":{"x":1}}},"clientId":"proto-1"}`);
    const proto = await client.next("error", (f) => f.clientId === "proto-1");
    expect(proto.error).toMatchObject({ code: "VALIDATION_FAILED", details: { fields: [{ field: "metadata", message: 'must not have a key "__proto__"' }] } });
    // The socket carries on.
    client.send({ type: "message.send", roomId: room.body.id, content: "hi", metadata: { ok: true }, clientId: "fine-1" });
    const ack = await client.next("ack", (f) => f.clientId === "fine-1");
    expect(ack.message.metadata).toEqual({ ok: true });
    expect(client.isOpen).toBe(true);
    // The deep frame never reached the service.
    expect(send).toHaveBeenCalledTimes(2);
  });
});
