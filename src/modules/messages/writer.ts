/**
 * The message write path. Sends that arrive together are group-committed: queued, then
 * written in one short transaction (flushed after the current turn of the event loop, or at
 * once when a batch is full), so many inserts share one commit while each caller still gets
 * its own message or its own error. Seqs are taken from rooms.last_seq inside that
 * transaction, so they are 1, 2, 3 … in commit order.
 *
 * The queue is dialect-neutral; a BatchStore does the writing. SQLite uses hand-prepared
 * statements (the hot path), PostgreSQL one statement per send (pg-store.ts); the Drizzle
 * store speaks any dialect and is the reference both follow.
 */
import type { Database as SQLite, Statement } from "bun:sqlite";
import { and, eq, isNull, lt, sql } from "drizzle-orm";
import type { Database, DB, TxOptions } from "../../db";
import { first, messages, roomMembers, rooms, users } from "../../db/schema";
import { AppError, NotFound, ValidationFailed } from "../../errors";
import { PgBatchStore } from "./pg-store";
import { backlogOf, clientKey, type SqliteBacklog } from "./sqlite-backlog";
import type { UserRef } from "../users/model";

export type MessageRow = typeof messages.$inferSelect;

/** A send the service has validated, waiting for its seq. */
export interface NewMessage {
  id: string;
  roomId: string;
  senderId: string;
  content: string;
  /** JSON text of an object, or null. */
  metadata: string | null;
  replyToId: string | null;
  clientId: string | null;
}

/**
 * `created: true` with the committed row, and what presenting it needs (read in the same
 * transaction that checked membership); `created: false` when the sender already sent this
 * clientId in this room: the first message's id.
 */
export type WriteOutcome =
  | { created: true; row: MessageRow; roomKind: string; sender: UserRef }
  | { created: false; id: string };

/** Per row: its outcome, or the caller's own error (the rest of the batch still commits). */
export type Applied = WriteOutcome | AppError;

export interface DeliveryMark {
  roomId: string;
  userId: string;
  seq: number;
}

/** A delivery position that moved forward, with the kind of its room. */
export interface Delivered extends DeliveryMark {
  roomKind: string;
}

/**
 * Writes one batch inside the transaction the writer opened. Refusals that are the caller's
 * (not a member, bad parent) come back as AppError values; a thrown error fails the whole
 * batch, which the writer then retries row by row so only the culprit fails.
 */
export interface BatchStore {
  /** How the writer's transactions run for this store (PostgreSQL's isolation level). */
  readonly txOptions?: TxOptions;
  insert(batch: NewMessage[], at: Date, db: DB): Promise<Applied[]>;
  /** Moves each member's last_delivered_seq forward (never back, never past the room's last seq). */
  deliver(marks: DeliveryMark[], db: DB): Promise<(Delivered | null)[]>;
}

export const notMember = () => new NotFound("Room");
export const badParent = () =>
  new ValidationFailed("Invalid body: replyToId must be a message of this room that is not deleted", {
    in: "body",
    fields: [{ field: "replyToId", message: "must be a message of this room that is not deleted" }],
  });

interface Pending {
  message: NewMessage;
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
   * lingerMs). Lighter load never waits. Default 16.
   */
  lingerFrom?: number;
  /**
   * How long a lingering commit waits for more sends (unless the batch fills first). Default 10 ms:
   * when the clients set the pace, their sends come in bursts (a socket's next sends follow the
   * acks of its last ones), and a wait of a few bursts shares each commit's fixed cost among
   * two or three times as many messages. 0 turns lingering off.
   */
  lingerMs?: number;
  /** Runs `fire` after `ms` and returns how to cancel it; tests pass a clock they control. */
  schedule?: (fire: () => void, ms: number) => () => void;
  /** The clock in ms (createdAt). */
  now?: () => number;
  /** Called once per delivery position that moved, after its commit. */
  onDelivered?: (delivered: Delivered) => void;
}

