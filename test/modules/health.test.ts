import { afterEach, describe, expect, test } from "bun:test";
import { createApp, createServices } from "../../src/app";
import { testConfig } from "../../src/config";
import { openDatabase } from "../../src/db";
import { errorCode, setup, type TestContext } from "../helpers";

let ctx: TestContext;
afterEach(async () => {
  await ctx?.close();
});

describe("service routes", () => {
  test("GET /health answers while the process is up", async () => {
    ctx = setup();
    const res = await ctx.call("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
  });

  test("GET /ready answers 200 when the database answers", async () => {
    ctx = setup();
    const res = await ctx.call("GET", "/ready");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
  });

  test("GET /ready answers 503 with the envelope when the database does not", async () => {
    ctx = setup();
    // A real database that has gone away: closed under the running app.
    const config = testConfig({ databaseUrl: "sqlite://:memory:" });
    const database = openDatabase(config.databaseUrl);
    const app = createApp(createServices({ config, database }));
    const before = await app.handle(new Request("http://localhost/ready"));
    expect(before.status).toBe(200);
    database.close();
    const res = await app.handle(new Request("http://localhost/ready"));
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(errorCode({ status: 503, headers: res.headers, body })).toBe("UNAVAILABLE");
    // Liveness does not depend on the database.
    expect((await app.handle(new Request("http://localhost/health"))).status).toBe(200);
  });

  test("GET /ready answers 503 when the ping fails by throwing", async () => {
    ctx = setup();
    const failing = createApp({
      ...ctx.services,
      database: { ...ctx.services.database, ping: () => Promise.reject(new Error("connection refused")) },
    });
    const res = await failing.handle(new Request("http://localhost/ready"));
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("UNAVAILABLE");
  });
});
