/**
 * The message write path. Sends that arrive together are group-committed: queued, then
 * written in one short transaction (flushed after the current turn of the event loop, or at
 * once when a batch is full), so many inserts share one commit while each caller still gets
 * its own message or its own error. The queue knows no dialect: the database's MessageStore
 * writes each batch, numbering a room's messages 1, 2, 3 … in commit order.
 */
import type { Delivered, DeliveryMark, FileRow, MessageRow, MessageStore, NewMessage, SenderRef, SendOutcome } from "../../db/messages/store";
import { Forbidden, NotFound, ValidationFailed } from "../../errors";
import { phaseTrace } from "../../lib/phases";
import type { CommitMetrics } from "../../metrics";

export type { Delivered, DeliveryMark, MessageRow, NewMessage };

/**
 * `created: true` with the committed row and what presenting it needs; `created: false` when
 * the sender already sent this clientId in this room: the first message's id.
 */
export type WriteOutcome =
  | { created: true; row: MessageRow; roomKind: string; sender: SenderRef; files?: FileRow[] }
  | { created: false; id: string };

const notMember = () => new NotFound("Room");
const badParent = () =>
  new ValidationFailed("Invalid body: replyToId must be a message of this room that is not deleted", {
    in: "body",
    fields: [{ field: "replyToId", message: "must be a message of this room that is not deleted" }],
  });

const badAttachments = () =>
  new ValidationFailed("Invalid body: attachments must be ids of your own files", {
    in: "body",
    fields: [{ field: "attachments", message: "must be ids of your own files" }],
  });

/** A send's outcome as its caller gets it: the message, or the caller's own error. */
function settle(result: SendOutcome): WriteOutcome | Error {
  switch (result.outcome) {
    case "created":
      return { created: true, row: result.row, roomKind: result.roomKind, sender: result.sender, files: result.files };
    case "duplicate":
      return { created: false, id: result.id };
    case "not_member":
      return notMember();
    case "muted":
      return new Forbidden("You are muted in this room.");
    case "bad_parent":
      return badParent();
    case "bad_attachments":
      return badAttachments();
  }
}

interface Pending {
  message: NewMessage;
  /** performance.now() when the send was accepted; 0 when commits are not measured. */
  at: number;
  /** Its row in the phase trace (src/lib/phases.ts); -1 when not traced. */
  slot: number;
  resolve(outcome: WriteOutcome): void;
  reject(error: unknown): void;
}

interface PendingMark {
  mark: DeliveryMark;
  waiters: { resolve(): void; reject(error: unknown): void }[];
}

export interface WriterOptions {
  /** Most messages per transaction. */
  maxBatch?: number;
  /**
   * A commit of at least this many sends means sustained load: the next commit lingers (see
   * maxLingerMs). Lighter load never waits. Default 16.
   */
  lingerFrom?: number;
  /**
   * The longest a lingering commit waits for more sends (unless the batch fills first). How long
   * it does wait is measured (see GroupCommitWriter.kick): about as long as sends kept arriving
   * during the waits before it. Default 10 ms; 0 turns lingering off.
   */
  maxLingerMs?: number;
  /** Runs `fire` after `ms` and returns how to cancel it; tests pass a clock they control. */
  schedule?: (fire: () => void, ms: number) => () => void;
  /** The clock in ms (createdAt). */
  now?: () => number;
  /** A monotonic clock in ms, read per send only while a commit lingers; default performance.now. */
  clock?: () => number;
  /** Called once per delivery position that moved, after its commit. */
  onDelivered?: (delivered: Delivered) => void;
  /** Told each commit's size and its sends' waits; unset: no clock is read per send. */
  metrics?: CommitMetrics | null;
  /**
   * Asked once per batch before it is written (e.g. a rate limit shared across processes):
   * per message, the error it is refused with, or null. A message refused is not written.
   */
  admit?: (messages: NewMessage[]) => Promise<(Error | null)[]>;
}

/** Commits made without lingering after a wait that brought no new send, before trying again. */
const LINGER_BACKOFF = 64;
/** The shortest lingering wait, ms: a timer's resolution. */
const MIN_LINGER_MS = 1;
/** Weight of the newest wait in the running estimate of when sends stop arriving. */
const SETTLE_WEIGHT = 0.25;