/** Commits made without lingering after a wait that brought no new send, before trying again. */
const LINGER_BACKOFF = 64;

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
  private running: Promise<void> | null = null;
  private readonly maxBatch: number;
  private readonly lingerFrom: number;
  private readonly lingerMs: number;
  private readonly schedule: (fire: () => void, ms: number) => () => void;
  private readonly now: () => number;

  constructor(
    private readonly database: Database,
    private readonly store: BatchStore,
    private readonly options: WriterOptions = {},
  ) {
    this.maxBatch = Math.max(1, options.maxBatch ?? 512);
    this.lingerFrom = Math.max(1, options.lingerFrom ?? 16);
    this.lingerMs = Math.max(0, options.lingerMs ?? 10);
    this.schedule = options.schedule ?? timer;
    this.now = options.now ?? Date.now;
  }

  /** Resolves once the message is committed (or was found by its clientId); rejects with this row's error only. */
  write(message: NewMessage): Promise<WriteOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ message, resolve, reject });
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
   * (the last commit held lingerFrom sends or more) the commit also waits up to lingerMs for
   * more, unless the batch fills first: a commit's fixed cost (the pages it writes to the log,
   * one per room and index touched) is then shared by more messages, which is what lets the
   * server keep up. A light load never waits.
   */
  private kick(now: boolean) {
    if (this.running) return; // the running loop takes new work when its commit is done
    if (now) {
      this.cancelLinger?.();
      this.cancelLinger = null;
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
    if (this.lingerMs === 0 || this.lastBatch < this.lingerFrom || this.lingerSkips > 0) return void setImmediate(fire);
    // Senders that each wait for their answer (REST clients) have all sent by the end of this
    // turn, and nothing more comes while they wait: such a wait only costs time. When it
    // brought nothing, the next commits do not wait.
    let afterThisTurn = -1;
    setImmediate(() => (afterThisTurn = this.queue.length));
    this.cancelLinger = this.schedule(() => {
      if (afterThisTurn >= 0 && this.queue.length <= afterThisTurn) this.lingerSkips = LINGER_BACKOFF;
      fire();
    }, this.lingerMs);
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
        await this.commit(batch);
      }
      if (this.marks.size > 0) {
        const marks = [...this.marks.values()];
        this.marks.clear();
        await this.commitMarks(marks);
      }
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    let results: Applied[];
    try {
      // The time is taken inside the transaction so createdAt follows commit (and seq) order.
      results = await this.database.tx((db) => this.store.insert(batch.map((p) => p.message), new Date(this.now()), db), this.store.txOptions);
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
      // Something in the batch broke it: retry each row alone so only that row fails.
      for (const pending of batch) await this.commit([pending]);
      return;
    }
    // Resolved in seq order, so the callers' continuations (and their events) run in that order too.
    batch.forEach((pending, i) => {
      const result = results[i]!;
      if (result instanceof AppError) pending.reject(result);
      else pending.resolve(result);
    });
  }

  private async commitMarks(marks: PendingMark[]): Promise<void> {
    let results: (Delivered | null)[];
    try {
      results = await this.database.tx((db) => this.store.deliver(marks.map((m) => m.mark), db), this.store.txOptions);
    } catch (error) {
      for (const m of marks) for (const w of m.waiters) w.reject(error);
      return;
    }
    for (const delivered of results) if (delivered) this.options.onDelivered?.(delivered);
    for (const m of marks) for (const w of m.waiters) w.resolve();
  }
}

/** Most memberships SqliteBatchStore keeps in memory (about 200 bytes each); past it, it starts over. */
const KNOWN_MEMBERS = 50_000;

/** Sets outer[a][b], making the inner map when it is missing. */
function setIn<V>(outer: Map<string, Map<string, V>>, a: string, b: string, value: V): void {
  let inner = outer.get(a);
  if (!inner) outer.set(a, (inner = new Map()));
  inner.set(b, value);
}

/** Rows per multi-row INSERT: 9 parameters each stays far below SQLite's limit on parameters. */
const INSERT_CHUNK = 100;
type InsertParam = string | number | null;

