import { createApp, createServices, type Services } from "../src/app";
import { type Config, testConfig } from "../src/config";
import { type Database, openDatabase } from "../src/db";
import { RecordingEvents } from "../src/events";
import type { Logger } from "../src/logger";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStorage, type Storage } from "../src/storage";
import { freshPgDatabase } from "./pg";

export interface TestContext {
  app: ReturnType<typeof createApp>;
  services: Services;
  events: RecordingEvents;
  /** Calls the app in-process. `body` is sent as JSON; `token` as a bearer token. */
  call(method: string, path: string, opts?: { body?: unknown; token?: string; headers?: Record<string, string> }): Promise<TestResponse>;
  /** Registers a user and returns its tokens and id. */
  user(name?: string, password?: string): Promise<TestUser>;
  /** Closes the database (and drops it on PostgreSQL). */
  close(): Promise<void>;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  body: any;
}

export interface TestUser {
  id: string;
  username: string;
  token: string;
  refreshToken: string;
}

export interface SetupOptions {
  /** A clock (ms) for token, ticket and session expiry, login throttling and rate limits. */
  now?: () => number;
  /** Where the app logs; tests that assert on logs pass a recorder. */
  logger?: Logger;
  /** Where uploads go; defaults to a temporary directory of this app's own, removed by `close()`. */
  storage?: Storage;
}

/** A clock that stands still until moved: `clock.now` for setup(), `clock.advance(ms)` to move it. */
export function manualClock(start = Date.now()) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

export interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps every line (all levels) for assertions. */
export function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => void lines.push({ level, msg, fields });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"), enabled: () => true };
}

let counter = 0;

/**
 * A fresh database, migrated from drizzle/: SQLite in memory, or, when TEST_DATABASE_URL names
 * a PostgreSQL server, a new database there, dropped by `close()`. A given `url` is used as is.
 */
export function freshDatabase(url?: string): { database: Database; url: string; close(): Promise<void> } {
  const pg = !url && Bun.env.TEST_DATABASE_URL ? freshPgDatabase(Bun.env.TEST_DATABASE_URL) : null;
  const chosen = url ?? pg?.url ?? "sqlite://:memory:";
  const database = openDatabase(chosen, { before: pg?.created, poolSize: 4 });
  return {
    database,
    url: chosen,
    async close() {
      await database.close();
      await pg?.drop();
    },
  };
}

/** A fresh app on its own fresh database (see freshDatabase). */
export function setup(overrides: Partial<Config> = {}, options: SetupOptions = {}): TestContext {
  const fresh = freshDatabase(overrides.databaseUrl);
  const database = fresh.database;
  const config = testConfig({ ...overrides, databaseUrl: fresh.url });
  const events = new RecordingEvents();
  const filesDir = join(tmpdir(), `bunchat-files-${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 8)}`);
  const storage = options.storage ?? openStorage(`file://${filesDir}`, {});
  const services = createServices({ config, database, events, now: options.now, logger: options.logger, storage, sweepIntervalMs: 0 });
  const app = createApp(services);

  const call: TestContext["call"] = async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined) headers["content-type"] ??= "application/json";
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const res = await app.handle(
      new Request(`http://localhost${path}`, {
        method,
        headers,
        body: opts.body === undefined ? undefined : typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body),
      }),
    );
    return readResponse(res);
  };

  const user: TestContext["user"] = async (name, password = "correct-horse-battery") => {
    const username = name ?? `user${++counter}_${Math.random().toString(36).slice(2, 7)}`;
    const res = await call("POST", "/api/auth/register", { body: { username, password } });
    if (res.status !== 201) throw new Error(`register ${username}: ${res.status} ${JSON.stringify(res.body)}`);
    return { id: res.body.user.id, username, token: res.body.accessToken, refreshToken: res.body.refreshToken };
  };

  const close = async () => {
    await fresh.close();
    rmSync(filesDir, { recursive: true, force: true });
  };
  return { app, services, events, call, user, close };
}

/** A response's status, headers and body (parsed when it is JSON). */
export async function readResponse(res: Response): Promise<TestResponse> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, headers: res.headers, body };
}

/** Asserts the contract's error envelope and returns its code. */
export function errorCode(res: TestResponse): string {
  const e = res.body?.error;
  if (!e || typeof e.code !== "string" || typeof e.message !== "string")
    throw new Error(`not an error envelope: ${res.status} ${JSON.stringify(res.body)}`);
  return e.code;
}
