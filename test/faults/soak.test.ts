/**
 * The soak's short mode (`bun run soak --short`): mixed traffic against one server process for
 * 40 s, failing on RSS or open-file growth and on anything acknowledged missing from history.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";

test("bun run soak --short passes", async () => {
  const proc = Bun.spawn([process.execPath, "bench/soak.ts", "--short"], {
    cwd: join(import.meta.dir, "../.."),
    env: { PATH: Bun.env.PATH ?? "/usr/bin:/bin", HOME: Bun.env.HOME ?? "/tmp" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 150_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  console.log(out.trim());
  expect({ code, tail: `${out}${err}`.trim().split("\n").slice(-3) }).toEqual({ code: 0, tail: expect.arrayContaining(["soak: ok"]) });
  // It measured something: every period printed, messages checked.
  expect(out.match(/^\s+\d+\s+rss /gm)).toHaveLength(8);
  expect(Number(/(\d+) acknowledged messages checked/.exec(out)?.[1])).toBeGreaterThan(100);
}, 180_000);
