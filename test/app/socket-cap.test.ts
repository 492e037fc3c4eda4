/**
 * The web app when the server holds as many sockets of the user as it may (WS_MAX_PER_USER=1):
 * one tab too many is closed with 4008, stops, says so and offers a retry, which works once the
 * other tab's socket is gone.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { ServerProcess, until } from "./server";

const CHROMIUM = "/usr/bin/chromium";
const WAIT = { timeout: 15_000 };
const hasBrowser = existsSync(CHROMIUM);
const PASSWORD = "correct-horse-battery";
const suffix = Date.now().toString(36).slice(-5);
const ADMIN = `capadmin_${suffix}`;
const USER = `capped_${suffix}`;

let server: ServerProcess;
let browser: Browser;
const contexts: BrowserContext[] = [];
const pageErrors: string[] = [];
/** WebSocket tickets each tab asked for: one per socket it tried to open. */
const tickets = new Map<Page, number>();

async function call(method: string, path: string, token?: string, body?: unknown): Promise<any> {
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: { ...(body !== undefined && { "content-type": "application/json" }), ...(token && { authorization: `Bearer ${token}` }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

const login = async (username: string): Promise<string> => (await call("POST", "/api/auth/login", undefined, { username, password: PASSWORD })).accessToken;

/** A tab in a browser context of its own, signed in as USER through the sign-in form. */
async function signedInTab(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT.timeout);
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("request", (request) => void (new URL(request.url()).pathname === "/api/auth/ws-ticket" && tickets.set(page, (tickets.get(page) ?? 0) + 1)));
  await page.goto(`${server.base}/`);
  await page.getByLabel("Username or email").fill(USER);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.locator("form").getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("link", { name: "New room" }).waitFor(WAIT);
  return { context, page };
}

describe.skipIf(!hasBrowser)("the web app over its socket cap", () => {
  let adminToken = "";
  let friendToken = "";
  let roomId = "";

  beforeAll(async () => {
    server = new ServerProcess({ WS_MAX_PER_USER: "1", ADMIN_USERNAME: ADMIN, ADMIN_PASSWORD: PASSWORD });
    await server.start();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"] });
    const me = await call("POST", "/api/auth/register", undefined, { username: USER, password: PASSWORD });
    const friend = await call("POST", "/api/auth/register", undefined, { username: `friend_${suffix}`, password: PASSWORD });
    friendToken = friend.accessToken;
    roomId = (await call("POST", "/api/rooms", friendToken, { name: "Capped room", memberIds: [me.user.id] })).id;
    adminToken = await login(ADMIN);
  }, 60_000);

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await server?.dispose();
  });

  /** Sockets open on the server, as its admin statistics count them. */
  const sockets = async (): Promise<number> => (await call("GET", "/api/admin/stats", adminToken)).connections;

  test("one tab too many says so and offers a retry, which works once the other tab is gone", async () => {
    const first = await signedInTab();
    await first.page.getByRole("link", { name: /^Capped room/ }).waitFor(WAIT);
    await until("the first tab's socket", async () => (await sockets()) === 1);

    const second = await signedInTab();
    const alert = second.page.getByRole("alert").filter({ hasText: "Too many open tabs or devices" });
    await alert.waitFor(WAIT);
    const retry = alert.getByRole("button", { name: "Reconnect" });
    await retry.waitFor(WAIT);
    // Stopped, not reconnecting: one socket tried, no banner saying it reconnects, the server holding the first tab's alone.
    expect(tickets.get(second.page)).toBe(1);
    expect(await second.page.getByText("Connection lost: reconnecting…").count()).toBe(0);
    expect(await sockets()).toBe(1);

    await first.context.close();
    await until("the first tab's socket to close", async () => (await sockets()) === 0);
    await retry.click();
    await alert.waitFor({ state: "detached", ...WAIT });
    const room = second.page.getByRole("link", { name: /^Capped room/ });
    await room.waitFor(WAIT);
    await until("the second tab's socket", async () => (await sockets()) === 1);
    expect(tickets.get(second.page)).toBe(2);

    // Live again: a message sent meanwhile shows in the room list without a reload.
    await call("POST", `/api/rooms/${roomId}/messages`, friendToken, { content: "Room for you now" });
    await room.getByText(/Room for you now/).waitFor(WAIT);
    expect(pageErrors).toEqual([]);
  }, 90_000);
});
