import { Elysia, t } from "elysia";
import { ErrorResponse } from "../../errors";

/** How long /ready waits for the database before calling it unavailable. */
const PING_TIMEOUT_MS = 2000;

/** True when `ping` answers true in time; a ping that throws, hangs or says false is a no. */
async function answers(ping: () => Promise<boolean>): Promise<boolean> {
  let timer: Timer | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
  });
  try {
    return await Promise.race([Promise.resolve().then(ping).catch(() => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function healthModule(ping: () => Promise<boolean>) {
  return new Elysia({ tags: ["Service"] })
    .get("/health", () => ({ status: "ok" as const }), {
      response: { 200: t.Object({ status: t.Literal("ok") }) },
      detail: { summary: "Liveness", description: "200 while the process is up." },
    })
    .get(
      "/ready",
      async ({ set }) => {
        if (await answers(ping)) return { status: "ok" as const };
        set.status = 503;
        return { error: { code: "UNAVAILABLE", message: "The database is not answering." } };
      },
      {
        response: { 200: t.Object({ status: t.Literal("ok") }), 503: ErrorResponse },
        detail: { summary: "Readiness", description: "200 when the database answers, 503 otherwise." },
      },
    );
}
