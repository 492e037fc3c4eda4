import { S3Client } from "bun";
import type { S3Settings } from "../config";
import { type ByteRange, chunks, type PresignOptions, type Storage, TooLarge } from "./storage";

/** Bytes per part of a multipart upload (S3's minimum): what one upload holds in memory at most, per part in flight. */
const PART_SIZE = 5 * 1024 * 1024;

/**
 * `s3://` storage through Bun's S3 client. Objects appear only once an upload completes; an
 * upload over its limit is abandoned and anything written removed.
 */
export class S3Storage implements Storage {
  readonly directory = null;
  private readonly client: S3Client;

  constructor(
    settings: S3Settings & { bucket: string },
    private readonly prefix: string,
  ) {
    this.client = new S3Client({
      bucket: settings.bucket,
      endpoint: settings.endpoint,
      region: settings.region,
      accessKeyId: settings.accessKeyId,
      secretAccessKey: settings.secretAccessKey,
    });
  }

  private key(key: string) {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  async put(key: string, body: AsyncIterable<Uint8Array> | Uint8Array, maxBytes: number): Promise<number> {
    const file = this.client.file(this.key(key));
    // Small bodies go in one request; larger ones stream as a multipart upload.
    const parts: Uint8Array[] = [];
    let size = 0;
    let writer: ReturnType<typeof file.writer> | null = null;
    try {
      for await (const chunk of chunks(body)) {
        size += chunk.byteLength;
        if (size > maxBytes) throw new TooLarge(maxBytes);
        if (writer) {
          await writer.write(chunk);
        } else {
          parts.push(chunk);
          if (size >= PART_SIZE) {
            writer = file.writer({ partSize: PART_SIZE, queueSize: 2 });
            for (const part of parts.splice(0)) await writer.write(part);
          }
        }
      }
      if (writer) await writer.end();
      else await file.write(Buffer.concat(parts));
      return size;
    } catch (error) {
      if (writer) {
        try {
          await writer.end(error instanceof Error ? error : new Error(String(error)));
        } catch {}
        await file.delete().catch(() => {});
      }
      throw error;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Blob | null> {
    const file = this.client.file(this.key(key));
    if (!(await file.exists())) return null;
    return range ? file.slice(range.start, range.end + 1) : file;
  }

  async stat(key: string): Promise<{ size: number } | null> {
    try {
      return { size: (await this.client.file(this.key(key)).stat()).size };
    } catch {
      return null;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.file(this.key(key)).delete();
    } catch (error) {
      if ((error as { code?: string }).code !== "NoSuchKey") throw error;
    }
  }

  presign(key: string, options: PresignOptions): string {
    return this.client.presign(this.key(key), {
      method: "GET",
      expiresIn: options.expiresIn,
      type: options.contentType,
      contentDisposition: options.contentDisposition,
    });
  }
}
