/** ALLOWED_HOSTS: requests for other Host names get 400 in the error envelope; the probes answer any host. */
import { afterEach, describe, expect, test } from "bun:test";
import { errorCode, setup, type TestContext } from "../helpers";
import { type LiveServer, startServer } from "../realtime/helpers";

let ctx: TestContext | undefined;
let server: LiveServer | undefined;
afterEach(async () => {
  await ctx?.close();
  await server?.close();
  ctx = server = undefined;
});

const withHost = (path: string, host: string, method = "GET") => ctx!.call(method, path, { headers: { host } });

describe("ALLOWED_HOSTS", () => {
  test("unset: any host is answered", async () => {
    ctx = setup({ allowedHosts: null });
    expect((await withHost("/api/auth/me", "anything.example")).status).toBe(401);
    expect((await withHost("/swagger/json", "evil.example")).status).toBe(200);
  });

  test("listed hosts are answered (a name without a port on any port, ignoring case); others get 400", async () => {
    ctx = setup({ allowedHosts: ["chat.example.com", "localhost:3000", "[::1]:3000"] });
    for (const host of ["chat.example.com", "CHAT.example.com:8443", "localhost:3000", "[::1]:3000"])
      expect({ host, status: (await withHost("/swagger/json", host)).status }).toEqual({ host, status: 200 });
    for (const host of ["evil.example", "chat.example.com.evil.example", "localhost", "localhost:3001", "[::1]", "[::1]:3001"]) {
      const res = await withHost("/swagger/json", host);
      expect({ host, status: res.status }).toEqual({ host, status: 400 });
      expect(errorCode(res)).toBe("BAD_REQUEST");
    }
    // Refused before authentication and before the body is read.
    const post = await ctx.call("POST", "/api/auth/login", { headers: { host: "evil.example" }, body: { username: "someone", password: "whatever-it-is" } });
    expect(post.status).toBe(400);
    expect(errorCode(post)).toBe("BAD_REQUEST");
  });

  test("/health and /ready answer whatever the host (orchestrators probe by address)", async () => {
    ctx = setup({ allowedHosts: ["chat.example.com"] });
    expect((await withHost("/health", "10.0.0.5:3000")).status).toBe(200);
    expect((await withHost("/ready", "10.0.0.5:3000")).status).toBe(200);
  });

  test("over the network, HTTP and WebSocket upgrades for other hosts are refused with 400", async () => {
    server = await startServer({ allowedHosts: ["chat.example.com"] });
    const refused = await server.call("GET", "/swagger/json");
    expect(refused.status).toBe(400);
    expect(errorCode(refused)).toBe("BAD_REQUEST");
    expect((await server.call("GET", "/swagger/json", { headers: { host: "chat.example.com" } })).status).toBe(200);
    expect((await server.refusedUpgrade("?token=anything")).status).toBe(400);
    expect((await server.call("GET", "/health")).status).toBe(200);
  });
});
