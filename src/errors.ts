import { Elysia, t, ValidationError } from "elysia";
import type { Logger } from "./logger";

/** Every failure the API reports: an HTTP status, a stable code and a sentence for people. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = "AppError";
  }
}

export class BadRequest extends AppError {
  constructor(message = "The request is malformed.", details?: unknown) {
    super(400, "BAD_REQUEST", message, details);
  }
}
export class ValidationFailed extends AppError {
  constructor(message: string, details?: unknown) {
    super(422, "VALIDATION_FAILED", message, details);
  }
}
export class Unauthenticated extends AppError {
  constructor(message = "Authentication is required.") {
    super(401, "UNAUTHENTICATED", message);
  }
}
export class Forbidden extends AppError {
  constructor(message = "You are not allowed to do that.") {
    super(403, "FORBIDDEN", message);
  }
}
export class NotFound extends AppError {
  constructor(what = "Resource") {
    super(404, "NOT_FOUND", `${what} not found.`);
  }
}
export class Conflict extends AppError {
  constructor(message: string) {
    super(409, "CONFLICT", message);
  }
}
export class PayloadTooLarge extends AppError {
  constructor(message = "The request body is too large.") {
    super(413, "PAYLOAD_TOO_LARGE", message);
  }
}
export class RateLimited extends AppError {
  constructor(readonly retryAfterSeconds: number, message = "Too many requests; try again later.") {
    super(429, "RATE_LIMITED", message, { retryAfter: retryAfterSeconds }, {
      "retry-after": String(retryAfterSeconds),
    });
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export const ErrorResponse = t.Object(
  {
    error: t.Object({
      code: t.String({ examples: ["NOT_FOUND"] }),
      message: t.String(),
      details: t.Optional(t.Unknown()),
    }),
  },
  { description: "The error envelope every failure uses" },
);

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return details === undefined ? { error: { code, message } } : { error: { code, message, details } };
}

function jsonResponse(status: number, body: ErrorBody, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * Elysia's validation error as `{ in, fields: [{ field, message }] }` without echoing whole values.
 * A query or path value that fails after conversion (`?limit=500`) reaches us as a "property"
 * error without its name: it is found again by its value in the URL.
 */
function validationDetails(error: ValidationError, url: URL) {
  let where: string = error.type;
  let fallbackField: string = error.type;
  if (where === "property") {
    where = "request";
    const value = String(error.value);
    for (const [name, given] of url.searchParams)
      if (given === value) {
        where = "query";
        fallbackField = name;
        break;
      }
  }
  const seen = new Set<string>();
  const fields: { field: string; message: string }[] = [];
  for (const issue of error.all) {
    const field = "path" in issue && issue.path ? issue.path.replace(/^\//, "").replaceAll("/", ".") : "";
    const message = "summary" in issue && issue.summary ? issue.summary : issue.message;
    const key = `${field}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    fields.push({ field: field || fallbackField, message });
    if (fields.length >= 20) break;
  }
  return { in: where, fields };
}

const INVALID_REQUEST = "The request is invalid.";

/** The 422 body of a validation error; a field-less one when the error cannot be described. */
function describeValidation(error: ValidationError, url: URL): ErrorBody {
  try {
    const details = validationDetails(error, url);
    const first = details.fields[0];
    const message = first ? `Invalid ${details.in}: ${first.field} ${first.message.toLowerCase()}` : INVALID_REQUEST;
    return errorBody("VALIDATION_FAILED", message, details);
  } catch {
    return errorBody("VALIDATION_FAILED", INVALID_REQUEST);
  }
}

/** Renders every error the app can raise in the contract's envelope. */
export function errorHandler(logger: Logger) {
  return new Elysia({ name: "error-handler" })
    .error({ AppError })
    .onError({ as: "global" }, ({ code, error, request, set }) => {
      const requestId = (set.headers["x-request-id"] as string | undefined) ?? "";
      const json = (status: number, body: ErrorBody, headers: Record<string, string> = {}) => {
        set.status = status; // for the request log
        return jsonResponse(status, body, headers);
      };
      // Keep headers set earlier in the request (request id, CORS) on the error response.
      const extra: Record<string, string> = {};
      for (const [key, value] of Object.entries(set.headers))
        if (typeof value === "string" && key !== "content-type") extra[key] = value;
      if (error instanceof AppError)
        return json(error.status, errorBody(error.code, error.message, error.details), { ...extra, ...error.headers });
      const unexpected = () => {
        logger.error("unhandled error", {
          requestId,
          method: request.method,
          path: new URL(request.url).pathname,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        });
        return json(500, errorBody("INTERNAL", "Something went wrong on our side."), extra);
      };
      switch (code) {
        case "VALIDATION":
          // A handler's answer that breaks its own response schema is our bug, not the client's.
          if ((error as ValidationError).type === "response") return unexpected();
          return json(422, describeValidation(error as ValidationError, new URL(request.url)), extra);
        case "NOT_FOUND":
          return json(404, errorBody("NOT_FOUND", "No such route."), extra);
        case "PARSE":
          return json(400, errorBody("BAD_REQUEST", "The request body could not be parsed."), extra);
        case "INVALID_COOKIE_SIGNATURE":
          return json(400, errorBody("BAD_REQUEST", "Invalid cookie."), extra);
      }
      // Elysia sets 422 just before it builds a validation error of the request. When building it
      // fails (describing a value nested thousands deep overflows the stack), the request was
      // still invalid: say so without the details.
      if (set.status === 422) return json(422, errorBody("VALIDATION_FAILED", INVALID_REQUEST), extra);
      const status = (error as { status?: unknown })?.status;
      if (typeof status === "number" && status === 413)
        return json(413, errorBody("PAYLOAD_TOO_LARGE", "The request body is too large."), extra);
      return unexpected();
    });
}
