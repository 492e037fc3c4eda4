/**
 * The web app in a real browser (Debian's chromium through playwright-core), against a server
 * process on a SQLite file: two people in two browser contexts sign up and chat; the server is
 * restarted under them. Screenshots go to .ci/reports/ for people to look at.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page, type Route } from "playwright-core";
import { png } from "../files-fixtures";
import { ServerProcess, until } from "./server";

const CHROMIUM = "/usr/bin/chromium";
const REPORTS = join(import.meta.dir, "..", "..", ".ci", "reports");
const WAIT = { timeout: 15_000 };
const hasBrowser = existsSync(CHROMIUM);
if (!hasBrowser) console.warn(`skipping the browser tests: no browser at ${CHROMIUM} (apt-get install chromium)`);

const XSS = `<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>`;
const suffix = Date.now().toString(36).slice(-5);
const alice = { username: `alice_${suffix}`, displayName: "Alice" };
const bob = { username: `bob_${suffix}`, displayName: `<b>Bob</b><img src=x onerror="window.__xss=2">` };
const PASSWORD = "correct-horse-battery";
const ADMIN = { username: `admin_${suffix}` };

let server: ServerProcess;
let browser: Browser;
const contexts: BrowserContext[] = [];
let a: Page;
let b: Page;
const pageErrors: string[] = [];

async function open(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  contexts.push(context);
  // The page's sockets, so that a test can drop them as a lost connection would.
  await context.addInitScript(() => {
    const Native = WebSocket;
    const sockets: WebSocket[] = ((globalThis as any).__sockets = []);
    (globalThis as any).WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        sockets.push(this);
      }
    };
  });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT.timeout);
  page.on("pageerror", (error) => pageErrors.push(error.message));
  // The page's own Content-Security-Policy must not block anything the app does.
  page.on("console", (entry) => {
    if (entry.text().includes("Content Security Policy")) pageErrors.push(entry.text());
  });
  // Nothing may leave the server's origin.
  await page.route(/.*/, (route) => (route.request().url().startsWith(server.base) ? route.continue() : route.abort()));
  page.on("request", (request) => {
    if (!request.url().startsWith(server.base) && !request.url().startsWith("ws://127.0.0.1")) pageErrors.push(`off-origin request: ${request.url()}`);
  });
  await page.goto(`${server.base}/`);
  return page;
}

async function signUp(page: Page, user: { username: string; displayName: string }) {
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByLabel("Username").fill(user.username);
  await page.getByLabel("Display name (optional)").fill(user.displayName);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.locator("form").getByRole("button", { name: "Create account" }).click();
  await page.getByRole("link", { name: "New room" }).waitFor(WAIT);
}

const timeline = (page: Page) => page.getByRole("list", { name: "Messages" });
/** The message whose text (not its sender's name) contains `text`. */
const message = (page: Page, text: string) => timeline(page).locator(".message").filter({ has: page.locator(".content", { hasText: text }) });

async function send(page: Page, text: string) {
  const box = page.getByLabel("Message", { exact: true });
  await box.fill(text);
  await box.press("Enter");
}

/** axe-core run in the page: no serious or critical violation. */
async function accessible(page: Page, what: string) {
  const source = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
  await page.evaluate(source);
  const violations = (await page.evaluate(async () => {
    const page = globalThis as any; // evaluated in the browser
    const result = await page.axe.run(page.document, { resultTypes: ["violations"] });
    return result.violations.map((v: any) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n: any) => n.target.join(" ")).slice(0, 3) }));
  })) as { id: string; impact: string; nodes: string[] }[];
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect({ what, serious }).toEqual({ what, serious: [] });
}

