/** .env.example names every variable the configuration reads, with its default, and nothing else. */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../src/config";

const ROOT = join(import.meta.dir, "..");

/** The variables loadConfig reads, learnt by handing it an environment that records each name asked for. */
function variablesRead(): string[] {
  const read = new Set<string>();
  const env = new Proxy({} as Record<string, string | undefined>, {
    get(_, name) {
      if (typeof name === "string") read.add(name);
      return undefined;
    },
  });
  loadConfig(env, "/dev/null");
  return [...read].sort();
}

/** `# NAME=value` or `NAME=value` lines: name → value. */
function entries(): Map<string, string> {
  const text = readFileSync(join(ROOT, ".env.example"), "utf8");
  const found = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^#?\s?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match) found.set(match[1]!, match[2]!);
  }
  return found;
}

test("every variable the configuration reads has an entry, and every entry is read", () => {
  const read = variablesRead();
  expect(read.length).toBeGreaterThan(30);
  expect([...entries().keys()].sort()).toEqual(read);
});

test("each entry (or group of entries) has a comment above it, and its value is the default (loading the file changes nothing)", () => {
  const lines = readFileSync(join(ROOT, ".env.example"), "utf8").split("\n");
  const isEntry = (line: string) => /^#?\s?[A-Z][A-Z0-9_]*=/.test(line);
  for (const [i, line] of lines.entries()) {
    if (!isEntry(line)) continue;
    let above = i - 1;
    while (above >= 0 && isEntry(lines[above]!)) above--;
    expect({ line, above: lines[above] ?? "" }).toEqual({ line, above: expect.stringMatching(/^# \S/) });
  }
  const given = Object.fromEntries([...entries()].filter(([, value]) => value !== ""));
  const secret = "x".repeat(32);
  expect(loadConfig({ ...given, JWT_SECRET: secret }, "/dev/null")).toEqual(loadConfig({ JWT_SECRET: secret }, "/dev/null"));
});

test("the README's configuration table names every variable too", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const missing = variablesRead().filter((name) => !readme.includes(`\`${name}\``));
  expect(missing).toEqual([]);
});
