import { createApp, createServices } from "./app";
import { runCommand } from "./cli";
import { ConfigError, loadConfig, oneLine, readPort } from "./config";
import { type Database, openDatabase } from "./db";
import { createLogger } from "./logger";
import { connectRedis, type RedisCluster } from "./realtime/redis";

/** How long in-flight requests get to finish on shutdown before their connections are cut. */
const DRAIN_TIMEOUT_MS = 10_000;

/** Stops with one line on stderr: start-up problems are the operator's to fix, not stack traces. */
function fail(message: string): never {
  console.error(oneLine(message));
  process.exit(1);
}

// `bunchat --healthcheck` asks the running server whether it is ready (for Docker's HEALTHCHECK,
// whose runtime image has no curl): exit 0 when /ready answers 200, 1 otherwise.
if (process.argv.includes("--healthcheck")) {
  let port: number;
  try {
    port = readPort(Bun.env);
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  const ok = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(3000) }).then(
    (res) => res.ok,
    () => false,
  );
  process.exit(ok ? 0 : 1);
}

// `bunchat <command> …` runs that command (src/cli) and exits; `bunchat` alone is the server.
if (process.argv.length > 2) process.exit(await runCommand(process.argv.slice(2)));

let config;
try {
  config = loadConfig();
} catch (error) {
  fail(error instanceof ConfigError ? error.message : `Cannot start: ${error instanceof Error ? error.message : String(error)}`);
}

const logger = createLogger(config.logLevel);
let database: Database;
try {
  database = openDatabase(config.databaseUrl, { logger });
  // PostgreSQL connects and migrates in the background; start serving only once it has.
  await database.ready;
} catch (error) {
  fail(`Cannot open the database (DATABASE_URL): ${error instanceof Error ? error.message : String(error)}`);
}
let redis: RedisCluster | undefined;
if (config.redisUrl) {
  try {
    redis = await connectRedis(config.redisUrl, logger);
  } catch (error) {
    fail(`Cannot connect to Redis (REDIS_URL): ${error instanceof Error ? error.message : String(error)}`);
  }
  logger.info("sharing events, presence and limits with other processes through redis");
}
const now = config.clockOffsetMs === 0 ? Date.now : () => Date.now() + config.clockOffsetMs;
const services = createServices({ config, database, logger, now, broker: redis?.broker, cluster: redis?.presence, limits: redis?.limits });
if (config.bootstrapAdmin) {
  const { username, password, email } = config.bootstrapAdmin;
  try {
    const outcome = await services.admin.ensureAdmin(username, password, email);
    logger.info("admin account", { username, outcome });
  } catch (error) {
    fail(`Cannot make sure of the admin account (ADMIN_USERNAME, ADMIN_PASSWORD): ${error instanceof Error ? error.message : String(error)}`);
  }
}
// Last: the real-time layer has let go of Redis and the message writer has drained.
if (redis) services.shutdownHooks.push(() => redis.close());
const app = createApp(services);
try {
  app.listen({ port: config.port, hostname: config.host });
} catch (error) {
  fail(`Cannot listen on ${config.host}:${config.port} (HOST, PORT): ${error instanceof Error ? error.message : String(error)}`);
}
logger.info("listening", { url: `http://${config.host}:${app.server!.port}`, database: database.dialect });

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info("shutting down", { signal });
  // Stop accepting at once; the promise settles when in-flight requests have been answered
  // and every connection (WebSockets included) is closed.
  const server = app.server;
  const drained = app.stop(false);
  for (const hook of services.shutdownHooks) {
    try {
      await hook();
    } catch (error) {
      logger.error("shutdown hook failed", { error: error instanceof Error ? error.message : String(error) });
    }
  }
  const timer = setTimeout(() => {
    logger.warn("in-flight requests did not finish in time; closing their connections", { timeoutMs: DRAIN_TIMEOUT_MS });
    void server?.stop(true);
  }, DRAIN_TIMEOUT_MS);
  await drained;
  clearTimeout(timer);
  await database.close();
  logger.info("stopped");
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
