import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStorage, type Storage, TooLarge } from "../../src/storage";
import { startS3 } from "./s3-server";

async function* pieces(total: number, size = 64 * 1024): AsyncIterable<Uint8Array> {
  for (let sent = 0; sent < total; sent += size) yield new Uint8Array(Math.min(size, total - sent)).fill(sent % 251);
}

/** The contract every Storage keeps, whatever it stores into. */
function contract(name: string, open: () => Storage) {
  describe(name, () => {
    test("put, stat, read whole and ranges, delete", async () => {
      const storage = open();
      const key = Bun.randomUUIDv7();
      expect(await storage.put(key, new TextEncoder().encode("hello, world"), 100)).toBe(12);
      expect(await storage.stat(key)).toEqual({ size: 12 });
      expect(await (await storage.read(key))!.text()).toBe("hello, world");
      expect(await (await storage.read(key, { start: 7, end: 11 }))!.text()).toBe("world");
      await storage.delete(key);
      expect(await storage.stat(key)).toBeNull();
      expect(await storage.read(key)).toBeNull();
      await storage.delete(key); // missing: no error
    });

    test("a streamed body larger than a part is stored whole", async () => {
      const storage = open();
      const key = Bun.randomUUIDv7();
      const total = 6 * 1024 * 1024 + 123;
      expect(await storage.put(key, pieces(total), total)).toBe(total);
      expect(await storage.stat(key)).toEqual({ size: total });
      const tail = await (await storage.read(key, { start: total - 10, end: total - 1 }))!.bytes();
      expect(tail.length).toBe(10);
      await storage.delete(key);
    });

    test("a body over the limit throws TooLarge and leaves nothing under the key", async () => {
      const storage = open();
      for (const total of [2000, 6 * 1024 * 1024]) {
        const key = Bun.randomUUIDv7();
        const failed = await storage.put(key, pieces(total, 1000), total - 1).catch((e) => e);
        expect(failed).toBeInstanceOf(TooLarge);
        expect(await storage.stat(key)).toBeNull();
        expect(await storage.read(key)).toBeNull();
      }
    });
  });
}

const diskRoot = mkdtempSync(join(tmpdir(), "bunchat-disk-"));
afterAll(() => rmSync(diskRoot, { recursive: true, force: true }));
contract("file:// storage", () => openStorage(`file://${diskRoot}`, {}));

test("file:// storage leaves no temporary file behind, written or refused", async () => {
  const dir = join(diskRoot, "clean");
  const storage = openStorage(`file://${dir}`, {});
  await storage.put("a", new Uint8Array(10), 10);
  await storage.put("b", new Uint8Array(11), 10).catch(() => {});
  expect(readdirSync(dir)).toEqual(["a"]);
  expect(storage.directory).toBe(dir);
  expect(storage.presign("a", { expiresIn: 60, contentType: "text/plain", contentDisposition: "attachment" })).toBeNull();
});

let s3: Awaited<ReturnType<typeof startS3>>;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.[Symbol.asyncDispose]();
});
contract("s3:// storage (s3rver)", () => openStorage(s3.url, s3.settings));

test("s3:// storage presigns a GET that serves the bytes", async () => {
  const storage = openStorage(`${s3.url}/some/prefix`, s3.settings);
  await storage.put("k1", new TextEncoder().encode("presigned"), 100);
  const url = storage.presign("k1", { expiresIn: 60, contentType: "text/plain", contentDisposition: 'attachment; filename="k1.txt"' })!;
  expect(url.startsWith(s3.settings.endpoint!)).toBe(true);
  expect(url).toContain("some/prefix/k1");
  const response = await fetch(url);
  expect(response.status).toBe(200);
  expect(await response.text()).toBe("presigned");
  expect(storage.directory).toBeNull();
});
