/** Uploads, their signed links and serving, attachments on messages, avatars and the sweeper. */
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { FORM_OVERHEAD } from "../../src/modules/files/service";
import * as fixtures from "../files-fixtures";
import { errorCode, manualClock, readResponse, setup, type TestContext, type TestResponse, type TestUser } from "../helpers";
import { makeRoom } from "./messages-fixtures";

let ctx: TestContext;
afterEach(() => ctx?.close());

function form(bytes: Uint8Array, name: string, type: string): FormData {
  const data = new FormData();
  data.append("file", new File([bytes], name, { type }));
  return data;
}

async function upload(user: TestUser, bytes: Uint8Array, name = "file.bin", type = "application/octet-stream", path = "/api/files", method = "POST"): Promise<TestResponse> {
  const res = await ctx.app.handle(new Request(`http://localhost${path}`, { method, headers: { authorization: `Bearer ${user.token}` }, body: form(bytes, name, type) }));
  return readResponse(res);
}

/** A file's URL fetched as a browser would: no token. */
async function download(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return ctx.app.handle(new Request(`http://localhost${url}`, { headers }));
}

/** The names in the app's storage directory. */
function stored(): string[] {
  try {
    return readdirSync(ctx.services.files.storage.directory!);
  } catch {
    return [];
  }
}

const send = (user: TestUser, roomId: string, body: unknown) => ctx.call("POST", `/api/rooms/${roomId}/messages`, { token: user.token, body });

