import { Elysia } from "elysia";
import type { Logger } from "../logger";

const started = new WeakMap<Request, number>();

/** Gives every request an id (kept from `x-request-id` when sent) and logs it when answered. */
export function requestLog(logger: Logger) {
  return new Elysia({ name: "request-log" })
    .onRequest(({ request, set }) => {
      started.set(request, performance.now());
      const given = request.headers.get("x-request-id");
      set.headers["x-request-id"] = given && /^[\w.-]{1,64}$/.test(given) ? given : Bun.randomUUIDv7();
    })
    .onAfterResponse({ as: "global" }, ({ request, set, path }) => {
      if (!logger.enabled("info")) return;
      const start = started.get(request);
      logger.info("request", {
        requestId: set.headers["x-request-id"],
        method: request.method,
        path,
        status: typeof set.status === "number" ? set.status : 200,
        durationMs: start === undefined ? undefined : Math.round((performance.now() - start) * 100) / 100,
      });
    });
}
