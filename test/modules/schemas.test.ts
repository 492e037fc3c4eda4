// Input PostgreSQL can't store or compare (U+0000) and ids that can't name anything: the same
// clear 4xx on both databases, never a 500.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { Elysia } from "elysia";
import { errorHandler } from "../../src/errors";
import { parseFrame } from "../../src/realtime/protocol";
import { errorCode, recordingLogger, setup, type TestContext, type TestResponse, type TestUser } from "../helpers";
import { makeRoom, send } from "./messages-fixtures";

const NUL = "a\u0000b";

let ctx: TestContext;
let owner: TestUser;
let other: TestUser;
let roomId: string;
let messageId: string;
let teamId: string;

beforeAll(async () => {
  ctx = setup();
  owner = await ctx.user();
  other = await ctx.user();
  roomId = await makeRoom(ctx, owner, { members: [other], visibility: "public" });
  messageId = (await send(ctx, owner, roomId, "hello")).id;
  const team = await ctx.call("POST", "/api/teams", { token: owner.token, body: { name: "team" } });
  teamId = team.body.id;
});
afterAll(() => ctx.close());

const call = (method: string, path: string, body?: unknown) => ctx.call(method, path, { token: owner.token, body });

function expectError(res: TestResponse, status: number, code: string, label: string) {
  expect([label, res.status, errorCode(res)]).toEqual([label, status, code]);
}

/** 422 naming the field (as `a.b` for nested ones). */
function expectField(res: TestResponse, where: string, field: string, label: string) {
  expectError(res, 422, "VALIDATION_FAILED", label);
  expect([label, res.body.error.details.in, res.body.error.details.fields.map((f: { field: string }) => f.field)]).toEqual([
    label,
    where,
    expect.arrayContaining([field]),
  ]);
}

describe("ids in paths", () => {
  test("an id that is not a UUID is not found (404), whatever it holds", async () => {
    for (const bad of ["%00", "a%00b", "nope", "1", `${Bun.randomUUIDv7()}x`, "%E2%80%8B"]) {
      const cases: [string, string, unknown?][] = [
        ["GET", `/api/rooms/${bad}`],
        ["PATCH", `/api/rooms/${bad}`, { topic: "x" }],
        ["DELETE", `/api/rooms/${bad}`],
        ["POST", `/api/rooms/${bad}/join`],
        ["GET", `/api/rooms/${bad}/members`],
        ["POST", `/api/rooms/${bad}/read`, { seq: 1 }],
        ["PATCH", `/api/rooms/${roomId}/members/${bad}`, { role: "admin" }],
        ["DELETE", `/api/rooms/${roomId}/members/${bad}`],
        ["GET", `/api/rooms/${bad}/messages`],
        ["POST", `/api/rooms/${bad}/messages`, { content: "x" }],
        ["GET", `/api/messages/${bad}`],
        ["GET", `/api/messages/${bad}/replies`],
        ["GET", `/api/messages/${bad}/edits`],
        ["PATCH", `/api/messages/${bad}`, { content: "x" }],
        ["DELETE", `/api/messages/${bad}`],
        ["PUT", `/api/messages/${bad}/reactions/${encodeURIComponent("👍")}`],
        ["GET", `/api/teams/${bad}`],
        ["GET", `/api/teams/${bad}/channels`],
        ["PATCH", `/api/teams/${teamId}/members/${bad}`, { role: "admin" }],
        ["DELETE", `/api/teams/${teamId}/members/${bad}`],
        ["GET", `/api/users/${bad}`],
      ];
      for (const [method, path, body] of cases) expectError(await call(method, path, body), 404, "NOT_FOUND", `${method} ${path}`);
    }
  });

  test("an invite code that is not base64url is not found (404)", async () => {
    for (const bad of ["%00", "a%00b", "a.b", "%F0%9F%91%8D"]) {
      expectError(await call("POST", `/api/invitations/${bad}/accept`), 404, "NOT_FOUND", `accept ${bad}`);
      expectError(await call("DELETE", `/api/teams/${teamId}/invitations/${bad}`), 404, "NOT_FOUND", `revoke ${bad}`);
    }
  });
});