async function signInOverApi(username: string): Promise<string> {
  const res = await fetch(`${server.base}/api/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  return ((await res.json()) as { accessToken: string }).accessToken;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(REPORTS, `app-${name}.png`) });

describe.skipIf(!hasBrowser)("the web app in a browser", () => {
  let roomUrl = "";

  beforeAll(async () => {
    mkdirSync(REPORTS, { recursive: true });
    server = new ServerProcess({ ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: PASSWORD });
    await server.start();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"] });
  }, 60_000);

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await server?.dispose();
  });

  test("two people sign up; the sign-in screen is accessible", async () => {
    a = await open();
    await accessible(a, "sign-in screen");
    await shot(a, "sign-in");
    await signUp(a, alice);
    b = await open();
    await signUp(b, bob);
    await accessible(a, "home");
  }, 60_000);

  test("one creates a room and adds the other, whose room list shows it live", async () => {
    await a.getByRole("link", { name: "New room" }).click();
    await a.getByLabel("Name").fill("Project X");
    await a.getByRole("button", { name: "Create room" }).click();
    await a.getByRole("heading", { name: "Project X" }).waitFor(WAIT);
    roomUrl = a.url();
    expect(roomUrl).toMatch(/\/rooms\/[0-9a-f-]+$/);
    await a.getByRole("button", { name: /Members/ }).click();
    await a.getByLabel("Add a member").fill(bob.username);
    await a.getByRole("button", { name: `Add ${bob.username}` }).click();
    await a.getByRole("complementary", { name: "Members" }).getByText(bob.username).waitFor(WAIT);
    await accessible(a, "members panel");
    await a.getByRole("button", { name: "Close members" }).click();

    await b.getByRole("link", { name: /^Project X/ }).click();
    await b.getByRole("heading", { name: "Project X" }).waitFor(WAIT);
  }, 60_000);

  test("messages appear live on both sides, unread counts too", async () => {
    await send(a, "Hello Bob, see https://example.com/docs.");
    await message(b, "Hello Bob").waitFor(WAIT);
    // The link is a link, to that address, opening elsewhere without a referrer or opener.
    const link = message(b, "Hello Bob").getByRole("link", { name: "https://example.com/docs" });
    expect(await link.getAttribute("rel")).toContain("noopener");
    await send(b, "Hi Alice");
    await message(a, "Hi Alice").waitFor(WAIT);
    await accessible(b, "conversation");
  }, 60_000);

  test("the room list shows unread counts and previews live; reading the room clears them", async () => {
    await b.getByRole("link", { name: "Teams" }).click();
    await send(a, "Are you there?");
    const link = b.getByRole("link", { name: /^Project X/ });
    await link.getByText("1 unread").waitFor(WAIT);
    await link.getByText("Alice: Are you there?").waitFor(WAIT);
    await link.click();
    await message(b, "Are you there?").waitFor(WAIT);
    await link.locator(".badge").waitFor({ state: "detached", ...WAIT });
  }, 60_000);

  test("typing shows on the other side and clears", async () => {
    const line = a.getByText(/is typing…/);
    // Typing as people do, for a few seconds: the indicator may be throttled, never missed.
    const typed = b.getByLabel("Message", { exact: true }).pressSequentially("I am writing a longer answer", { delay: 120 });
    await line.waitFor({ state: "visible", ...WAIT });
    expect(await line.textContent()).toBe(`${bob.displayName} is typing…`);
    await typed;
    await line.waitFor({ state: "detached", ...WAIT });
    await b.getByLabel("Message", { exact: true }).fill("");
  }, 60_000);

  test("a reaction and an edit show on the other side", async () => {
    const mine = message(b, "Hello Bob");
    await mine.hover();
    await mine.getByRole("button", { name: "React", exact: true }).click();
    await mine.getByRole("button", { name: "React with 👍" }).click();
    await message(a, "Hello Bob").getByRole("button", { name: /^👍 1/ }).waitFor(WAIT);
    await mine.getByRole("button", { name: "👍 1, yours" }).waitFor(WAIT);

    const own = a.locator(`[data-id="${await message(a, "Hello Bob").getAttribute("data-id")}"]`);
    await own.hover();
    await own.getByRole("button", { name: "Edit" }).click();
    const box = own.getByLabel("Edit message");
    await box.fill("Hello Bob, edited");
    await box.press("Enter");
    await message(b, "Hello Bob, edited").getByText("(edited)").waitFor(WAIT);
    await message(b, "Hello Bob, edited").getByRole("button", { name: /^👍 1/ }).waitFor(WAIT);
  }, 60_000);

  test("markup in a message and in a display name stays text", async () => {
    await send(a, XSS);
    await message(b, "onerror").waitFor(WAIT);
    for (const page of [a, b]) {
      expect(await page.evaluate(() => (globalThis as any).__xss)).toBeUndefined();
      expect(await timeline(page).locator("img, script").count()).toBe(0);
      expect(await page.locator("nav img, nav script").count()).toBe(0);
    }
    expect(await message(b, "onerror").locator(".content").textContent()).toBe(XSS);
    expect(await message(a, "Hi Alice").locator(".sender").textContent()).toBe(bob.displayName);
  }, 60_000);

  test("a reload keeps the session and the history", async () => {
    await a.reload();
    await a.getByRole("heading", { name: "Project X" }).waitFor(WAIT);
    await message(a, "Hello Bob, edited").waitFor(WAIT);
    await message(a, "Hi Alice").waitFor(WAIT);
    expect(await a.evaluate(() => Object.keys(localStorage).length)).toBe(0);
    await shot(a, "desktop");
  }, 60_000);

  test("the server restarts while one types: the pending message arrives once, the view is complete", async () => {
    await server.stop();
    await a.getByText("Connection lost: reconnecting…").waitFor(WAIT);
    await b.getByText("Connection lost: reconnecting…").waitFor(WAIT);
    await a.getByLabel("Message", { exact: true }).pressSequentially("Sent while the server was away", { delay: 10 });
    await a.getByLabel("Message", { exact: true }).press("Enter");
    await message(a, "Sent while the server was away").getByText("sending…").waitFor(WAIT);
    await shot(a, "reconnecting");

    await server.start();
    for (const page of [a, b]) await page.getByText("Connection lost: reconnecting…").waitFor({ state: "detached", ...WAIT });
    for (const page of [a, b]) {
      await message(page, "Sent while the server was away").locator("time").waitFor(WAIT);
      await until("the pending copy to go", async () => (await message(page, "Sent while the server was away").count()) === 1);
    }

    // Each side holds exactly the server's history.
    const token = await signInOverApi(alice.username);
    const roomId = roomUrl.split("/").pop();
    const history = (await fetch(`${server.base}/api/rooms/${roomId}/messages`, { headers: { authorization: `Bearer ${token}` } }).then((res) => res.json())) as {
      messages: { content: string }[];
    };
    expect(history.messages.map((m) => m.content)).toEqual(["Hello Bob, edited", "Hi Alice", "Are you there?", XSS, "Sent while the server was away"]);
    for (const page of [a, b]) {
      await until("the timeline to settle", async () => (await timeline(page).locator(".message").count()) === history.messages.length);
      expect(await timeline(page).locator(".message .content").allTextContents()).toEqual(history.messages.map((m) => m.content));
    }
  }, 90_000);

  test("the layout holds at 360 px", async () => {
    await b.setViewportSize({ width: 360, height: 740 });
    await b.goto(`${server.base}/`);
    await b.getByRole("link", { name: /^Project X/ }).waitFor(WAIT);
    await shot(b, "narrow-rooms");
    const overflow = () => b.evaluate(() => {
      const root = (globalThis as any).document.documentElement;
      return root.scrollWidth - root.clientWidth;
    });
    expect(await overflow()).toBeLessThanOrEqual(0);
    await accessible(b, "room list at 360 px");
    await b.getByRole("link", { name: /^Project X/ }).click();
    await message(b, "Sent while the server was away").waitFor(WAIT);
    expect(await overflow()).toBeLessThanOrEqual(0);
    const composer = await b.getByLabel("Message", { exact: true }).boundingBox();
    expect(composer && composer.x >= 0 && composer.x + composer.width <= 360).toBe(true);
    await shot(b, "narrow-conversation");
    await b.getByRole("link", { name: "Back to rooms" }).click();
    await b.getByRole("link", { name: /^Project X/ }).waitFor(WAIT);
  }, 60_000);

  test("a direct chat from the user search: presence, then sent, delivered and read ticks", async () => {
    await a.getByRole("link", { name: "Direct chat" }).click();
    await a.getByLabel("Find someone").fill(bob.username);
    await a.getByRole("button", { name: `Message ${bob.username}` }).click();
    const heading = a.getByRole("heading", { name: bob.displayName });
    await heading.waitFor(WAIT);
    await heading.getByRole("img", { name: "online" }).waitFor(WAIT);
    await send(a, "Just between us");
    const sent = message(a, "Just between us");
    await sent.getByRole("img", { name: /^(Sent|Delivered)$/ }).waitFor(WAIT);
    await accessible(a, "direct chat");

    await b.getByRole("link", { name: /Alice: Just between us/ }).click();
    await message(b, "Just between us").waitFor(WAIT);
    await sent.getByRole("img", { name: "Read" }).waitFor(WAIT);
  }, 60_000);

  test("a team invitation link opens the app and joins the team", async () => {
    await a.getByRole("link", { name: "Teams" }).click();
    await a.getByLabel("Name").fill("Crew");
    await a.getByRole("button", { name: "Create team" }).click();
    await a.getByRole("heading", { name: "Crew" }).waitFor(WAIT);
    await a.getByRole("link", { name: "# general" }).waitFor(WAIT);
    await a.getByRole("button", { name: "New invitation link" }).click();
    const invite = await a.getByLabel("Link").inputValue();
    expect(invite).toMatch(new RegExp(`^${server.base}/invite/[\\w-]+$`));
    await accessible(a, "team page");

    await b.goto(invite);
    await b.getByRole("button", { name: "Accept invitation" }).click();
    await b.getByRole("heading", { name: "Crew" }).waitFor(WAIT);
    expect(new URL(b.url()).pathname).toMatch(/^\/teams\//);
    await b.getByRole("link", { name: "# general" }).click();
    await b.getByRole("heading", { name: "general" }).waitFor(WAIT);
  }, 60_000);

  test("scroll-back reads the whole history, in order, once", async () => {
    const token = await signInOverApi(alice.username);
    const call = (method: string, path: string, body?: unknown) =>
      fetch(server.base + path, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) }).then((res) => res.json() as any);
    const room = await call("POST", "/api/rooms", { name: "Archive" });
    for (let i = 1; i <= 130; i++) await call("POST", `/api/rooms/${room.id}/messages`, { content: `Line ${i}` });
    await a.goto(`${server.base}/rooms/${room.id}`);
    await message(a, "Line 130").waitFor(WAIT);
    const list = timeline(a);
    // Scrolling to the top loads the page before; so does the button, for keyboards.
    await list.evaluate((el) => (el.scrollTop = 0));
    await until(
      "the whole history after scrolling up",
      async () => {
        if ((await list.locator(".message").count()) === 130) return true;
        const button = a.getByRole("button", { name: "Load older messages" });
        if (await button.isEnabled().catch(() => false)) await button.click({ timeout: 2_000 }).catch(() => undefined);
        else await list.evaluate((el) => (el.scrollTop = 0));
        return false;
      },
      30_000,
    );
    const texts = await list.locator(".message .content").allTextContents();
    expect(texts).toEqual(Array.from({ length: 130 }, (_, i) => `Line ${i + 1}`));
  }, 60_000);

  test("a report reaches the admin screens, which are accessible, in dark mode too", async () => {
    await b.goto(roomUrl);
    const reported = message(b, "Are you there?");
    await reported.waitFor(WAIT);
    b.once("dialog", (dialog) => void dialog.accept("Testing the report queue"));
    await reported.getByRole("button", { name: "Report" }).click();
    await reported.getByRole("button", { name: "Reported" }).waitFor(WAIT);

    const admin = await open();
    await admin.emulateMedia({ colorScheme: "dark" });
    await admin.getByLabel("Username or email").fill(ADMIN.username);
    await admin.getByLabel("Password").fill(PASSWORD);
    await admin.locator("form").getByRole("button", { name: "Sign in" }).click();
    await admin.getByRole("link", { name: "Admin", exact: true }).click();
    await admin.getByRole("heading", { name: "Administration" }).waitFor(WAIT);
    await admin.getByText("connections").waitFor(WAIT);
    await accessible(admin, "admin stats (dark)");
    await admin.getByRole("button", { name: "Users" }).click();
    await admin.getByRole("cell", { name: new RegExp(alice.username) }).waitFor(WAIT);
    await accessible(admin, "admin users (dark)");
    await admin.getByRole("button", { name: "Reports" }).click();
    await admin.getByText("Testing the report queue").waitFor(WAIT);
    await shot(admin, "admin-dark");
    await admin.getByRole("button", { name: "Resolve" }).click();
    await admin.getByText("No reports.").waitFor(WAIT);
    await admin.getByRole("button", { name: "Audit" }).click();
    await admin.getByRole("cell", { name: /report/ }).first().waitFor(WAIT);
    await accessible(admin, "admin audit (dark)");
    await admin.goto(roomUrl);
    await accessible(admin, "public view of a private room (dark)");
  }, 60_000);

  test("a room admin mutes a member, whose send is refused and kept for a retry", async () => {
    await a.goto(roomUrl);
    await a.getByRole("button", { name: /^Members/ }).click();
    const panel = a.getByRole("complementary", { name: "Members" });
    await panel.getByRole("button", { name: "Mute 1 h" }).click();
    await panel.getByText("muted", { exact: true }).waitFor(WAIT);

    await b.goto(roomUrl);
    await message(b, "Are you there?").waitFor(WAIT);
    await send(b, "Can I still talk?");
    const refused = timeline(b).locator(".pending", { hasText: "Can I still talk?" });
    await refused.getByText("not sent").waitFor(WAIT);

    await panel.getByRole("button", { name: "Unmute" }).click();
    await panel.getByRole("button", { name: "Mute 1 h" }).waitFor(WAIT);
    await refused.getByRole("button", { name: "Retry" }).click();
    await message(b, "Can I still talk?").locator("time").waitFor(WAIT);
    await message(a, "Can I still talk?").waitFor(WAIT);
    expect(await message(b, "Can I still talk?").count()).toBe(1);
  }, 60_000);

  let hideoutUrl = "";

  test("an invitation link to a private room joins the other person; their reads count as seen", async () => {
    await a.getByRole("link", { name: "New room" }).click();
    await a.getByLabel("Name").fill("Hideout");
    await a.getByRole("button", { name: "Create room" }).click();
    await a.getByRole("heading", { name: "Hideout" }).waitFor(WAIT);
    hideoutUrl = a.url();
    await a.getByRole("button", { name: /^Members/ }).click();
    const panel = a.getByRole("complementary", { name: "Members" });
    await panel.getByText("Invitation links").click();
    await panel.getByRole("button", { name: "New invitation link" }).click();
    const invite = await panel.getByLabel("Invitation link").inputValue();
    expect(invite).toMatch(new RegExp(`^${server.base}/invite/[\\w-]+$`));
    await accessible(a, "room invitation links");
    await a.getByRole("button", { name: "Close members" }).click();

    await b.goto(invite);
    await b.getByRole("button", { name: "Accept invitation" }).click();
    await b.getByRole("heading", { name: "Hideout" }).waitFor(WAIT);
    expect(b.url()).toBe(hideoutUrl);
    await a.getByRole("button", { name: "Members (2)" }).waitFor(WAIT);

    await send(a, "Welcome in");
    await message(b, "Welcome in").waitFor(WAIT);
    await message(a, "Welcome in").getByText("seen by 1").waitFor(WAIT);

    await a.getByRole("button", { name: "Mute" }).click();
    await a.getByRole("link", { name: /^Hideout/ }).getByRole("img", { name: "muted" }).waitFor(WAIT);
  }, 60_000);

  test("an image and a file attached by one show on the other side", async () => {
    await a.getByLabel("Attach files").setInputFiles([
      { name: "photo.png", mimeType: "image/png", buffer: png(64, 48) },
      { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("plain notes\n") },
    ]);
    const picked = a.getByRole("list", { name: "Files to send" });
    await picked.getByText("photo.png").waitFor(WAIT);
    await picked.getByText("notes.txt").waitFor(WAIT);
    await a.getByRole("button", { name: "Send", exact: true }).click();

    const image = timeline(b).getByRole("img", { name: "photo.png" });
    await image.waitFor(WAIT);
    await until("the image to load", () => image.evaluate((el) => (el as unknown as { complete: boolean; naturalWidth: number }).complete && (el as unknown as { naturalWidth: number }).naturalWidth === 64));
    const download = timeline(b).getByRole("link", { name: /notes\.txt \(12 B\)/ });
    expect(await download.getAttribute("download")).toBe("notes.txt");
    expect(await download.getAttribute("href")).toMatch(/^\/files\/[^/]+\/notes\.txt\?exp=\d+&sig=/);
    await timeline(a).getByRole("img", { name: "photo.png" }).waitFor(WAIT);
    await accessible(b, "a message with attachments");
    await shot(b, "attachments");
  }, 60_000);

  test("an avatar upload shows in the profile, the sidebar and the other side's messages", async () => {
    await a.goto(`${server.base}/profile`);
    await a.getByLabel("Upload a picture").setInputFiles({ name: "me.png", mimeType: "image/png", buffer: png(80, 80) });
    await a.getByRole("button", { name: "Remove picture" }).waitFor(WAIT);
    const avatarUrl = await a.locator("section.main img.avatar.large").getAttribute("src");
    expect(avatarUrl).toMatch(/^\/files\/[^/]+\/avatar\.webp$/);
    await a.locator(`nav img.avatar[src="${avatarUrl}"]`).waitFor(WAIT);
    await accessible(a, "profile with an avatar");

    await b.goto(hideoutUrl);
    const shown = message(b, "Welcome in").locator(`img.avatar[src="${avatarUrl}"]`);
    await shown.waitFor(WAIT);
    await until("the avatar to load", () => shown.evaluate((el) => (el as unknown as { naturalWidth: number }).naturalWidth > 0));
  }, 60_000);

  test("a hidden direct chat leaves the room list until its next message", async () => {
    await a.getByRole("link", { name: "Direct chat" }).click();
    await a.getByLabel("Find someone").fill(bob.username);
    await a.getByRole("button", { name: `Message ${bob.username}` }).click();
    await a.getByRole("heading", { name: bob.displayName }).waitFor(WAIT);
    const chat = a.getByRole("link", { name: /You: Just between us/ });
    await chat.waitFor(WAIT);
    await a.getByRole("button", { name: "Hide" }).click();
    await chat.waitFor({ state: "detached", ...WAIT });
    await a.reload();
    await a.getByRole("link", { name: /^Hideout/ }).waitFor(WAIT);
    expect(await chat.count()).toBe(0);

    await b.goto(`${server.base}/`); // narrow: the room list is the home page
    await b.getByRole("link", { name: /Alice: Just between us/ }).click();
    await send(b, "Back again");
    await a.getByRole("link", { name: /: Back again/ }).waitFor(WAIT);
  }, 60_000);

  test("a new display name and a removed picture show on the other side without a reload", async () => {
    // b keeps the direct chat open; a mark in its page survives only if nothing reloads it.
    await b.evaluate(() => ((globalThis as any).__notReloaded = true));
    const fromAlice = message(b, "Just between us");
    await fromAlice.locator("img.avatar").waitFor(WAIT);
    expect(await fromAlice.locator(".sender").textContent()).toBe(alice.displayName);

    await a.goto(`${server.base}/profile`);
    await a.getByLabel("Display name").fill("Alice Liddell");
    await a.getByRole("button", { name: "Save" }).click();
    await a.getByText("Saved.").waitFor(WAIT);
    await fromAlice.locator(".sender", { hasText: /^Alice Liddell$/ }).waitFor(WAIT);
    await b.getByRole("heading", { name: "Alice Liddell" }).waitFor(WAIT);

    await a.getByRole("button", { name: "Remove picture" }).click();
    await fromAlice.locator("img.avatar").waitFor({ state: "detached", ...WAIT });
    await fromAlice.locator(".avatar.initial", { hasText: "A" }).waitFor(WAIT);
    expect(await b.evaluate(() => (globalThis as any).__notReloaded)).toBe(true);
  }, 60_000);

  test("a rename made while the other side was offline shows once it is back", async () => {
    // Carol, a member of the group room only (no direct chat, which b would read again anyway), writes to it.
    const api = async (method: string, path: string, token: string | null, body?: unknown) => {
      const res = await fetch(`${server.base}${path}`, {
        method,
        headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      expect(res.status, `${method} ${path}`).toBeLessThan(300);
      return res.json() as Promise<any>;
    };
    const carol = await api("POST", "/api/auth/register", null, { username: `carol_${Date.now().toString(36)}`, password: PASSWORD, displayName: "Carol" });
    const roomId = roomUrl.split("/").pop();
    await api("POST", `/api/rooms/${roomId}/members`, await signInOverApi(alice.username), { userId: carol.user.id });
    await api("POST", `/api/rooms/${roomId}/messages`, carol.accessToken, { content: "Carol says hello" });
    await b.goto(roomUrl);
    const fromCarol = message(b, "Carol says hello");
    await fromCarol.locator(".sender", { hasText: /^Carol$/ }).waitFor(WAIT);

    // Offline as far as the socket goes: no ticket, so no new socket, until the route goes.
    const noTicket = (route: Route) => route.abort();
    await b.route(/\/api\/auth\/ws-ticket$/, noTicket);
    await b.evaluate(() => (globalThis as any).__sockets.forEach((socket: WebSocket) => socket.close()));
    await b.getByText("Connection lost: reconnecting…").waitFor(WAIT);
    await api("PATCH", "/api/users/me", carol.accessToken, { displayName: "Carol Danvers" });
    // b held no open socket while the rename went out: it missed the user.updated.
    expect(await b.evaluate(() => (globalThis as any).__sockets.some((socket: WebSocket) => socket.readyState === WebSocket.OPEN))).toBe(false);

    await b.unroute(/\/api\/auth\/ws-ticket$/, noTicket);
    await b.getByText("Connection lost: reconnecting…").waitFor({ state: "detached", ...WAIT });
    await fromCarol.locator(".sender", { hasText: /^Carol Danvers$/ }).waitFor(WAIT);
  }, 60_000);

  test("signing out ends the session: a reload shows the sign-in screen", async () => {
    await a.getByRole("button", { name: "Sign out" }).click();
    await a.locator("form").getByRole("button", { name: "Sign in" }).waitFor(WAIT);
    await a.reload();
    await a.getByLabel("Username or email").waitFor(WAIT);
    expect(await a.evaluate(() => (globalThis as any).sessionStorage.length)).toBe(0);
  }, 60_000);

  test("no script error and no request off the server's origin", () => {
    expect(pageErrors).toEqual([]);
  });
});
