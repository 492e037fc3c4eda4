import type { Config } from "../config";
import { type Database, openDatabase } from "../db";
import { UserImport } from "../modules/users/import";
import type { Stdin } from "./stdin";

export const IMPORT_USAGE = `Usage: bunchat import users <file.jsonl>
  One JSON object a line: { "username", "email"?, "displayName"?, "passwordHash", "createdAt"? }.
  passwordHash: Django pbkdf2_sha256$<iterations>$<salt>$<hash>, bcrypt ($2a$, $2b$, $2y$) or
  argon2 ($argon2id$, $argon2i$); it is replaced by argon2id at the account's first login.
  Existing usernames (ignoring case) are skipped: running the same file again changes nothing.`;

/** The file's lines as they are read, without their line endings. */
async function* linesOf(path: string): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of Bun.file(path).stream()) {
    rest += decoder.decode(chunk, { stream: true });
    const lines = rest.split("\n");
    rest = lines.pop()!;
    for (const line of lines) yield line.replace(/\r$/, "");
  }
  rest += decoder.decode();
  if (rest !== "") yield rest.replace(/\r$/, "");
}

/**
 * `bunchat import users <file>` on the configured database. Prints a line per account (created,
 * or skipped with the reason) and a summary on stdout; exits 0 once the file is read through
 * (skipped lines included), 1 when it cannot be read or the database fails, 2 on a usage error.
 */
export async function importCommand(config: Config, args: string[], _stdin: Stdin): Promise<number> {
  const [what, path, ...rest] = args;
  if (what === "--help" || what === "-h" || what === "help") {
    console.log(IMPORT_USAGE);
    return 0;
  }
  if (what !== "users" || !path || rest.length > 0) {
    console.error(what && what !== "users" ? `Unknown import command: ${what}` : "Wrong arguments for import users");
    console.error(IMPORT_USAGE);
    return 2;
  }
  if (!(await Bun.file(path).exists())) {
    console.error(`Cannot read ${path}: no such file.`);
    return 1;
  }
  let database: Database | undefined;
  try {
    database = openDatabase(config.databaseUrl);
    await database.ready;
    const summary = await new UserImport(database).run(linesOf(path));
    for (const o of summary.outcomes) {
      const who = o.username === undefined ? "" : ` ${o.username}`;
      console.log(o.status === "created" ? `line ${o.line}: created${who}` : `line ${o.line}: skipped${who} (${o.reason})`);
    }
    console.log(`${summary.created} created, ${summary.skipped} skipped.`);
    return 0;
  } catch (error) {
    console.error(`import users failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await database?.close();
  }
}
