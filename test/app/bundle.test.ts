/**
 * The web app's bundle, built the way the server builds it (Bun's bundler from the HTML file,
 * minified): its size budget, and nothing in it that would reach off the server's origin or
 * put text into the page as HTML.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const APP = join(import.meta.dir, "..", "..", "src", "app");
/** JavaScript and CSS together, gzipped. */
const BUDGET_BYTES = 120 * 1024;

let outdir: string;
let outputs: { path: string; kind: string }[] = [];

beforeAll(async () => {
  outdir = mkdtempSync(join(tmpdir(), "bunchat-bundle-"));
  const result = await Bun.build({ entrypoints: [join(APP, "index.html")], outdir, minify: true, target: "browser" });
  if (!result.success) throw new Error(result.logs.map(String).join("\n"));
  outputs = result.outputs.map((o) => ({ path: o.path, kind: o.path.split(".").pop()! }));
});

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

const read = (kind: string) => outputs.filter((o) => o.kind === kind).map((o) => readFileSync(o.path, "utf8"));

describe("the web app bundle", () => {
  test(`JavaScript and CSS stay within ${BUDGET_BYTES / 1024} KB gzipped`, () => {
    const sizes = outputs.filter((o) => o.kind === "js" || o.kind === "css").map((o) => ({ file: o.path.slice(outdir.length + 1), gzip: gzipSync(readFileSync(o.path)).length }));
    expect(sizes.some((s) => s.file.endsWith(".js"))).toBe(true);
    expect(sizes.some((s) => s.file.endsWith(".css"))).toBe(true);
    const total = sizes.reduce((sum, s) => sum + s.gzip, 0);
    console.log(`web app bundle: ${(total / 1024).toFixed(1)} KB gzipped`, sizes);
    expect(total).toBeLessThanOrEqual(BUDGET_BYTES);
  });

  test("the page loads only its own scripts and styles: no CDN, no outside font, no inline script", () => {
    const [html] = read("html");
    const refs = [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThanOrEqual(2);
    for (const ref of refs) expect(ref).toMatch(/^\.?\/[^/]/);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\bstyle="/);
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1];
    expect(csp).toContain("default-src 'self'");
    expect(csp).not.toContain("unsafe");
    for (const css of read("css")) {
      expect(css).not.toMatch(/@import|url\((?!["']?data:)/);
      expect(css).not.toContain("@font-face");
    }
    for (const js of read("js")) expect(js).not.toMatch(/https?:\/\/(?!www\.w3\.org\/)[a-z0-9.-]+\//i);
  });

  test("no source of the app writes HTML or evaluates text", () => {
    const files = readdirSync(APP, { recursive: true, encoding: "utf8" }).filter((f) => /\.tsx?$/.test(f));
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      const source = readFileSync(join(APP, file), "utf8");
      expect({ file, found: source.match(/dangerouslySetInnerHTML|innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(/g) }).toEqual({ file, found: null });
    }
  });
});
