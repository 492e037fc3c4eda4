// Conventions for new code: CONTRIBUTING.md.
import { Elysia } from "elysia";
import pkg from "../package.json";
import type { Config } from "./config";
import type { Database } from "./db";
import { errorHandler } from "./errors";
import { type Events, nobodyOnline, type PresenceView, RecordingEvents } from "./events";
import { createLogger, type Logger } from "./logger";
import { authModule } from "./modules/auth";
import { AuthService } from "./modules/auth/service";
import { healthModule } from "./modules/health";
import { usersModule } from "./modules/users";
import { UserService } from "./modules/users/service";
import { createSigner } from "./plugins/auth";
import { corsPlugin } from "./plugins/cors";
import { openapiPlugin } from "./plugins/openapi";
import { RateLimiter } from "./plugins/rate-limit";
import { requestLog } from "./plugins/request-log";

export interface Deps {
  config: Config;
  database: Database;
  /** Where services send real-time events; defaults to a recorder (no sockets). */
  events?: Events;
  presence?: PresenceView;
  logger?: Logger;
}

/** Everything the app is made of, built once from its dependencies. */
export function createServices(deps: Deps) {
  const { config, database } = deps;
  const events = deps.events ?? new RecordingEvents();
  const presence = deps.presence ?? nobodyOnline;
  const logger = deps.logger ?? createLogger(config.logLevel);
  const signer = createSigner(config.jwtSecret);
  const auth = new AuthService(database, config, signer, events, presence);
  const users = new UserService(database, presence);
  return {
    config,
    database,
    events,
    presence,
    logger,
    auth,
    users,
    authLimiter: new RateLimiter(config.rateLimitAuth, 60_000),
    messageLimiter: new RateLimiter(config.rateLimitMessages, 10_000),
  };
}
export type Services = ReturnType<typeof createServices>;

export function createApp(deps: Deps | Services) {
  const s = "auth" in deps ? deps : createServices(deps);
  return new Elysia()
    .use(requestLog(s.logger))
    .use(corsPlugin(s.config.corsOrigins))
    .use(errorHandler(s.logger))
    .use(openapiPlugin(pkg.version))
    .use(healthModule(() => s.database.ping()))
    .use(authModule(s.auth, s.authLimiter))
    .use(usersModule(s.auth, s.users, s.presence));
}

export type App = ReturnType<typeof createApp>;
