import { afterEach, describe, expect, test } from "bun:test";
import { t } from "elysia";
import { Conflict, RateLimited } from "../src/errors";
import { errorCode, recordingLogger, setup, type TestContext } from "./helpers";

/** Polls `check` until it returns a value, for at most ~2 s. */
async function until<T>(check: () => T | null): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = check();
    if (value !== null) return value;
    await Bun.sleep(10);
  }
  throw new Error("condition not met in time");
}

let ctx: TestContext;
afterEach(async () => {
  await ctx?.close();
});

describe("the error envelope", () => {
  test("an unknown route or method gets 404 NOT_FOUND", async () => {
    ctx = setup();
    for (const [method, path] of [
      ["GET", "/nope"],
      ["GET", "/api/nope/deeper"],
      ["DELETE", "/api/auth/me"],
      ["PUT", "/health"],
    ] as const) {
      const res = await ctx.call(method, path);
      expect(res.status).toBe(404);
      expect(errorCode(res)).toBe("NOT_FOUND");
      expect(res.headers.get("content-type")).toStartWith("application/json");
    }
  });

  test("a body that is not JSON gets 400 BAD_REQUEST", async () => {
    ctx = setup();
    for (const body of ["{", '{"username": }', "[1,", "nul"]) {
      const res = await ctx.call("POST", "/api/auth/login", { body });
      expect(res.status).toBe(400);
      expect(errorCode(res)).toBe("BAD_REQUEST");
    }
  });

  test("a body nested thousands deep is still a 422 VALIDATION_FAILED, never a 500", async () => {
    const logger = recordingLogger();
    ctx = setup({}, { logger });
    for (const depth of [5000, 100_000]) {
      const deep = "[".repeat(depth) + "]".repeat(depth);
      for (const path of ["/api/auth/login", "/api/auth/register"]) {
        const res = await ctx.call("POST", path, { body: `{"username":"someone","password":${deep}}` });
        expect(res.status).toBe(422);
        expect(errorCode(res)).toBe("VALIDATION_FAILED");
      }
    }
    expect(logger.lines.filter((l) => l.level === "error")).toEqual([]);
  });

  test("a thrown AppError renders its status, code, details and headers", async () => {
    ctx = setup();
    ctx.app
      .get("/test/conflict", () => {
        throw new Conflict("Already there.");
      })
      .get("/test/limited", () => {
        throw new RateLimited(7);
      });
    const conflict = await ctx.call("GET", "/test/conflict");
    expect(conflict.status).toBe(409);
    expect(conflict.body).toEqual({ error: { code: "CONFLICT", message: "Already there." } });
    const limited = await ctx.call("GET", "/test/limited");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("7");
    expect(limited.body.error).toMatchObject({ code: "RATE_LIMITED", details: { retryAfter: 7 } });
  });

  test("an unexpected error is a 500 INTERNAL without internals, logged with its request id", async () => {
    const logger = recordingLogger();
    ctx = setup({}, { logger });
    ctx.app.get("/test/boom", () => {
      throw new Error("SQLITE_ERROR: no such column: users.secret_sauce");
    });
    const res = await ctx.call("GET", "/test/boom");
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: "INTERNAL", message: "Something went wrong on our side." } });
    const requestId = res.headers.get("x-request-id");
    expect(requestId).toBeTruthy();

    const logged = logger.lines.filter((l) => l.level === "error");
    expect(logged.length).toBe(1);
    expect(logged[0]!.fields).toMatchObject({ requestId, method: "GET", path: "/test/boom" });
    expect(String(logged[0]!.fields.error)).toContain("no such column");
    expect(String(logged[0]!.fields.error)).toContain("errors.test.ts"); // the stack, for us only
  });

  test("a response that breaks its own schema is our 500, not the client's 422", async () => {
    const logger = recordingLogger();
    ctx = setup({}, { logger });
    ctx.app.get("/test/bad-response", () => ({ id: 5 }) as unknown as { id: string }, {
      response: { 200: t.Object({ id: t.String() }) },
    });
    const res = await ctx.call("GET", "/test/bad-response");
    expect(res.status).toBe(500);
    expect(errorCode(res)).toBe("INTERNAL");
    expect(logger.lines.some((l) => l.level === "error")).toBe(true);
  });

  test("a failing query value is named even after conversion", async () => {
    ctx = setup();
    const u = await ctx.user();
    const res = await ctx.call("GET", "/api/users?q=a&limit=500", { token: u.token });
    expect(res.status).toBe(422);
    expect(res.body.error.details).toEqual({
      in: "query",
      fields: [{ field: "limit", message: expect.any(String) }],
    });
    expect(res.body.error.message).toContain("limit");
  });

  test("the failing query value is named even when another parameter has the same value", async () => {
    ctx = setup();
    const u = await ctx.user();
    for (const query of ["q=500&limit=500", "limit=500&q=500"]) {
      const res = await ctx.call("GET", `/api/users?${query}`, { token: u.token });
      expect(res.status).toBe(422);
      expect(res.body.error.details).toEqual({ in: "query", fields: [{ field: "limit", message: expect.any(String) }] });
      expect(res.body.error.message).toStartWith("Invalid query: limit ");
    }
  });

  test("a 422 never repeats the submitted values", async () => {
    ctx = setup();
    const secret = "hunter2-secret-pw";
    for (const body of [
      { username: "someone", password: secret.repeat(10) },
      { username: 31337424242, password: secret },
      { username: "no spaces allowed", password: secret, email: "not-an-email-address" },
      { username: "someone", password: secret, displayName: ["hunter2-secret-display"] },
    ]) {
      const res = await ctx.call("POST", "/api/auth/register", { body });
      expect(res.status).toBe(422);
      expect(errorCode(res)).toBe("VALIDATION_FAILED");
      expect(res.body.error.details.fields.length).toBeGreaterThan(0);
      const text = JSON.stringify(res.body);
      for (const value of [secret, "31337424242", "no spaces allowed", "not-an-email-address", "hunter2-secret-display"])
        expect(text).not.toContain(value);
    }
    const login = await ctx.call("POST", "/api/auth/login", { body: { username: "someone", password: 123456789012 } });
    expect(login.status).toBe(422);
    expect(JSON.stringify(login.body)).not.toContain("123456789012");
    const missing = await ctx.call("POST", "/api/auth/login", { body: {} });
    expect(missing.body.error.details.fields).toEqual([
      { field: "username", message: "Is required" },
      { field: "password", message: "Is required" },
    ]);
  });
});

