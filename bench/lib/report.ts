/** The printed table, the targets and the results file. */
import type { Summary } from "./histogram";
import type { Metered } from "./proc";

export interface Row {
  scenario: string;
  target: string;
  deliveriesPerSecond?: number;
  deliveriesPerCpuSecond?: number;
  messagesPerSecond?: number;
  messagesPerCpuSecond?: number;
  latency?: Summary;
  lost?: number;
  server?: Metered;
  note?: string;
  /** A row of our figures over a ceiling's: printed with two decimals. */
  ratio?: boolean;
}

export interface Goal {
  name: string;
  /** What is compared, in words (e.g. "deliveries/s ÷ ceiling"). */
  measure: string;
  value: number | null;
  limit: number;
  /** "min": value ≥ limit passes; "max": value ≤ limit passes. */
  kind: "min" | "max";
  note?: string;
}

export const pass = (g: Goal) => g.value !== null && Number.isFinite(g.value) && (g.kind === "min" ? g.value >= g.limit : g.value <= g.limit);

const int = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "–" : Math.round(n).toLocaleString("en-US"));
const dec = (n: number | undefined, digits = 2) => (n === undefined || !Number.isFinite(n) ? "–" : n.toFixed(digits));
const mib = (bytes: number | undefined) => (bytes === undefined ? "–" : (bytes / 2 ** 20).toFixed(0));

const num = (r: Row, n: number | undefined) => (r.ratio ? dec(n) : int(n));

const COLUMNS: [string, number, (r: Row) => string][] = [
  ["scenario", 22, (r) => r.scenario],
  ["target", 15, (r) => r.target],
  ["deliv/s", 10, (r) => num(r, r.deliveriesPerSecond)],
  ["deliv/CPU-s", 12, (r) => num(r, r.deliveriesPerCpuSecond)],
  ["msg/s", 9, (r) => num(r, r.messagesPerSecond)],
  ["msg/CPU-s", 10, (r) => num(r, r.messagesPerCpuSecond)],
  ["p50 ms", 8, (r) => dec(r.latency?.p50)],
  ["p95 ms", 8, (r) => dec(r.latency?.p95)],
  ["p99 ms", 8, (r) => dec(r.latency?.p99)],
  ["lost", 5, (r) => (r.lost === undefined ? "–" : String(r.lost))],
  ["CPU s", 6, (r) => dec(r.server?.cpuSeconds, 1)],
  ["RSS MiB", 8, (r) => mib(r.server?.rss)],
];

export function table(rows: Row[]): string {
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(COLUMNS[i]![1]) : c.padStart(COLUMNS[i]![1]))).join(" ");
  const out = [line(COLUMNS.map((c) => c[0])), "-".repeat(COLUMNS.reduce((n, c) => n + c[1] + 1, -1))];
  let last = "";
  for (const row of rows) {
    const cells = COLUMNS.map(([, , get]) => get(row));
    if (row.scenario === last) cells[0] = "";
    last = row.scenario;
    out.push(line(cells) + (row.note ? `  ${row.note}` : ""));
  }
  return out.join("\n");
}

/** Our figures over the ceiling's, as a row of ratios. */
export function ratioRow(scenario: string, ours: Row, ceiling: Row, label: string): Row {
  const r = (a?: number, b?: number) => (a !== undefined && b ? a / b : undefined);
  return {
    scenario,
    target: label,
    ratio: true,
    deliveriesPerSecond: r(ours.deliveriesPerSecond, ceiling.deliveriesPerSecond),
    deliveriesPerCpuSecond: r(ours.deliveriesPerCpuSecond, ceiling.deliveriesPerCpuSecond),
    messagesPerSecond: r(ours.messagesPerSecond, ceiling.messagesPerSecond),
    messagesPerCpuSecond: r(ours.messagesPerCpuSecond, ceiling.messagesPerCpuSecond),
    // Latency ratios too: the light-load target compares p99s.
    latency:
      ours.latency && ceiling.latency
        ? {
            count: ours.latency.count,
            p50: ours.latency.p50 / ceiling.latency.p50,
            p95: ours.latency.p95 / ceiling.latency.p95,
            p99: ours.latency.p99 / ceiling.latency.p99,
            max: ours.latency.max / ceiling.latency.max,
            mean: ours.latency.mean / ceiling.latency.mean,
          }
        : undefined,
  };
}

export function goals(list: Goal[]): string {
  return list
    .map((g) => {
      const value = g.value === null ? "not measured" : Number.isInteger(g.limit) && g.limit >= 100 ? int(g.value) : dec(g.value, 2);
      const limit = Number.isInteger(g.limit) && g.limit >= 100 ? int(g.limit) : dec(g.limit, 2);
      const verdict = g.value === null ? "SKIP" : pass(g) ? "PASS" : "MISS";
      return `${verdict}  ${g.name.padEnd(42)} ${g.measure} = ${value} (${g.kind === "min" ? "≥" : "≤"} ${limit})${g.note ? `  ${g.note}` : ""}`;
    })
    .join("\n");
}