describe("text containing U+0000", () => {
  test("in a query: 422 naming the parameter", async () => {
    expectField(await call("GET", `/api/search/messages?q=hello&roomId=%00`), "query", "roomId", "search roomId");
    expectField(await call("GET", `/api/search/messages?q=a%00b`), "query", "q", "search q");
    expectField(await call("GET", `/api/rooms/public?q=%00`), "query", "q", "public rooms q");
    expectField(await call("GET", `/api/users?q=a%00b`), "query", "q", "users q");
  });

  test("in a body: 422 naming the field", async () => {
    const cases: [string, string, unknown, string][] = [
      ["POST", "/api/rooms", { name: NUL }, "name"],
      ["POST", "/api/rooms", { name: "ok", topic: NUL }, "topic"],
      ["POST", "/api/rooms", { name: "ok", memberIds: [NUL] }, "memberIds.0"],
      ["PATCH", `/api/rooms/${roomId}`, { name: NUL }, "name"],
      ["PATCH", `/api/rooms/${roomId}`, { topic: NUL }, "topic"],
      ["POST", "/api/rooms/direct", { userId: NUL }, "userId"],
      ["POST", `/api/rooms/${roomId}/members`, { userId: NUL }, "userId"],
      ["POST", "/api/teams", { name: NUL }, "name"],
      ["POST", "/api/teams", { name: "ok", description: NUL }, "description"],
      ["PATCH", `/api/teams/${teamId}`, { name: NUL }, "name"],
      ["POST", `/api/teams/${teamId}/members`, { userId: NUL }, "userId"],
      ["POST", `/api/teams/${teamId}/channels`, { name: NUL }, "name"],
      ["POST", `/api/teams/${teamId}/channels`, { name: "ok", topic: NUL }, "topic"],
      ["PATCH", "/api/users/me", { displayName: NUL }, "displayName"],
      ["PATCH", "/api/users/me", { displayName: "\u0000" }, "displayName"],
      ["PATCH", "/api/users/me", { statusText: NUL }, "statusText"],
      ["PATCH", "/api/users/me", { avatarUrl: `https://example.com/${NUL}` }, "avatarUrl"],
      ["PATCH", "/api/users/me", { email: `${NUL}@example.com` }, "email"],
      ["POST", `/api/rooms/${roomId}/messages`, { content: NUL }, "content"],
      ["POST", `/api/rooms/${roomId}/messages`, { content: "ok", clientId: NUL }, "clientId"],
      ["POST", `/api/rooms/${roomId}/messages`, { content: "ok", replyToId: NUL }, "replyToId"],
      ["PATCH", `/api/messages/${messageId}`, { content: NUL }, "content"],
      ["POST", "/api/auth/login", { username: NUL, password: "secret-password" }, "username"],
      ["POST", "/api/auth/login", { username: "someone", password: `secret${NUL}` }, "password"],
      ["POST", "/api/auth/register", { username: "newcomer", password: `password${NUL}` }, "password"],
      ["POST", "/api/auth/refresh", { refreshToken: NUL }, "refreshToken"],
    ];
    for (const [method, path, body, field] of cases) expectField(await call(method, path, body), "body", field, `${method} ${path} ${field}`);
    // Nothing was stored on the way.
    expect((await call("GET", `/api/rooms/${roomId}`)).body.name).not.toContain("\u0000");
    // A display name of spaces is still refused, and an ordinary one still taken.
    expect((await call("PATCH", "/api/users/me", { displayName: "   " })).status).toBe(422);
    expect((await call("PATCH", "/api/users/me", { displayName: " Ada  L. " })).body.displayName).toBe("Ada  L.");
  });

  test("in a message sent by any path (the service checks too): 422 naming the field", async () => {
    const sent = ctx.services.messages.send(owner.id, roomId, { content: NUL });
    await expect(sent).rejects.toMatchObject({ status: 422, details: { fields: [{ field: "content" }] } });
    // WebSocket frames: ids and clientIds are refused as they arrive.
    const frame = { type: "message.send", roomId, content: "ok", clientId: "c1" };
    for (const [field, bad] of [
      ["roomId", { ...frame, roomId: NUL }],
      ["clientId", { ...frame, clientId: NUL }],
      ["replyToId", { ...frame, replyToId: NUL }],
      ["roomId", { type: "read", roomId: NUL, seq: 1 }],
      ["roomId", { type: "typing", roomId: NUL }],
    ] as const) {
      const parsed = parseFrame(JSON.stringify(bad));
      expect([field, parsed.ok]).toEqual([field, false]);
      if (!parsed.ok) expect(parsed.error.details?.fields.map((f) => f.field)).toEqual([field]);
    }
  });
});

describe("what the database refuses anyway", () => {
  test("text PostgreSQL can't store is the client's 400 BAD_REQUEST, not a 500", async () => {
    const logger = recordingLogger();
    // As Bun reports it (SQLSTATE in errno), wrapped the way Drizzle wraps a failed query.
    const pgError = (sqlState: string) =>
      new Error("Failed query: select …", { cause: Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { errno: sqlState }) });
    const app = new Elysia()
      .use(errorHandler(logger))
      .get("/nul", () => {
        throw pgError("22021");
      })
      .get("/untranslatable", () => {
        throw pgError("22P05");
      });
    for (const path of ["/nul", "/untranslatable"]) {
      const res = await app.handle(new Request(`http://localhost${path}`));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("BAD_REQUEST");
    }
    expect(logger.lines.filter((l) => l.level === "error")).toEqual([]);
  });

  test("on the database this suite runs on, a query with U+0000 never answers 500", async () => {
    const fresh = setup();
    try {
      fresh.app.get("/test/nul-query", async () => {
        const { users } = fresh.services.database.tables;
        await fresh.services.database.db.select({ id: users.id }).from(users).where(eq(users.id, NUL));
        return { ok: true };
      });
      const res = await fresh.call("GET", "/test/nul-query");
      if (fresh.services.database.dialect === "pg") expectError(res, 400, "BAD_REQUEST", "pg");
      else expect(res.status).toBe(200); // SQLite stores and compares U+0000 like any character
    } finally {
      await fresh.close();
    }
  });
});
