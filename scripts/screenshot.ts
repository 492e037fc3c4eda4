/**
 * docs/screenshot.png: the web app with a short conversation, taken with Debian's chromium
 * (playwright-core) against a server started on a throwaway database.
 *
 *   bun scripts/screenshot.ts [output.png]
 */
import { join } from "node:path";
import { chromium } from "playwright-core";
import { ServerProcess } from "../test/app/server";

const output = process.argv[2] ?? join(import.meta.dir, "..", "docs", "screenshot.png");
const server = new ServerProcess();
await server.start();
try {
  const call = async (method: string, path: string, token?: string, body?: unknown) => {
    const res = await fetch(server.base + path, {
      method,
      headers: { ...(body ? { "content-type": "application/json" } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.status === 204 ? null : res.json();
  };
  const register = (username: string, displayName: string) =>
    call("POST", "/api/auth/register", undefined, { username, displayName, password: "correct-horse-battery" }).then((r) => ({ id: r.user.id as string, token: r.accessToken as string }));
  const ada = await register("ada", "Ada Lovelace");
  const grace = await register("grace", "Grace Hopper");
  const linus = await register("linus", "Linus");
  const room = await call("POST", "/api/rooms", ada.token, { name: "Launch plan", topic: "Shipping v2 on Friday", memberIds: [grace.id, linus.id] });
  await call("POST", "/api/rooms", ada.token, { name: "Random", visibility: "public" });
  const say = (who: { token: string }, content: string, replyToId?: string) => call("POST", `/api/rooms/${room.id}/messages`, who.token, { content, replyToId });
  const first = await say(ada, "Morning! The release notes draft is up: https://example.com/notes");
  await say(grace, "Read it, looks good. One question about the migration step.");
  await say(linus, "The build is green on both databases.");
  const question = await say(grace, "Do we keep the old endpoint for a week?");
  await call("PUT", `/api/messages/${first.id}/reactions/${encodeURIComponent("👍")}`, grace.token);
  await call("PUT", `/api/messages/${first.id}/reactions/${encodeURIComponent("👍")}`, linus.token);
  await say(ada, "Yes, a week, then it goes.", question.id);
  const direct = await call("POST", "/api/rooms/direct", grace.token, { userId: ada.id });
  await call("POST", `/api/rooms/${direct.id}/messages`, grace.token, { content: "Coffee at 3?" });

  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"] });
  try {
    const page = await (await browser.newContext({ viewport: { width: 1200, height: 720 } })).newPage();
    await page.goto(server.base);
    await page.getByLabel("Username or email").fill("ada");
    await page.getByLabel("Password").fill("correct-horse-battery");
    await page.locator("form").getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("link", { name: /^Launch plan/ }).click();
    await page.getByText("Yes, a week, then it goes.").waitFor();
    await page.getByLabel("Message", { exact: true }).fill("Great, I will tag the release");
    await page.mouse.move(700, 500);
    await page.screenshot({ path: output });
    console.log(`wrote ${output}`);
  } finally {
    await browser.close();
  }
} finally {
  await server.dispose();
}
