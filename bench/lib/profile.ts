/**
 * A summary of a CPU profile (`bun --cpu-prof`, Chrome's .cpuprofile format) by samples: each
 * sample is one tick of the sampler on the main thread while it runs. Weighting samples by the
 * time until the next one, as Bun's Markdown profile does, counts idle time towards whatever
 * ran last, which buries the hot paths of a busy server under its quiet moments.
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

const where = (node: ProfileNode) => {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^.*\/(node_modules|src)\//, "$1/");
  return `${functionName || "(anonymous)"} ${file ? `${file}:${lineNumber + 1}` : "[native]"}`;
};

/** The functions with the most samples, by self and by total (itself and what it called), as Markdown. */
export function summarizeProfile(path: string, top = 40): string {
  const profile = JSON.parse(readFileSync(path, "utf8")) as { nodes: ProfileNode[]; samples: number[] };
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let counted = 0;
  for (const sample of profile.samples) {
    const leaf = where(nodes.get(sample)!);
    if (leaf.startsWith("(root)") || leaf.startsWith("(idle)")) continue;
    counted++;
    self.set(leaf, (self.get(leaf) ?? 0) + 1);
    // A function counted once per sample, however often it recurses.
    const seen = new Set<string>();
    for (let id: number | undefined = sample; id !== undefined; id = parent.get(id)) {
      const name = where(nodes.get(id)!);
      if (name.startsWith("(root)") || seen.has(name)) continue;
      seen.add(name);
      total.set(name, (total.get(name) ?? 0) + 1);
    }
  }
  const rows = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, n]) => `| ${((100 * n) / Math.max(1, counted)).toFixed(1)} % | ${n} | \`${name}\` |`)
      .join("\n");
  return [
    `# CPU profile of the server: ${counted} samples`,
    "",
    "## Self (the function itself)",
    "",
    "| share | samples | function |",
    "|--:|--:|---|",
    rows(self),
    "",
    "## Total (the function and what it called)",
    "",
    "| share | samples | function |",
    "|--:|--:|---|",
    rows(total),
    "",
  ].join("\n");
}

if (import.meta.main) {
  const path = process.argv[2];
  if (!path) {
    console.error("usage: bun bench/lib/profile.ts <file.cpuprofile>");
    process.exit(1);
  }
  console.log(summarizeProfile(path));
}
