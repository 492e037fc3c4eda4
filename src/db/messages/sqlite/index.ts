/**
 * Messages on SQLite. Writes run on statements prepared once (./batch.ts); new messages wait
 * in a backlog and are indexed for full text and clientIds hundreds at a time (./backlog.ts,
 * ./client-ids.ts); history pages are prepared by hand (./pages.ts); the rest goes through
 * Drizzle (../queries.ts).
 */
import type { Database as SQLite } from "bun:sqlite";
import type { DB, Tables } from "../../tables";
import { countReads, MessageQueries, seqRange } from "../queries";
import { type DeliveryMark, type HistoryRange, type MessageRecord, type MessageStore, type NewMessage, SEARCH_LIMITS, type SearchQuery } from "../store";
import { SqliteBacklog } from "./backlog";
import { SqliteBatchWriter } from "./batch";
import { SqlitePages } from "./pages";
import { SqliteSearch } from "./search";

export class SqliteMessageStore extends MessageQueries implements MessageStore {
  /** The messages not yet indexed; the writer adds to it and indexes it, searches catch it up. */
  readonly backlog: SqliteBacklog;
  private readonly writer: SqliteBatchWriter;
  private readonly pages: SqlitePages;
  private readonly fullText: SqliteSearch;

  constructor(
    sqlite: SQLite,
    db: DB,
    tables: Tables,
    /** The database's transactions: queued, one at a time, on the one connection. */
    private readonly tx: <T>(fn: () => Promise<T>) => Promise<T>,
  ) {
    super(() => db, tables);
    this.backlog = new SqliteBacklog(sqlite);
    // The clientIds of indexed messages are read now, not by the first send (70 to 130 ms a million).
    this.backlog.clientIds.refresh();
    this.writer = new SqliteBatchWriter(sqlite, this.backlog);
    this.pages = new SqlitePages(sqlite);
    this.fullText = new SqliteSearch(sqlite, this.backlog, tx, (userId, roomId) => this.searchScope(userId, roomId));
  }

  insert(batch: NewMessage[], now: () => number) {
    return this.tx(async () => this.writer.insert(batch, new Date(now())));
  }

  deliver(marks: DeliveryMark[]) {
    return this.tx(async () => this.writer.deliver(marks));
  }

  override async history(roomId: string, roomKind: string, range: HistoryRange) {
    const before = range.before ?? Number.MAX_SAFE_INTEGER;
    if (range.after !== undefined) {
      const rows = this.pages.oldestAbove(roomId, roomKind, range.after, before, range.limit + 1);
      return { records: rows.slice(0, range.limit), hasMore: rows.length > range.limit };
    }
    const rows = this.pages.newestBelow(roomId, roomKind, before, range.limit + 1);
    return { records: rows.slice(0, range.limit).reverse(), hasMore: rows.length > range.limit };
  }

  override async reactions(viewerId: string, records: MessageRecord[], contiguous = false) {
    if (!contiguous || records.length === 0) return super.reactions(viewerId, records);
    const first = records[0]!.message;
    return this.pages.reactionsBetween(viewerId, first.roomId, first.seq, records.at(-1)!.message.seq);
  }

  override async readCounts(records: MessageRecord[], contiguous = false) {
    if (!contiguous || records.length < 2) return super.readCounts(records);
    const { low, high } = seqRange(records);
    const senders = [...new Set(records.map((r) => r.message.senderId))];
    const { groups, own } = this.pages.readPositions(records[0]!.message.roomId, low, high, senders);
    return countReads(records, groups, own);
  }

  override async withFiles(records: MessageRecord[], contiguous = false) {
    if (!contiguous || records.length === 0) return super.withFiles(records);
    const { low, high } = seqRange(records);
    return this.pages.withFilesBetween(records[0]!.message.roomId, low, high);
  }

  search(query: SearchQuery, limits = SEARCH_LIMITS) {
    return this.fullText.search(query, limits);
  }
}
