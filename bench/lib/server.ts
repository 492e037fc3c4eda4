/**
 * Starting and stopping the servers under test: each one a child process on 127.0.0.1 and a
 * free port, awaited with bounded polling, and never left
 * behind — children are killed when this process exits or is interrupted.
 */
import type { Subprocess } from "bun";
import { appendFileSync, closeSync, openSync, readFileSync } from "node:fs";

export const HOST = "127.0.0.1";

const children = new Set<Subprocess>();
let cleanupInstalled = false;

/** Kills every child still running when this process exits, is interrupted or is terminated. */
export function installCleanup(onInterrupt?: () => void): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on("exit", () => {
    for (const child of children) child.kill("SIGKILL");
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.on(signal, () => {
      console.error(`\n${signal}: stopping the servers under test`);
      onInterrupt?.();
      for (const child of children) child.kill("SIGKILL");
      process.exit(130);
    });
}

/** A port nobody listens on right now (the kernel picks it; released at once for the child). */
export function freePort(): number {
  const probe = Bun.listen({ hostname: HOST, port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** Polls `url` until it answers 200, at most `timeoutMs`; throws with the child's log otherwise. */
export async function waitReady(url: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let attempt = 0; performance.now() < deadline; attempt++) {
    if (!alive()) throw new Error("the server exited before it was ready");
    const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) return;
    await Bun.sleep(Math.min(50 * (attempt + 1), 250));
  }
  throw new Error(`not ready after ${timeoutMs} ms: ${url}`);
}

export interface Server {
  name: string;
  pid: number;
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  /** ws://127.0.0.1:<port> */
  wsUrl: string;
  /** Whatever the process wrote to stdout and stderr. */
  log(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<number | null>;
}

export interface SpawnOptions {
  name: string;
  /** The script and its arguments, run with `bun`. */
  script: string[];
  env: Record<string, string>;
  /** Path answering 200 once the server can take traffic. */
  readyPath: string;
  /** Where the process's output goes. */
  logFile: string;
  /** Extra flags for `bun` itself (e.g. --cpu-prof-md). */
  bunFlags?: string[];
  readyTimeoutMs?: number;
  /**
   * Called with each piece of the child's stderr as it is read (then also appended to the log);
   * unset, stderr goes straight to the log file.
   */
  onStderr?: (text: string) => void;
}

async function forwardStderr(stream: ReadableStream<Uint8Array>, logFile: string, onText: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    const text = decoder.decode(chunk, { stream: true });
    onText(text);
    appendFileSync(logFile, text);
  }
}

/**
 * Starts `bun <script>` with PORT and HOST set. Bun raises its own soft open-file limit to the
 * hard limit at start-up, so the child needs no `ulimit` wrapper (see checkOpenFiles in run.ts).
 */
export async function spawnServer(options: SpawnOptions): Promise<Server> {
  const port = freePort();
  const out = openSync(options.logFile, "a");
  const child = Bun.spawn([process.execPath, "--no-orphans", ...(options.bunFlags ?? []), ...options.script], {
    env: { ...process.env, ...options.env, PORT: String(port), HOST },
    stdin: "ignore",
    stdout: out,
    stderr: options.onStderr ? "pipe" : out,
  });
  closeSync(out);
  if (options.onStderr) void forwardStderr(child.stderr as ReadableStream<Uint8Array>, options.logFile, options.onStderr);
  children.add(child);
  let exited = false;
  const done = child.exited.then((code) => {
    exited = true;
    children.delete(child);
    return code;
  });
  const server: Server = {
    name: options.name,
    pid: child.pid,
    port,
    url: `http://${HOST}:${port}`,
    wsUrl: `ws://${HOST}:${port}`,
    log: () => {
      try {
        return readFileSync(options.logFile, "utf8");
      } catch {
        return "";
      }
    },
    async stop(graceMs = 15_000) {
      if (exited) return done;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      const code = await done;
      clearTimeout(timer);
      return code;
    },
  };
  try {
    await waitReady(server.url + options.readyPath, options.readyTimeoutMs ?? 30_000, () => !exited);
  } catch (error) {
    await server.stop(1000);
    const tail = server.log().slice(-2000);
    throw new Error(`${options.name}: ${error instanceof Error ? error.message : String(error)}\n${tail}`);
  }
  return server;
}