/** The hot path on SQLite: statements prepared once, run synchronously inside the writer's transaction. */
export class SqliteBatchStore implements BatchStore {
  private readonly isMember: Statement<{ ok: number }, [string, string]>;
  private readonly roomKind: Statement<{ kind: string }, [string]>;
  private readonly sender: Statement<UserRef, [string]>;
  private readonly liveParent: Statement<{ ok: number }, [string, string]>;
  private readonly reserveSeqs: Statement<{ seq: number }, [number, number, string]>;
  /** Multi-row INSERTs by row count (at most INSERT_CHUNK rows each), prepared on first use. */
  private readonly insertRows = new Map<number, Statement<unknown, InsertParam[]>>();
  private readonly countReply: Statement<unknown, [string]>;
  private readonly readOwn: Statement<unknown, [number, string, string]>;
  private readonly deliverOne: Statement<{ kind: string }, [number, string, string]>;
  private readonly readEpoch: Statement<{ n: number }, []>;
  /**
   * Memberships of recent senders, by room and user, valid while membership_epoch keeps the
   * value they were read under (a trigger moves it on any change of a membership, a room or
   * a public name, from any connection): a send is then no query of membership at all.
   */
  private readonly known = new Map<string, Map<string, Membership>>();
  private knownCount = 0;
  private knownAt = -1;
  /** New messages are indexed (full text, clientIds) in batches, not in the commit that stores them. */
  private readonly backlog: SqliteBacklog;

  constructor(private readonly sqlite: SQLite) {
    // Three single-row lookups rather than one join: on SQLite the join costs about ten times
    // as much (about 12 µs against 2 µs a send, measured with 100 rooms of 5 members).
    this.isMember = sqlite.prepare("SELECT 1 AS ok FROM room_members WHERE room_id = ? AND user_id = ?");
    this.roomKind = sqlite.prepare("SELECT kind FROM rooms WHERE id = ?");
    this.sender = sqlite.prepare("SELECT id, username, display_name AS displayName, avatar_url AS avatarUrl FROM users WHERE id = ?");
    this.liveParent = sqlite.prepare("SELECT 1 AS ok FROM messages WHERE id = ? AND room_id = ? AND deleted_at IS NULL");
    this.reserveSeqs = sqlite.prepare(
      "UPDATE rooms SET last_seq = last_seq + ?, last_activity_at = ? WHERE id = ? RETURNING last_seq AS seq",
    );
    this.countReply = sqlite.prepare("UPDATE messages SET reply_count = reply_count + 1 WHERE id = ?");
    // Own messages are never unread: the sender's read position moves to the new seq.
    this.readOwn = sqlite.prepare(
      "UPDATE room_members SET last_read_seq = ?1 WHERE room_id = ?2 AND user_id = ?3 AND last_read_seq < ?1",
    );
    this.deliverOne = sqlite.prepare(
      "UPDATE room_members SET last_delivered_seq = ?1 WHERE room_id = ?2 AND user_id = ?3 AND last_delivered_seq < ?1 " +
        "AND ?1 <= (SELECT last_seq FROM rooms WHERE id = ?2) RETURNING (SELECT kind FROM rooms WHERE id = ?2) AS kind",
    );
    this.readEpoch = sqlite.prepare("SELECT n FROM membership_epoch WHERE id = 1");
    this.backlog = backlogOf(sqlite);
  }

