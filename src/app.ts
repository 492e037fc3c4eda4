// Conventions for new code: CONTRIBUTING.md.
import { Elysia } from "elysia";
import pkg from "../package.json";
import { appRoutes } from "./app/routes";
import type { Config } from "./config";
import type { Database } from "./db";
import { errorHandler, type RouteSchemas } from "./errors";
import type { Events, PresenceView } from "./events";
import { createLogger, type Logger } from "./logger";
import { createMetrics, noMetrics } from "./metrics";
import { type Mailer, smtpMailer } from "./mailer";
import { authModule, authRateLimit } from "./modules/auth";
import { adminModule } from "./modules/admin";
import { AdminService } from "./modules/admin/service";
import { AdminViews } from "./modules/admin/views";
import { AccountService } from "./modules/auth/account";
import { AuthService } from "./modules/auth/service";
import { healthModule } from "./modules/health";
import { filesModule, UPLOAD_ROUTES } from "./modules/files";
import { freeFileRequest } from "./modules/files/serve";
import { FileService, FORM_OVERHEAD } from "./modules/files/service";
import { messagesModule } from "./modules/messages";
import { MessageService } from "./modules/messages/service";
import { roomsModule } from "./modules/rooms";
import { RoomModeration } from "./modules/rooms/moderation";
import { RoomInvitations } from "./modules/rooms/invitations";
import { RoomService } from "./modules/rooms/service";
import { teamsModule } from "./modules/teams";
import { TeamService } from "./modules/teams/service";
import { usersModule } from "./modules/users";
import { EmailVerification } from "./modules/users/email";
import { ProfileEvents } from "./modules/users/profile-events";
import { touchLastSeen, UserService } from "./modules/users/service";
import { allowedHosts } from "./plugins/allowed-hosts";
import { anonymousRateLimit, authBeforeBody, createSigner } from "./plugins/auth";
import { bodyBackstop, requestBodies } from "./plugins/body";
import { corsPlugin } from "./plugins/cors";
import { metricsPlugin } from "./plugins/metrics";
import { openapiPlugin } from "./plugins/openapi";
import { RateLimiter, type SharedCounters, SharedRateLimiter } from "./plugins/rate-limit";
import { requestLog } from "./plugins/request-log";
import { Realtime } from "./realtime";
import { asyncApiPlugin } from "./realtime/asyncapi";
import { type Broker, InMemoryBroker } from "./realtime/broker";
import { gateway } from "./realtime/gateway";
import { Hub } from "./realtime/hub";
import { Presence } from "./realtime/presence";
import type { PresenceCluster } from "./realtime/presence-cluster";
import { clientFrameTypes } from "./realtime/protocol";
import { Publisher } from "./realtime/publisher";
import { startPhaseTrace } from "./lib/phases";
import { openStorage, type Storage } from "./storage";

export interface Deps {
  config: Config;
  database: Database;
  /** Where services send real-time events; defaults to the publisher (to sockets). Tests of HTTP alone pass a RecordingEvents. */
  events?: Events;
  /** Who is online; defaults to presence, which counts open sockets. */
  presence?: PresenceView;
  /** How real-time events reach other processes; defaults to this process only. */
  broker?: Broker;
  /** Presence across processes; defaults to this process only. */
  cluster?: PresenceCluster;
  /** Limits counted across processes; defaults to this process only. */
  limits?: SharedCounters;
  logger?: Logger;
  /** The clock in ms for expiries, throttles and rate limits; tests pass one they control. */
  now?: () => number;
  /** Where verification codes are mailed; defaults to SMTP_URL's server, or none when it is unset. */
  mailer?: Mailer | null;
  /** Where uploaded files' bytes go; defaults to STORAGE_URL's. */
  storage?: Storage;
  /** Milliseconds between sweeps of files nothing needs (FileService.sweep); 0: no timer (tests sweep by hand). Default 10 minutes. */
  sweepIntervalMs?: number;
}

