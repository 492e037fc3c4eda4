import { createApp, createServices } from "./app";
import { ConfigError, loadConfig } from "./config";
import { openDatabase } from "./db";
import { createLogger } from "./logger";

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}

const logger = createLogger(config.logLevel);
const database = openDatabase(config.databaseUrl);
const services = createServices({ config, database, logger });
const app = createApp(services).listen({ port: config.port, hostname: config.host });
logger.info("listening", { url: `http://${config.host}:${app.server!.port}`, database: database.dialect });

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info("shutting down", { signal });
  // Stop accepting, let in-flight requests finish, then close the database.
  await app.stop(false);
  database.close();
  logger.info("stopped");
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
