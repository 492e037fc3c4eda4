/** The app with s3:// storage (a local S3-compatible server): uploads land in the bucket, links redirect to presigned URLs. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { openStorage } from "../../src/storage";
import { pdf, png } from "../files-fixtures";
import { readResponse, setup, type TestContext } from "../helpers";
import { startS3 } from "../storage/s3-server";

let s3: Awaited<ReturnType<typeof startS3>>;
let ctx: TestContext;
beforeAll(async () => {
  s3 = await startS3();
  ctx = setup({}, { storage: openStorage(`${s3.url}/uploads`, s3.settings) });
});
afterAll(async () => {
  await ctx?.close();
  await s3?.[Symbol.asyncDispose]();
});

test("an upload is stored in the bucket; its link redirects (302) to a presigned URL that serves it with its type and disposition", async () => {
  const alice = await ctx.user();
  for (const [bytes, name, type, disposition] of [
    [png(12, 9), "p.png", "image/png", "inline"],
    [pdf(), "d.pdf", "application/pdf", "attachment"],
  ] as const) {
    const form = new FormData();
    form.append("file", new File([bytes], name));
    const res = await readResponse(
      await ctx.app.handle(new Request("http://localhost/api/files", { method: "POST", headers: { authorization: `Bearer ${alice.token}` }, body: form })),
    );
    expect(res.status).toBe(201);
    expect(res.body.contentType).toBe(type);
    expect(await ctx.services.files.storage.stat(res.body.id)).toEqual({ size: bytes.length });

    const link = await ctx.app.handle(new Request(`http://localhost${res.body.url}`));
    expect(link.status).toBe(302);
    const location = link.headers.get("location")!;
    expect(location.startsWith(s3.settings.endpoint!)).toBe(true);
    expect(location).toContain(`uploads/${res.body.id}`);
    const exp = Number(new URL(res.body.url, "http://x").searchParams.get("exp"));
    const maxAge = Number(/^private, max-age=(\d+)$/.exec(link.headers.get("cache-control")!)![1]);
    expect(Math.abs(maxAge - (exp - Math.floor(Date.now() / 1000)))).toBeLessThanOrEqual(1); // the link's lifetime, give or take the second that passed
    const direct = await fetch(location);
    expect(direct.status).toBe(200);
    expect(Buffer.from(await direct.arrayBuffer()).equals(bytes)).toBe(true);
    expect(direct.headers.get("content-disposition") ?? "").toStartWith(disposition);

    // A bad signature never reaches the bucket.
    const bad = await ctx.app.handle(new Request(`http://localhost${res.body.url.replace(/sig=(.)/, (_: string, c: string) => `sig=${c === "A" ? "B" : "A"}`)}`));
    expect(bad.status).toBe(404);
  }
});
