/**
 * Socket tests: the real app listening on 127.0.0.1, port 0, on a fresh database, with the
 * real WebSocket layer (no RecordingEvents), and a small client that waits for frames
 * with bounded timeouts.
 */
import { afterAll, beforeAll } from "bun:test";
import { createApp, createServices, type Services } from "../../src/app";
import { type Config, testConfig } from "../../src/config";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStorage } from "../../src/storage";
import { freshDatabase, readResponse, type TestResponse, type TestUser } from "../helpers";

export interface Frame {
  type: string;
  [key: string]: any;
}

const WAIT_MS = 3000;

export class WsClient {
  readonly frames: Frame[] = [];
  /** Frames not yet taken by next(). */
  private readonly unread: Frame[] = [];
  private waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private closeInfo: { code: number; reason: string } | null = null;

  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (e) => {
      const frame = JSON.parse(String(e.data)) as Frame;
      this.frames.push(frame);
      const i = this.waiters.findIndex((w) => w.match(frame));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(frame);
      else this.unread.push(frame);
    });
    this.closed = new Promise((resolve) =>
      ws.addEventListener("close", (e) => {
        this.closeInfo = { code: e.code, reason: e.reason };
        resolve(this.closeInfo);
      }),
    );
  }

  /** The next frame (not taken before) of this type and matching `where`, within `ms`. */
  next(type: string, where: (f: Frame) => boolean = () => true, ms = WAIT_MS): Promise<Frame> {
    const match = (f: Frame) => f.type === type && where(f);
    const i = this.unread.findIndex(match);
    if (i >= 0) return Promise.resolve(this.unread.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (f: Frame) => {
          clearTimeout(timer);
          resolve(f);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        const seen = this.frames.map((f) => f.type).join(", ");
        reject(new Error(`no "${type}" frame within ${ms} ms (received: ${seen || "nothing"}; closed: ${JSON.stringify(this.closeInfo)})`));
      }, ms);
      this.waiters.push(waiter);
    });
  }

  /** Frames of a type received so far. */
  all(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  send(frame: object | string): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /**
   * A round trip: everything the server wrote to this socket before it read our ping has
   * arrived once the pong is here. Use it before asserting that something was NOT received.
   */
  async barrier(): Promise<void> {
    this.send({ type: "ping" });
    await this.next("pong");
  }

  /** Resolves with the close code and reason within `ms`. */
  async waitClosed(ms = WAIT_MS): Promise<{ code: number; reason: string }> {
    let timer: Timer | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`socket not closed within ${ms} ms`)), ms)));
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  close(): void {
    if (this.ws.readyState <= WebSocket.OPEN) this.ws.close();
  }
}

export type Credential = "ticket" | "token" | "protocol";

export interface LiveServer {
  app: ReturnType<typeof createApp>;
  services: Services;
  port: number;
  /** HTTP over the network to the listening server. */
  call(method: string, path: string, opts?: { body?: unknown; token?: string; headers?: Record<string, string> }): Promise<TestResponse>;
  user(name?: string): Promise<TestUser>;
  /** Opens a socket for the user and waits for `ready` (taken: its frame is `client.ready`). */
  connect(user: TestUser, how?: Credential): Promise<WsClient & { ready: Frame }>;
  /** Opens a socket with an arbitrary URL suffix, subprotocols and upgrade headers, without waiting for ready. */
  open(query: string, protocols?: string[], headers?: Record<string, string>): Promise<WsClient>;
  /** The HTTP answer to an upgrade request that the server refuses. */
  refusedUpgrade(query: string, headers?: Record<string, string>): Promise<TestResponse>;
  close(): Promise<void>;
}

let counter = 0;

/** One live server for every test of the file: started before the first, closed after the last. `base` is its http:// URL. */
export function serverForFile(): { readonly server: LiveServer; readonly base: string } {
  const live = {} as { server: LiveServer; base: string };
  beforeAll(async () => {
    live.server = await startServer();
    live.base = `http://127.0.0.1:${live.server.port}`;
  });
  afterAll(() => live.server.close());
  return live;
}

/** The app on port 0 with the real WebSocket layer; `now` is the services' clock (see manualClock). */
export async function startServer(overrides: Partial<Config> = {}, options: { now?: () => number } = {}): Promise<LiveServer> {
  const fresh = freshDatabase(overrides.databaseUrl);
  const config = testConfig({ ...overrides, databaseUrl: fresh.url });
  const filesDir = join(tmpdir(), `bunchat-files-ws-${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 8)}`);
  const storage = openStorage(`file://${filesDir}`, {});
  const services = createServices({ config, database: fresh.database, now: options.now, storage, sweepIntervalMs: 0 });
  const app = createApp(services).listen({ port: 0, hostname: "127.0.0.1" });
  const port = app.server!.port!;
  const base = `127.0.0.1:${port}`;
  const clients: WsClient[] = [];

  const call: LiveServer["call"] = async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined) headers["content-type"] ??= "application/json";
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const res = await fetch(`http://${base}${path}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    return readResponse(res);
  };

  const user: LiveServer["user"] = async (name) => {
    const username = name ?? `ws${++counter}_${Math.random().toString(36).slice(2, 7)}`;
    const res = await call("POST", "/api/auth/register", { body: { username, password: "correct-horse-battery" } });
    if (res.status !== 201) throw new Error(`register ${username}: ${res.status} ${JSON.stringify(res.body)}`);
    return { id: res.body.user.id, username, token: res.body.accessToken, refreshToken: res.body.refreshToken };
  };

  const open: LiveServer["open"] = (query, protocols, headers) =>
    new Promise((resolve, reject) => {
      const url = `ws://${base}/ws${query}`;
      const ws = headers ? new WebSocket(url, { protocols, headers }) : new WebSocket(url, protocols);
      const client = new WsClient(ws);
      clients.push(client);
      const timer = setTimeout(() => reject(new Error("socket did not open in time")), WAIT_MS);
      ws.addEventListener("open", () => {
        clearTimeout(timer);
        resolve(client);
      });
      ws.addEventListener("error", () => {
        clearTimeout(timer);
        reject(new Error(`socket refused: /ws${query}`));
      });
    });

  const connect: LiveServer["connect"] = async (u, how = "token") => {
    let client: WsClient;
    if (how === "ticket") {
      const res = await call("POST", "/api/auth/ws-ticket", { token: u.token });
      if (res.status !== 200) throw new Error(`ws-ticket: ${res.status} ${JSON.stringify(res.body)}`);
      client = await open(`?ticket=${encodeURIComponent(res.body.ticket)}`);
    } else if (how === "protocol") {
      client = await open("", ["bearer", u.token]);
    } else {
      client = await open(`?token=${encodeURIComponent(u.token)}`);
    }
    const ready = await client.next("ready");
    return Object.assign(client, { ready });
  };

  const refusedUpgrade: LiveServer["refusedUpgrade"] = async (query, headers = {}) => {
    const res = await fetch(`http://${base}/ws${query}`, {
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64"),
        ...headers,
      },
    });
    return readResponse(res);
  };

  return {
    app,
    services,
    port,
    call,
    user,
    connect,
    open,
    refusedUpgrade,
    async close() {
      // As on SIGTERM: sockets closed with 1001, last-seen times stored, then the server stops.
      await services.realtime.shutdown();
      for (const c of clients) c.close();
      if (app.server) await app.stop(true);
      await services.messages.drain();
      await fresh.close();
      rmSync(filesDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a value other than undefined/false, within `ms`. */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, ms = WAIT_MS): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
