import { Elysia } from "elysia";
import { BadRequest, PayloadTooLarge, ValidationFailed } from "../errors";
import { JSON_MAX_DEPTH, mayNestDeeperThan, scanJson, shownKey } from "../lib/json-scan";
import { pathOf } from "./auth";

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
 * The body as text, read with a budget: a body without a declared length (chunked) may be let
 * through by Bun up to its backstop, which uploads raise far above MAX_BODY_BYTES.
 */
async function boundedText(request: Request, maxBytes: number): Promise<string> {
  if (!request.body) return "";
  const parts: Uint8Array[] = [];
  let read = 0;
  for await (const chunk of request.body) {
    read += chunk.byteLength;
    if (read > maxBytes) throw new PayloadTooLarge(`The request body is too large: at most ${maxBytes} bytes.`);
    parts.push(chunk);
  }
  return Buffer.concat(parts).toString("utf8");
}

/** Whether the route (Elysia's pattern, e.g. `/api/rooms/:id`) declares a body schema. */
export type TakesBody = (method: string, route: string) => boolean;

/**
 * JSON text as a value, once it is known to nest no deeper than a body holding free JSON may
 * (one level above JSON_MAX_DEPTH): the scan is a loop over the text, so a body nested
 * thousands deep is refused before anything recursive (parse, validation) sees it.
 */
function parseJsonBody(text: string): unknown {
  const tooDeepAt = mayNestDeeperThan(text, JSON_MAX_DEPTH + 1) ? scanJson(text, JSON_MAX_DEPTH + 1).tooDeepAt : undefined;
  if (tooDeepAt !== undefined) {
    const field = tooDeepAt === "" ? "body" : shownKey(tooDeepAt);
    const problem = `must be nested at most ${JSON_MAX_DEPTH} levels deep`;
    throw new ValidationFailed(`Invalid body: ${field} ${problem}`, { in: "body", fields: [{ field, message: problem }] });
  }
  return JSON.parse(text);
}

/**
 * Request bodies are JSON of at most `maxBytes` (MAX_BODY_BYTES), refused before any of it is
 * read: a bigger declared Content-Length gets 413, and a body of another type (a form,
 * multipart, text) 400 rather than being parsed as something the contract never promised.
 * A body is read only for a route that declares one (`takesBody`), and its JSON is parsed by
 * parseJsonBody, never by Elysia's own parser. Mount it after the authentication of routes
 * that need a token (plugins/auth.ts), whose parse hook must come first. `streamsBody` names
 * the upload routes, whose handlers read their multipart bodies as streams, after authentication.
 */
export function requestBodies(maxBytes: number, takesBody: TakesBody, streamsBody: TakesBody = () => false) {
  return new Elysia({ name: "request-bodies", seed: maxBytes }).onRequest(({ request }) => {
    if (request.method === "GET" || request.method === "HEAD") return;
    // Uploads: their handlers check the length and stream the multipart body, after authentication.
    if (streamsBody(request.method, pathOf(request))) return;
    const length = request.headers.get("content-length");
    if (length !== null && Number(length) > maxBytes)
      throw new PayloadTooLarge(`The request body is too large: at most ${maxBytes} bytes.`);
    const type = request.headers.get("content-type");
    if (type !== null && isJson(type)) return;
    if (hasBody(request, length)) throw new BadRequest("Send the request body as JSON, with Content-Type: application/json.");
  }).onParse({ as: "global" }, async ({ request, route, contentType }) => {
    // An upload's body stays unread here: its handler streams it.
    if (streamsBody(request.method, route)) return null;
    // Without JSON there is no body (others were refused above): Elysia leaves it undefined.
    if (!isJson(contentType)) return;
    // A value other than undefined ends parsing: the body of a route that takes none stays unread.
    if (!takesBody(request.method, route)) return null;
    return parseJsonBody(await boundedText(request, maxBytes));
  });
}