describe("request ids and the request log", () => {
  test("every answer carries a request id; a sane given one is kept", async () => {
    ctx = setup();
    const a = await ctx.call("GET", "/health");
    const b = await ctx.call("GET", "/health");
    expect(a.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.headers.get("x-request-id")).not.toBe(b.headers.get("x-request-id"));
    const given = await ctx.call("GET", "/nope", { headers: { "x-request-id": "trace-abc.123" } });
    expect(given.headers.get("x-request-id")).toBe("trace-abc.123");
    const insane = await ctx.call("GET", "/health", { headers: { "x-request-id": "<script>" } });
    expect(insane.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("each request is logged once with method, path, status, duration and request id", async () => {
    const logger = recordingLogger();
    ctx = setup({ logLevel: "info" }, { logger });
    const ok = await ctx.call("GET", "/health");
    const missing = await ctx.call("GET", "/nope");
    const invalid = await ctx.call("POST", "/api/auth/login", { body: {} });
    // The log line is written after the answer is sent: wait for it, boundedly.
    const requests = await until(() => {
      const lines = logger.lines.filter((l) => l.msg === "request");
      return lines.length >= 3 ? lines : null;
    });
    expect(requests.map((l) => [l.fields.method, l.fields.path, l.fields.status])).toEqual([
      ["GET", "/health", 200],
      ["GET", "/nope", 404],
      ["POST", "/api/auth/login", 422],
    ]);
    expect(requests.map((l) => l.fields.requestId)).toEqual([ok, missing, invalid].map((r) => r.headers.get("x-request-id")));
    for (const line of requests) expect(line.fields.durationMs).toBeGreaterThanOrEqual(0);
  });
});