const timer = (fire: () => void, ms: number) => {
  const handle = setTimeout(fire, ms);
  return () => clearTimeout(handle);
};

export class GroupCommitWriter {
  private queue: Pending[] = [];
  private marks = new Map<string, PendingMark>();
  /** A commit is due: at the end of this turn of the event loop, or when a lingering wait ends. */
  private scheduled = false;
  /** Cancels a lingering wait. */
  private cancelLinger: (() => void) | null = null;
  /** Sends in the last commit: a large one means sustained load. */
  private lastBatch = 0;
  /** Commits still to make without lingering, after a wait that brought no new send. */
  private lingerSkips = 0;
  /** When the current lingering wait began (clock); -1 when none is under way. */
  private lingerStart = -1;
  /** When the last send arrived during the current lingering wait (clock); -1 before the first. */
  private lastArrival = -1;
  /**
   * A running average of how far into a lingering wait its last send arrived, ms: past that,
   * the senders were all waiting for their answers, which only the commit brings.
   */
  private settleMs: number;
  private running: Promise<void> | null = null;
  private readonly maxBatch: number;
  private readonly lingerFrom: number;
  private readonly maxLingerMs: number;
  private readonly clock: () => number;
  private readonly schedule: (fire: () => void, ms: number) => () => void;
  private readonly now: () => number;
  private readonly metrics: CommitMetrics | null;

  constructor(
    private readonly store: MessageStore,
    private readonly options: WriterOptions = {},
  ) {
    this.maxBatch = Math.max(1, options.maxBatch ?? 512);
    this.lingerFrom = Math.max(1, options.lingerFrom ?? 16);
    this.maxLingerMs = Math.max(0, options.maxLingerMs ?? 10);
    this.settleMs = this.maxLingerMs;
    this.clock = options.clock ?? (() => performance.now());
    this.schedule = options.schedule ?? timer;
    this.now = options.now ?? Date.now;
    this.metrics = options.metrics ?? null;
  }

  /** Resolves once the message is committed (or was found by its clientId); rejects with this row's error only. */
  write(message: NewMessage): Promise<WriteOutcome> {
    return new Promise((resolve, reject) => {
      const slot = phaseTrace ? phaseTrace.queued(message.id) : -1;
      this.queue.push({ message, at: this.metrics ? performance.now() : 0, slot, resolve, reject });
      if (this.lingerStart >= 0) this.lastArrival = this.clock();
      this.kick(this.queue.length >= this.maxBatch);
    });
  }

  /** Records that a socket of the user received `seq`; marks for one member coalesce into one update. */
  markDelivered(mark: DeliveryMark): Promise<void> {
    return new Promise((resolve, reject) => {
      const key = `${mark.roomId}\u0000${mark.userId}`;
      const pending = this.marks.get(key);
      if (pending) {
        pending.mark.seq = Math.max(pending.mark.seq, mark.seq);
        pending.waiters.push({ resolve, reject });
      } else {
        this.marks.set(key, { mark: { ...mark }, waiters: [{ resolve, reject }] });
      }
      this.kick(false);
    });
  }

  /** Resolves when everything queued so far has been committed. */
  async drain(): Promise<void> {
    while (this.running || this.scheduled || this.queue.length > 0 || this.marks.size > 0)
      await (this.running ?? new Promise<void>((resolve) => setImmediate(resolve)));
  }

