import { afterAll, expect, test } from "bun:test";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test(".ci/run still ends with its summary line, and fails, when a step before the tests fails", async () => {
  // The script in a directory of its own, with an npm whose `ci` fails: nothing is installed or started.
  const root = mkdtempSync(join(tmpdir(), "bunchat-ci-"));
  dirs.push(root);
  mkdirSync(join(root, ".ci"));
  cpSync(join(import.meta.dir, "..", ".ci", "run"), join(root, ".ci", "run"));
  const bin = join(root, "fake-bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "npm"), '#!/bin/sh\necho "npm ERR! pretend failure" >&2\nexit 1\n');
  chmodSync(join(bin, "npm"), 0o755);

  const proc = Bun.spawn(["bash", join(root, ".ci", "run")], {
    cwd: root,
    env: { PATH: `${bin}:${process.env.PATH ?? ""}`, CI_REPORT_DIR: join(root, "reports") },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stdout] = await Promise.all([proc.exited, new Response(proc.stdout).text()]);
  expect(code).not.toBe(0);
  expect(stdout.trim().split("\n").at(-1)).toBe("0 passed, 1 failed");
});