describe("uploads, detected by content", () => {
  const kinds: [string, () => Uint8Array | Promise<Uint8Array>, string, string, "inline" | "attachment", [number, number] | null][] = [
    ["PNG", () => fixtures.png(40, 30), "a.png", "image/png", "inline", [40, 30]],
    ["JPEG", () => fixtures.jpegWithExif(64, 48), "b.jpg", "image/jpeg", "inline", [64, 48]],
    ["GIF", fixtures.gif, "c.gif", "image/gif", "inline", [1, 1]],
    ["WebP", () => fixtures.webp(20, 10), "d.webp", "image/webp", "inline", [20, 10]],
    ["PDF", fixtures.pdf, "e.pdf", "application/pdf", "attachment", null],
    ["plain text", fixtures.text, "notes.txt", "text/plain", "attachment", null],
    ["SVG", fixtures.svg, "f.svg", "image/svg+xml", "attachment", null],
    ["HTML", fixtures.html, "page.html", "text/html", "attachment", null],
  ];
  for (const [kind, make, name, type, disposition, size] of kinds)
    test(`${kind}: ${type}, served ${disposition} with nosniff`, async () => {
      ctx = setup();
      const alice = await ctx.user();
      const bytes = await make();
      // The declared type is a lie on purpose: only the bytes count.
      const res = await upload(alice, bytes, name, "application/x-whatever");
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ name, contentType: type, size: bytes.length, width: size?.[0] ?? null, height: size?.[1] ?? null });
      if (size) expect(res.body.preview).toStartWith("data:image/png;base64,");
      else expect(res.body.preview).toBeNull();
      expect(res.body.url).toMatch(new RegExp(`^/files/${res.body.id}/[^?]+\\?exp=\\d+&sig=[A-Za-z0-9_-]{43}$`));

      const served = await download(res.body.url);
      expect(served.status).toBe(200);
      expect(served.headers.get("content-type")).toBe(type);
      expect(served.headers.get("content-disposition")).toStartWith(`${disposition}; filename="${name}"`);
      expect(served.headers.get("x-content-type-options")).toBe("nosniff");
      expect(served.headers.get("content-security-policy")).toContain("sandbox");
      expect(Buffer.from(await served.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
    });

  test("an executable that claims to be image/png is neither an image nor inline", async () => {
    ctx = setup();
    const alice = await ctx.user();
    const res = await upload(alice, fixtures.elf(), "cat.png", "image/png");
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ contentType: "application/x-elf", width: null, height: null, preview: null });
    const served = await download(res.body.url);
    expect(served.headers.get("content-type")).toBe("application/x-elf");
    expect(served.headers.get("content-disposition")).toStartWith('attachment; filename="cat.png"');
  });

  test("an image whose header claims too many pixels is kept as a file, never decoded for a preview", async () => {
    ctx = setup();
    const alice = await ctx.user();
    const res = await upload(alice, fixtures.pngBomb(), "bomb.png");
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ contentType: "image/png", preview: null });
  });

  test("names are cleaned of paths and control characters; unknown bytes are application/octet-stream", async () => {
    ctx = setup();
    const alice = await ctx.user();
    const boundary = "----names";
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="../../etc/pa\u0007ss\u202ewd\t.bin"\r\n\r\n`),
      Buffer.from([0, 1, 2, 3, 0xff, 0xfe]),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await readResponse(
      await ctx.app.handle(
        new Request("http://localhost/api/files", {
          method: "POST",
          headers: { authorization: `Bearer ${alice.token}`, "content-type": `multipart/form-data; boundary=${boundary}` },
          body,
        }),
      ),
    );
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: "passwd.bin", contentType: "application/octet-stream" });
    const got = await ctx.call("GET", `/api/files/${res.body.id}`, { token: alice.token });
    expect(got.body).toEqual(res.body);
  });

  test("no file part, an empty file or a body that is not multipart: 422; no token: 401 before any of it is read", async () => {
    ctx = setup();
    const alice = await ctx.user();
    expect(errorCode(await upload(alice, new Uint8Array(), "empty.txt"))).toBe("VALIDATION_FAILED");
    const other = new FormData();
    other.append("note", "no file here");
    const none = await ctx.app.handle(new Request("http://localhost/api/files", { method: "POST", headers: { authorization: `Bearer ${alice.token}` }, body: other }));
    expect(none.status).toBe(422);
    const json = await ctx.call("POST", "/api/files", { token: alice.token, body: { file: "x" } });
    expect(json.status).toBe(422);
    expect(stored()).toEqual([]);

    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 65536;
        controller.enqueue(new Uint8Array(65536));
      },
    });
    const anonymous = await ctx.app.handle(
      new Request("http://localhost/api/files", { method: "POST", headers: { "content-type": "multipart/form-data; boundary=x" }, body }),
    );
    expect(anonymous.status).toBe(401);
    expect(pulled).toBeLessThanOrEqual(2 * 65536); // a stream may be asked for its first chunks up front, never for more
  });
});

describe("limits", () => {
  test("a body over UPLOAD_MAX_BYTES is refused as it streams: 413, nothing stored, not read beyond the limit", async () => {
    const max = 256 * 1024;
    ctx = setup({ uploadMaxBytes: max });
    const alice = await ctx.user();
    const boundary = "----limit";
    let pulled = 0;
    const total = 5 * 1024 * 1024 * 1024; // 5 GiB, made as it is read
    const piece = new Uint8Array(64 * 1024).fill(0x61);
    let started = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (!started) {
          started = true;
          controller.enqueue(new TextEncoder().encode(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n`));
          return;
        }
        if (pulled >= total) return controller.close();
        pulled += piece.length;
        controller.enqueue(piece);
      },
    });
    const heapBefore = process.memoryUsage().heapUsed;
    const res = await ctx.app.handle(
      new Request("http://localhost/api/files", {
        method: "POST",
        headers: { authorization: `Bearer ${alice.token}`, "content-type": `multipart/form-data; boundary=${boundary}` },
        body,
      }),
    );
    expect(res.status).toBe(413);
    expect(errorCode(await readResponse(res))).toBe("PAYLOAD_TOO_LARGE");
    // Read up to the limit and a chunk or two more, of 5 GiB offered: never held, never stored.
    expect(pulled).toBeLessThan(max + FORM_OVERHEAD + 4 * piece.length);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    expect(stored()).toEqual([]);
    expect(await ctx.services.files.totals()).toEqual({ files: 0, bytes: 0 });

    // A declared length over the limit is refused before a byte is read.
    let pulls = 0;
    const declared = await ctx.app.handle(
      new Request("http://localhost/api/files", {
        method: "POST",
        headers: { authorization: `Bearer ${alice.token}`, "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": String(total) },
        body: new ReadableStream({
          pull(controller) {
            pulls++;
            controller.enqueue(piece);
          },
        }),
      }),
    );
    expect(declared.status).toBe(413);
    expect(pulls).toBeLessThanOrEqual(1); // a stream may be asked for its first chunk up front, never read


    // Exactly the limit is fine.
    expect((await upload(alice, new Uint8Array(max).fill(7))).status).toBe(201);
    expect((await upload(alice, new Uint8Array(max + 1).fill(7))).status).toBe(413);
    expect(stored().length).toBe(1);
  });

  test("the per-user quota: 413 QUOTA_EXCEEDED once a user's files would pass it; others are not affected", async () => {
    ctx = setup({ uploadQuotaBytes: 3000 });
    const alice = await ctx.user();
    const bob = await ctx.user();
    expect((await upload(alice, new Uint8Array(2000).fill(1))).status).toBe(201);
    const over = await upload(alice, new Uint8Array(1001).fill(1));
    expect(over.status).toBe(413);
    expect(errorCode(over)).toBe("QUOTA_EXCEEDED");
    expect((await upload(alice, new Uint8Array(1000).fill(1))).status).toBe(201);
    expect(errorCode(await upload(alice, new Uint8Array(1).fill(1)))).toBe("QUOTA_EXCEEDED");
    expect((await upload(bob, new Uint8Array(3000).fill(1))).status).toBe(201);
    expect(stored().length).toBe(3);
  });
});

