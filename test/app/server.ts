/**
 * A server process (`bun src/index.ts`) that can be stopped and started again on its port: on a
 * fresh PostgreSQL database when TEST_DATABASE_URL is set, else on a SQLite file of its own.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshPgDatabase, type TestDatabase } from "../pg";

/** Polls `check` every 25 ms until it returns a truthy value, for at most `ms`. */
export async function until<T>(what: string, check: () => T | undefined | null | false | Promise<T | undefined | null | false>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

export class ServerProcess {
  readonly dir = mkdtempSync(join(tmpdir(), "bunchat-app-"));
  port = 0;
  output = "";
  private proc: Bun.Subprocess | null = null;
  private pg: TestDatabase | null = null;
  private databaseUrl = "";

  /** `env`: more configuration for the server, on top of a test's defaults. */
  constructor(private readonly env: Record<string, string> = {}) {}

  get base() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts on the port it had before (a free one the first time) and waits until it listens. */
  async start() {
    this.output = "";
    if (!this.databaseUrl) {
      const pgUrl = Bun.env.TEST_DATABASE_URL;
      if (pgUrl) {
        this.pg = freshPgDatabase(pgUrl);
        await this.pg.created;
        this.databaseUrl = this.pg.url;
      } else this.databaseUrl = `sqlite://${join(this.dir, "chat.db")}`;
    }
    const proc = Bun.spawn([process.execPath, "src/index.ts"], {
      cwd: join(import.meta.dir, "..", ".."),
      env: {
        PATH: Bun.env.PATH ?? "/usr/bin:/bin",
        HOME: this.dir,
        HOST: "127.0.0.1",
        PORT: String(this.port),
        DATABASE_URL: this.databaseUrl,
        PASSWORD_MEMORY_KIB: "1024",
        PASSWORD_TIME_COST: "1",
        JWT_SECRET: "web-app-test-secret-of-enough-length-0123456789",
        LOG_LEVEL: "info",
        RATE_LIMIT_AUTH: "0",
        RATE_LIMIT_ANON: "0",
        RATE_LIMIT_MESSAGES: "0",
        ...this.env,
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    this.proc = proc;
    for (const stream of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[])
      void (async () => {
        const decoder = new TextDecoder();
        for await (const chunk of stream) this.output += decoder.decode(chunk);
      })();
    if (this.port === 0) {
      const port = await until("the server to listen", () => {
        if (proc.exitCode !== null) throw new Error(`server exited ${proc.exitCode}: ${this.output}`);
        return /"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(this.output)?.[1];
      }).catch((error) => {
        throw new Error(`${error.message}; output: ${this.output}`);
      });
      this.port = Number(port);
    }
    await until("the server to be ready", async () => {
      if (proc.exitCode !== null) throw new Error(`server exited ${proc.exitCode}: ${this.output}`);
      return fetch(`${this.base}/ready`).then((res) => res.ok, () => false);
    });
  }

  /** SIGTERM, and waits for the process to exit. */
  async stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    proc.kill("SIGTERM");
    await proc.exited;
  }

  async dispose() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill("SIGKILL");
      await this.proc.exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
    await this.pg?.drop();
  }
}
