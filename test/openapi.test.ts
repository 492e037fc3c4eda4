import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { validate } from "@readme/openapi-parser";
import { setup, type TestContext } from "./helpers";

type Operation = {
  tags?: string[];
  summary?: string;
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string; schema?: object }[];
  requestBody?: { content: Record<string, { schema?: object }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: { $ref?: string } & Record<string, unknown> }> }>;
};

const METHODS = ["get", "post", "put", "patch", "delete"];
/** Routes that need no token: everything else under /api does (the contract's Conventions). */
const PUBLIC = new Set([
  "GET /health",
  "GET /ready",
  "GET /asyncapi.json",
  "POST /api/auth/register",
  "POST /api/auth/login",
  "POST /api/auth/refresh",
  "GET /files/{id}/{name}",
]);
/** Routes answering with a file's bytes: their successes are binary, and their redirects and 416 have no body. */
const DOWNLOADS = new Set(["GET /files/{id}/{name}"]);

let ctx: TestContext;
let doc: { openapi: string; paths: Record<string, Record<string, Operation>>; components: Record<string, Record<string, unknown>> };
beforeAll(async () => {
  ctx = setup();
  const res = await ctx.call("GET", "/swagger/json");
  expect(res.status).toBe(200);
  doc = res.body;
});
afterAll(async () => {
  await ctx.close();
});

/** A route's path without a trailing slash: Elysia answers both the same. */
const loose = (path: string) => path.replace(/(.)\/$/, "$1");

/** The app's routes as the document names them: `GET /api/users/{id}`. */
function appRoutes() {
  return ctx.app.routes
    .filter((r) => !r.path.startsWith("/swagger") && METHODS.includes(r.method.toLowerCase()))
    .map((r) => ({
      key: `${r.method.toUpperCase()} ${loose(r.path.replace(/:(\w+)/g, "{$1}"))}`,
      hooks: r.hooks as { body?: unknown; query?: unknown; params?: unknown },
    }));
}

function operations() {
  const list: { key: string; op: Operation }[] = [];
  for (const [path, ops] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(ops))
      if (METHODS.includes(method)) list.push({ key: `${method.toUpperCase()} ${loose(path)}`, op });
  return list;
}

/** WebSocket upgrades authenticate with a ticket or token of their own, not the Authorization header. */
const webSockets = () => ["GET /ws", "GET /ws/rooms/{id}"];

