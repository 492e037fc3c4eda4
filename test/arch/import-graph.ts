/** The static import graph of src/: every file and the files of src/ it imports (type-only imports included). */
import { Glob } from "bun";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");

function resolveImport(from: string, specifier: string, files: Set<string>): string | null {
  if (!specifier.startsWith(".")) return null;
  const base = join(dirname(from), specifier);
  for (const candidate of [base, `${base}.ts`, join(base, "index.ts")]) if (files.has(candidate)) return candidate;
  return null;
}

export function importGraph(): Map<string, string[]> {
  const files = new Set([...new Glob("src/**/*.ts").scanSync({ cwd: ROOT })].map((f) => f.split("\\").join("/")));
  const graph = new Map<string, string[]>();
  const specifiers = /(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), "utf8");
    const targets: string[] = [];
    for (const match of text.matchAll(specifiers)) {
      const target = resolveImport(file, match[1] ?? match[2]!, files);
      if (target) targets.push(relative(ROOT, join(ROOT, target)).split("\\").join("/"));
    }
    graph.set(file, targets);
  }
  return graph;
}

/** Each cycle once, as the files around it. */
export function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === "open") found.push(stack.slice(stack.indexOf(next)));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return found;
}
