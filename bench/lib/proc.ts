/**
 * What a server process costs, read from /proc the same way for our server and the
 * ceilings: CPU seconds (user + system) and resident memory.
 */
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat; USER_HZ is 100 on Linux unless getconf says otherwise. */
const ticksPerSecond = (() => {
  try {
    const out = Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim();
    const n = Number(out);
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces: count fields from after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** Resident set size now (VmRSS) and its peak so far (VmHWM), in bytes. */
/** RSS and its peak; `anon` and `file`: the parts of RSS that are the process's own memory and mapped files (code). */
export function memory(pid: number): { rss: number; peak: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
  return { rss: kib("VmRSS"), peak: kib("VmHWM"), anon: kib("RssAnon"), file: kib("RssFile") };
}

/** CPU and memory of a process over a stretch of time: take one at the start, call `end()` at the end. */
export function meter(pid: number) {
  const cpu0 = cpuSeconds(pid);
  const rss0 = memory(pid).rss;
  let peak = rss0;
  // RSS is sampled while the stretch runs, so its peak is this stretch's, not the process's lifetime's.
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, memory(pid).rss);
    } catch {}
  }, 200);
  return {
    end() {
      clearInterval(timer);
      const rss = memory(pid).rss;
      return { cpuSeconds: cpuSeconds(pid) - cpu0, rssStart: rss0, rss, rssPeak: Math.max(peak, rss) };
    },
  };
}
export type Metered = ReturnType<ReturnType<typeof meter>["end"]>;

/**
 * Waits until the process has used less than `threshold` of a core over one `intervalMs`
 * (what the last scenario set off, such as sockets closing, has finished), at most `maxMs`.
 * Resolves to the milliseconds waited.
 */
export async function quiet(pid: number, { threshold = 0.05, intervalMs = 250, maxMs = 10_000 } = {}): Promise<number> {
  const started = performance.now();
  let last = cpuSeconds(pid);
  while (performance.now() - started < maxMs) {
    await Bun.sleep(intervalMs);
    const now = cpuSeconds(pid);
    if (now - last < (threshold * intervalMs) / 1000) break;
    last = now;
  }
  return performance.now() - started;
}

/** The open-file limits of this process (soft, hard); null where /proc does not say. */
export function openFileLimits(): { soft: number; hard: number } | null {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const [soft, hard] = (line ?? "").replace("Max open files", "").trim().split(/\s+/);
    const n = (s: string | undefined) => (s === "unlimited" ? Number.POSITIVE_INFINITY : Number(s));
    return { soft: n(soft), hard: n(hard) };
  } catch {
    return null;
  }
}