  /**
   * Everything sent during this turn of the event loop joins the batch. Under sustained load
   * (the last commit held lingerFrom sends or more) the commit also waits for more, unless the
   * batch fills first: a commit's fixed cost (the pages it writes to the log, one per room and
   * index touched) is then shared by more messages, which is what lets the server keep up. A
   * light load never waits.
   *
   * How long it waits is measured, not fixed. Senders that wait for their answers stop sending
   * once all of them are waiting, and then nothing more comes until this commit answers them:
   * waiting past that point only slows them down. So the wait lasts one and a half times as long
   * as sends kept arriving in recent waits (a running average), plus a timer's resolution, within
   * [MIN_LINGER_MS, maxLingerMs]. Sends that arrive up to a wait's end lengthen the next (the
   * clients' pace, not their answers, sets the load); sends that stop early shorten it.
   */
  private kick(now: boolean) {
    if (this.running) return; // the running loop takes new work when its commit is done
    if (now) {
      this.cancelLinger?.();
      this.cancelLinger = null;
      this.lingerStart = -1;
      this.scheduled = false;
      return this.start();
    }
    if (this.scheduled) return;
    this.scheduled = true;
    const fire = () => {
      if (!this.scheduled) return; // started at once in the meantime (a full batch)
      this.scheduled = false;
      this.cancelLinger = null;
      if (!this.running) this.start();
    };
    if (this.maxLingerMs === 0 || this.lastBatch < this.lingerFrom || this.lingerSkips > 0) return void setImmediate(fire);
    // Senders that each wait for their answer (REST clients) have all sent by the end of this
    // turn, and nothing more comes while they wait: such a wait only costs time. When it
    // brought nothing, the next commits do not wait.
    let afterThisTurn = -1;
    setImmediate(() => (afterThisTurn = this.queue.length));
    const start = (this.lingerStart = this.clock());
    this.lastArrival = -1;
    this.cancelLinger = this.schedule(() => {
      if (afterThisTurn >= 0 && this.queue.length <= afterThisTurn) this.lingerSkips = LINGER_BACKOFF;
      else if (this.lastArrival >= start) this.settleMs += SETTLE_WEIGHT * (this.lastArrival - start - this.settleMs);
      this.lingerStart = -1;
      fire();
    }, this.lingerMs());
  }

  /** The next lingering wait, ms (see kick). */
  private lingerMs(): number {
    return Math.min(this.maxLingerMs, Math.max(MIN_LINGER_MS, 1.5 * this.settleMs + MIN_LINGER_MS));
  }

  private start() {
    this.running = this.loop().finally(() => {
      this.running = null;
      if (this.queue.length > 0 || this.marks.size > 0) this.kick(this.queue.length >= this.maxBatch);
    });
  }

  private async loop() {
    while (this.queue.length > 0 || this.marks.size > 0) {
      if (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        this.lastBatch = batch.length;
        if (this.lingerSkips > 0) this.lingerSkips--;
        const admitted = await this.admit(batch);
        if (admitted.length > 0) await this.commit(admitted);
      }
      if (this.marks.size > 0) {
        const marks = [...this.marks.values()];
        this.marks.clear();
        await this.commitMarks(marks);
      }
    }
  }

  /** The batch without the messages `admit` refused, those rejected with its error. */
  private async admit(batch: Pending[]): Promise<Pending[]> {
    if (!this.options.admit) return batch;
    let verdicts: (Error | null)[];
    try {
      verdicts = await this.options.admit(batch.map((p) => p.message));
    } catch {
      return batch; // whoever admits could not answer: nothing is refused for it
    }
    return batch.filter((pending, i) => {
      const refused = verdicts[i];
      if (refused) pending.reject(refused);
      return !refused;
    });
  }

  private async commit(batch: Pending[]): Promise<void> {
    const trace = phaseTrace;
    const startedAt = trace ? trace.now() : 0;
    let results: SendOutcome[];
    try {
      results = await this.store.insert(
        batch.map((p) => p.message),
        this.now,
      );
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
      // Something in the batch broke it: retry each row alone so only that row fails.
      for (const pending of batch) await this.commit([pending]);
      return;
    }
    if (trace) {
      const committedAt = trace.now();
      batch.forEach((pending, i) => {
        const result = results[i]!;
        if (pending.slot >= 0) trace.committed(pending.slot, startedAt, committedAt, result.outcome === "created" ? result.row.seq : 0, batch.length);
      });
    }
    if (this.metrics) {
      const committedAt = performance.now();
      this.metrics.committed(batch.length, (i) => (committedAt - batch[i]!.at) / 1000);
    }
    // Resolved in seq order, so the callers' continuations (and their events) run in that order too.
    batch.forEach((pending, i) => {
      const result = settle(results[i]!);
      if (result instanceof Error) pending.reject(result);
      else pending.resolve(result);
    });
  }

  private async commitMarks(marks: PendingMark[]): Promise<void> {
    let results: (Delivered | null)[];
    try {
      results = await this.store.deliver(marks.map((m) => m.mark));
    } catch (error) {
      for (const m of marks) for (const w of m.waiters) w.reject(error);
      return;
    }
    for (const delivered of results) if (delivered) this.options.onDelivered?.(delivered);
    for (const m of marks) for (const w of m.waiters) w.resolve();
  }
}
