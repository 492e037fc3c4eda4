/**
 * The compiled binary: built with the `build` script's own flags, copied alone into an empty
 * directory (no node_modules, no drizzle/), started there, used, and stopped with SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { validate } from "@readme/openapi-parser";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../package.json";
import { png } from "./files-fixtures";
import { type MailSink, startMailSink } from "./mail-sink";

const root = join(import.meta.dir, "..");
const dirs: string[] = [];
const tempDir = (name: string) => {
  const dir = mkdtempSync(join(tmpdir(), `bunchat-${name}-`));
  dirs.push(dir);
  return dir;
};

let runDir: string;
let binary: string;
let proc: ReturnType<typeof Bun.spawn> | null = null;
let output = "";
let base = "";
let accessToken = "";
let sink: MailSink;

/** Polls `check` every 20 ms until it returns a value, for at most `ms`. */
async function until<T>(what: string, check: () => T | null | undefined | Promise<T | null | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== null && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output so far:\n${output}`);
    await Bun.sleep(20);
  }
}

async function collect(stream: ReadableStream<Uint8Array>) {
  const decoder = new TextDecoder();
  for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
}

const json = (path: string, init: RequestInit & { body?: string } = {}) =>
  fetch(base + path, { ...init, headers: { "content-type": "application/json", ...init.headers } }).then(async (res) => ({
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as any,
  }));

beforeAll(async () => {
  // The build script, pointed at a temporary output.
  const script = pkg.scripts.build;
  expect(script).toContain("bun build --compile");
  expect(script).toContain("--outfile dist/bunchat");
  const buildDir = tempDir("build");
  const args = script.replace("--outfile dist/bunchat", `--outfile ${join(buildDir, "bunchat")}`).split(/\s+/).slice(1);
  const build = Bun.spawnSync([process.execPath, ...args], { cwd: root, stdout: "pipe", stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`build failed:\n${build.stdout}\n${build.stderr}`);

  runDir = tempDir("run");
  binary = join(runDir, "bunchat");
  copyFileSync(join(buildDir, "bunchat"), binary);
  Bun.spawnSync(["chmod", "+x", binary]);
  expect(readdirSync(runDir)).toEqual(["bunchat"]);

  sink = await startMailSink();
  await start();
}, 120_000);

/** Starts the binary in runDir on a port of its choosing and waits for it to say where. */
async function start() {
  output = "";
  proc = Bun.spawn([binary], {
    cwd: runDir,
    env: {
      PATH: "/usr/bin:/bin",
      HOME: runDir,
      HOST: "127.0.0.1",
      PORT: "0",
      DATABASE_URL: "sqlite://./data/chat.db",
      LOG_LEVEL: "info",
      RATE_LIMIT_AUTH: "0",
      RATE_LIMIT_ANON: "0",
      SMTP_URL: sink.url,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  void collect(proc.stdout as ReadableStream<Uint8Array>);
  void collect(proc.stderr as ReadableStream<Uint8Array>);
  const port = await until("the listening line", () => /"msg":"listening","url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(output)?.[1]);
  base = `http://127.0.0.1:${port}`;
}

