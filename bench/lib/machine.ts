/** The machine a run was taken on, for the results file and the README. */
import { Database } from "bun:sqlite";
import { readFileSync } from "node:fs";
import os from "node:os";

export function machine() {
  let cpu = os.cpus()[0]?.model ?? "unknown";
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpu;
  } catch {}
  const db = new Database(":memory:");
  const sqlite = db.query<{ v: string }, []>("SELECT sqlite_version() AS v").get()!.v;
  db.close();
  return {
    cpus: os.availableParallelism(),
    cpu,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    bun: Bun.version,
    sqlite,
    loadAverage: os.loadavg().map((n) => Math.round(n * 100) / 100),
  };
}
export type Machine = ReturnType<typeof machine>;
