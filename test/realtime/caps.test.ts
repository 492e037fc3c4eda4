import { describe, expect, test } from "bun:test";
import { ConnectionCaps } from "../../src/realtime/caps";

describe("ConnectionCaps", () => {
  test("admits up to the cap per user, refuses beyond it, and admits again once one closed", () => {
    const caps = new ConnectionCaps(2, 0);
    expect(caps.admit("u", "a")).toBeNull();
    expect(caps.admit("u", "b")).toBeNull();
    expect(caps.admit("u", "c")).toBe("too many connections: at most 2 per user");
    expect(caps.admit("v", "a")).toBeNull();
    expect(caps.count("u", "a")).toEqual({ user: 2, address: 0 });
    caps.release("u", "b");
    expect(caps.admit("u", "c")).toBeNull();
  });

  test("admits up to the cap per address whoever the users are", () => {
    const caps = new ConnectionCaps(0, 2);
    expect(caps.admit("u", "a")).toBeNull();
    expect(caps.admit("v", "a")).toBeNull();
    expect(caps.admit("w", "a")).toBe("too many connections: at most 2 per address");
    expect(caps.admit("w", "b")).toBeNull();
    caps.release("u", "a");
    expect(caps.admit("w", "a")).toBeNull();
  });

  test("a refused socket counts against neither cap", () => {
    const caps = new ConnectionCaps(1, 2);
    expect(caps.admit("u", "a")).toBeNull();
    expect(caps.admit("u", "a")).not.toBeNull();
    expect(caps.count("u", "a")).toEqual({ user: 1, address: 1 });
    expect(caps.admit("v", "a")).toBeNull();
    expect(caps.admit("w", "a")).toBe("too many connections: at most 2 per address");
    expect(caps.count("w", "a")).toEqual({ user: 0, address: 2 });
  });

  test("releases forget users and addresses with no socket left", () => {
    const caps = new ConnectionCaps(3, 3);
    caps.admit("u", "a");
    caps.release("u", "a");
    expect(caps.count("u", "a")).toEqual({ user: 0, address: 0 });
    expect(caps["byUser"].size + caps["byAddress"].size).toBe(0);
  });

  test("0 turns a cap off", () => {
    const caps = new ConnectionCaps(0, 0);
    for (let i = 0; i < 1000; i++) expect(caps.admit("u", "a")).toBeNull();
    expect(caps.count("u", "a")).toEqual({ user: 0, address: 0 });
  });
});