afterAll(async () => {
  if (proc && proc.exitCode === null) proc.kill("SIGKILL");
  await sink?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("the compiled binary, alone in an empty directory", () => {
  test("becomes ready, with its database and secret under ./data", async () => {
    await until("/ready", () => fetch(`${base}/ready`).then((r) => (r.status === 200 ? true : null), () => null));
    expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: "ok" });
    expect(existsSync(join(runDir, "data", "chat.db"))).toBe(true);
    expect(statSync(join(runDir, "data", "jwt-secret")).mode & 0o777).toBe(0o600);
    expect(existsSync(join(runDir, "node_modules"))).toBe(false);
    expect(existsSync(join(runDir, "drizzle"))).toBe(false);
  });

  test("registers and logs in", async () => {
    const reg = await json("/api/auth/register", {
      method: "POST",
      body: JSON.stringify({ username: "binary_user", password: "correct-horse-battery", email: "bin@example.com" }),
    });
    expect(reg.status).toBe(201);
    // The code reaches the mail server (nodemailer works in the binary); the address becomes a login name.
    const verified = await json("/api/auth/email/verify", {
      method: "POST",
      headers: { authorization: `Bearer ${reg.body.accessToken}` },
      body: JSON.stringify({ code: await sink.nextCode("bin@example.com") }),
    });
    expect(verified.status).toBe(200);
    expect(verified.body.emailVerified).toBe(true);
    const login = await json("/api/auth/login", {
      method: "POST",
      body: JSON.stringify({ username: "bin@example.com", password: "correct-horse-battery" }),
    });
    expect(login.status).toBe(200);
    expect(login.body.user.id).toBe(reg.body.user.id);
    accessToken = login.body.accessToken;
    const me = await json("/api/auth/me", { headers: { authorization: `Bearer ${login.body.accessToken}` } });
    expect(me.status).toBe(200);
    expect(me.body.username).toBe("binary_user");
    const wrong = await json("/api/auth/login", {
      method: "POST",
      body: JSON.stringify({ username: "binary_user", password: "wrong-password" }),
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe("UNAUTHENTICATED");
  });

  test("stores an upload under ./data/files, detects and serves it, and re-encodes an avatar", async () => {
    const auth = { authorization: `Bearer ${accessToken}` };
    const form = new FormData();
    form.append("file", new File([png(30, 20)], "pic.png", { type: "text/plain" }));
    const up = await fetch(`${base}/api/files`, { method: "POST", headers: auth, body: form });
    expect(up.status).toBe(201);
    const file = (await up.json()) as { id: string; url: string; contentType: string; width: number; height: number };
    expect(file).toMatchObject({ contentType: "image/png", width: 30, height: 20 });
    expect(readdirSync(join(runDir, "data", "files"))).toEqual([file.id]);
    const served = await fetch(base + file.url);
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("image/png");
    expect(Buffer.from(await served.arrayBuffer()).equals(png(30, 20))).toBe(true);

    const avatarForm = new FormData();
    avatarForm.append("file", new File([png(1000, 500)], "me.png"));
    const avatar = await fetch(`${base}/api/users/me/avatar`, { method: "PUT", headers: auth, body: avatarForm });
    expect(avatar.status).toBe(200);
    const image = await fetch(base + ((await avatar.json()) as { avatarUrl: string }).avatarUrl);
    expect(await new Bun.Image(Buffer.from(await image.arrayBuffer())).metadata()).toEqual({ width: 512, height: 256, format: "webp" });
  });

  test("serves Swagger UI with its embedded assets and a valid document", async () => {
    const page = await fetch(`${base}/swagger`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("/swagger/assets/swagger-ui-bundle.js");
    const js = await fetch(`${base}/swagger/assets/swagger-ui-bundle.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toStartWith("text/javascript");
    expect((await js.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
    const css = await fetch(`${base}/swagger/assets/swagger-ui.css`);
    expect(css.status).toBe(200);
    const doc = (await (await fetch(`${base}/swagger/json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toContain("/api/auth/register");
    expect((await validate(doc as never)).valid).toBe(true);
  });

  test("serves the web app with its bundled script and stylesheet embedded", async () => {
    for (const path of ["/", "/rooms/some-room", "/invite/some-code"]) {
      const page = await fetch(`${base}${path}`);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toStartWith("text/html");
    }
    const html = await (await fetch(`${base}/`)).text();
    expect(html).toContain('<div id="app"></div>');
    const script = /<script[^>]+src="([^"]+)"/.exec(html)?.[1];
    const style = /<link[^>]+href="([^"]+\.css)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect(style).toBeDefined();
    const js = await fetch(new URL(script!, base));
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toStartWith("text/javascript");
    expect(await js.text()).toContain("bunchat.refreshToken");
    const css = await fetch(new URL(style!, base));
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toStartWith("text/css");
  });

  test("answers --healthcheck", async () => {
    const port = new URL(base).port;
    const check = Bun.spawn([binary, "--healthcheck"], { cwd: runDir, env: { PORT: port }, stdout: "pipe", stderr: "pipe" });
    expect(await check.exited).toBe(0);
  });

  test("on SIGTERM stops accepting, finishes the request in flight, and exits 0", async () => {
    const { hostname, port } = new URL(base);
    const body = JSON.stringify({ username: "in_flight", password: "correct-horse-battery" });
    let received = "";
    const socket = await Bun.connect({
      hostname,
      port: Number(port),
      socket: {
        data(_socket, data) {
          received += data.toString();
        },
      },
    });
    // Headers only: the server answers 100 Continue once the handler waits for the body,
    // which proves the request is in flight.
    socket.write(
      `POST /api/auth/register HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`,
    );
    await until("100 Continue", () => (received.includes("100 Continue") ? true : null));

    proc!.kill("SIGTERM");
    // Stopped accepting: new connections are refused.
    await until("new connections to be refused", () => fetch(`${base}/health`).then(() => null, () => true));
    expect(proc!.exitCode).toBeNull(); // still draining
    socket.write(body);
    await until("the in-flight answer", () => (/\r\n\r\n\{.*\}$/s.test(received) ? true : null));
    expect(received).toContain("HTTP/1.1 201");
    expect(received).toContain('"username":"in_flight"');
    socket.end();

    expect(await proc!.exited).toBe(0);
    expect(output).toContain('"msg":"shutting down","signal":"SIGTERM"');
    expect(output).toContain('"msg":"stopped"');
    expect(output).not.toContain('"level":"error"');
  });

  test("starts again on the same data: migrations are not re-applied, the kept secret still verifies", async () => {
    await start();
    await until("/ready", () => fetch(`${base}/ready`).then((r) => (r.status === 200 ? true : null), () => null));
    const me = await json("/api/auth/me", { headers: { authorization: `Bearer ${accessToken}` } });
    expect(me.status).toBe(200);
    expect(me.body.username).toBe("binary_user");
    const login = await json("/api/auth/login", {
      method: "POST",
      body: JSON.stringify({ username: "in_flight", password: "correct-horse-battery" }),
    });
    expect(login.status).toBe(200);
    proc!.kill("SIGINT");
    expect(await proc!.exited).toBe(0);
    expect(output).toContain('"signal":"SIGINT"');
  });
});
