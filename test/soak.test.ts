/**
 * The soak's short mode (`bun run soak --minutes=0.5`), as CI runs it: one server under mixed
 * traffic for half a minute, ten readings, and a pass only when RSS held, no descriptor
 * leaked and every acknowledged message is in a gap-free history.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");

async function soak(...args: string[]) {
  const proc = Bun.spawn([process.execPath, "bench/soak.ts", ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, stdout, stderr };
}

test(
  "the soak's short mode passes: RSS and descriptors hold, every acknowledged message is in history",
  async () => {
    const { code, stdout, stderr } = await soak("--minutes=0.5");
    if (code !== 0) console.error(stdout, stderr);
    expect(code).toBe(0);
    const readings = stdout.split("\n").filter((line) => /RSS .* MiB · fds .* · lag \(\/health\)/.test(line));
    expect(readings.length).toBeGreaterThanOrEqual(10);
    const acknowledged = Number(/acknowledged messages: (\d+), all checked against history \((\d+)\)/.exec(stdout)?.[1]);
    expect(acknowledged).toBeGreaterThan(0);
    expect(stdout).toContain("PASS  RSS growth");
    expect(stdout).toContain("PASS  server file descriptors");
    expect(stdout).toContain("PASS  problems: 0");
    expect(stdout.trim().split("\n").at(-1)).toBe("soak passed");
  },
  180_000,
);

test("the soak refuses a run of no length", async () => {
  const { code, stderr } = await soak("--minutes=0");
  expect(code).toBe(2);
  expect(stderr).toContain("--minutes");
});
