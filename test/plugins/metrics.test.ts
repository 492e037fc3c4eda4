import { afterEach, describe, expect, test } from "bun:test";
import { testConfig } from "../../src/config";
import { noMetrics } from "../../src/metrics";
import { validate } from "@readme/openapi-parser";
import { errorCode, setup } from "../helpers";
import { eventually, type LiveServer, startServer } from "../realtime/helpers";

const TOKEN = "scrape-token-0123456789abcdef";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?(?:[0-9.e+-]+|[Nn]a[Nn]|[+-]Inf))$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;

/** Parses the Prometheus text format strictly: every line is a comment, a sample or empty, and every sample's family is declared. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (comment) {
      if (comment[1] === "TYPE") {
        expect(["counter", "gauge", "histogram", "summary", "untyped"]).toContain(comment[3]!);
        types.set(comment[2]!, comment[3]!);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[3] ?? "";
    let consumed = 0;
    for (const l of body.matchAll(LABEL)) {
      labels[l[1]!] = l[2]!;
      consumed += l[0].length;
    }
    if (consumed !== body.length) throw new Error(`bad labels: ${line}`);
    const name = m[1]!;
    const family = name.replace(/_(bucket|sum|count|total|created)$/, "");
    if (!types.has(name) && !types.has(family)) throw new Error(`sample of an undeclared family: ${line}`);
    samples.push({ name, labels, value: Number(m[4]) });
  }
  return samples;
}

/** The value of the one sample with this name and these labels (0 when absent, as an unseen counter). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  expect(found.length).toBeLessThanOrEqual(1);
  return found[0]?.value ?? 0;
}

let server: LiveServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function scrape(s: LiveServer): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${s.port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toStartWith("text/plain");
  return parseExposition(await res.text());
}

describe("/metrics", () => {
  test("counts a socket refused as it opens by its close code", async () => {
    server = await startServer({ metricsToken: TOKEN, limits: { ...testConfig().limits, wsMaxPerUser: 1 } });
    const s = server;
    const alice = await s.user();
    await s.connect(alice);
    const refused = await s.open(`?token=${encodeURIComponent(alice.token)}`);
    expect((await refused.waitClosed()).code).toBe(4008);
    await eventually(async () => value(await scrape(s), "bunchat_ws_closed_total", { code: "4008" }) === 1, "the refusal counted");
    expect(value(await scrape(s), "bunchat_ws_connections")).toBe(1);
  });

  test("is 404 without METRICS_TOKEN, and nothing is counted", async () => {
    server = await startServer();
    expect(server.services.metrics).toBe(noMetrics);
    const res = await server.call("GET", "/metrics", { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(404);
    expect(errorCode(res)).toBe("NOT_FOUND");
  });

  test("is in a valid OpenAPI document when on", async () => {
    const ctx = setup({ metricsToken: TOKEN });
    try {
      const doc = (await ctx.call("GET", "/swagger/json")).body;
      expect(Object.keys(doc.paths)).toContain("/metrics");
      const result = await validate(structuredClone(doc) as never);
      expect((result as { errors?: unknown[] }).errors ?? []).toEqual([]);
    } finally {
      await ctx.close();
    }
  });

  test("is 401 in the error envelope without the token or with a wrong one", async () => {
    server = await startServer({ metricsToken: TOKEN });
    for (const authorization of [undefined, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, TOKEN, "Basic abc"]) {
      const res = await server.call("GET", "/metrics", { headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      expect(errorCode(res)).toBe("UNAUTHENTICATED");
    }
  });

  test("counters move by exactly the traffic sent, and no label holds an id or a raw path", async () => {
    server = await startServer({ metricsToken: TOKEN, rateLimitMessages: 5 });
    const s = server;
    const alice = await s.user();
    const room = await s.call("POST", "/api/rooms", { token: alice.token, body: { name: "metrics" } });
    expect(room.status).toBe(201);
    const roomId: string = room.body.id;
    const ws = await s.connect(alice);

    const before = await scrape(s);
    const missingPath = `/no/such/${crypto.randomUUID()}`;
    for (let i = 0; i < 3; i++)
      expect((await s.call("POST", `/api/rooms/${roomId}/messages`, { token: alice.token, body: { content: `rest ${i}` } })).status).toBe(201);
    for (let i = 0; i < 2; i++) {
      ws.send({ type: "message.send", roomId, content: `ws ${i}`, clientId: `c${i}` });
      await ws.next("ack");
    }
    ws.send({ type: "ping" });
    await ws.next("pong");
    ws.send("{not json");
    await ws.next("error");
    // The sixth send within the window is over RATE_LIMIT_MESSAGES.
    expect((await s.call("POST", `/api/rooms/${roomId}/messages`, { token: alice.token, body: { content: "over" } })).status).toBe(429);
    expect((await s.call("GET", `/api/rooms/${crypto.randomUUID()}`, { token: alice.token })).status).toBe(404);
    expect((await s.call("GET", missingPath)).status).toBe(404);
    const after = await scrape(s);

    const moved = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
    expect(moved("bunchat_messages_total", { via: "rest" })).toBe(3);
    expect(moved("bunchat_messages_total", { via: "ws" })).toBe(2);
    expect(moved("bunchat_ws_frames_received_total", { type: "message.send" })).toBe(2);
    expect(moved("bunchat_ws_frames_received_total", { type: "ping" })).toBe(1);
    expect(moved("bunchat_ws_frames_received_total", { type: "invalid" })).toBe(1);
    expect(moved("bunchat_ws_frames_received_total", { type: "sync" })).toBe(0);
    expect(moved("bunchat_message_commit_seconds_count")).toBe(5);
    // Buckets are cumulative, the last (+Inf) holding every observation.
    const buckets = after.filter((sample) => sample.name === "bunchat_message_commit_seconds_bucket").map((sample) => sample.value);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    expect(value(after, "bunchat_message_commit_seconds_bucket", { le: "+Inf" })).toBe(value(after, "bunchat_message_commit_seconds_count"));
    expect(moved("bunchat_db_batch_messages_sum")).toBe(5);
    expect(moved("bunchat_rate_limited_total", { limit: "messages" })).toBe(1);
    const sends = { method: "POST", route: "/api/rooms/:id/messages" };
    expect(moved("bunchat_http_requests_total", { ...sends, status: "201" })).toBe(3);
    expect(moved("bunchat_http_requests_total", { ...sends, status: "429" })).toBe(1);
    expect(moved("bunchat_http_requests_total", { method: "GET", route: "/api/rooms/:id", status: "404" })).toBe(1);
    expect(moved("bunchat_http_requests_total", { method: "GET", route: "unmatched", status: "404" })).toBe(1);
    expect(moved("bunchat_http_request_duration_seconds_count", { route: "/api/rooms/:id/messages" })).toBe(4);
    expect(value(after, "bunchat_ws_connections")).toBe(1);
    expect(value(after, "bunchat_online_users")).toBe(1);
    expect(value(after, "bunchat_build_info", { database: s.services.database.dialect })).toBe(1);
    for (const name of ["process_resident_memory_bytes", "process_cpu_seconds_total", "nodejs_eventloop_lag_seconds"])
      expect(after.some((sample) => sample.name === name)).toBe(true);

    // The dashboard in deploy/ asks only for series the server exposes.
    const dashboard = await Bun.file(`${import.meta.dir}/../../deploy/grafana-dashboard.json`).text();
    const asked = new Set([...dashboard.matchAll(/\b((?:bunchat|process|nodejs)_[a-z0-9_]+)/g)].map((m) => m[1]!));
    expect(asked.size).toBeGreaterThan(10);
    for (const name of asked) expect(after.some((sample) => sample.name === name), name).toBe(true);

    const ids = [alice.id, roomId, missingPath, "/no/such"];
    for (const sample of after)
      for (const label of Object.values(sample.labels)) {
        expect(label).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/i);
        for (const id of ids) expect(label).not.toContain(id);
      }

    const closedBefore = value(after, "bunchat_ws_closed_total", { code: "1000" });
    ws.ws.close(1000, "done");
    await eventually(async () => value(await scrape(s), "bunchat_ws_closed_total", { code: "1000" }) === closedBefore + 1, "the close counted");
    expect(value(await scrape(s), "bunchat_ws_connections")).toBe(0);
  });
});
