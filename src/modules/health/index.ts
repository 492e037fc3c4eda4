import { Elysia, t } from "elysia";
import { ErrorResponse } from "../../errors";

export function healthModule(ping: () => Promise<boolean>) {
  return new Elysia({ tags: ["Service"] })
    .get("/health", () => ({ status: "ok" as const }), {
      response: { 200: t.Object({ status: t.Literal("ok") }) },
      detail: { summary: "Liveness", description: "200 while the process is up." },
    })
    .get(
      "/ready",
      async ({ set }) => {
        if (await ping()) return { status: "ok" as const };
        set.status = 503;
        return { error: { code: "UNAVAILABLE", message: "The database is not answering." } };
      },
      {
        response: { 200: t.Object({ status: t.Literal("ok") }), 503: ErrorResponse },
        detail: { summary: "Readiness", description: "200 when the database answers, 503 otherwise." },
      },
    );
}
