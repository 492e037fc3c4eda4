/** The code's layering, read from its import graph: dependencies point one way and never in a circle. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { cycles, importGraph } from "./import-graph";

const graph = importGraph();
const ROOT = resolve(import.meta.dir, "../..");
const importsOf = (prefix: string) =>
  [...graph].filter(([file]) => file.startsWith(prefix)).flatMap(([file, targets]) => targets.map((target) => `${file} -> ${target}`));

describe("the import graph of src/", () => {
  test("is read: it holds the files it should, with their imports", () => {
    expect(graph.get("src/db/index.ts")).toContain("src/db/sqlite.ts");
    expect(graph.get("src/modules/messages/service.ts")).toContain("src/modules/messages/writer.ts");
  });

  test("nothing under src/db imports from src/modules, src/realtime or src/plugins", () => {
    expect(importsOf("src/db/").filter((edge) => /-> src\/(modules|realtime|plugins)\//.test(edge))).toEqual([]);
  });

  test("services never import real time or controllers: they speak through Events", () => {
    const services = [...graph.keys()].filter((file) => /^src\/modules\/[^/]+\/service\.ts$/.test(file));
    expect(services.length).toBeGreaterThan(4);
    const upward = services.flatMap((file) => graph.get(file)!.filter((t) => t.startsWith("src/realtime/") || t.endsWith("/index.ts") && t.startsWith("src/modules/")).map((t) => `${file} -> ${t}`));
    expect(upward).toEqual([]);
  });

  test("the message writer and the dialects' message stores do not import each other", () => {
    const writer = "src/modules/messages/writer.ts";
    expect(graph.get(writer)!.filter((t) => t.startsWith("src/db/messages/") && t !== "src/db/messages/store.ts")).toEqual([]);
    expect(importsOf("src/db/messages/").filter((edge) => edge.endsWith(writer))).toEqual([]);
  });

  test("has no cycles", () => {
    expect(cycles(graph).map((cycle) => cycle.join(" -> "))).toEqual([]);
  });

  test("services hold no dialect forks: only src/db speaks a dialect", () => {
    const forks = [...graph.keys()]
      .filter((file) => !file.startsWith("src/db/"))
      .filter((file) => /\.dialect\s*[!=]==/.test(readFileSync(join(ROOT, file), "utf8")));
    expect(forks).toEqual([]);
  });
});