describe("links", () => {
  test("expired, tampered, missing or another file's signature: 404 with the envelope", async () => {
    const clock = manualClock();
    ctx = setup({ fileUrlTtl: 3600 }, { now: clock.now });
    const alice = await ctx.user();
    const a = (await upload(alice, fixtures.text(), "a.txt")).body;
    const b = (await upload(alice, fixtures.text(), "b.txt")).body;
    expect((await download(a.url)).status).toBe(200);
    const url = new URL(a.url, "http://localhost");
    const sig = url.searchParams.get("sig")!;
    const exp = url.searchParams.get("exp")!;
    const flip = (at: number) => `${sig.slice(0, at)}${sig[at] === "A" ? "B" : "A"}${sig.slice(at + 1)}`;
    // The last character has two spare bits: a spelling that decodes to the same bytes is refused too.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const respelled = `${sig.slice(0, -1)}${alphabet[alphabet.indexOf(sig.at(-1)!) | 1]}`;
    expect(Buffer.from(respelled, "base64url").equals(Buffer.from(sig, "base64url"))).toBe(true);
    const bad = [
      `/files/${a.id}/a.txt`,
      `/files/${a.id}/a.txt?exp=${exp}`,
      `/files/${a.id}/a.txt?exp=${exp}&sig=${flip(0)}`,
      `/files/${a.id}/a.txt?exp=${exp}&sig=${flip(20)}`,
      `/files/${a.id}/a.txt?exp=${exp}&sig=${respelled}`,
      `/files/${a.id}/a.txt?exp=${Number(exp) + 1}&sig=${sig}`,
      `/files/${b.id}/a.txt?exp=${exp}&sig=${sig}`,
      `/files/${Bun.randomUUIDv7()}/a.txt?exp=${exp}&sig=${sig}`,
      `/files/not-an-id/a.txt?exp=${exp}&sig=${sig}`,
    ];
    for (const path of bad) {
      const res = await readResponse(await download(path));
      expect(res.status, path).toBe(404);
      expect(errorCode(res)).toBe("NOT_FOUND");
    }
    // The link lives between half the TTL and the whole of it, and the cache no longer than the link.
    const left = Number(exp) - Math.floor(clock.now() / 1000);
    expect(left).toBeGreaterThan(1800);
    expect(left).toBeLessThanOrEqual(3600);
    const cache = (await download(a.url)).headers.get("cache-control")!;
    expect(cache).toBe(`private, max-age=${left}`);
    clock.advance(left * 1000);
    expect((await download(a.url)).status).toBe(404);
  });

  test("pages may load many signed links and avatars without a token: they pass the anonymous rate limit; bad links do not", async () => {
    ctx = setup({ rateLimitAnon: 3 });
    const alice = await ctx.user();
    const file = (await upload(alice, fixtures.png(2, 2), "p.png")).body;
    const avatar = (await upload(alice, fixtures.png(2, 2), "a.png", "image/png", "/api/users/me/avatar", "PUT")).body.avatarUrl;
    for (let i = 0; i < 10; i++) {
      expect((await download(file.url)).status).toBe(200);
      expect((await download(avatar)).status).toBe(200);
    }
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await download(file.url.replace(/sig=(.)/, (_: string, c: string) => `sig=${c === "A" ? "B" : "A"}`))).status);
    expect(statuses).toContain(429);
  });

  test("everyone who reads within a window gets the same link", async () => {
    const clock = manualClock(1_800_000_000_000);
    ctx = setup({ fileUrlTtl: 3600 }, { now: clock.now });
    const alice = await ctx.user();
    const file = (await upload(alice, fixtures.text())).body;
    clock.advance(60_000);
    expect((await ctx.call("GET", `/api/files/${file.id}`, { token: alice.token })).body.url).toBe(file.url);
  });

  test("Range: 206 with Content-Range, suffix ranges, 416 beyond the end", async () => {
    ctx = setup();
    const alice = await ctx.user();
    const bytes = Buffer.from("0123456789abcdefghij");
    const file = (await upload(alice, bytes, "r.txt")).body;
    const part = await download(file.url, { range: "bytes=5-9" });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe("bytes 5-9/20");
    expect(await part.text()).toBe("56789");
    const open = await download(file.url, { range: "bytes=15-" });
    expect(await open.text()).toBe("fghij");
    const suffix = await download(file.url, { range: "bytes=-3" });
    expect(suffix.status).toBe(206);
    expect(await suffix.text()).toBe("hij");
    const beyond = await download(file.url, { range: "bytes=20-30" });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get("content-range")).toBe("bytes */20");
    const whole = await download(file.url);
    expect(whole.headers.get("accept-ranges")).toBe("bytes");
    expect(await whole.text()).toBe(bytes.toString());
  });
});

