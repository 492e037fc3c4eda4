// Server side: which paths answer with the web app's page. Bun serves an HTML import together with
// the scripts and styles it names (bundled once, embedded in the compiled executable).
import page from "./index.html";

/**
 * The app's own client-side paths. Each is listed: nothing under /api, /ws, /files, /swagger,
 * /asyncapi.json, /metrics, /health or /ready is ever answered with the page.
 */
export const APP_PATHS = [
  "/",
  "/rooms/:id",
  "/invite/:code",
  "/teams",
  "/teams/:id",
  "/new",
  "/discover",
  "/people",
  "/search",
  "/profile",
  "/admin",
] as const;

export const appRoutes = Object.fromEntries(APP_PATHS.map((path) => [path, page]));
