import { NotFound } from "../../errors";
import type { ByteRange } from "../../storage";
import { disposition } from "./detect";
import { AVATAR_NAME, type FileService } from "./service";

/** A year: avatar URLs name one stored image, which never changes. */
const AVATAR_MAX_AGE = 31_536_000;

/**
 * Whether a request may skip the anonymous rate limit: a GET of a file by a link whose signature
 * holds (an HMAC, no query), or of an avatar. Pages load these by the dozen without a token.
 */
export function freeFileRequest(files: FileService, request: Request, path: string): boolean {
  if (request.method !== "GET" && request.method !== "HEAD") return false;
  const match = /^\/files\/([0-9a-f-]{36})\/([^/]+)$/.exec(path);
  if (!match) return false;
  if (match[2] === AVATAR_NAME) return true;
  const query = new URL(request.url).searchParams;
  return files.links.check(match[1]!, query.get("exp") ?? undefined, query.get("sig") ?? undefined) !== null;
}

/**
 * The one range of a `Range` header: a range within the file, "unsatisfiable", or null to
 * serve the whole file (no header, several ranges, or a form this server does not honour).
 */
export function parseRange(header: string | null, size: number): ByteRange | "unsatisfiable" | null {
  const match = header && /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return null;
  let start: number;
  let end: number;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0) return "unsatisfiable";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
    if (match[2] !== "" && Number(match[2]) < start) return null;
  }
  return start >= size || start > end ? "unsatisfiable" : { start, end };
}

/**
 * A file's bytes for `/files/:id/:name`: for a valid link (or an avatar), with headers that keep
 * browsers from running it (nosniff, a sandboxing CSP, `attachment` for all but plain images);
 * cached no longer than the link lives. S3 storage redirects to a presigned URL instead.
 */
export async function serveFile(files: FileService, id: string, name: string, query: { exp?: string; sig?: string }, range: string | null): Promise<Response> {
  // The signature first: a bad link costs no query (only avatars go unsigned).
  const signed = files.links.check(id, query.exp, query.sig);
  if (signed === null && name !== AVATAR_NAME) throw new NotFound("File");
  const row = await files.servable(id);
  if (!row) throw new NotFound("File");
  const avatar = row.kind === "avatar";
  const left = avatar ? AVATAR_MAX_AGE : signed;
  if (left === null) throw new NotFound("File");
  const headers: Record<string, string> = {
    "cache-control": avatar ? `public, max-age=${left}, immutable` : `private, max-age=${left}`,
    "content-disposition": disposition(row.contentType, row.name),
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
  };
  const presigned = files.storage.presign(id, { expiresIn: left, contentType: row.contentType, contentDisposition: headers["content-disposition"]! });
  if (presigned) return new Response(null, { status: 302, headers: { ...headers, location: presigned } });
  headers["content-type"] = row.contentType;
  headers["accept-ranges"] = "bytes";
  const wanted = parseRange(range, row.size);
  if (wanted === "unsatisfiable") return new Response(null, { status: 416, headers: { ...headers, "content-range": `bytes */${row.size}` } });
  const body = await files.storage.read(id, wanted ?? undefined);
  if (!body) throw new NotFound("File");
  if (!wanted) return new Response(body, { status: 200, headers });
  headers["content-range"] = `bytes ${wanted.start}-${wanted.end}/${row.size}`;
  return new Response(body, { status: 206, headers });
}
