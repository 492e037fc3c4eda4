import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Parser } from "@asyncapi/parser";
import { Glob } from "bun";
import { join } from "node:path";
import { clientFrames, parseFrame, serverFrames } from "../../src/realtime/protocol";
import { setup, type TestContext } from "../helpers";

let ctx: TestContext;
let doc: any;
beforeAll(async () => {
  ctx = setup();
  const res = await ctx.call("GET", "/asyncapi.json");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toStartWith("application/json");
  doc = res.body;
});
afterAll(async () => {
  await ctx.close();
});

/** The frame types (message names) of the operation with this action. */
function framesOf(action: "send" | "receive"): string[] {
  const operations = Object.values(doc.operations as Record<string, { action: string; messages: { $ref: string }[] }>).filter((o) => o.action === action);
  return operations
    .flatMap((o) => o.messages)
    .map((ref) => {
      const name = ref.$ref.split("/").at(-1)!;
      const message = doc.components.messages[name];
      expect(doc.channels.ws.messages[name]).toEqual({ $ref: `#/components/messages/${name}` });
      return message.name as string;
    })
    .sort();
}

const SRC = join(import.meta.dir, "../../src");

/**
 * The frame types the server's code sends: `type: "…"` in objects it sends or publishes (also
 * `type: cond ? "a" : "b"`), and `"type":"…"` in frames it writes as text. Schemas (t.Literal),
 * the database layer, the metric families, the OpenAPI/AsyncAPI documents' own JSON and the typed
 * client and the web app (which send client frames) are not frames the server sends.
 */
/** JSON Schema's type names: `type: "object"` in a hand-written schema is not a frame. */
const SCHEMA_TYPES = new Set(["object", "string", "number", "integer", "boolean", "array", "null"]);

async function typesSentInCode(): Promise<Set<string>> {
  const found = new Set<string>();
  for await (const file of new Glob("**/*.ts").scan(SRC)) {
    if (file.startsWith("db/") || file.startsWith("plugins/") || file.startsWith("cli/") || file.startsWith("app/") || file.startsWith("client/")) continue;
    if (["realtime/asyncapi.ts", "realtime/protocol.ts", "metrics.ts"].includes(file) || file.endsWith(".d.ts")) continue;
    const text = await Bun.file(join(SRC, file)).text();
    for (const m of text.matchAll(/\btype:\s*([^,}\n]+)/g)) {
      if (m[1]!.includes("t.Literal")) continue;
      for (const literal of m[1]!.matchAll(/"([a-z][a-z.]*)"/g)) if (!SCHEMA_TYPES.has(literal[1]!)) found.add(literal[1]!);
    }
    for (const m of text.matchAll(/"type":"([a-z][a-z.]*)"/g)) found.add(m[1]!);
  }
  return found;
}

describe("GET /asyncapi.json", () => {
  test("is a valid AsyncAPI 3 document by @asyncapi/parser", async () => {
    expect(doc.asyncapi).toStartWith("3.");
    const diagnostics = await new Parser().validate(doc);
    const errors = diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join(".")}: ${d.message}`);
    expect(errors).toEqual([]);
    // The parser loads its rule sets on first use: a second or more, several on a busy machine.
  }, 60_000);

  test("documents exactly the client frames the protocol accepts, each with its schema", () => {
    expect(framesOf("receive")).toEqual(Object.keys(clientFrames).sort());
    for (const type of Object.keys(clientFrames)) {
      const payload = doc.components.messages[`client.${type}`].payload;
      expect(payload.properties.type.const).toBe(type);
      // The documented schema is the one parseFrame checks: a frame with only a type fails where the schema requires more.
      const required = (payload.required as string[]).filter((field) => field !== "type");
      expect(parseFrame(JSON.stringify({ type })).ok).toBe(required.length === 0);
    }
  });

  test("documents exactly the server frames of the protocol, each schema's type being its name", () => {
    expect(framesOf("send")).toEqual(Object.keys(serverFrames).sort());
    for (const [type, schema] of Object.entries(serverFrames)) expect((schema as any).properties.type.const).toBe(type);
  });

  test("every frame type the server's code sends has a schema, so none goes undocumented", async () => {
    const sent = await typesSentInCode();
    // The scan sees the frames it should (a broken scan would pass vacuously).
    for (const type of ["ack", "message.new", "reaction.added", "reaction.removed", "member.joined", "team.deleted", "delivered", "pong", "user.updated"])
      expect(sent.has(type)).toBe(true);
    const undocumented = [...sent].filter((type) => !Object.hasOwn(serverFrames, type));
    expect(undocumented).toEqual([]);
  });

  test("names the handshake's credentials and every close code", () => {
    const description: string = doc.info.description;
    for (const part of ["?ticket=", "?token=", "bearer", "4001", "4008", "1008", "1009", "1001", "1011"]) expect(description).toContain(part);
    expect(Object.keys(doc.channels.ws.bindings.ws.query.properties).sort()).toEqual(["ticket", "token"]);
  });

  test("the OpenAPI description links to it", async () => {
    const res = await ctx.call("GET", "/swagger/json");
    expect(res.body.info.description).toContain("/asyncapi.json");
  });
});
