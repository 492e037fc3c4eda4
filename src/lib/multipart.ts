/**
 * Streams the one file part of a `multipart/form-data` body without holding the body in memory:
 * parts before it are skipped, its bytes are handed on as they arrive, and whatever follows is
 * never read. Every byte read counts against `maxBodyBytes`.
 */

/** Why a body cannot be read as the multipart form expected. */
export class MultipartError extends Error {
  constructor(
    message: string,
    /** "too_large": the body ran past its byte budget; "malformed": it is not a readable form. */
    readonly kind: "too_large" | "malformed",
  ) {
    super(message);
    this.name = "MultipartError";
  }
}

export interface FilePart {
  /** The file name the client gave (as sent; clean it before use), or "" when none. */
  filename: string;
  /** The bytes of the part, as they stream in. */
  body: AsyncIterable<Uint8Array>;
}

const CRLF = Buffer.from("\r\n");
const HEADERS_END = Buffer.from("\r\n\r\n");
/** Most bytes of one part's headers. */
const HEADERS_MAX = 16 * 1024;

/** The boundary of a `multipart/form-data` Content-Type, or null. */
export function boundaryOf(contentType: string | null): string | null {
  if (!contentType || !/^\s*multipart\/form-data\s*;/i.test(contentType)) return null;
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return match ? (match[1] ?? match[2]!) : null;
}

/** A parameter of a Content-Disposition header (`name`, `filename`), unquoted; `filename*` (RFC 5987) preferred. */
function dispositionParam(header: string, key: string): string | null {
  if (key === "filename") {
    const extended = /;\s*filename\*\s*=\s*(?:utf-8|UTF-8)''([^;]*)/.exec(header);
    if (extended) {
      try {
        return decodeURIComponent(extended[1]!.trim());
      } catch {}
    }
  }
  const match = new RegExp(`;\\s*${key}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, "i").exec(header);
  if (!match) return null;
  return match[1] !== undefined ? match[1].replace(/\\(.)/g, "$1") : match[2]!;
}

class BodyReader {
  buffer: Buffer = Buffer.alloc(0);
  private read = 0;
  private done = false;

  constructor(
    private readonly reader: { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> },
    private readonly maxBytes: number,
  ) {}

  /** Reads one more chunk onto the buffer; false at the end of the body. */
  async more(): Promise<boolean> {
    if (this.done) return false;
    const { value, done } = await this.reader.read();
    if (done || !value) {
      this.done = true;
      return false;
    }
    this.read += value.byteLength;
    if (this.read > this.maxBytes) throw new MultipartError(`The request body is larger than ${this.maxBytes} bytes.`, "too_large");
    this.buffer = this.buffer.length === 0 ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : Buffer.concat([this.buffer, value]);
    return true;
  }

  /** Index of `needle` in the buffer from `from`, reading more as needed (up to `limit` bytes buffered); -1 at the end of the body. */
  async find(needle: Buffer, from = 0, limit = Infinity): Promise<number> {
    for (;;) {
      const at = this.buffer.indexOf(needle, from);
      if (at !== -1) return at;
      if (this.buffer.length > limit) throw new MultipartError("A multipart part's headers are too long.", "malformed");
      if (!(await this.more())) return -1;
    }
  }

  skip(bytes: number) {
    this.buffer = this.buffer.subarray(bytes);
  }

  cancel() {
    this.done = true;
    this.reader.cancel().catch(() => {});
  }
}

/**
 * The part named `field` that carries a file (it has a `filename`), or null when the body ends
 * without one. Its `body` must be read before anything else is done with the request.
 */
export async function filePart(stream: ReadableStream<Uint8Array>, boundary: string, field: string, maxBodyBytes: number): Promise<FilePart | null> {
  const reader = new BodyReader(stream.getReader(), maxBodyBytes);
  const opening = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const malformed = () => new MultipartError("The body is not multipart/form-data with the boundary its Content-Type names.", "malformed");

  let at = await reader.find(opening, 0, 64 * 1024);
  if (at === -1) throw malformed();
  reader.skip(at + opening.length);
  for (;;) {
    // After a delimiter: "--" ends the form, CRLF starts a part.
    while (reader.buffer.length < 2) if (!(await reader.more())) throw malformed();
    if (reader.buffer[0] === 0x2d && reader.buffer[1] === 0x2d) {
      reader.cancel();
      return null;
    }
    const lineEnd = await reader.find(CRLF, 0, 1024);
    if (lineEnd === -1) throw malformed();
    reader.skip(lineEnd + CRLF.length);
    // Headers end with an empty line (right away when there are none).
    const end = reader.buffer.subarray(0, 2).equals(CRLF) ? -2 : await reader.find(HEADERS_END, 0, HEADERS_MAX);
    if (end === -1) throw malformed();
    const headers = end === -2 ? "" : reader.buffer.subarray(0, end).toString("utf8");
    reader.skip(end === -2 ? 2 : end + HEADERS_END.length);
    const disposition = headers.split("\r\n").find((line) => /^content-disposition\s*:/i.test(line)) ?? "";
    const name = dispositionParam(disposition, "name");
    const filename = dispositionParam(disposition, "filename");
    if (name === field && filename !== null) return { filename, body: partBody(reader, delimiter, malformed) };
    // Not the file: skip to the next delimiter.
    at = await reader.find(delimiter);
    if (at === -1) throw malformed();
    reader.skip(at + delimiter.length);
  }
}

/** The bytes of the current part up to the next delimiter; what follows the delimiter is never read. */
async function* partBody(reader: BodyReader, delimiter: Buffer, malformed: () => Error): AsyncIterable<Uint8Array> {
  try {
    for (;;) {
      const at = reader.buffer.indexOf(delimiter);
      if (at !== -1) {
        if (at > 0) yield reader.buffer.subarray(0, at);
        return;
      }
      // All but the bytes that could begin a delimiter split across chunks are the part's.
      const safe = reader.buffer.length - (delimiter.length - 1);
      if (safe > 0) {
        const out = reader.buffer.subarray(0, safe);
        reader.skip(safe);
        yield out;
      }
      if (!(await reader.more())) throw malformed();
    }
  } finally {
    reader.cancel();
  }
}
