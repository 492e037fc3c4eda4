import { afterEach, describe, expect, test } from "bun:test";
import { setup, type TestContext } from "../helpers";

let ctx: TestContext;
afterEach(async () => {
  await ctx?.close();
});

const preflight = (origin: string) =>
  ctx.call("OPTIONS", "/api/auth/login", {
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
  });

describe("CORS", () => {
  test("unset: no CORS headers, so browsers keep to the same origin", async () => {
    ctx = setup({ corsOrigins: null });
    const res = await ctx.call("GET", "/health", { headers: { origin: "https://evil.example" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("listed origins are allowed, on answers and errors alike, and preflights succeed", async () => {
    ctx = setup({ corsOrigins: ["https://chat.example.com", "http://localhost:5173"] });
    const ok = await ctx.call("GET", "/health", { headers: { origin: "http://localhost:5173" } });
    expect(ok.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect(ok.headers.get("vary")).toContain("Origin");
    const error = await ctx.call("GET", "/api/auth/me", { headers: { origin: "https://chat.example.com" } });
    expect(error.status).toBe(401);
    expect(error.headers.get("access-control-allow-origin")).toBe("https://chat.example.com");

    const pre = await preflight("https://chat.example.com");
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://chat.example.com");
    expect(pre.headers.get("access-control-allow-methods")).toContain("POST");
    expect(pre.headers.get("access-control-allow-headers")).toContain("authorization");

    const other = await ctx.call("GET", "/health", { headers: { origin: "https://evil.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    expect((await preflight("https://evil.example")).headers.get("access-control-allow-origin")).toBeNull();
  });

  test("pages of allowed origins may read Retry-After and the request id", async () => {
    ctx = setup({ corsOrigins: ["https://chat.example.com"], rateLimitAuth: 1 });
    const origin = { origin: "https://chat.example.com" };
    const login = () => ctx.call("POST", "/api/auth/login", { headers: origin, body: { username: "someone", password: "wrong-password" } });
    expect((await login()).status).toBe(401);
    const limited = await login();
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBeTruthy();
    expect(limited.headers.get("access-control-allow-origin")).toBe("https://chat.example.com");
    const exposed = (limited.headers.get("access-control-expose-headers") ?? "").split(",").map((h) => h.trim().toLowerCase());
    expect(exposed.sort()).toEqual(["retry-after", "x-request-id"]);
    const ok = await ctx.call("GET", "/health", { headers: origin });
    expect(ok.headers.get("access-control-expose-headers")).toBe(limited.headers.get("access-control-expose-headers"));
    // Not for other origins.
    const other = await ctx.call("GET", "/health", { headers: { origin: "https://evil.example" } });
    expect(other.headers.get("access-control-expose-headers")).toBeNull();
  });

  test("* allows any origin", async () => {
    ctx = setup({ corsOrigins: "*" });
    const res = await ctx.call("GET", "/health", { headers: { origin: "https://anywhere.example" } });
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect((await preflight("https://anywhere.example")).status).toBe(204);
  });
});