  /**
   * Checks every message, numbers the accepted ones with one UPDATE per room, inserts them with
   * one INSERT per INSERT_CHUNK rows and moves each sender's read position once per room. What
   * is the same for many messages is done once: a sender's membership is read once and kept
   * until a membership changes (see `known`), a room's seqs are reserved together (a burst into
   * one room is one UPDATE, not one per message), and the new rows are indexed (full text and
   * clientIds) with hundreds of others (SqliteBacklog), not in pages of their own every commit.
   */
  async insert(batch: NewMessage[], at: Date): Promise<Applied[]> {
    const now = at.getTime();
    const results: Applied[] = new Array(batch.length);
    const accepted: { m: NewMessage; index: number; member: Membership }[] = [];
    // A retry can arrive in the same batch as its first send, which is not inserted yet.
    const inBatch = new Map<string, string>();
    // Read inside the writer's transaction, which holds the write lock: nothing changes it until the commit.
    const epoch = this.readEpoch.get()?.n ?? -1;
    this.backlog.begin();
    if (epoch !== this.knownAt) {
      this.forgetMembers();
      this.knownAt = epoch;
    }
    batch.forEach((m, index) => {
      const key = m.clientId === null ? null : clientKey(m.roomId, m.senderId, m.clientId);
      if (key !== null) {
        const existing = inBatch.get(key) ?? this.backlog.find(m.roomId, m.senderId, m.clientId!, key);
        if (existing) return (results[index] = { created: false, id: existing });
      }
      const member = this.membership(m.roomId, m.senderId);
      if (!member) return (results[index] = notMember());
      if (m.replyToId !== null && !this.liveParent.get(m.replyToId, m.roomId)) return (results[index] = badParent());
      if (key !== null) inBatch.set(key, m.id);
      accepted.push({ m, index, member });
    });
    // Each room's seqs for this batch at once: the UPDATE returns the last, they run up to it in batch order.
    const next = new Map<string, number>();
    for (const { m } of accepted) next.set(m.roomId, (next.get(m.roomId) ?? 0) + 1);
    for (const [roomId, count] of next) {
      // A member row implies its room (foreign key), and both are read in this transaction.
      const last = this.reserveSeqs.get(count, now, roomId)!.seq;
      next.set(roomId, last - count + 1);
    }
    const rows: InsertParam[][] = [];
    // By room, then sender: the ids are strings already hashed (a key made of both is a new string to hash each time).
    const readTo = new Map<string, Map<string, number>>();
    for (const { m, index, member } of accepted) {
      const seq = next.get(m.roomId)!;
      next.set(m.roomId, seq + 1);
      rows.push([m.id, m.roomId, seq, m.senderId, m.content, m.metadata, m.replyToId, m.clientId, now]);
      setIn(readTo, m.roomId, m.senderId, seq);
      results[index] = created(newRow(m, seq, at), member);
    }
    let lastRowid = 0;
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const chunk = rows.slice(i, i + INSERT_CHUNK);
      lastRowid = Number(this.insertStatement(chunk.length).run(...chunk.flat()).lastInsertRowid);
    }
    if (rows.length > 0) this.backlog.inserted(rows.length, lastRowid, inBatch);
    for (const { m } of accepted) if (m.replyToId !== null) this.countReply.run(m.replyToId);
    // Own messages are never unread: each sender's read position moves to their last new seq.
    for (const [roomId, senders] of readTo) for (const [senderId, seq] of senders) this.readOwn.run(seq, roomId, senderId);
    return results;
  }

  private insertStatement(rows: number): Statement<unknown, InsertParam[]> {
    let statement = this.insertRows.get(rows);
    if (!statement) {
      statement = this.sqlite.prepare(
        "INSERT INTO messages (id, room_id, seq, sender_id, content, metadata, reply_to_id, client_id, created_at, reply_count) VALUES " +
          Array.from({ length: rows }, () => "(?, ?, ?, ?, ?, ?, ?, ?, ?, 0)").join(", "),
      );
      this.insertRows.set(rows, statement);
    }
    return statement;
  }

  private forgetMembers(): void {
    this.known.clear();
    this.knownCount = 0;
  }

  /** The sender as a member of the room (a member row implies its room and user exist), or null. */
  private membership(roomId: string, userId: string): Membership | null {
    const known = this.known.get(roomId)?.get(userId);
    if (known) return known;
    if (!this.isMember.get(roomId, userId)) return null;
    const room = this.roomKind.get(roomId);
    const sender = this.sender.get(userId);
    if (!room || !sender) return null;
    const member = { roomKind: room.kind, ...sender };
    if (this.knownCount >= KNOWN_MEMBERS) this.forgetMembers();
    if (this.knownAt !== -1) {
      setIn(this.known, roomId, userId, member);
      this.knownCount++;
    }
    return member;
  }

  async deliver(marks: DeliveryMark[]): Promise<(Delivered | null)[]> {
    return marks.map((mark) => {
      const moved = this.deliverOne.get(mark.seq, mark.roomId, mark.userId);
      return moved ? { ...mark, roomKind: moved.kind } : null;
    });
  }
}

/** The same rules through Drizzle, for any dialect: the PostgreSQL path, and a reference for the SQLite one. */
export class DrizzleBatchStore implements BatchStore {
  async insert(batch: NewMessage[], at: Date, db: DB): Promise<Applied[]> {
    const results: Applied[] = [];
    for (const m of batch) results.push(await this.insertOne(m, at, db));
    return results;
  }