describe("attachments", () => {
  test("a message may attach files and no text; every read shows them with links; 10 at most, the sender's own only", async () => {
    ctx = setup();
    const alice = await ctx.user();
    const bob = await ctx.user();
    const room = await makeRoom(ctx, alice, { members: [bob] });
    const image = (await upload(alice, fixtures.png(8, 8), "dot.png")).body;
    const doc = (await upload(alice, fixtures.pdf(), "doc.pdf")).body;
    const bobs = (await upload(bob, fixtures.text())).body;

    const sent = await send(alice, room, { content: "", attachments: [image.id, doc.id] });
    expect(sent.status).toBe(201);
    expect(sent.body.content).toBe("");
    expect(sent.body.attachments).toEqual([image, doc]);
    const event = ctx.events.ofType("message.new").at(-1)! as unknown as { event: { message: unknown } };
    expect(event.event.message).toEqual(sent.body);

    expect((await ctx.call("GET", `/api/messages/${sent.body.id}`, { token: bob.token })).body.attachments).toEqual([image, doc]);
    const page = await ctx.call("GET", `/api/rooms/${room}/messages`, { token: bob.token });
    expect(page.body.messages[0].attachments).toEqual([image, doc]);
    expect((await ctx.call("GET", `/api/files/${image.id}`, { token: bob.token })).body).toEqual(image);
    const edited = await ctx.call("PATCH", `/api/messages/${sent.body.id}`, { token: alice.token, body: { content: "now with words" } });
    expect(edited.body.attachments).toEqual([image, doc]);

    // Someone else's file, an unknown id, eleven files, or nothing at all: 422, nothing sent.
    for (const body of [
      { content: "", attachments: [bobs.id] },
      { content: "x", attachments: [Bun.randomUUIDv7()] },
      { content: "x", attachments: Array.from({ length: 11 }, () => image.id) },
      { content: "", attachments: [] },
      { content: "" },
    ]) {
      const refused = await send(alice, room, body);
      expect(refused.status, JSON.stringify(body)).toBe(422);
    }
    expect((await ctx.call("GET", `/api/rooms/${room}/messages`, { token: bob.token })).body.messages.length).toBe(1);
  });

  test("history pages show each message's own attachments in order, whichever way they are cut", async () => {
    ctx = setup();
    const alice = await ctx.user();
    const bob = await ctx.user();
    const room = await makeRoom(ctx, alice, { members: [bob] });
    const [a, b, c] = [(await upload(alice, fixtures.text(), "a.txt")).body, (await upload(alice, fixtures.text(), "b.txt")).body, (await upload(bob, fixtures.text(), "c.txt")).body];
    await send(alice, room, { content: "one" });
    await send(alice, room, { content: "two", attachments: [b.id, a.id] });
    await send(bob, room, { content: "three" });
    await send(bob, room, { content: "four", attachments: [c.id] });
    await send(alice, room, { content: "five" });

    const page = async (query: string) =>
      ((await ctx.call("GET", `/api/rooms/${room}/messages${query}`, { token: bob.token })).body.messages as { content: string; attachments: { id: string }[] }[]).map(
        (m) => [m.content, m.attachments.map((f) => f.id)],
      );
    expect(await page("")).toEqual([["one", []], ["two", [b.id, a.id]], ["three", []], ["four", [c.id]], ["five", []]]);
    expect(await page("?before=5&limit=3")).toEqual([["two", [b.id, a.id]], ["three", []], ["four", [c.id]]]);
    expect(await page("?after=3")).toEqual([["four", [c.id]], ["five", []]]);
    expect(await page("?before=4&limit=1")).toEqual([["three", []]]);
    expect(await page("?after=4&before=6")).toEqual([["five", []]]);
  });

  test("deleting a file takes it out of its messages (message.updated); deleting a message removes files nothing else attaches", async () => {
    ctx = setup();
    const alice = await ctx.user();
    const room = await makeRoom(ctx, alice);
    const shared = (await upload(alice, fixtures.text(), "shared.txt")).body;
    const own = (await upload(alice, fixtures.text(), "own.txt")).body;
    const gone = (await upload(alice, fixtures.text(), "gone.txt")).body;
    const first = (await send(alice, room, { content: "one", attachments: [shared.id, own.id] })).body;
    const second = (await send(alice, room, { content: "two", attachments: [shared.id, gone.id] })).body;
    expect(stored().length).toBe(3);

    ctx.events.clear();
    expect((await ctx.call("DELETE", `/api/files/${gone.id}`, { token: alice.token })).status).toBe(204);
    const updated = ctx.events.ofType("message.updated") as unknown as { event: { message: { id: string; attachments: { id: string }[] } } }[];
    expect(updated.map((e) => [e.event.message.id, e.event.message.attachments.map((f) => f.id)])).toEqual([[second.id, [shared.id]]]);
    expect((await download(gone.url)).status).toBe(404);
    expect((await ctx.call("GET", `/api/files/${gone.id}`, { token: alice.token })).status).toBe(404);
    expect(stored().length).toBe(2);

    expect((await ctx.call("DELETE", `/api/messages/${first.id}`, { token: alice.token })).status).toBe(204);
    expect((await ctx.call("GET", `/api/messages/${first.id}`, { token: alice.token })).body.attachments).toEqual([]);
    expect((await download(own.url)).status).toBe(404); // attached to nothing else: removed
    expect((await download(shared.url)).status).toBe(200); // the second message still attaches it
    expect(stored()).toEqual([shared.id]);
    expect(await ctx.services.files.totals()).toEqual({ files: 1, bytes: shared.size });
    const stats = await ctx.services.adminViews.stats();
    expect([stats.files, stats.fileBytes]).toEqual([1, shared.size]);
  });

  test("an outsider never gets a link to a private room's attachment, by any route", async () => {
    ctx = setup();
    const alice = await ctx.user();
    const bob = await ctx.user();
    const eve = await ctx.user();
    const room = await makeRoom(ctx, alice, { members: [bob] });
    const file = (await upload(alice, fixtures.png(4, 4), "private.png")).body;
    const parent = (await send(alice, room, { content: "walrus parent" })).body;
    const message = (await send(alice, room, { content: "walrus secret", attachments: [file.id], replyToId: parent.id })).body;
    await ctx.call("PATCH", `/api/messages/${message.id}`, { token: alice.token, body: { content: "walrus secret, edited" } });

    const routes: [string, string][] = [
      ["GET", `/api/rooms/${room}/messages`],
      ["GET", `/api/rooms/${room}/messages?after=0`],
      ["GET", `/api/messages/${message.id}`],
      ["GET", `/api/messages/${parent.id}/replies`],
      ["GET", `/api/messages/${message.id}/edits`],
      ["GET", "/api/search/messages?q=walrus"],
      ["GET", `/api/files/${file.id}`],
    ];
    const sig = new URL(file.url, "http://localhost").searchParams.get("sig")!;
    for (const [method, path] of routes) {
      const member = await ctx.call(method, path, { token: bob.token });
      expect(member.status, path).toBe(200);
      const outsider = await ctx.call(method, path, { token: eve.token });
      const text = JSON.stringify(outsider.body);
      expect(text.includes(sig) || text.includes("/files/"), `${path} gave an outsider a link`).toBe(false);
    }
    // The member sees the link where messages are listed.
    expect(JSON.stringify((await ctx.call("GET", "/api/search/messages?q=walrus", { token: bob.token })).body)).toContain(sig);
    expect(JSON.stringify((await ctx.call("GET", `/api/messages/${parent.id}/replies`, { token: bob.token })).body)).toContain(sig);
    // Attaching someone else's file is no way in either.
    const eveRoom = await makeRoom(ctx, eve);
    expect((await send(eve, eveRoom, { content: "mine now", attachments: [file.id] })).status).toBe(422);
    // Events went to the room only.
    for (const e of ctx.events.log) if ("event" in e && JSON.stringify(e.event).includes(sig)) expect(e).toMatchObject({ to: "room", roomId: room });
  });
});

