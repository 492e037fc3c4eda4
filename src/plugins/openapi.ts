import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import swaggerJs from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };

const ASSETS = "/swagger/assets";
const assets: Record<string, { path: string; type: string }> = {
  "swagger-ui-bundle.js": { path: swaggerJs, type: "text/javascript; charset=utf-8" },
  "swagger-ui.css": { path: swaggerCss, type: "text/css; charset=utf-8" },
};

/** Swagger UI at /swagger and the OpenAPI document at /swagger/json, served with no CDN. */
export function openapiPlugin(version: string) {
  return new Elysia({ name: "openapi" })
    .use(
      openapi({
        path: "/swagger",
        specPath: "/swagger/json",
        provider: "swagger-ui",
        openapiVersion: "3.1.0",
        swagger: { cdn: `${ASSETS}/swagger-ui-bundle.js`, theme: `${ASSETS}/swagger-ui.css`, persistAuthorization: true },
        exclude: { paths: [/^\/swagger/] },
        documentation: {
          info: {
            title: "bunchat API",
            version,
            description:
              "A lightweight chat server. Authenticate with `POST /api/auth/login`, then send `Authorization: Bearer <accessToken>`. " +
              "Real-time events arrive over one WebSocket at `GET /ws` (see the README for its frames). " +
              'Every error has the shape `{ "error": { "code", "message", "details"? } }`.',
          },
          tags: [
            { name: "Service", description: "Liveness and readiness" },
            { name: "Auth", description: "Accounts, sessions and tokens" },
            { name: "Users", description: "Profiles and search" },
            { name: "Rooms", description: "Group rooms, direct chats and membership" },
            { name: "Teams", description: "Teams, channels and invitations" },
            { name: "Messages", description: "History, sending, edits, reactions and search" },
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
        if (!asset) return new Response("Not found", { status: 404 });
        set.headers["content-type"] = asset.type;
        set.headers["cache-control"] = "public, max-age=86400";
        return Bun.file(asset.path);
      },
      { detail: { hide: true } },
    );
}