  private async insertOne(m: NewMessage, at: Date, db: DB): Promise<Applied> {
    if (m.clientId !== null) {
      const existing = first(
        await db
          .select({ id: messages.id })
          .from(messages)
          .where(and(eq(messages.roomId, m.roomId), eq(messages.senderId, m.senderId), eq(messages.clientId, m.clientId)))
          .limit(1),
      );
      if (existing) return { created: false, id: existing.id };
    }
    const member = first(
      await db
        .select({ roomKind: rooms.kind, id: users.id, username: users.username, displayName: users.displayName, avatarUrl: users.avatarUrl })
        .from(roomMembers)
        .innerJoin(rooms, eq(rooms.id, roomMembers.roomId))
        .innerJoin(users, eq(users.id, roomMembers.userId))
        .where(and(eq(roomMembers.roomId, m.roomId), eq(roomMembers.userId, m.senderId)))
        .limit(1),
    );
    if (!member) return notMember();
    if (m.replyToId !== null) {
      const parent = first(
        await db
          .select({ id: messages.id })
          .from(messages)
          .where(and(eq(messages.id, m.replyToId), eq(messages.roomId, m.roomId), isNull(messages.deletedAt)))
          .limit(1),
      );
      if (!parent) return badParent();
    }
    const next = first(
      await db
        .update(rooms)
        .set({ lastSeq: sql`${rooms.lastSeq} + 1`, lastActivityAt: at })
        .where(eq(rooms.id, m.roomId))
        .returning({ seq: rooms.lastSeq }),
    );
    if (!next) return notMember();
    const row = newRow(m, next.seq, at);
    await db.insert(messages).values(row);
    if (m.replyToId !== null)
      await db
        .update(messages)
        .set({ replyCount: sql`${messages.replyCount} + 1` })
        .where(eq(messages.id, m.replyToId));
    await db
      .update(roomMembers)
      .set({ lastReadSeq: next.seq })
      .where(and(eq(roomMembers.roomId, m.roomId), eq(roomMembers.userId, m.senderId), lt(roomMembers.lastReadSeq, next.seq)));
    return created(row, member);
  }

  async deliver(marks: DeliveryMark[], db: DB): Promise<(Delivered | null)[]> {
    const results: (Delivered | null)[] = [];
    for (const mark of marks) {
      const room = first(
        await db.select({ kind: rooms.kind, lastSeq: rooms.lastSeq }).from(rooms).where(eq(rooms.id, mark.roomId)).limit(1),
      );
      if (!room || mark.seq > room.lastSeq) {
        results.push(null);
        continue;
      }
      const moved = await db
        .update(roomMembers)
        .set({ lastDeliveredSeq: mark.seq })
        .where(
          and(eq(roomMembers.roomId, mark.roomId), eq(roomMembers.userId, mark.userId), lt(roomMembers.lastDeliveredSeq, mark.seq)),
        )
        .returning({ roomId: roomMembers.roomId });
      results.push(moved.length > 0 ? { ...mark, roomKind: room.kind } : null);
    }
    return results;
  }
}

/** The sender as a member of the room: the room's kind and the sender's public name. */
export type Membership = UserRef & { roomKind: string };

export function created(row: MessageRow, member: Membership): WriteOutcome {
  const { roomKind, ...sender } = member;
  return { created: true, row, roomKind, sender };
}

export function newRow(m: NewMessage, seq: number, at: Date): MessageRow {
  return {
    id: m.id,
    roomId: m.roomId,
    seq,
    senderId: m.senderId,
    content: m.content,
    metadata: m.metadata,
    replyToId: m.replyToId,
    replyCount: 0,
    clientId: m.clientId,
    createdAt: at,
    editedAt: null,
    deletedAt: null,
    changedAt: null,
  };
}

/** The writer for this database: prepared statements on SQLite, one pipelined statement per send on PostgreSQL. */
export function createMessageWriter(database: Database, options?: WriterOptions): GroupCommitWriter {
  switch (database.dialect) {
    case "sqlite":
      return new GroupCommitWriter(database, new SqliteBatchStore(database.sqlite), options);
    case "pg":
      return new GroupCommitWriter(database, new PgBatchStore(), options);
  }
}