describe("the sweeper", () => {
  test("removes files attached to nothing 24 h after their upload, bytes included, and keeps attached ones", async () => {
    const clock = manualClock();
    ctx = setup({ accessTokenTtl: 30 * 86_400 }, { now: clock.now });
    const alice = await ctx.user();
    const room = await makeRoom(ctx, alice);
    const orphan = (await upload(alice, fixtures.text(), "orphan.txt")).body;
    const kept = (await upload(alice, fixtures.text(), "kept.txt")).body;
    await send(alice, room, { content: "keep", attachments: [kept.id] });
    clock.advance(23 * 3_600_000);
    const young = (await upload(alice, fixtures.text(), "young.txt")).body;
    expect(young.id).toBeString();
    expect(await ctx.services.files.sweep()).toBe(0);
    clock.advance(1 * 3_600_000 + 1);
    expect(await ctx.services.files.sweep()).toBe(1);
    expect(stored().sort()).toEqual([kept.id, young.id].sort());
    expect(await ctx.services.files.get(alice.id, orphan.id).catch((e) => e.status)).toBe(404);
    expect((await ctx.services.files.get(alice.id, kept.id)).id).toBe(kept.id);
    // Two sweepers at once remove each file once.
    clock.advance(24 * 3_600_000);
    const counts = await Promise.all([ctx.services.files.sweep(), ctx.services.files.sweep()]);
    expect(counts[0]! + counts[1]!).toBe(1);
    expect(stored()).toEqual([kept.id]);

    // An avatar stays while its owner shows it; once replaced by an outside URL, it goes like an orphan.
    const avatar = await upload(alice, fixtures.png(10, 10), "a.png", "image/png", "/api/users/me/avatar", "PUT");
    const avatarId = avatar.body.avatarUrl.split("/")[2];
    clock.advance(25 * 3_600_000);
    expect(await ctx.services.files.sweep()).toBe(0);
    await ctx.call("PATCH", "/api/users/me", { token: alice.token, body: { avatarUrl: "https://example.com/me.png" } });
    expect(await ctx.services.files.sweep()).toBe(1);
    expect(stored()).not.toContain(avatarId);
  });
});