/**
 * Runs on SIGTERM/SIGINT once the server has stopped accepting connections, before in-flight
 * requests are awaited and the database is closed: e.g. closing WebSockets with 1001.
 */
export type ShutdownHook = () => void | Promise<void>;

/** New email addresses (or new codes) per user and hour: each sends mail to an address of the user's choosing. */
const EMAIL_CHANGES_PER_HOUR = 5;
/** Username changes per user and hour: each frees a name someone else may take. */
const USERNAME_CHANGES_PER_HOUR = 3;

/**
 * Everything the app is made of, built once from its dependencies, each part after what it
 * needs: the hub of this process's sockets, the broker, the publisher (the services' `Events`)
 * and presence (their `PresenceView`) need no service; the services need those; the real-time
 * layer that carries out the sockets' frames needs the services.
 */
export function createServices(deps: Deps) {
  const { config, database } = deps;
  if (config.benchPhases) startPhaseTrace(config.benchPhases);
  const logger = deps.logger ?? createLogger(config.logLevel);
  const now = deps.now ?? Date.now;
  const hub = new Hub();
  const metrics = config.metricsToken
    ? createMetrics({
        version: pkg.version,
        database: database.dialect,
        frameTypes: clientFrameTypes,
        connections: () => hub.size,
        onlineUsers: () => hub.userCount,
      })
    : noMetrics;
  const broker = deps.broker ?? new InMemoryBroker();
  const publisher = new Publisher(broker);
  const livePresence = new Presence({
    hub,
    database,
    graceMs: config.limits.presenceGraceMs,
    logger,
    now,
    toUsers: (userIds, event) => publisher.toUsers(userIds, event),
    storeLastSeen: (userId, at) => touchLastSeen(database, userId, at),
    cluster: deps.cluster,
  });
  const events = deps.events ?? publisher;
  const presence = deps.presence ?? livePresence;
  const signer = createSigner(config.jwtSecret, now);
  const mailer = deps.mailer !== undefined ? deps.mailer : config.smtp && smtpMailer(config.smtp);
  const emails = new EmailVerification(database, config.jwtSecret, mailer, new RateLimiter(EMAIL_CHANGES_PER_HOUR, 3_600_000, now, metrics.limited("email")), logger, now);
  const shared = deps.limits ?? null;
  const auth = new AuthService(database, config, signer, events, presence, emails, now, shared);
  const profiles = new ProfileEvents(database, events, presence, logger);
  const accounts = new AccountService(database, config, events, profiles, now, shared);
  const users = new UserService(database, presence, emails, new RateLimiter(USERNAME_CHANGES_PER_HOUR, 3_600_000, now, metrics.limited("username")), profiles);
  const rooms = new RoomService(database, events, presence, now);
  const moderation = new RoomModeration(database, events, rooms, now);
  const teams = new TeamService(database, events, rooms, presence, now);
  const roomInvitations = new RoomInvitations(database, events, rooms, now);
  const messageLimiter = new SharedRateLimiter(new RateLimiter(config.rateLimitMessages, 10_000, now, metrics.limited("messages")), shared, "messages");
  const files = new FileService(database, deps.storage ?? openStorage(config.storageUrl, config.s3), config, logger, profiles, now);
  const messages = new MessageService(database, config, events, messageLimiter, files, now, metrics);
  const sweepEvery = deps.sweepIntervalMs ?? 600_000;
  const sweeper = sweepEvery > 0 ? setInterval(() => void files.sweepQuietly(), sweepEvery) : null;
  sweeper?.unref();
  const admin = new AdminService(database, config, events, now);
  const startedAt = now();
  const adminViews = new AdminViews(database, presence, {
    version: pkg.version,
    startedAt,
    onlineUsers: () => hub.userCount,
    connections: () => hub.size,
    files: () => files.totals(),
  }, now);
  const realtime = new Realtime({ config, logger, now, hub, broker, publisher, presence: livePresence, metrics, services: { auth, rooms, messages }, limits: shared });
  return {
    config,
    database,
    events,
    presence,
    logger,
    auth,
    accounts,
    emails,
    users,
    rooms,
    moderation,
    roomInvitations,
    teams,
    admin,
    adminViews,
    now,
    authLimiter: new SharedRateLimiter(new RateLimiter(config.rateLimitAuth, 60_000, now, metrics.limited("auth")), shared, "auth"),
    anonLimiter: new RateLimiter(config.rateLimitAnon, 60_000, now, metrics.limited("anonymous")),
    metrics,
    messageLimiter,
    messages,
    files,
    realtime,
    /** Modules push their clean-up here; src/index.ts runs them in order on shutdown. */
    // Sockets first: their in-flight sends commit and are acknowledged, then the writer drains;
    // codes being mailed are sent (or fail) before the process exits.
    shutdownHooks: [() => realtime.shutdown(), () => messages.drain(), () => emails.drain(), () => clearInterval(sweeper ?? undefined)] as ShutdownHook[],
  };
}
export type Services = ReturnType<typeof createServices>;

