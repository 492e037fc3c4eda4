import { afterEach, describe, expect, test } from "bun:test";
import { clientAddress } from "../../src/plugins/client-address";
import { setup, type TestContext } from "../helpers";

const peer = (address: string) => ({ requestIP: () => ({ address }) });
const from = (forwarded?: string) => new Request("http://x/", { headers: forwarded ? { "x-forwarded-for": forwarded } : {} });

describe("the client address", () => {
  test("is the peer when no proxy is trusted, whatever X-Forwarded-For says", () => {
    expect(clientAddress(from("6.6.6.6"), peer("10.0.0.2"), 0)).toBe("10.0.0.2");
    expect(clientAddress(from(), null, 0)).toBe("local");
  });

  test("behind trusted proxies, is the entry that many hops from the right", () => {
    // The client may send its own header; each proxy appends the peer it saw.
    expect(clientAddress(from("6.6.6.6, 203.0.113.7"), peer("10.0.0.2"), 1)).toBe("203.0.113.7");
    expect(clientAddress(from("6.6.6.6, 203.0.113.7, 10.0.0.9"), peer("10.0.0.2"), 2)).toBe("203.0.113.7");
    expect(clientAddress(from(" 203.0.113.7 "), peer("10.0.0.2"), 1)).toBe("203.0.113.7");
    // A request that did not come through the proxy carries no header: its peer.
    expect(clientAddress(from(), peer("10.0.0.2"), 1)).toBe("10.0.0.2");
  });
});

describe("the auth rate limit behind a proxy", () => {
  let ctx: TestContext;
  afterEach(() => ctx.close());
  const login = (forwarded: string) =>
    ctx.call("POST", "/api/auth/login", { body: { username: "nobody", password: "wrong-password" }, headers: { "x-forwarded-for": forwarded } });

  test("with TRUST_PROXY each forwarded client has its own budget", async () => {
    ctx = setup({ rateLimitAuth: 2, trustProxy: 1 });
    expect((await login("203.0.113.1")).status).toBe(401);
    expect((await login("203.0.113.1")).status).toBe(401);
    expect((await login("203.0.113.1")).status).toBe(429);
    expect((await login("203.0.113.2")).status).toBe(401);
    // A client cannot pose as another by sending its own header: the proxy's entry is last.
    expect((await login("203.0.113.2, 203.0.113.1")).status).toBe(429);
  });

  test("without it the header is ignored: one budget for the peer", async () => {
    ctx = setup({ rateLimitAuth: 2 });
    expect((await login("203.0.113.1")).status).toBe(401);
    expect((await login("203.0.113.2")).status).toBe(401);
    expect((await login("203.0.113.3")).status).toBe(429);
  });
});