describe("avatars", () => {
  test("re-encoded as WebP of at most 512 px: EXIF and trailing bytes gone; a stable public URL; DELETE clears it", async () => {
    ctx = setup();
    const alice = await ctx.user();
    const jpeg = await fixtures.jpegWithExif(1024, 768);
    expect(jpeg.includes(fixtures.PLANTED)).toBe(true);
    const res = await upload(alice, jpeg, "me.jpg", "image/jpeg", "/api/users/me/avatar", "PUT");
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(alice.id);
    const url: string = res.body.avatarUrl;
    expect(url).toMatch(/^\/files\/[0-9a-f-]{36}\/avatar\.webp$/);
    const served = await download(url);
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("image/webp");
    expect(served.headers.get("content-disposition")).toStartWith("inline");
    expect(served.headers.get("cache-control")).toContain("public");
    const bytes = Buffer.from(await served.arrayBuffer());
    expect(bytes.includes(fixtures.PLANTED)).toBe(false);
    expect(bytes.includes("Exif")).toBe(false);
    expect(await new Bun.Image(bytes).metadata()).toEqual({ width: 512, height: 384, format: "webp" });
    expect((await ctx.call("GET", `/api/users/${alice.id}`, { token: alice.token })).body.avatarUrl).toBe(url);

    // A new one replaces the old, which is removed.
    const next = await upload(alice, fixtures.png(100, 300), "tall.png", "image/png", "/api/users/me/avatar", "PUT");
    expect((await download(url)).status).toBe(404);
    expect(await new Bun.Image(Buffer.from(await (await download(next.body.avatarUrl)).arrayBuffer())).metadata()).toMatchObject({ width: 100, height: 300 });
    const cleared = await ctx.call("DELETE", "/api/users/me/avatar", { token: alice.token });
    expect(cleared.body.avatarUrl).toBeNull();
    expect((await download(next.body.avatarUrl)).status).toBe(404);
    expect(stored()).toEqual([]);
  });

  test("not an image, a decompression bomb or more than 2 MiB: refused, nothing stored", async () => {
    ctx = setup();
    const alice = await ctx.user();
    const avatar = (bytes: Uint8Array, name: string) => upload(alice, bytes, name, "image/png", "/api/users/me/avatar", "PUT");
    for (const [bytes, name] of [[fixtures.svg(), "a.svg"], [fixtures.pdf(), "a.png"], [fixtures.elf(), "a.png"]] as const) {
      const res = await avatar(bytes, name);
      expect(res.status, name).toBe(422);
      expect(errorCode(res)).toBe("VALIDATION_FAILED");
    }
    const bomb = fixtures.pngBomb();
    expect(bomb.length).toBeLessThan(4096);
    const refused = await avatar(bomb, "bomb.png");
    expect(refused.status).toBe(422);
    expect(refused.body.error.message).toContain("pixels");
    expect((await avatar(new Uint8Array(2 * 1024 * 1024 + 1), "huge.png")).status).toBe(413);
    expect(stored()).toEqual([]);
    expect((await ctx.call("GET", `/api/users/${alice.id}`, { token: alice.token })).body.avatarUrl).toBeNull();
  });
});