export function createApp(deps: Deps | Services) {
  const s = "auth" in deps ? deps : createServices(deps);
  // WebSocket options take effect only on the root instance, not on the .ws() route.
  const { wsMaxPayload, wsBackpressureLimit, wsIdleTimeout, maxBodyBytes } = s.config.limits;
  // The error handler looks a route's request schemas up to name a field that failed after conversion.
  const schemas: RouteSchemas = (method, route) => app.routes.find((r) => r.method === method && r.path === route)?.hooks;
  const app = new Elysia({
    serve: {
      // Bun's own limit, for what the request-bodies plugin cannot see before reading (see plugins/body.ts).
      maxRequestBodySize: Math.max(bodyBackstop(maxBodyBytes), s.config.uploadMaxBytes + FORM_OVERHEAD),
      // Elysia turns it on: a second server on a busy port would then share it instead of failing.
      reusePort: false,
      // The web app's page, bundled once and served by Bun itself (never through the handlers below).
      routes: appRoutes as never,
      // Bun's development mode would rebuild the page per change and reload open tabs: not for serving.
      development: false,
    },
    websocket: {
      maxPayloadLength: wsMaxPayload,
      backpressureLimit: wsBackpressureLimit,
      closeOnBackpressureLimit: true,
      idleTimeout: wsIdleTimeout,
      sendPings: true,
      perMessageDeflate: false,
    },
  })
    .use(requestLog(s.logger))
    .use(corsPlugin(s.config.corsOrigins))
    .use(errorHandler(s.logger, schemas))
    .use(allowedHosts(s.config.allowedHosts))
    .use(metricsPlugin(s.metrics, s.config.metricsToken))
    .use(authRateLimit(s.authLimiter, s.config.trustProxy))
    .use(anonymousRateLimit(s.auth, s.anonLimiter, s.config.trustProxy, (request, path) => freeFileRequest(s.files, request, path)))
    .use(authBeforeBody(s.auth))
    .use(requestBodies(maxBodyBytes, (method, route) => schemas(method, route)?.body !== undefined, (method, route) => UPLOAD_ROUTES.has(`${method} ${route}`)))
    .use(openapiPlugin(pkg.version, schemas))
    .use(healthModule(() => s.database.ping()))
    .use(authModule(s.auth, s.accounts))
    .use(usersModule(s.auth, s.users, s.presence, s.accounts))
    .use(roomsModule(s.auth, s.rooms, s.moderation, s.roomInvitations))
    .use(teamsModule(s.auth, s.teams, s.roomInvitations))
    .use(messagesModule(s.auth, s.messages, s.metrics))
    .use(filesModule({ auth: s.auth, files: s.files, messages: s.messages, users: s.users, presence: s.presence }))
    .use(adminModule({ auth: s.auth, admin: s.admin, views: s.adminViews, rooms: s.rooms, teams: s.teams, presence: s.presence }))
    .use(gateway(s.realtime, s.auth, s.config.trustProxy))
    .use(asyncApiPlugin(pkg.version));
  return app;
}

export type App = ReturnType<typeof createApp>;
