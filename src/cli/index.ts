import { ConfigError, loadConfig } from "../config";
import { admin } from "./admin";
import { importCommand } from "./import";
import { backup } from "./backup";
import { processStdin, type Stdin } from "./stdin";

export const USAGE = `Usage: bunchat [command]
  (no command)      start the server
  admin …           manage accounts: create, promote, demote, reset-password, deactivate, reactivate, list
                    (bunchat admin --help for details)
  backup <file>     a consistent copy of the SQLite database while the server runs, and of
                    file:// storage beside it (<file>.files/); on PostgreSQL, use pg_dump
  import users <file.jsonl>
                    create accounts from JSON lines, with their existing password hashes
                    (bunchat import --help for details)
  --healthcheck     exit 0 when the server on PORT is ready
  --help            this list`;

/** One command: configuration as the server reads it, the arguments after its name, standard input. */
type Command = (config: ReturnType<typeof loadConfig>, args: string[], stdin: Stdin) => Promise<number>;

const COMMANDS: Record<string, Command> = { admin, backup, import: importCommand };

/** Runs the command `args` names and returns the exit code; an unknown one prints the usage and gives 2. */
export async function runCommand(args: string[], stdin: Stdin = processStdin): Promise<number> {
  const [name, ...rest] = args;
  if (name === "--help" || name === "-h" || name === "help") {
    console.log(USAGE);
    return 0;
  }
  const command = name === undefined || !Object.hasOwn(COMMANDS, name) ? undefined : COMMANDS[name];
  if (!command) {
    console.error(`Unknown command: ${name}`);
    console.error(USAGE);
    return 2;
  }
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : String(error));
    return 1;
  }
  return command(config, rest, stdin);
}
