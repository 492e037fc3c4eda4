import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

const ROOT = join(import.meta.dir, "../..");
const FILES = ["README.md", "CONTRIBUTING.md", "bench/RESULTS.md", ...new Bun.Glob("docs/*.md").scanSync({ cwd: ROOT })];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as dashes, repeats numbered. */
const slug = (heading: string) =>
  heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");

function anchors(path: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let fence = false;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line.startsWith("```")) fence = !fence;
    const m = !fence && /^#{1,6}\s+(.*)$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]!.replace(/`/g, ""));
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

test("every relative link in the README and docs names a file and heading that exist", () => {
  const broken: string[] = [];
  let links = 0;
  for (const file of FILES) {
    const text = readFileSync(join(ROOT, file), "utf8").replace(/```[\s\S]*?```/g, "");
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      links++;
      const [path, anchor] = target.split("#");
      const abs = path ? resolve(dirname(join(ROOT, file)), path) : join(ROOT, file);
      if (!existsSync(abs)) broken.push(`${file}: ${target} (no such file)`);
      else if (anchor !== undefined && abs.endsWith(".md") && !anchors(abs).has(anchor)) broken.push(`${file}: ${target} (no such heading)`);
    }
  }
  expect(links).toBeGreaterThan(30);
  expect(broken).toEqual([]);
});
