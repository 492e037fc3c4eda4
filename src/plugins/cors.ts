import { Elysia } from "elysia";
import type { Config } from "../config";

/** CORS for the configured origins; with none configured, browsers keep to same-origin. */
export function corsPlugin(origins: Config["corsOrigins"]) {
  const app = new Elysia({ name: "cors", seed: origins });
  if (!origins) return app;
  const allowed = (origin: string | null) =>
    origin !== null && (origins === "*" || origins.includes(origin)) ? origin : null;
  return app.onRequest(({ request, set }) => {
    const origin = allowed(request.headers.get("origin"));
    if (!origin) return;
    set.headers["access-control-allow-origin"] = origins === "*" ? "*" : origin;
    // Readable by the page too: how long to wait after a 429, and the id the logs know a request by.
    set.headers["access-control-expose-headers"] = "retry-after, x-request-id";
    set.headers["vary"] = "Origin";
    if (request.method === "OPTIONS" && request.headers.get("access-control-request-method")) {
      return new Response(null, {
        status: 204,
        headers: {
          "access-control-allow-origin": origins === "*" ? "*" : origin,
          "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
          "access-control-allow-headers": "authorization, content-type, x-request-id",
          "access-control-max-age": "600",
          vary: "Origin",
        },
      });
    }
  });
}
