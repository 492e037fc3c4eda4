/**
 * The page is served at / and at every client-side path of the app, with its assets, by the
 * listening server; the API, the socket, the documents and the probes keep their own answers.
 */
import { describe, expect, test } from "bun:test";
import { APP_PATHS } from "../../src/app/routes";
import { serverForFile } from "../realtime/helpers";

const live = serverForFile();

const RESERVED = ["/api", "/ws", "/files", "/swagger", "/asyncapi.json", "/metrics", "/health", "/ready"];

describe("the web app's routes", () => {
  test("each client-side path gets the page, which names its script and stylesheet", async () => {
    for (const path of ["/", "/rooms/0190d6a4-0000-7000-8000-000000000000", "/invite/some-code", "/teams", "/teams/abc", "/new", "/discover", "/people", "/search", "/profile", "/admin"]) {
      const res = await fetch(live.base + path);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      expect(res.headers.get("content-type")).toStartWith("text/html");
      expect(await res.text()).toContain('<div id="app"></div>');
    }
  });

  test("the page's assets are served from the same origin", async () => {
    const html = await (await fetch(`${live.base}/`)).text();
    const script = /<script[^>]+src="([^"]+)"/.exec(html)?.[1];
    const style = /<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"|<link[^>]+href="([^"]+)"[^>]+rel="stylesheet"/.exec(html);
    expect(script).toBeDefined();
    const js = await fetch(new URL(script!, live.base));
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toStartWith("text/javascript");
    expect((await js.text()).length).toBeGreaterThan(10_000);
    const css = await fetch(new URL(style![1] ?? style![2], live.base));
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toStartWith("text/css");
  });

  test("no app path is under a server path, and those keep their own answers", async () => {
    for (const path of APP_PATHS) for (const reserved of RESERVED) expect(path === reserved || path.startsWith(`${reserved}/`)).toBe(false);
    const api = await fetch(`${live.base}/api/nope`);
    expect(api.status).toBe(404);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
    expect(await (await fetch(`${live.base}/health`)).json()).toEqual({ status: "ok" });
    expect((await fetch(`${live.base}/ready`)).status).toBe(200);
    expect((await fetch(`${live.base}/ws`)).status).toBe(404);
    expect((await fetch(`${live.base}/swagger/json`)).headers.get("content-type")).toStartWith("application/json");
    expect(await (await fetch(`${live.base}/swagger`)).text()).not.toContain('<div id="app">');
    expect((await fetch(`${live.base}/rooms`)).status).toBe(404);
  });
});
