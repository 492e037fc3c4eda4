/**
 * What the server counts for Prometheus (METRICS_TOKEN). Code on hot paths calls a `Metrics`
 * and never prom-client: with metrics off it is `noMetrics`, whose methods do nothing, and
 * nothing is registered. With metrics on, every label value is one of a fixed set (route
 * patterns, frame types the protocol defines, known close codes), so no label ever holds an
 * id or a raw path. Each series is bound once and counted in plain fields (an increment, or a
 * bucket search for a histogram: nothing allocated); prom-client's registry reads them when
 * scraped, and gives the process's own metrics.
 */
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";

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

/** One series' count: a plain number, read when scraped. */
class Cell implements Count {
  n = 0;
  inc(): void {
    this.n++;
  }
}

/** Cumulative bucket counts, a sum and a count: one histogram series, read when scraped. */
class Buckets {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++)
      if (value <= bounds[i]!) {
        this.counts[i]!++;
        break;
      }
    this.sum += value;
    this.count++;
  }
}

interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * A family registered with prom-client's registry, whose series are counted here in plain fields
 * (an increment or a bucket search, nothing allocated) and turned into samples only when scraped.
 */
abstract class Family<S> {
  protected readonly series = new Map<string, { labels: Record<string, string>; value: S }>();
  abstract readonly type: "counter" | "histogram";

  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The series with these labels, made on first use; callers keep it (their label sets are bounded). */
  protected bind(labels: Record<string, string>, make: () => S): S {
    const key = Object.values(labels).join("\u0000");
    let found = this.series.get(key);
    if (!found) this.series.set(key, (found = { labels, value: make() }));
    return found.value;
  }

  protected abstract samples(): Sample[];

  async get() {
    return { name: this.name, help: this.help, type: this.type, values: this.samples(), aggregator: "sum" };
  }

  reset(): void {}
}

class CounterFamily extends Family<Cell> {
  readonly type = "counter";

  child(labels: Record<string, string> = {}): Cell {
    return this.bind(labels, () => new Cell());
  }

  protected samples(): Sample[] {
    return [...this.series.values()].map(({ labels, value }) => ({ labels, value: value.n }));
  }
}

class HistogramFamily extends Family<Buckets> {
  readonly type = "histogram";

  constructor(
    name: string,
    help: string,
    registry: Registry,
    private readonly bounds: readonly number[],
  ) {
    super(name, help, registry);
  }

  child(labels: Record<string, string> = {}): Buckets {
    return this.bind(labels, () => new Buckets(this.bounds));
  }

  protected samples(): Sample[] {
    const out: Sample[] = [];
    for (const { labels, value } of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += value.counts[i]!;
        out.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative });
      });
      out.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: "+Inf" }, value: value.count });
      out.push({ metricName: `${this.name}_sum`, labels, value: value.sum });
      out.push({ metricName: `${this.name}_count`, labels, value: value.count });
    }
    return out;
  }
}

/** Metrics on: the families in a registry of their own (two apps in one process never share one), with the process's own. */
export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  new Gauge({ name: "bunchat_build_info", help: "Always 1: the version and database dialect running", labelNames: ["version", "database"], registers })
    .labels(sources.version, sources.database)
    .set(1);
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
  const requests = new CounterFamily("bunchat_http_requests_total", "HTTP requests answered, by method, route pattern and status", registry);
  const durations = new HistogramFamily("bunchat_http_request_duration_seconds", "Time to answer an HTTP request, by route pattern", registry, SECONDS);
  const frames = new CounterFamily("bunchat_ws_frames_received_total", "Client frames received, by type", registry);
  const closes = new CounterFamily("bunchat_ws_closed_total", "WebSockets closed, by close code", registry);
  const messages = new CounterFamily("bunchat_messages_total", "Messages committed, by the way they were sent", registry);
  const commitSeconds = new HistogramFamily(
    "bunchat_message_commit_seconds",
    "Time from a send being accepted by the writer to its commit",
    registry,
    SECONDS,
  ).child();
  const batchSizes = new HistogramFamily("bunchat_db_batch_messages", "Messages per group commit", registry, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]).child();
  const limitedTotal = new CounterFamily("bunchat_rate_limited_total", "Requests and frames refused by a rate limit, by limit", registry);

  // Bound once, and shown (at 0) from the first scrape on, so that dashboards see them before they move.
  const frameCounts = new Map<string, Cell>();
  for (const type of [...sources.frameTypes, "invalid"]) frameCounts.set(type, frames.child({ type }));
  const invalidFrames = frameCounts.get("invalid")!;
  const closeCounts = new Map<number, Cell>(CLOSE_CODES.map((code) => [code, closes.child({ code: String(code) })]));
  const otherClose = closes.child({ code: "other" });
  const viaCounts: Record<MessageVia, Cell> = { rest: messages.child({ via: "rest" }), ws: messages.child({ via: "ws" }) };
  /** Per method, status and route: a bounded set, since routes are the app's patterns. */
  const requestSeries = new Map<string, { count: Cell; duration: Buckets }>();

  return {
    enabled: true,
    request(method, route, status, seconds) {
      const m = METHODS.has(method) ? method : "OTHER";
      const r = route || UNMATCHED_ROUTE;
      const key = `${m} ${status} ${r}`;
      let series = requestSeries.get(key);
      if (!series)
        requestSeries.set(key, (series = { count: requests.child({ method: m, route: r, status: String(status) }), duration: durations.child({ route: r }) }));
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
    limited: (limit) => limitedTotal.child({ limit }),
    scrape: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
