import { cpSync, existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { Config } from "../config";
import { backupDatabase, BackupUnsupported } from "../db/backup";

export const BACKUP_USAGE = `Usage: bunchat backup <file>
  A consistent copy of the SQLite database (DATABASE_URL) in <file>, taken while the server runs;
  the files of file:// storage (STORAGE_URL) are copied to <file>.files/. <file> must not exist.
  On PostgreSQL, use pg_dump instead.`;

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/**
 * `bunchat backup <file>`: the database first, then the stored files, so that every file the
 * copied database names was stored before the copy began and is among those copied. Exits 0,
 * 1 on failure (PostgreSQL included), 2 on a usage error.
 */
export async function backup(config: Config, args: string[]): Promise<number> {
  const [file, ...rest] = args;
  if (file === "--help" || file === "-h") {
    console.log(BACKUP_USAGE);
    return 0;
  }
  if (!file || rest.length > 0 || file.startsWith("-")) {
    console.error(BACKUP_USAGE);
    return 2;
  }
  const target = resolve(file);
  const filesTarget = `${target}.files`;
  const storage = config.storageUrl;
  const filesDir = storage.startsWith("file://") ? resolve(storage.slice("file://".length)) : null;
  try {
    if (existsSync(target)) throw new Error(`${target} exists already; name a new file.`);
    if (filesDir && existsSync(filesDir) && existsSync(filesTarget)) throw new Error(`${filesTarget} exists already; name a new file.`);
    const result = backupDatabase(config.databaseUrl, target);
    console.log(`Database: ${target} (${result.messages.toLocaleString("en-US")} messages, ${mib(result.bytes)}, ${result.seconds.toFixed(1)} s)`);
    if (filesDir && existsSync(filesDir) && statSync(filesDir).isDirectory()) {
      cpSync(filesDir, filesTarget, { recursive: true, errorOnExist: true, force: false });
      console.log(`Files: ${filesDir} copied to ${filesTarget}`);
    } else if (filesDir) {
      console.log(`Files: none (${filesDir} does not exist)`);
    } else {
      console.log(`Files: not copied; they are in ${storage.replace(/\/\/[^@/]*@/, "//")}: back that up with its own tools`);
    }
    return 0;
  } catch (error) {
    console.error(error instanceof BackupUnsupported ? error.message : `backup failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
