/** HTTP scenarios: REST sends in a closed loop, and history pages in a very large room. */
import { Histogram, type Summary } from "./histogram";
import { meter, type Metered } from "./proc";
import { type BenchUser, countMessages, type Target } from "./targets";

export interface RestSendResult {
  sent: number;
  /** 201 answers: committed, by the API's contract. */
  created: number;
  errors: Record<string, number>;
  persisted: number | null;
  /** Created (acknowledged) messages not found in the database. */
  lost: number;
  seconds: number;
  messagesPerSecond: number;
  messagesPerCpuSecond: number;
  latency: Summary;
  server: Metered;
  clientCpuSeconds: number;
}

/** `lanes` clients, each sending to its own room one request after another, for a bounded time and count. */
export async function runRestSend(
  target: Target,
  lanes: { user: BenchUser; roomId: string }[],
  options: { durationMs: number; maxMessages: number; contentLength: number },
): Promise<RestSendResult> {
  const roomIds = [...new Set(lanes.map((l) => l.roomId))];
  const before = countMessages(target, roomIds);
  const latency = new Histogram();
  const errors: Record<string, number> = {};
  const pad = "x".repeat(options.contentLength);
  const tag = Bun.randomUUIDv7().slice(-8);
  let sent = 0;
  let created = 0;
  const metered = meter(target.server.pid);
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const deadline = started + options.durationMs;
  await Promise.all(
    lanes.map(async (lane, no) => {
      const url = `${target.server.url}/api/rooms/${lane.roomId}/messages`;
      const headers = target.restHeaders(lane.user);
      for (let n = 0; performance.now() < deadline && sent < options.maxMessages; n++) {
        sent++;
        const head = `${no}|${n}|`;
        const body = JSON.stringify({ content: head + pad.slice(head.length), clientId: `${tag}.${no}-${n}` });
        const t0 = performance.now();
        try {
          const res = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(10_000) });
          await res.arrayBuffer();
          if (res.status === 201) {
            created++;
            latency.record(performance.now() - t0);
          } else errors[String(res.status)] = (errors[String(res.status)] ?? 0) + 1;
        } catch (error) {
          const key = error instanceof Error ? error.name : "error";
          errors[key] = (errors[key] ?? 0) + 1;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const server = metered.end();
  const cpu = process.cpuUsage(cpu0);
  const persisted = before === null ? null : countMessages(target, roomIds)! - before;
  return {
    sent,
    created,
    errors,
    persisted,
    lost: persisted === null ? 0 : Math.max(0, created - persisted),
    seconds,
    messagesPerSecond: created / seconds,
    messagesPerCpuSecond: created / Math.max(0.001, server.cpuSeconds),
    latency: latency.summary(),
    server,
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

export interface HistoryResult {
  requests: number;
  /** Pages that were not the 50 messages just older than the cursor. */
  wrongPages: number;
  errors: number;
  before: Summary;
  newest: Summary;
  server: Metered;
}

/**
 * Pages of 50 at random positions (`before=S`) and the newest page, one request at a time,
 * after `warmup` requests that are not recorded (compiling the route's code paths, first reads).
 */
export async function runHistory(
  target: Target,
  user: BenchUser,
  roomId: string,
  size: number,
  options: { requests: number; durationMs: number; warmup?: number },
): Promise<HistoryResult> {
  const before = new Histogram();
  const newest = new Histogram();
  const headers = target.restHeaders(user);
  const base = `${target.server.url}/api/rooms/${roomId}/messages`;
  let wrongPages = 0;
  let errors = 0;
  let requests = 0;
  for (let i = 0; i < (options.warmup ?? 0); i++) {
    const res = await fetch(`${base}?before=${51 + Math.floor(Math.random() * (size - 50))}&limit=50`, { headers, signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
  }
  const metered = meter(target.server.pid);
  const deadline = performance.now() + options.durationMs;
  for (let i = 0; i < options.requests && performance.now() < deadline; i++) {
    requests++;
    const newestPage = i % 10 === 9;
    const at = 51 + Math.floor(Math.random() * (size - 50));
    const url = newestPage ? `${base}?limit=50` : `${base}?before=${at}&limit=50`;
    const t0 = performance.now();
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) }).catch(() => null);
    if (!res || res.status !== 200) {
      errors++;
      await res?.arrayBuffer();
      continue;
    }
    const text = await res.text();
    (newestPage ? newest : before).record(performance.now() - t0);
    const page = JSON.parse(text) as { messages: { seq: number }[] };
    const last = page.messages.at(-1)?.seq;
    if (page.messages.length !== 50 || last !== (newestPage ? size : at - 1)) wrongPages++;
  }
  return { requests, wrongPages, errors, before: before.summary(), newest: newest.summary(), server: metered.end() };
}

export interface SearchResult {
  requests: number;
  errors: number;
  latency: Summary;
  /** Searches that found nothing, by query (one that stopped at its budget may find nothing). */
  empty: Record<string, number>;
  server: Metered;
}

/**
 * Message searches one at a time over the caller's rooms: the words `queries` cycles through,
 * after `warmup` unrecorded ones.
 */
export async function runSearch(
  target: Target,
  user: BenchUser,
  queries: string[],
  options: { requests: number; durationMs: number; warmup?: number },
): Promise<SearchResult> {
  const latency = new Histogram();
  const headers = target.restHeaders(user);
  const url = (i: number) => `${target.server.url}/api/search/messages?q=${encodeURIComponent(queries[i % queries.length]!)}&limit=20`;
  for (let i = 0; i < (options.warmup ?? 0); i++) await (await fetch(url(i), { headers, signal: AbortSignal.timeout(10_000) })).arrayBuffer();
  const metered = meter(target.server.pid);
  const deadline = performance.now() + options.durationMs;
  let requests = 0;
  let errors = 0;
  const empty: Record<string, number> = {};
  for (let i = 0; i < options.requests && performance.now() < deadline; i++) {
    requests++;
    const t0 = performance.now();
    const res = await fetch(url(i), { headers, signal: AbortSignal.timeout(10_000) }).catch(() => null);
    if (!res || res.status !== 200) {
      errors++;
      await res?.arrayBuffer();
      continue;
    }
    const page = (await res.json()) as { messages: unknown[] };
    latency.record(performance.now() - t0);
    const q = queries[i % queries.length]!;
    if (page.messages.length === 0) empty[q] = (empty[q] ?? 0) + 1;
  }
  return { requests, errors, empty, latency: latency.summary(), server: metered.end() };
}
