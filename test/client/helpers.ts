/**
 * The typed client against live servers: a server process to start, stop and start again on
 * the same port, a fetch the tests can hold back, and the check that a session holds exactly
 * the history the server has.
 */
import { expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { Client, Message, ServerFrame, Session } from "bunchat/client";
import * as protocol from "../../src/realtime/protocol";
import { freshPgDatabase, type TestDatabase } from "../pg";

export const WAIT_MS = 15_000;

/** Polls `check` until it returns something truthy, within `ms`. */
export async function until<T>(what: string, check: () => T | undefined | null | false | Promise<T | undefined | null | false>, ms = WAIT_MS): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** `promise`, or a failure naming `what` once `ms` have passed. */
export async function within<T>(what: string, promise: Promise<T>, ms = WAIT_MS): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A fetch that can be held: while held, requests for a WebSocket ticket wait (the client cannot
 * reconnect), so that the tests can change things on the server while the client is away.
 */
export class Gate {
  private open: PromiseWithResolvers<void> | null = null;
  /** Statuses of every answer, in order, with the path asked. */
  readonly answers: { path: string; status: number; authorization: string | null }[] = [];

  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    if (url.pathname === "/api/auth/ws-ticket") while (this.open) await this.open.promise;
    const res = await fetch(input, init);
    this.answers.push({ path: url.pathname, status: res.status, authorization: new Headers(init?.headers).get("authorization") });
    return res;
  };

  hold(): void {
    this.open ??= Promise.withResolvers<void>();
  }

  release(): void {
    const open = this.open;
    this.open = null;
    open?.resolve();
  }
}

/** The schema of each server frame type, from the protocol. */
const frameSchemas = new Map(Object.entries(protocol.serverFrames).map(([type, schema]) => [type, TypeCompiler.Compile(schema)] as const));

/** Every frame the server sent a session, checked against the protocol's schema of its type. */
export function recordFrames(session: Session): { frames: ServerFrame[]; check(): void } {
  const frames: ServerFrame[] = [];
  session.on("frame", (f) => void frames.push(f));
  return {
    frames,
    check() {
      expect(frames.length).toBeGreaterThan(0);
      const wrong = frames.flatMap((f) => {
        const type: string = f.type;
        const schema = frameSchemas.get(type);
        if (!schema) return [`${type}: no schema`];
        return schema.Check(f) ? [] : [`${type}: ${[...schema.Errors(f)].map((e) => `${e.path} ${e.message}`).join("; ")}`];
      });
      expect(wrong).toEqual([]);
    },
  };
}

/** The room's whole history as the server answers it to the client's user, ascending. */
export async function serverHistory(client: Client, roomId: string): Promise<Message[]> {
  const all: Message[] = [];
  for (let after = 0; ; ) {
    const { data, error } = await client.api.rooms({ id: roomId }).messages.get({ query: { after, limit: 200 } });
    if (error) throw new Error(`history: ${error.status}`);
    all.push(...data.messages);
    if (!data.hasMore || data.messages.length === 0) return all;
    after = data.messages[data.messages.length - 1]!.seq;
  }
}

/** Waits until the session holds exactly the server's history of the room (fails showing the difference). */
export async function untilSameHistory(session: Session, client: Client, roomId: string): Promise<Message[]> {
  let last: Message[] = [];
  try {
    return await until("the session to hold the server's history", async () => {
      last = await serverHistory(client, roomId);
      return JSON.stringify(session.messages(roomId)) === JSON.stringify(last) && last;
    });
  } catch (error) {
    expect(session.messages(roomId)).toEqual(last);
    throw error;
  }
}

/** Loads a room's history back to its first message, a small page at a time. */
export async function loadAll(session: Session, roomId: string): Promise<void> {
  while (session.hasOlder(roomId)) await session.loadOlder(roomId, 2);
}

export interface ServerProcess {
  baseUrl: string;
  port: number;
  proc: Bun.Subprocess;
  output(): string;
}

/**
 * Starts `bun src/index.ts` on 127.0.0.1 with `env`, on `port` (0: a free one), and waits until it
 * answers /ready. The caller kills it by its PID (see stopServer).
 */
export async function spawnServer(env: Record<string, string>, port = 0): Promise<ServerProcess> {
  let output = "";
  const proc = Bun.spawn([process.execPath, "src/index.ts"], {
    cwd: join(import.meta.dir, "../.."),
    env: { PATH: Bun.env.PATH ?? "/usr/bin:/bin", HOME: tmpdir(), HOST: "127.0.0.1", PORT: String(port), LOG_LEVEL: "info", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  for (const stream of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[])
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) output += decoder.decode(chunk);
    })();
  try {
    const listening = await until(`the server to listen`, () => {
      if (proc.exitCode !== null) throw new Error(`the server exited ${proc.exitCode}: ${output}`);
      return /"msg":"listening","url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(output)?.[1];
    });
    const baseUrl = `http://127.0.0.1:${listening}`;
    await until("the server to be ready", () => fetch(`${baseUrl}/ready`).then((r) => r.ok, () => false));
    return { baseUrl, port: Number(listening), proc, output: () => output };
  } catch (error) {
    proc.kill("SIGKILL");
    await proc.exited;
    throw error;
  }
}

/** Stops a server this test started, by its PID (SIGTERM: a graceful shutdown), and waits for it to exit. */
export async function stopServer(server: ServerProcess | null | undefined): Promise<void> {
  if (!server || server.proc.exitCode !== null || server.proc.signalCode !== null) return;
  process.kill(server.proc.pid, "SIGTERM");
  const exited = await Promise.race([server.proc.exited.then(() => true), Bun.sleep(WAIT_MS).then(() => false)]);
  if (!exited) {
    process.kill(server.proc.pid, "SIGKILL");
    await server.proc.exited;
  }
}

/** A database for a server process: a SQLite file in a fresh directory, or a fresh PostgreSQL database with TEST_DATABASE_URL. */
export async function processDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  if (Bun.env.TEST_DATABASE_URL) {
    const pg: TestDatabase = freshPgDatabase(Bun.env.TEST_DATABASE_URL);
    await pg.created;
    return { url: pg.url, drop: () => pg.drop() };
  }
  const dir = mkdtempSync(join(tmpdir(), "bunchat-client-"));
  return { url: `sqlite://${join(dir, "chat.db")}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

/** The environment of a server process for these tests. */
export const processEnv = (databaseUrl: string): Record<string, string> => ({
  DATABASE_URL: databaseUrl,
  JWT_SECRET: "client-test-secret-client-test-secret-0123",
  RATE_LIMIT_AUTH: "0",
  RATE_LIMIT_ANON: "0",
  RATE_LIMIT_MESSAGES: "0",
  WS_SYNC_RATE_LIMIT: "0",
  PRESENCE_GRACE_MS: "50",
  PASSWORD_MEMORY_KIB: "1024",
  PASSWORD_TIME_COST: "1",
});
