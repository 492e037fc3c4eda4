/**
 * What the server counts for Prometheus (METRICS_TOKEN). Code on hot paths calls a `Metrics`
 * and never prom-client: with metrics off it is `noMetrics`, whose methods do nothing, and
 * nothing is registered. With metrics on, every label value is one of a fixed set (route
 * patterns, frame types the protocol defines, known close codes), so no label ever holds an
 * id or a raw path, and each series' child is bound once and reused.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** One counter series, bound to its labels. */
export interface Count {
  inc(): void;
}

/** How the group-commit writer reports a commit: its size, and each send's wait from accepted to committed. */
export interface CommitMetrics {
  /** Called once per committed batch; `waited` holds seconds per send. */
  committed(size: number, waited: (index: number) => number): void;
}

export type MessageVia = "rest" | "ws";

export interface Metrics {
  readonly enabled: boolean;
  /** An HTTP request was answered; `route` is the matched route pattern, undefined when none matched. */
  request(method: string, route: string | undefined, status: number, seconds: number): void;
  /** A frame arrived: a client frame type the protocol defines, or "invalid". */
  frame(type: string): void;
  /** A socket closed with this code. */
  closed(code: number | undefined): void;
  /** A message was committed (not a retried clientId). */
  message(via: MessageVia): void;
  /** The writer's hook; null when nothing is measured (so the writer reads no clock). */
  readonly commits: CommitMetrics | null;
  /** The counter of refusals by the limiter named `limit`. */
  limited(limit: string): Count;
  /** The scrape, in Prometheus text format. */
  scrape(): Promise<string>;
  readonly contentType: string;
}

const nothing: Count = { inc() {} };

/** Metrics off: every call returns at once. */
export const noMetrics: Metrics = {
  enabled: false,
  request() {},
  frame() {},
  closed() {},
  message() {},
  commits: null,
  limited: () => nothing,
  scrape: async () => "",
  contentType: "text/plain",
};

/** What the metrics read from the running server at scrape time (nothing is counted per socket). */
export interface MetricsSources {
  version: string;
  database: string;
  /** The client frame types the protocol defines. */
  frameTypes: readonly string[];
  connections: () => number;
  onlineUsers: () => number;
}

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
/** Close codes reported by number; any other is "other". */
const CLOSE_CODES = [1000, 1001, 1005, 1006, 1008, 1009, 1011, 4001, 4008];
/** The route label of a request no route matched. */
export const UNMATCHED_ROUTE = "unmatched";

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Metrics on: prom-client families in a registry of their own (two apps in one process never share one). */
export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  new Gauge({ name: "bunchat_build_info", help: "Always 1: the version and database dialect running", labelNames: ["version", "database"], registers })
    .labels(sources.version, sources.database)
    .set(1);
  const requests = new Counter({
    name: "bunchat_http_requests_total",
    help: "HTTP requests answered, by method, route pattern and status",
    labelNames: ["method", "route", "status"],
    registers,
  });
  const durations = new Histogram({
    name: "bunchat_http_request_duration_seconds",
    help: "Time to answer an HTTP request, by route pattern",
    labelNames: ["route"],
    buckets: SECONDS,
    registers,
  });
  new Gauge({
    name: "bunchat_ws_connections",
    help: "Open WebSockets in this process",
    registers,
    collect() {
      this.set(sources.connections());
    },
  });
  new Gauge({
    name: "bunchat_online_users",
    help: "Users with at least one open WebSocket in this process",
    registers,
    collect() {
      this.set(sources.onlineUsers());
    },
  });
  const frames = new Counter({ name: "bunchat_ws_frames_received_total", help: "Client frames received, by type", labelNames: ["type"], registers });
  const closes = new Counter({ name: "bunchat_ws_closed_total", help: "WebSockets closed, by close code", labelNames: ["code"], registers });
  const messages = new Counter({ name: "bunchat_messages_total", help: "Messages committed, by the way they were sent", labelNames: ["via"], registers });
  const commitSeconds = new Histogram({
    name: "bunchat_message_commit_seconds",
    help: "Time from a send being accepted by the writer to its commit",
    buckets: SECONDS,
    registers,
  });
  const batchSizes = new Histogram({
    name: "bunchat_db_batch_messages",
    help: "Messages per group commit",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers,
  });
  const limitedTotal = new Counter({ name: "bunchat_rate_limited_total", help: "Requests and frames refused by a rate limit, by limit", labelNames: ["limit"], registers });

  /** A bound child, shown (at 0) from the first scrape on, so that dashboards and rates see it before it moves. */
  const shown = (counter: Counter<string>, value: string): Count => {
    const child = counter.labels(value);
    child.inc(0);
    return child;
  };
  const frameCounts = new Map<string, Count>();
  for (const type of [...sources.frameTypes, "invalid"]) frameCounts.set(type, shown(frames, type));
  const invalidFrames = frameCounts.get("invalid")!;
  const closeCounts = new Map<number, Count>(CLOSE_CODES.map((code) => [code, shown(closes, String(code))]));
  const otherClose = shown(closes, "other");
  const viaCounts: Record<MessageVia, Count> = { rest: shown(messages, "rest"), ws: shown(messages, "ws") };
  /** Bound children per method, route and status: a bounded set, since routes are the app's patterns. */
  const requestSeries = new Map<string, { count: Count; duration: { observe(value: number): void } }>();

  return {
    enabled: true,
    request(method, route, status, seconds) {
      const m = METHODS.has(method) ? method : "OTHER";
      const r = route || UNMATCHED_ROUTE;
      const key = `${m} ${status} ${r}`;
      let series = requestSeries.get(key);
      if (!series) requestSeries.set(key, (series = { count: requests.labels(m, r, String(status)), duration: durations.labels(r) }));
      series.count.inc();
      series.duration.observe(seconds);
    },
    frame(type) {
      (frameCounts.get(type) ?? invalidFrames).inc();
    },
    closed(code) {
      (closeCounts.get(code ?? 1005) ?? otherClose).inc();
    },
    message(via) {
      viaCounts[via].inc();
    },
    commits: {
      committed(size, waited) {
        batchSizes.observe(size);
        for (let i = 0; i < size; i++) commitSeconds.observe(waited(i));
      },
    },
    limited: (limit) => limitedTotal.labels(limit),
    scrape: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
