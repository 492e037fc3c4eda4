/** What an upload is, told by its bytes alone (never by its name or declared type), and its name made safe. */
import { fileTypeFromBuffer } from "file-type";

/** Bytes of a file's start kept for detection. */
export const HEAD_BYTES = 64 * 1024;

/** The types served `inline`; everything else is an attachment. Bun.Image decodes each of them. */
export const INLINE_IMAGES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Whether the bytes read as UTF-8 text without control characters (a cut multi-byte character at the end allowed). */
function isText(head: Uint8Array, complete: boolean): boolean {
  if (head.length === 0) return false;
  let bytes = head;
  if (!complete) {
    // Drop a character the head may have cut in two.
    let end = bytes.length;
    for (let i = 0; i < 3 && end > 0 && (bytes[end - 1]! & 0xc0) === 0x80; i++) end--;
    if (end > 0 && bytes[end - 1]! >= 0xc0) end--;
    bytes = bytes.subarray(0, end);
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return false;
  }
  return !/[\u0000-\u0008\u000b\u000e-\u001f\u007f]/.test(text);
}

/**
 * The content type of a file from its first bytes (`complete`: they are the whole file):
 * a binary format file-type knows, else SVG, HTML or plain text for text, else
 * application/octet-stream.
 */
export async function detectType(head: Uint8Array, complete: boolean): Promise<string> {
  const known = await fileTypeFromBuffer(head);
  // XML is told apart below: an SVG document is XML too.
  if (known && known.mime !== "application/xml") return known.mime;
  if (!isText(head, complete)) return "application/octet-stream";
  const start = new TextDecoder().decode(head.subarray(0, 1024)).replace(/^\uFEFF/, "").trimStart().toLowerCase();
  if (start.startsWith("<svg") || (start.startsWith("<?xml") && start.includes("<svg"))) return "image/svg+xml";
  if (/^(<!--.*?-->\s*)*(<!doctype html|<html|<head|<body|<script)/s.test(start)) return "text/html";
  if (start.startsWith("<?xml")) return "application/xml";
  return "text/plain";
}

const NAME_MAX = 200;

/**
 * A file name safe to store and show: the last path segment, without control characters,
 * bidirectional overrides or quotes, trimmed and at most NAME_MAX characters; "file" if nothing is left.
 */
export function cleanName(raw: string): string {
  const base = raw.split(/[\\/]/).pop() ?? "";
  const cleaned = base
    .normalize("NFC")
    .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069"]/g, "")
    .trim()
    .replace(/^\.+/, "");
  const chars = [...cleaned];
  const name = chars.length > NAME_MAX ? chars.slice(chars.length - NAME_MAX).join("") : cleaned;
  return name === "" ? "file" : name;
}

/** A Content-Disposition header: `inline` for the images browsers show safely, else `attachment`; the name in both forms. */
export function disposition(contentType: string, name: string): string {
  const kind = INLINE_IMAGES.has(contentType) ? "inline" : "attachment";
  const ascii = name.replace(/[^\x20-\x7e]|["\\%;]/g, "_");
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
