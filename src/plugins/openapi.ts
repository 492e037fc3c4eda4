import { openapi } from "@elysiajs/openapi";
import { unwrapSchema } from "@elysiajs/openapi/openapi";
import type { TSchema } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { NotFound, type RouteSchemas } from "../errors";
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import swaggerJs from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };

const ASSETS = "/swagger/assets";
const assets: Record<string, { path: string; type: string }> = {
  "swagger-ui-bundle.js": { path: swaggerJs, type: "text/javascript; charset=utf-8" },
  "swagger-ui.css": { path: swaggerCss, type: "text/css; charset=utf-8" },
};

const SPEC = "/swagger/json";
const VERSION = "3.1.0";

type Operation = {
  requestBody?: { content?: Record<string, unknown> };
  responses?: Record<string, { description?: string; content?: object; headers?: object }>;
};

const RETRY_AFTER = {
  "Retry-After": { description: "Seconds until a request may succeed", schema: { type: "integer", minimum: 1 } },
};

/**
 * A request body schema without `additionalProperties: false`, copied (the schema objects are
 * the live ones). Elysia sets it on body schemas as it compiles a route, to drop unknown fields
 * before validating: the server ignores them, it does not refuse them.
 */
const ignoringUnknownFields = (media: unknown): unknown =>
  JSON.parse(JSON.stringify(media, (key, value) => (key === "additionalProperties" && value === false ? undefined : value)));

/**
 * Mends what the generator gets wrong, in place (the document is cached, so this is idempotent):
 * a body-less response (`t.Void()`, e.g. a 204) comes out as `content: { type: "void" }`, which
 * is not valid OpenAPI: such a response has no `content` at all. Request bodies are JSON only,
 * which the server's own parser reads (plugins/body.ts), and without refusing unknown fields,
 * which the server ignores: the generator, seeing a parse hook, lists no media type at all, so
 * the route's body schema (`schemas`) is given as JSON here. And the generator has no way to
 * declare response headers: a 429 gets its Retry-After here.
 */
function repair(document: unknown, schemas: RouteSchemas) {
  const paths = (document as { paths?: Record<string, Record<string, Operation>> })?.paths;
  for (const [path, operations] of Object.entries(paths ?? {}))
    for (const [method, operation] of Object.entries(operations)) {
      const requestBody = operation?.requestBody;
      const body = requestBody && schemas(method.toUpperCase(), path.replace(/\{(\w+)\}/g, ":$1"))?.body;
      if (body) {
        delete requestBody.content; // and set again, last, where the generator puts it
        requestBody.content = { "application/json": ignoringUnknownFields({ schema: unwrapSchema(body as TSchema, undefined, "input", VERSION) }) };
      }
      for (const response of Object.values(operation?.responses ?? {}))
        if (response?.content && "type" in response.content) delete response.content;
      const limited = operation?.responses?.["429"];
      if (limited) limited.headers = RETRY_AFTER;
    }
}

/**
 * Swagger UI at /swagger and the OpenAPI document at /swagger/json, served with no CDN.
 * `schemas` finds a route's request schemas by method and Elysia path.
 */
export function openapiPlugin(version: string, schemas: RouteSchemas) {
  return new Elysia({ name: "openapi" })
    // Local to this plugin: runs for the document and UI routes only.
    .onAfterHandle(({ path, response }) => {
      if (path === SPEC) repair(response, schemas);
    })
    .use(
      openapi({
        path: "/swagger",
        specPath: SPEC,
        provider: "swagger-ui",
        openapiVersion: VERSION,
        swagger: {
          cdn: `${ASSETS}/swagger-ui-bundle.js`,
          theme: `${ASSETS}/swagger-ui.css`,
          persistAuthorization: true,
          // Absolute, so that /swagger/ (trailing slash) finds the document too; the option is
          // left out of the plugin's types but passed through to Swagger UI. And no validator:
          // left unset, the UI sends the document to validator.swagger.io (the types allow no null).
          ...({ url: SPEC, validatorUrl: null } as object),
        },
        // staticFile: false, or a path with a dot (/asyncapi.json) would be left out.
        exclude: { paths: [/^\/swagger/], staticFile: false },
        documentation: {
          info: {
            title: "bunchat API",
            version,
            description:
              "A lightweight chat server. Authenticate with `POST /api/auth/login`, then send `Authorization: Bearer <accessToken>`. " +
              "Real-time events arrive over one WebSocket at `GET /ws` (one room's alone at `GET /ws/rooms/{id}`): its frames, the handshake and the close codes are in the " +
              "AsyncAPI 3 document at [/asyncapi.json](/asyncapi.json) (the guide: docs/protocol.md). " +
              // No double quotes: the UI page copies this into an HTML attribute unescaped.
              "Every error has the shape `{ error: { code, message, details? } }`.",
          },
          tags: [
            { name: "Service", description: "Liveness and readiness" },
            { name: "Auth", description: "Accounts, sessions and tokens" },
            { name: "Users", description: "Profiles and search" },
            { name: "Rooms", description: "Group rooms, direct chats and membership" },
            { name: "Teams", description: "Teams, channels and invitations" },
            { name: "Messages", description: "History, sending, edits, reactions and search" },
            { name: "Files", description: "Uploads, their signed links, and attachments" },
            {
              name: "Real time",
              description: "The WebSocket: one per client, for all of its rooms",
              externalDocs: { description: "Its frames: the AsyncAPI 3 document", url: "/asyncapi.json" },
            },
            { name: "Admin", description: "Server admins: stats, users, every room, the report queue, the audit log" },
          ],
          components: {
            securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
          },
        },
      }),
    )
    .get(
      `${ASSETS}/:file`,
      ({ params, set }) => {
        const asset = assets[params.file];
        if (!asset) throw new NotFound("Asset");
        set.headers["content-type"] = asset.type;
        set.headers["cache-control"] = "public, max-age=86400";
        return Bun.file(asset.path);
      },
      { detail: { hide: true } },
    );
}
