import { type TObject, type TSchema, TransformKind } from "@sinclair/typebox";
import { type ValueError, ValueErrorType } from "@sinclair/typebox/errors";
import { Value } from "@sinclair/typebox/value";
import { Elysia, t, ValidationError } from "elysia";
import type { Logger } from "./logger";
import { isDatabaseUnavailable } from "./lib/db-errors";

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
/** The database cannot be reached or cannot write right now: a fault that passes, so try again. */
export class Unavailable extends AppError {
  constructor(message = "The database is not answering; try again shortly.") {
    super(503, "UNAVAILABLE", message, undefined, { "retry-after": "1" });
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

/** The request schemas of the route a request matched (Elysia's `route`, e.g. `/api/users/:id`). */
export type RouteSchemas = (method: string, route: string) => { body?: unknown; query?: unknown; params?: unknown } | undefined;

interface Where {
  url: URL;
  method: string;
  route: string | undefined;
  params: Record<string, string | undefined> | undefined;
  schemas: RouteSchemas | undefined;
}

/** A failing check in words of the schema only: never the submitted value (it may be a password). */
function describeIssue(issue: ValueError): string {
  // JSON has no undefined: a failing value that is undefined was left out.
  if (issue.type === ValueErrorType.ObjectRequiredProperty || issue.value === undefined) return "Is required";
  if (issue.type === ValueErrorType.ObjectAdditionalProperties) return "Is not allowed";
  return issue.message;
}

/**
 * A query or path value that fails after conversion (`?limit=500` against a maximum of 200)
 * reaches us as a "property" error without its name. The route's own schema finds it again:
 * the value whose conversion throws is the one.
 */
function propertyField(error: ValidationError, at: Where): { in: string; field: string } | null {
  const route = at.route === undefined ? undefined : at.schemas?.(at.method, at.route);
  const sources = [
    ["query", route?.query, (name: string) => at.url.searchParams.get(name)],
    ["params", route?.params, (name: string) => at.params?.[name]],
  ] as const;
  for (const [where, schema, valueOf] of sources) {
    const properties = (schema as TObject | undefined)?.properties ?? {};
    for (const [name, property] of Object.entries(properties)) {
      const given = valueOf(name);
      if (given == null || !(TransformKind in property)) continue;
      try {
        Value.Decode(property, given);
      } catch {
        return { in: where, field: name };
      }
    }
  }
  // Without the route's schema: the query value that converts to the failing one, if only one does.
  const matching = [...at.url.searchParams].filter(([, given]) => given !== "" && Number(given) === error.value);
  return matching.length === 1 ? { in: "query", field: matching[0]![0] } : null;
}

/** Elysia's validation error as `{ in, fields: [{ field, message }] }`, naming what failed but never a value. */
function validationDetails(error: ValidationError, at: Where) {
  let where: string = error.type;
  let fallbackField = "";
  if (where === "property") {
    const found = propertyField(error, at);
    where = found?.in ?? "request";
    fallbackField = found?.field ?? "";
  }
  const validator = error.validator as { Errors?: (value: unknown) => Iterable<ValueError> };
  const issues = validator.Errors ? validator.Errors(error.value) : Value.Errors(error.validator as TSchema, error.value);
  const seen = new Set<string>();
  const fields: { field: string; message: string }[] = [];
  for (const issue of issues) {
    const field = issue.path ? issue.path.replace(/^\//, "").replaceAll("/", ".") : fallbackField;
    const message = describeIssue(issue);
    const key = `${field}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    fields.push({ field: field || where, message });
    if (fields.length >= 20) break;
  }
  return { in: where, fields };
}

const INVALID_REQUEST = "The request is invalid.";

/** The 422 body of a validation error; a field-less one when the error cannot be described. */
function describeValidation(error: ValidationError, at: Where): ErrorBody {
  try {
    const details = validationDetails(error, at);
    const first = details.fields[0];
    const message = first ? `Invalid ${details.in}: ${first.field} ${first.message.toLowerCase()}` : INVALID_REQUEST;
    return errorBody("VALIDATION_FAILED", message, details);
  } catch {
    return errorBody("VALIDATION_FAILED", INVALID_REQUEST);
  }
}

/**
 * PostgreSQL refused text it can't store (U+0000, or a character the encoding lacks): the
 * client's input, which the schemas missed. SQLSTATE as Bun reports it, under Drizzle's wrapper.
 */
function isUnstorableText(error: unknown): boolean {
  for (let e = error as { errno?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++)
    if (e.errno === "22021" || e.errno === "22P05") return true;
  return false;
}

/** Renders every error the app can raise in the contract's envelope. */
export function errorHandler(logger: Logger, schemas?: RouteSchemas) {
  return new Elysia({ name: "error-handler" })
    .error({ AppError })
    .onError({ as: "global" }, ({ code, error, request, set, route, params }) => {
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
      if (isDatabaseUnavailable(error)) {
        logger.warn("database unavailable", { requestId, method: request.method, path: new URL(request.url).pathname, error: String(error) });
        const down = new Unavailable();
        return json(down.status, errorBody(down.code, down.message), { ...extra, ...down.headers });
      }
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
          return json(
            422,
            describeValidation(error as ValidationError, { url: new URL(request.url), method: request.method, route, params, schemas }),
            extra,
          );
        case "NOT_FOUND":
          return json(404, errorBody("NOT_FOUND", "No such route."), extra);
        case "PARSE": {
          // Elysia wraps what a parse hook throws: a refusal of ours keeps its own answer.
          const cause = (error as Error).cause;
          if (cause instanceof AppError) return json(cause.status, errorBody(cause.code, cause.message, cause.details), { ...extra, ...cause.headers });
          return json(400, errorBody("BAD_REQUEST", "The request body could not be parsed."), extra);
        }
        case "INVALID_COOKIE_SIGNATURE":
          return json(400, errorBody("BAD_REQUEST", "Invalid cookie."), extra);
      }
      if (isUnstorableText(error))
        return json(400, errorBody("BAD_REQUEST", "The request holds a character that can't be stored (such as U+0000)."), extra);
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
