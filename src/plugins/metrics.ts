import { Elysia } from "elysia";
import { createHash, timingSafeEqual } from "node:crypto";
import { ErrorResponse, Unauthenticated } from "../errors";
import type { Metrics } from "../metrics";

const started = new WeakMap<Request, number>();

/** Equal when the two texts are; the time taken depends on neither (both are hashed to 32 bytes first). */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * With metrics on: every answered request is counted by method, route pattern and status, and
 * `GET /metrics` serves the scrape to `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise).
 * With metrics off: no hook and no route, so /metrics is an ordinary 404.
 */
export function metricsPlugin(metrics: Metrics, token: string | null) {
  const plugin = new Elysia({ name: "metrics" });
  if (!metrics.enabled || token === null) return plugin;
  return plugin
    .onRequest(({ request }) => {
      started.set(request, performance.now());
    })
    .onAfterResponse({ as: "global" }, ({ request, route, set }) => {
      const start = started.get(request);
      const status = typeof set.status === "number" ? set.status : 200;
      metrics.request(request.method, route, status, start === undefined ? 0 : (performance.now() - start) / 1000);
    })
    .get(
      "/metrics",
      async ({ headers, set }) => {
        const header = headers.authorization ?? "";
        const given = header.startsWith("Bearer ") ? header.slice(7) : "";
        if (!sameSecret(given, token)) throw new Unauthenticated("Send the metrics token as Authorization: Bearer <METRICS_TOKEN>.");
        set.headers["content-type"] = metrics.contentType;
        return metrics.scrape();
      },
      {
        detail: {
          summary: "Prometheus metrics",
          description:
            "Only when METRICS_TOKEN is set (404 otherwise), with `Authorization: Bearer <METRICS_TOKEN>`. The Prometheus text format: " +
            "request counts and durations by route pattern, WebSocket and message-path counters, and the process's own metrics.",
          tags: ["Service"],
          responses: {
            200: { description: "The scrape", content: { "text/plain": { schema: { type: "string" } } } },
            401: { description: "No or a wrong metrics token", content: { "application/json": { schema: JSON.parse(JSON.stringify(ErrorResponse)) } } },
          },
        },
      },
    );
}
