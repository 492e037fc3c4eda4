/** GET /ws in the OpenAPI document: every refusal the route really answers is documented. */
import { afterEach, expect, test } from "bun:test";
import { type LiveServer, startServer } from "./helpers";

let server: LiveServer;
afterEach(async () => {
  await server?.close();
});

test("GET /ws documents 404, 401 and 503 with the error envelope, as it answers them", async () => {
  server = await startServer();
  const doc = (await server.call("GET", "/swagger/json")).body;
  const responses = doc.paths["/ws"].get.responses as Record<string, { description: string; content?: any }>;
  const envelope = responses["401"]!.content["application/json"].schema;
  expect(envelope.required).toEqual(["error"]);

  const answers: Record<string, { status: number; body: any }> = {
    "404": await server.call("GET", "/ws"),
    "401": await server.refusedUpgrade(""),
  };
  await server.services.realtime.shutdown();
  answers["503"] = await server.refusedUpgrade("");

  expect(Object.keys(responses).sort()).toEqual(["101", "401", "404", "503"]);
  for (const [status, answer] of Object.entries(answers)) {
    expect(answer.status).toBe(Number(status));
    expect(answer.body.error.code).toBeString();
    expect(responses[status]!.description).toBeTruthy();
    expect(responses[status]!.content["application/json"].schema).toEqual(envelope);
  }
});
