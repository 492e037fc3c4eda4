/** Reports of messages, the admins' queue, and server admins deleting any message. */
import { afterEach, describe, expect, test } from "bun:test";
import { setup, type TestContext } from "../helpers";

let ctx: TestContext | null = null;
afterEach(async () => {
  await ctx?.close();
  ctx = null;
});

async function scene(c: TestContext) {
  const admin = await c.user();
  const author = await c.user();
  const reader = await c.user();
  const outsider = await c.user();
  await c.services.admin.setRole(admin.username, "admin");
  const room = await c.call("POST", "/api/rooms", { token: author.token, body: { name: "Reported", visibility: "private" } });
  await c.call("POST", `/api/rooms/${room.body.id}/members`, { token: author.token, body: { userId: reader.id } });
  const message = await c.call("POST", `/api/rooms/${room.body.id}/messages`, { token: author.token, body: { content: "something rude" } });
  expect(message.status).toBe(201);
  return { admin, author, reader, outsider, roomId: room.body.id as string, messageId: message.body.id as string };
}

describe("reports", () => {
  test("once per reporter and message; only readers may report; bad reasons are refused", async () => {
    ctx = setup();
    const s = await scene(ctx);
    const path = `/api/messages/${s.messageId}/report`;
    const first = await ctx.call("POST", path, { token: s.reader.token, body: { reason: "rude" } });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ id: expect.any(String), status: "open" });
    const again = await ctx.call("POST", path, { token: s.reader.token, body: { reason: "still rude" } });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const other = await ctx.call("POST", path, { token: s.author.token, body: { reason: "mine, but still" } });
    expect(other.status).toBe(201);
    expect(other.body.id).not.toBe(first.body.id);
    expect((await ctx.call("POST", path, { token: s.outsider.token, body: { reason: "rude" } })).status).toBe(404);
    expect((await ctx.call("POST", path, { body: { reason: "rude" } })).status).toBe(401);
    for (const reason of ["", "x".repeat(1001), "   "])
      expect((await ctx.call("POST", path, { token: s.reader.token, body: { reason } })).status).toBe(422);
  });

  test("reporting counts against the message rate limit", async () => {
    ctx = setup({ rateLimitMessages: 2 });
    const s = await scene(ctx);
    const path = `/api/messages/${s.messageId}/report`;
    expect((await ctx.call("POST", path, { token: s.reader.token, body: { reason: "rude" } })).status).toBe(201);
    expect((await ctx.call("POST", path, { token: s.reader.token, body: { reason: "rude" } })).status).toBe(200);
    const limited = await ctx.call("POST", path, { token: s.reader.token, body: { reason: "rude" } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBeString();
  });

  test("the queue by status; resolving with a note is audited, and a new report may follow", async () => {
    ctx = setup();
    const s = await scene(ctx);
    const path = `/api/messages/${s.messageId}/report`;
    const report = await ctx.call("POST", path, { token: s.reader.token, body: { reason: "rude" } });
    const open = await ctx.call("GET", "/api/admin/reports?status=open", { token: s.admin.token });
    expect(open.status).toBe(200);
    expect(open.body.reports).toHaveLength(1);
    expect(open.body.reports[0]).toMatchObject({
      id: report.body.id,
      message: { id: s.messageId, roomId: s.roomId, content: "something rude" },
      reporter: { id: s.reader.id },
      reason: "rude",
      status: "open",
      resolvedBy: null,
    });
    expect((await ctx.call("PATCH", `/api/admin/reports/${report.body.id}`, { token: s.reader.token, body: { status: "resolved" } })).status).toBe(403);
    const resolved = await ctx.call("PATCH", `/api/admin/reports/${report.body.id}`, { token: s.admin.token, body: { status: "resolved", note: "warned" } });
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({ status: "resolved", resolvedBy: s.admin.id, note: "warned" });
    expect(resolved.body.resolvedAt).toBeString();
    expect((await ctx.call("GET", "/api/admin/reports?status=open", { token: s.admin.token })).body.reports).toHaveLength(0);
    expect((await ctx.call("GET", "/api/admin/reports?status=resolved", { token: s.admin.token })).body.reports).toHaveLength(1);
    // The newest change: the reads in between are audited as admin.read.
    const audit = await ctx.call("GET", "/api/admin/audit?limit=10", { token: s.admin.token });
    expect(audit.body.entries.find((e: any) => e.action !== "admin.read")).toMatchObject({ action: "report.resolve", targetType: "report", targetId: report.body.id, actor: { id: s.admin.id } });
    // Once resolved, the same reporter may report the message again.
    const next = await ctx.call("POST", path, { token: s.reader.token, body: { reason: "again" } });
    expect(next.status).toBe(201);
    expect(next.body.id).not.toBe(report.body.id);
    const pageOne = await ctx.call("GET", "/api/admin/reports?limit=1", { token: s.admin.token });
    expect(pageOne.body.reports.map((r: any) => r.id)).toEqual([next.body.id]);
    const pageTwo = await ctx.call("GET", `/api/admin/reports?limit=1&cursor=${pageOne.body.nextCursor}`, { token: s.admin.token });
    expect(pageTwo.body.reports.map((r: any) => r.id)).toEqual([report.body.id]);
    expect(pageTwo.body.nextCursor).toBeNull();
    expect((await ctx.call("PATCH", "/api/admin/reports/0190a000-0000-7000-8000-000000000000", { token: s.admin.token, body: { status: "resolved" } })).status).toBe(404);
  });
});

describe("server admins and messages", () => {
  test("a server admin deletes any message, audited; a plain member still cannot", async () => {
    ctx = setup();
    const s = await scene(ctx);
    expect((await ctx.call("DELETE", `/api/messages/${s.messageId}`, { token: s.reader.token })).status).toBe(403);
    expect((await ctx.call("DELETE", `/api/messages/${s.messageId}`, { token: s.outsider.token })).status).toBe(404);
    ctx.events.clear();
    expect((await ctx.call("DELETE", `/api/messages/${s.messageId}`, { token: s.admin.token })).status).toBe(204);
    expect(ctx.events.ofType("message.deleted").map((e: any) => e.roomId)).toEqual([s.roomId]);
    const history = await ctx.call("GET", `/api/rooms/${s.roomId}/messages`, { token: s.author.token });
    expect(history.body.messages[0]).toMatchObject({ id: s.messageId, content: "" });
    expect(history.body.messages[0].deletedAt).toBeString();
    // The newest change: the reads in between are audited as admin.read.
    const audit = await ctx.call("GET", "/api/admin/audit?limit=10", { token: s.admin.token });
    expect(audit.body.entries.find((e: any) => e.action !== "admin.read")).toMatchObject({ action: "message.delete", targetType: "message", targetId: s.messageId, actor: { id: s.admin.id } });
    expect(audit.body.entries[0].details).toMatchObject({ roomId: s.roomId, senderId: s.author.id });
  });
});
