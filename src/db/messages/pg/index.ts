/**
 * Messages on PostgreSQL. A send is one statement (a CTE that checks, numbers and writes it;
 * a unique index on room, sender and clientId backs its idempotency), pipelined with the rest
 * of its batch on one READ COMMITTED transaction (./batch.ts); reads go through Drizzle
 * (../queries.ts); search starts from the user's rooms, and uses a tsvector GIN index for
 * large ones (./search.ts).
 */
import type { DB, PgDB, Tables, TxOptions } from "../../database";
import type * as pgSchema from "../../schema.pg";
import { MessageQueries } from "../queries";
import { type DeliveryMark, type MessageStore, type NewMessage, SEARCH_LIMITS, type SearchQuery } from "../store";
import { PgBatchWriter } from "./batch";
import { PgSearch } from "./search";

/** The writer's transactions: see ./batch.ts for why READ COMMITTED keeps seqs gap-free. */
const WRITE: TxOptions = { readCommitted: true };

export class PgMessageStore extends MessageQueries implements MessageStore {
  private readonly writer = new PgBatchWriter();
  private readonly fullText: PgSearch;

  constructor(
    /** The active builder: the transaction's inside one, else the pool's. */
    private readonly pg: () => PgDB,
    private readonly tables: typeof pgSchema,
    db: () => DB,
    portable: Tables,
    private readonly tx: <T>(fn: () => Promise<T>, options?: TxOptions) => Promise<T>,
  ) {
    super(db, portable);
    this.fullText = new PgSearch(pg, tables, tx, (userId, roomId) => this.searchScope(userId, roomId));
  }

  insert(batch: NewMessage[], now: () => number) {
    return this.tx(() => this.writer.insert(this.pg(), batch, new Date(now())), WRITE);
  }

  deliver(marks: DeliveryMark[]) {
    return this.tx(() => this.writer.deliver(this.pg(), marks), WRITE);
  }

  search(query: SearchQuery, limits = SEARCH_LIMITS) {
    return this.fullText.search(query, limits);
  }
}
