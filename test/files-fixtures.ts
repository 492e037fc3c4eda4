/** Files of every kind the upload tests need, made in code. */
import { deflateSync } from "node:zlib";

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(Bun.hash.crc32(body));
  return Buffer.concat([head, body, crc]);
}

function ihdr(width: number, height: number): Buffer {
  const data = Buffer.alloc(13);
  data.writeUInt32BE(width, 0);
  data.writeUInt32BE(height, 4);
  data[8] = 8; // bit depth
  data[9] = 2; // RGB
  return chunk("IHDR", data);
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A width × height RGB PNG with a gradient. */
export function png(width: number, height: number): Buffer {
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const at = y * (width * 3 + 1) + 1 + x * 3;
      rows[at] = (x * 255) / width;
      rows[at + 1] = (y * 255) / height;
      rows[at + 2] = 128;
    }
  return Buffer.concat([SIGNATURE, ihdr(width, height), chunk("IDAT", deflateSync(rows)), chunk("IEND", new Uint8Array())]);
}

/** A small PNG whose header claims width × height pixels: a decompression bomb for decoders that trust it. */
export function pngBomb(width = 100_000, height = 100_000): Buffer {
  return Buffer.concat([SIGNATURE, ihdr(width, height), chunk("IDAT", deflateSync(Buffer.alloc(1024))), chunk("IEND", new Uint8Array())]);
}

/** Marks planted in an upload's metadata and tail: none may survive a re-encoding. */
export const PLANTED = "GPS-SECRET-52.3702N-4.8952E";

/** A JPEG with an EXIF segment (carrying PLANTED) and PLANTED after its end. */
export async function jpegWithExif(width: number, height: number): Promise<Buffer> {
  const jpeg = Buffer.from(await new Bun.Image(png(width, height)).jpeg({ quality: 90 }).bytes());
  const tiff = Buffer.concat([Buffer.from("MM\x00\x2a\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00", "latin1"), Buffer.from(PLANTED)]);
  const payload = Buffer.concat([Buffer.from("Exif\x00\x00", "latin1"), tiff]);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(payload.length + 2);
  const app1 = Buffer.concat([Buffer.from([0xff, 0xe1]), length, payload]);
  return Buffer.concat([jpeg.subarray(0, 2), app1, jpeg.subarray(2), Buffer.from(`TRAILING-${PLANTED}`)]);
}

export async function webp(width: number, height: number): Promise<Buffer> {
  return Buffer.from(await new Bun.Image(png(width, height)).webp({ quality: 80 }).bytes());
}

/** A 1 × 1 GIF. */
export const gif = () => Buffer.from("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7", "base64");

export const pdf = () =>
  Buffer.from("%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");

export const text = () => Buffer.from("Meeting notes\n- ship files\n- ✓ done\n");

export const svg = () => Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>\n');

export const html = () => Buffer.from("<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script></body></html>\n");

/** The start of an ELF executable. */
export const elf = () => Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00]), Buffer.alloc(120, 0x01)]);
