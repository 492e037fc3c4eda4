import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { type ByteRange, chunks, type Storage, TooLarge } from "./storage";

/** Keys are server-chosen ids: letters, digits and dashes only, so a key never leaves the directory. */
const KEY = /^[A-Za-z0-9-]{1,128}$/;

function checkKey(key: string): string {
  if (!KEY.test(key)) throw new Error(`invalid storage key ${JSON.stringify(key)}`);
  return key;
}

/**
 * `file://` storage: one file per key in a directory, written under a temporary name and renamed
 * once complete, so a crash never leaves part of a file under a real name. The directory is made
 * on the first write.
 */
export class DiskStorage implements Storage {
  readonly directory: string;
  private made: Promise<unknown> | null = null;

  constructor(directory: string) {
    this.directory = resolve(directory);
  }

  private path(key: string) {
    return join(this.directory, checkKey(key));
  }

  async put(key: string, body: AsyncIterable<Uint8Array> | Uint8Array, maxBytes: number): Promise<number> {
    const target = this.path(key);
    this.made ??= mkdir(this.directory, { recursive: true });
    await this.made;
    const temp = join(this.directory, `.tmp-${Bun.randomUUIDv7()}`);
    const sink = Bun.file(temp).writer({ highWaterMark: 256 * 1024 });
    let size = 0;
    try {
      for await (const chunk of chunks(body)) {
        size += chunk.byteLength;
        if (size > maxBytes) throw new TooLarge(maxBytes);
        sink.write(chunk);
        await sink.flush();
      }
      await sink.end();
      await rename(temp, target);
      return size;
    } catch (error) {
      try {
        await sink.end();
      } catch {}
      await rm(temp, { force: true });
      throw error;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Blob | null> {
    const file = Bun.file(this.path(key));
    if (!(await file.exists())) return null;
    return range ? file.slice(range.start, range.end + 1) : file;
  }

  async stat(key: string): Promise<{ size: number } | null> {
    try {
      return { size: (await stat(this.path(key))).size };
    } catch {
      return null;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  presign(): null {
    return null;
  }
}