describe("the OpenAPI document", () => {
  test("is valid OpenAPI 3.1 for a real validator", async () => {
    expect(doc.openapi).toStartWith("3.1");
    const result = await validate(structuredClone(doc) as never);
    expect((result as { errors?: unknown[] }).errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  test("lists every route of the app, and nothing else", () => {
    const routes = appRoutes().map((r) => r.key).sort();
    const documented = operations().map((o) => o.key).sort();
    expect(new Set(routes).size).toBe(routes.length);
    expect(documented).toEqual(routes);
    for (const route of ["GET /health", "GET /ready", "POST /api/auth/register", "POST /api/auth/ws-ticket", "GET /api/users", "PATCH /api/users/me", "GET /api/users/{id}"])
      expect(documented).toContain(route);
  });

  test("every operation has tags, a summary and response schemas; errors use the envelope", () => {
    const tagNames = new Set((doc as unknown as { tags: { name: string }[] }).tags.map((t) => t.name));
    for (const { key, op } of operations()) {
      expect(op.tags!.length, key).toBeGreaterThan(0);
      for (const tag of op.tags!) expect(tagNames.has(tag), `${key} tag ${tag}`).toBe(true);
      expect(op.summary?.trim().length ?? 0, `${key} summary`).toBeGreaterThan(0);
      const statuses = Object.keys(op.responses ?? {});
      expect(statuses.some((s) => s.startsWith("2") || (s === "101" && webSockets().includes(key))), `${key} has a 2xx`).toBe(true);
      for (const status of statuses) {
        const response = op.responses![status]!;
        if (status === "204" || status === "101" || (DOWNLOADS.has(key) && (status === "302" || status === "416"))) {
          expect(response.content, `${key} ${status} has no body`).toBeUndefined();
          continue;
        }
        if (DOWNLOADS.has(key) && status.startsWith("2")) {
          expect(response.content?.["*/*"]?.schema, `${key} ${status} binary`).toEqual({ type: "string", format: "binary" });
          continue;
        }
        const schema = response.content?.["application/json"]?.schema;
        expect(schema, `${key} ${status} schema`).toBeDefined();
        if (!status.startsWith("2")) {
          const properties = (schema as { properties?: Record<string, { properties?: Record<string, unknown> }> }).properties;
          expect(Object.keys(properties?.error?.properties ?? {}).sort(), `${key} ${status} envelope`).toEqual(["code", "details", "message"]);
        }
      }
    }
  });

  test("a 429 declares its Retry-After header", () => {
    const limited = operations().filter(({ op }) => op.responses?.["429"]);
    expect(limited.map((o) => o.key)).toContain("POST /api/auth/login");
    for (const { key, op } of limited)
      expect((op.responses!["429"] as { headers?: Record<string, { schema?: object }> }).headers?.["Retry-After"]?.schema, key).toEqual({
        type: "integer",
        minimum: 1,
      });
  });

  test("request bodies do not refuse unknown fields: the server ignores them", async () => {
    // Once a route has answered, Elysia has compiled it (and marked its body schema as closed).
    const fresh = setup();
    try {
      const u = await fresh.user();
      expect((await fresh.call("PATCH", "/api/users/me", { token: u.token, body: { statusText: "hi", unknown: 1 } })).status).toBe(200);
      const compiled = (await fresh.call("GET", "/swagger/json")).body as typeof doc;
      const refusing = (schema: unknown): boolean =>
        typeof schema === "object" &&
        schema !== null &&
        ((schema as { additionalProperties?: unknown }).additionalProperties === false || Object.values(schema).some(refusing));
      for (const [path, ops] of Object.entries(compiled.paths))
        for (const [method, op] of Object.entries(ops))
          expect(refusing(op.requestBody?.content["application/json"]?.schema), `${method} ${path} body`).toBe(false);
    } finally {
      await fresh.close();
    }
  });

  test("request schemas: body, path and query parameters", () => {
    const byKey = new Map(operations().map((o) => [o.key, o.op]));
    for (const route of appRoutes()) {
      const op = byKey.get(route.key)!;
      if (route.hooks.body) {
        expect(op.requestBody?.content["application/json"]?.schema, `${route.key} body`).toBeDefined();
        // The server takes JSON only.
        expect(Object.keys(op.requestBody!.content), `${route.key} body media types`).toEqual(["application/json"]);
      }
      for (const [, name] of route.key.matchAll(/\{(\w+)\}/g)) {
        const param = op.parameters?.find((p) => p.in === "path" && p.name === name);
        expect(param?.schema, `${route.key} path parameter ${name}`).toBeDefined();
      }
      if (route.hooks.query) expect(op.parameters?.some((p) => p.in === "query"), `${route.key} query`).toBe(true);
    }
    const register = byKey.get("POST /api/auth/register")!;
    const body = register.requestBody!.content["application/json"]!.schema as { required: string[]; properties: Record<string, unknown> };
    expect(body.required.sort()).toEqual(["password", "username"]);
    expect(Object.keys(body.properties).sort()).toEqual(["displayName", "email", "password", "username"]);
    const search = byKey.get("GET /api/users")!;
    expect(search.parameters!.filter((p) => p.in === "query").map((p) => p.name).sort()).toEqual(["cursor", "limit", "q"]);
  });

  test("the bearer scheme is declared and required exactly where a token is", async () => {
    expect(doc.components.securitySchemes).toEqual({ bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" } });
    for (const { key, op } of operations()) {
      if (webSockets().includes(key)) {
        expect(Object.keys(op.responses ?? {}).sort(), key).toEqual(["101", "401", "404", "503"]);
        expect(op.parameters?.filter((p) => p.in === "query").map((p) => p.name).sort(), key).toEqual(["ticket", "token"]);
      } else if (PUBLIC.has(key)) expect(op.security, `${key} is public`).toBeUndefined();
      else expect(op.security, `${key} needs a token`).toEqual([{ bearerAuth: [] }]);
    }
    // And the routes behave as documented: the secured ones refuse a request without a token,
    // before looking at its body.
    // (WebSocket upgrades need a real server; the gateway's own tests cover them.)
    for (const { key } of operations().filter((o) => !PUBLIC.has(o.key) && !webSockets().includes(o.key))) {
      const [method, path] = key.split(" ") as [string, string];
      const res = await ctx.call(method, path.replace(/\{\w+\}/g, Bun.randomUUIDv7()), method === "GET" || method === "DELETE" ? {} : { body: {} });
      expect(`${key} → ${res.status}`).toBe(`${key} → 401`);
    }
  });
});

describe("Swagger UI", () => {
  test("the page loads its assets from this server only", async () => {
    for (const path of ["/swagger", "/swagger/"]) {
      const res = await ctx.call("GET", path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/html");
      const html = String(res.body);
      const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
      expect(urls.sort()).toEqual(["/swagger/assets/swagger-ui-bundle.js", "/swagger/assets/swagger-ui.css"]);
      expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
      expect(html).toContain('"url":"/swagger/json"');
      // Swagger UI would otherwise send the document to validator.swagger.io.
      expect(html).toContain('"validatorUrl":null');
    }
  });

  test("the assets are served with their types", async () => {
    const js = await ctx.app.handle(new Request("http://localhost/swagger/assets/swagger-ui-bundle.js"));
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toStartWith("text/javascript");
    expect((await js.text()).length).toBeGreaterThan(100_000);
    const css = await ctx.app.handle(new Request("http://localhost/swagger/assets/swagger-ui.css"));
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toStartWith("text/css");
    expect(await css.text()).toContain(".swagger-ui");
    const missing = await ctx.call("GET", "/swagger/assets/nope.js");
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("NOT_FOUND");
  });
});
