/**
 * Where a WebSocket send's time goes inside the server, for `bun bench/phases.ts`: the moment
 * each phase of a message's path is reached, and the event loop's stalls. Off unless
 * BENCH_PHASES names a file (config.benchPhases): then `phaseTrace` is set once at start-up,
 * and every point of the path tests it once, so when off the path costs a null test.
 *
 * Times are ms on the wall clock with sub-µs resolution (performance.timeOrigin + now()), so
 * a load generator on the same machine can lay its own send and receive times beside them.
 * Rows live in a ring allocated once; SIGUSR2 writes what the ring holds to the file (JSON).
 */
import { writeFileSync } from "node:fs";

/** The phases a server row records, in path order (see docs/architecture.md, "A WebSocket send"). */
export const PHASES = [
  "received", // Bun handed the frame to the real-time layer
  "validated", // parsed and checked against its schema
  "queued", // in the group-commit writer's queue
  "batchStart", // its batch's transaction began (the writer's wait ends)
  "committed", // the transaction committed
  "encoded", // its message.new encoded, once for every socket
  "published", // handed to every subscribed socket (Bun's topic publish returned)
] as const;

/** Row layout: the message's seq, its batch's size, then one time per phase. */
const SEQ = 0;
const BATCH = 1;
const FIRST = 2;
const COLUMNS = FIRST + PHASES.length;
const RING = 1 << 16;
const STALLS = 1 << 14;
/** The stall detector's period: a tick later than this by more than STALL_MS is a stall. */
const TICK_MS = 2;
const STALL_MS = 1;

const clock = () => performance.timeOrigin + performance.now();

export class PhaseTrace {
  private readonly rows = new Float64Array(RING * COLUMNS);
  private next = 0;
  /** The slot of the send being handed from the frame's handler to the writer, synchronously; -1 when none. */
  private current = -1;
  private readonly byId = new Map<string, number>();
  /** [when, ms late] of each event-loop stall. */
  private readonly stalls = new Float64Array(STALLS * 2);
  private stallCount = 0;
  private readonly ticker: Timer;

  constructor(private readonly file: string) {
    let last = clock();
    this.ticker = setInterval(() => {
      const now = clock();
      const late = now - last - TICK_MS;
      last = now;
      if (late <= STALL_MS) return;
      const i = (this.stallCount++ % STALLS) * 2;
      this.stalls[i] = now;
      this.stalls[i + 1] = late;
    }, TICK_MS);
    this.ticker.unref();
    process.on("SIGUSR2", () => this.dump());
  }

  readonly now = clock;

  /** A message.send frame arrived at `receivedAt` and was validated now: its slot, current until handed on. */
  begin(receivedAt: number): void {
    const slot = this.next++ % RING;
    const base = slot * COLUMNS;
    this.rows.fill(Number.NaN, base, base + COLUMNS);
    this.rows[base + FIRST] = receivedAt;
    this.rows[base + FIRST + 1] = clock();
    this.current = slot;
  }

  /** The frame's handler returned: a send it did not hand on synchronously is not traced. */
  end(): void {
    this.current = -1;
  }

  /** The writer queued a message (-1: not one of a traced frame). */
  queued(id: string): number {
    const slot = this.current;
    if (slot < 0) return -1;
    this.current = -1;
    this.rows[slot * COLUMNS + FIRST + 2] = clock();
    this.byId.set(id, slot);
    return slot;
  }

  /** The batch holding `slot` ran from `startedAt` to now; `seq` is 0 when no message was made. */
  committed(slot: number, startedAt: number, committedAt: number, seq: number, batch: number): void {
    const base = slot * COLUMNS;
    this.rows[base + SEQ] = seq;
    this.rows[base + BATCH] = batch;
    this.rows[base + FIRST + 3] = startedAt;
    this.rows[base + FIRST + 4] = committedAt;
    // No message.new follows a send that made no message.
    if (seq === 0) for (const [id, at] of this.byId) if (at === slot) this.byId.delete(id);
  }

  /** Phase `phase` (encoded, published) of the message with this id, if traced. */
  mark(id: string, phase: 5 | 6): void {
    const slot = this.byId.get(id);
    if (slot === undefined) return;
    this.rows[slot * COLUMNS + FIRST + phase] = clock();
    if (phase === 6) this.byId.delete(id);
  }

  /** Writes the rows and stalls recorded so far (the newest RING and STALLS of them). */
  dump(): void {
    const count = Math.min(this.next, RING);
    const rows: number[][] = [];
    for (let slot = 0; slot < count; slot++) rows.push(Array.from(this.rows.subarray(slot * COLUMNS, (slot + 1) * COLUMNS)));
    const stalls: [number, number][] = [];
    for (let i = 0; i < Math.min(this.stallCount, STALLS); i++) stalls.push([this.stalls[i * 2]!, this.stalls[i * 2 + 1]!]);
    const columns = ["seq", "batch", ...PHASES];
    writeFileSync(this.file, JSON.stringify({ columns, rows, stalls, stallTickMs: TICK_MS, traced: this.next }));
  }
}

/** Set once at start-up when BENCH_PHASES is; null otherwise. */
export let phaseTrace: PhaseTrace | null = null;

export function startPhaseTrace(file: string): PhaseTrace {
  phaseTrace ??= new PhaseTrace(file);
  return phaseTrace;
}
