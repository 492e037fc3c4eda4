/** The storage interface and what its implementations share (see ./index.ts). */

/** A `put` whose body ran past its byte limit: nothing was stored under the key. */
export class TooLarge extends Error {
  constructor(readonly maxBytes: number) {
    super(`more than ${maxBytes} bytes`);
    this.name = "TooLarge";
  }
}

/** Inclusive byte offsets, as HTTP ranges count them. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface PresignOptions {
  expiresIn: number;
  contentType: string;
  contentDisposition: string;
}

export interface Storage {
  /**
   * Stores the bytes under `key`, all or nothing: a body of more than `maxBytes` (counted as it
   * streams) throws TooLarge and a failed write throws; either way nothing is left under `key`.
   * Answers the number of bytes stored.
   */
  put(key: string, body: AsyncIterable<Uint8Array> | Uint8Array, maxBytes: number): Promise<number>;
  /** The bytes under `key` (or a range of them), read lazily; null when there are none. */
  read(key: string, range?: ByteRange): Promise<Blob | null>;
  /** The size of what is stored under `key`, or null. */
  stat(key: string): Promise<{ size: number } | null>;
  /** Removes `key`; a missing key is no error. */
  delete(key: string): Promise<void>;
  /** A URL that serves the bytes directly for `expiresIn` seconds, or null when the app serves them itself. */
  presign(key: string, options: PresignOptions): string | null;
  /** The directory holding the files of `file://` storage (what a backup copies), else null. */
  readonly directory: string | null;
}

/** Iterates a body that may be one buffer. */
export async function* chunks(body: AsyncIterable<Uint8Array> | Uint8Array): AsyncIterable<Uint8Array> {
  if (body instanceof Uint8Array) yield body;
  else yield* body;
}
