/** The client bundles for browsers alone: it takes only types from the server. */
import { describe, expect, test } from "bun:test";
import { Glob } from "bun";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ServerFrame } from "bunchat/client";
import { serverFrames } from "../../src/realtime/protocol";

const ROOT = resolve(import.meta.dir, "../..");

describe("bunchat/client", () => {
  test("bundles for the browser from its own files and Eden Treaty only, under 32 KB minified", async () => {
    const result = await Bun.build({ entrypoints: [join(ROOT, "src/client/index.ts")], target: "browser", minify: true, metafile: true });
    expect(result.success).toBe(true);
    const inputs = Object.keys(result.metafile!.inputs);
    expect(inputs.filter((file) => !/src\/client\/|@elysiajs\/eden\//.test(file))).toEqual([]);
    const text = await result.outputs[0]!.text();
    expect(text).not.toContain("bun:");
    // Small enough for a page to load first: the client and Eden Treaty, about 26 KB minified.
    expect(text.length).toBeLessThan(32 * 1024);
  });

  test("imports from the rest of src/ are type-only", () => {
    const files = [...new Glob("src/client/**/*.ts").scanSync({ cwd: ROOT })];
    expect(files.length).toBeGreaterThan(3);
    const valueImports = files.flatMap((file) =>
      [...readFileSync(join(ROOT, file), "utf8").matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+"(\.\.\/[^"]+)"/gm)].map(
        (m) => `${file}: ${m[1]}`,
      ),
    );
    expect(valueImports).toEqual([]);
  });

  test("its ServerFrame type names the frame types the protocol has schemas for, no more and no fewer", () => {
    // A ServerFrame type missing here, or one that is not a ServerFrame, fails to compile.
    const typed: Record<ServerFrame["type"], true> = {
      ready: true, ack: true, error: true, pong: true, "sync.done": true, "message.new": true, "message.updated": true,
      "message.deleted": true, "reaction.added": true, "reaction.removed": true, typing: true, read: true, delivered: true,
      presence: true, "room.created": true, "room.updated": true, "room.deleted": true, "member.joined": true,
      "member.left": true, "member.updated": true, "team.updated": true, "team.deleted": true, history: true,
      "user.updated": true,
    };
    expect(Object.keys(typed).sort()).toEqual(Object.keys(serverFrames).sort());
  });

  test("is what package.json exports as bunchat/client", async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    expect(pkg.exports["./client"]).toBe("./src/client/index.ts");
    const exported = await import("bunchat/client");
    expect(typeof exported.createClient).toBe("function");
  });
});
