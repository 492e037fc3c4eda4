import { Elysia } from "elysia";
import { PayloadTooLarge } from "../errors";

/**
 * What Bun itself accepts, beyond the app's own limit: a body without Content-Length (chunked)
 * can only be measured as it is read, so Bun stops it here; and a declared length between the
 * two still gets the app's 413 envelope rather than Bun's bare one.
 */
export const bodyBackstop = (maxBodyBytes: number) => 2 * maxBodyBytes;

/** Refuses a request body declared bigger than `maxBytes` (MAX_BODY_BYTES) before any of it is read. */
export function bodyLimit(maxBytes: number) {
  return new Elysia({ name: "body-limit", seed: maxBytes }).onRequest(({ request }) => {
    const length = request.headers.get("content-length");
    if (length !== null && Number(length) > maxBytes)
      throw new PayloadTooLarge(`The request body is too large: at most ${maxBytes} bytes.`);
  });
}
