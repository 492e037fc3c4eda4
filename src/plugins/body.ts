import { Elysia } from "elysia";
import { BadRequest, PayloadTooLarge } from "../errors";

/**
 * What Bun itself accepts, beyond the app's own limit: a body without Content-Length (chunked)
 * can only be measured as it is read, so Bun stops it here; and a declared length between the
 * two still gets the app's 413 envelope rather than Bun's bare one.
 */
export const bodyBackstop = (maxBodyBytes: number) => 2 * maxBodyBytes;

/** `application/json`, with parameters or not: in lower case, as Elysia's parser looks for it. */
const isJson = (type: string) => {
  const end = type.indexOf(";");
  return (end === -1 ? type : type.slice(0, end)).trim() === "application/json";
};

/** Whether a request carries a body; the headers answer for requests off the network. */
function hasBody(request: Request, length: string | null): boolean {
  if (length !== null) return length.trim() !== "0";
  return request.headers.has("transfer-encoding") || request.body !== null;
}

/**
 * Request bodies are JSON of at most `maxBytes` (MAX_BODY_BYTES), refused before any of it is
 * read: a bigger declared Content-Length gets 413, and a body of another type (a form,
 * multipart, text) 400 rather than being parsed as something the contract never promised.
 */
export function requestBodies(maxBytes: number) {
  return new Elysia({ name: "request-bodies", seed: maxBytes }).onRequest(({ request }) => {
    if (request.method === "GET" || request.method === "HEAD") return;
    const length = request.headers.get("content-length");
    if (length !== null && Number(length) > maxBytes)
      throw new PayloadTooLarge(`The request body is too large: at most ${maxBytes} bytes.`);
    const type = request.headers.get("content-type");
    if (type !== null && isJson(type)) return;
    if (hasBody(request, length)) throw new BadRequest("Send the request body as JSON, with Content-Type: application/json.");
  });
}
