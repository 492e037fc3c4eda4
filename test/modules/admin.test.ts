/** Server roles and deactivation through the admin service: what an account can still do. */
import { afterEach, describe, expect, test } from "bun:test";
import { Conflict, NotFound, ValidationFailed } from "../../src/errors";
import { errorCode, setup, type TestContext } from "../helpers";
import { type LiveServer, startServer } from "../realtime/helpers";

const PASSWORD = "correct-horse-battery";
let ctx: TestContext | null = null;
let server: LiveServer | null = null;
afterEach(async () => {
  await ctx?.close();
  await server?.close();
  ctx = server = null;
});

const login = (c: TestContext, username: string, password = PASSWORD) =>
  c.call("POST", "/api/auth/login", { body: { username, password } });

describe("server roles", () => {
  test("a new account is a user; /me shows the role an admin gets", async () => {
    ctx = setup();
    const u = await ctx.user();
    expect((await ctx.call("GET", "/api/auth/me", { token: u.token })).body.role).toBe("user");
    await ctx.services.admin.setRole(u.username, "admin");
    expect((await ctx.call("GET", "/api/auth/me", { token: u.token })).body.role).toBe("admin");
    expect((await login(ctx, u.username)).body.user.role).toBe("admin");
  });

  test("the last active admin can be neither demoted nor deactivated", async () => {
    ctx = setup();
    const a = await ctx.user();
    const b = await ctx.user();
    await ctx.services.admin.setRole(a.username, "admin");
    await expect(ctx.services.admin.setRole(a.username, "user")).rejects.toBeInstanceOf(Conflict);
    await expect(ctx.services.admin.setDeactivated(a.username, true)).rejects.toBeInstanceOf(Conflict);
    await ctx.services.admin.setRole(b.username, "admin");
    await ctx.services.admin.setDeactivated(b.username, true);
    // A deactivated admin is no active admin.
    await expect(ctx.services.admin.setRole(a.username, "user")).rejects.toBeInstanceOf(Conflict);
    await ctx.services.admin.setDeactivated(b.username, false);
    expect((await ctx.services.admin.setRole(a.username, "user")).role).toBe("user");
  });

  test("unknown users and bad input are refused", async () => {
    ctx = setup();
    await expect(ctx.services.admin.setRole("nobody", "admin")).rejects.toBeInstanceOf(NotFound);
    await expect(ctx.services.admin.create("x", PASSWORD)).rejects.toBeInstanceOf(ValidationFailed);
    await expect(ctx.services.admin.create("fine_name", "short")).rejects.toBeInstanceOf(ValidationFailed);
    await ctx.services.admin.create("Fine_Name", PASSWORD);
    await expect(ctx.services.admin.create("fine_name", PASSWORD)).rejects.toBeInstanceOf(Conflict);
  });
});

describe("deactivation", () => {
  test("login 403 with the right password, 401 with a wrong one; tokens and refresh 401; messages stay", async () => {
    ctx = setup();
    const u = await ctx.user();
    const other = await ctx.user();
    const room = await ctx.call("POST", "/api/rooms", { token: u.token, body: { name: "stays", visibility: "public" } });
    await ctx.call("POST", `/api/rooms/${room.body.id}/join`, { token: other.token });
    const sent = await ctx.call("POST", `/api/rooms/${room.body.id}/messages`, { token: u.token, body: { content: "still here" } });
    expect(sent.status).toBe(201);

    await ctx.services.admin.setDeactivated(u.username, true);
    const right = await login(ctx, u.username);
    expect(right.status).toBe(403);
    expect(errorCode(right)).toBe("FORBIDDEN");
    const wrong = await login(ctx, u.username, "wrong-password-123");
    expect(wrong.status).toBe(401);
    expect(errorCode(wrong)).toBe("UNAUTHENTICATED");
    expect((await ctx.call("GET", "/api/auth/me", { token: u.token })).status).toBe(401);
    expect((await ctx.call("POST", "/api/auth/refresh", { body: { refreshToken: u.refreshToken } })).status).toBe(401);

    const history = await ctx.call("GET", `/api/rooms/${room.body.id}/messages`, { token: other.token });
    expect(history.body.messages.map((m: { content: string }) => m.content)).toContain("still here");

    await ctx.services.admin.setDeactivated(u.username, false);
    expect((await login(ctx, u.username)).status).toBe(200);
  });

  test("deactivating closes the account's open sockets with 4001", async () => {
    server = await startServer();
    const u = await server.user();
    const bystander = await server.user();
    const doomed = await server.connect(u);
    const kept = await server.connect(bystander);
    await server.services.admin.setDeactivated(u.username, true);
    expect(await doomed.waitClosed()).toEqual({ code: 4001, reason: "session revoked" });
    await kept.barrier();
    expect(kept.isOpen).toBe(true);
    expect((await server.refusedUpgrade(`?token=${u.token}`)).status).toBe(401);
  });

  test("a password reset ends every session and the new password logs in", async () => {
    ctx = setup();
    const u = await ctx.user();
    await ctx.services.admin.resetPassword(u.username, "another-good-password");
    expect((await ctx.call("POST", "/api/auth/refresh", { body: { refreshToken: u.refreshToken } })).status).toBe(401);
    expect((await ctx.call("GET", "/api/auth/me", { token: u.token })).status).toBe(401);
    expect((await login(ctx, u.username)).status).toBe(401);
    expect((await login(ctx, u.username, "another-good-password")).status).toBe(200);
  });
});
