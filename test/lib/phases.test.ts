/** The bench's phase trace: a send's row carries its seq, batch and a time per phase, in path order. */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config";
import { PHASES, PhaseTrace, phaseTrace } from "../../src/lib/phases";

const dir = mkdtempSync(join(tmpdir(), "bunchat-phases-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("off unless BENCH_PHASES is set", () => {
  expect(loadConfig({ JWT_SECRET: "x".repeat(32) }, "/dev/null").benchPhases).toBeNull();
  expect(loadConfig({ JWT_SECRET: "x".repeat(32), BENCH_PHASES: "/tmp/p.json" }, "/dev/null").benchPhases).toBe("/tmp/p.json");
  // Nothing in this process started one.
  expect(phaseTrace).toBeNull();
});

test("a traced send's row holds its seq, its batch and every phase in order; an untraced one gets no slot", () => {
  const file = join(dir, "trace.json");
  const trace = new PhaseTrace(file);
  expect(trace.queued("not-traced")).toBe(-1);
  trace.begin(trace.now());
  const slot = trace.queued("m1");
  expect(slot).toBe(0);
  // Taken once: a second write in the same handler is not this frame's.
  expect(trace.queued("m2")).toBe(-1);
  trace.end();
  const started = trace.now();
  trace.committed(slot, started, trace.now(), 7, 3);
  trace.mark("m1", 5);
  trace.mark("m1", 6);
  trace.mark("unknown", 6);
  trace.dump();
  const dumped = JSON.parse(readFileSync(file, "utf8")) as { columns: string[]; rows: number[][]; traced: number };
  expect(dumped.columns).toEqual(["seq", "batch", ...PHASES]);
  expect(dumped.traced).toBe(1);
  const [row] = dumped.rows;
  expect(row!.slice(0, 2)).toEqual([7, 3]);
  const times = row!.slice(2);
  expect(times.every(Number.isFinite)).toBe(true);
  expect(times).toEqual([...times].sort((a, b) => a - b));
});
