/**
 * Blob storage for uploaded files: one small interface, a local-disk and an S3 implementation.
 * Keys are chosen by the server (file ids), never by users.
 */
import type { S3Settings } from "../config";
import { DiskStorage } from "./disk";
import { S3Storage } from "./s3";
import type { Storage } from "./storage";

export { type ByteRange, chunks, type PresignOptions, type Storage, TooLarge } from "./storage";

/** The storage STORAGE_URL names. */
export function openStorage(url: string, s3: S3Settings): Storage {
  if (url.startsWith("file://")) return new DiskStorage(url.slice("file://".length));
  const rest = url.slice("s3://".length);
  const slash = rest.indexOf("/");
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const prefix = slash === -1 ? "" : rest.slice(slash + 1).replace(/^\/+|\/+$/g, "");
  return new S3Storage({ ...s3, bucket }, prefix);
}
