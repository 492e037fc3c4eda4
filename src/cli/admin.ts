import type { Config } from "../config";
import { type Database, openDatabase } from "../db";
import { AppError } from "../errors";
import type { Events } from "../events";
import { createLogger } from "../logger";
import { type Account, AdminService } from "../modules/admin/service";
import { Publisher } from "../realtime/publisher";
import { RedisBroker } from "../realtime/redis-broker";
import { RedisBus } from "../realtime/redis-bus";
import type { Stdin } from "./stdin";

export const ADMIN_USAGE = `Usage: bunchat admin <command> [username]
  create <username>          a new admin; the password is read from standard input
  promote <username>         make an account a server admin
  demote <username>          make an admin an ordinary user (never the last active admin)
  reset-password <username>  a new password, read from standard input; ends the account's sessions
  deactivate <username>      the account can no longer log in; ends its sessions (never the last active admin)
  reactivate <username>      the account can log in again
  list                       every account with its role and status`;

const NEEDS_USERNAME = new Set(["create", "promote", "demote", "reset-password", "deactivate", "reactivate"]);

/** Nothing to tell: this process holds no sockets, and without Redis no other process hears it. */
const noSockets: Events = { toRoom() {}, toUser() {}, toUsers() {}, joined() {}, left() {}, sessionRevoked() {} };

/**
 * With REDIS_URL, ended sessions reach the servers through Redis, as their own events do, and
 * their sockets close with 4001; without it, a server holds on to the sockets already open
 * (their tokens and refresh tokens no longer work).
 */
async function serverEvents(config: Config): Promise<{ events: Events; close(): Promise<void> }> {
  if (!config.redisUrl) return { events: noSockets, close: async () => {} };
  const bus = await RedisBus.connect(config.redisUrl, createLogger("error"));
  try {
    const publisher = new Publisher(await RedisBroker.create(bus));
    return {
      events: publisher,
      async close() {
        await bus.flush();
        await bus.close();
      },
    };
  } catch (error) {
    await bus.close();
    throw error;
  }
}

const status = (a: Account) => (a.deactivatedAt ? `deactivated ${a.deactivatedAt.toISOString()}` : "active");

/**
 * `bunchat admin …` on the configured database, while the server runs or not. Prints one line
 * on success (stdout) and on failure (stderr); exits 0, 1 on failure, 2 on a usage error.
 */
export async function admin(config: Config, args: string[], stdin: Stdin): Promise<number> {
  const [command, username, ...rest] = args;
  if (!command || command === "--help" || command === "-h" || command === "help") {
    (command ? console.log : console.error)(ADMIN_USAGE);
    return command ? 0 : 2;
  }
  const arity = NEEDS_USERNAME.has(command) ? 1 : command === "list" ? 0 : -1;
  if (arity === -1 || (arity === 1 && !username) || args.length - 1 !== arity || rest.length > 0) {
    console.error(arity === -1 ? `Unknown admin command: ${command}` : `Wrong arguments for admin ${command}`);
    console.error(ADMIN_USAGE);
    return 2;
  }

  let database: Database | undefined;
  let servers: Awaited<ReturnType<typeof serverEvents>> | undefined;
  try {
    let password: string | null = null;
    if (command === "create" || command === "reset-password") {
      password = await stdin.readSecret(`Password for ${username}: `);
      if (password === null) throw new CommandFailed("No password given on standard input.");
    }
    database = openDatabase(config.databaseUrl);
    await database.ready;
    if (command === "deactivate" || command === "reset-password") {
      try {
        servers = await serverEvents(config);
      } catch (error) {
        throw new CommandFailed(`Cannot connect to Redis (REDIS_URL): ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    const service = new AdminService(database, config, servers?.events ?? noSockets);
    const name = username!;
    switch (command) {
      case "create":
        console.log(`Created admin ${(await service.create(name, password!, { role: "admin" })).username}.`);
        break;
      case "promote":
        console.log(`${(await service.setRole(name, "admin")).username} is an admin.`);
        break;
      case "demote":
        console.log(`${(await service.setRole(name, "user")).username} is an ordinary user.`);
        break;
      case "reset-password":
        console.log(`Password of ${(await service.resetPassword(name, password!)).username} reset; its sessions have ended.`);
        break;
      case "deactivate":
        console.log(`${(await service.setDeactivated(name, true)).username} is deactivated; its sessions have ended.`);
        break;
      case "reactivate":
        console.log(`${(await service.setDeactivated(name, false)).username} is active.`);
        break;
      case "list":
        for (const a of await service.list()) console.log(`${a.username}\t${a.role}\t${status(a)}`);
        break;
    }
    return 0;
  } catch (error) {
    const known = error instanceof AppError || error instanceof CommandFailed;
    console.error(known ? error.message : `admin ${command} failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await servers?.close();
    await database?.close();
  }
}

class CommandFailed extends Error {}
