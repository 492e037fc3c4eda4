/**
 * Messages on PostgreSQL. A send is one statement (a CTE that checks, numbers and writes it;
 * a unique index on room, sender and clientId backs its idempotency), pipelined with the rest
 * of its batch on one READ COMMITTED transaction (./batch.ts); reads go through Drizzle
 * (../queries.ts); search uses a tsvector GIN index (./search.ts).
 */
import type { DB, PgDB, Tables, TxOptions } from "../../database";
import type * as pgSchema from "../../schema.pg";
import { MessageQueries } from "../queries";
import type { DeliveryMark, MessageStore, NewMessage, SearchQuery } from "../store";
import { PgBatchWriter } from "./batch";
import { searchPg } from "./search";

/** The writer's transactions: see ./batch.ts for why READ COMMITTED keeps seqs gap-free. */
const WRITE: TxOptions = { readCommitted: true };

export class PgMessageStore extends MessageQueries implements MessageStore {
  private readonly writer = new PgBatchWriter();

  constructor(
    /** The active builder: the transaction's inside one, else the pool's. */
    private readonly pg: () => PgDB,
    private readonly tables: typeof pgSchema,
    db: () => DB,
    portable: Tables,
    private readonly tx: <T>(fn: () => Promise<T>, options?: TxOptions) => Promise<T>,
  ) {
    super(db, portable);
  }

  insert(batch: NewMessage[], now: () => number) {
    return this.tx(() => this.writer.insert(this.pg(), batch, new Date(now())), WRITE);
  }

  deliver(marks: DeliveryMark[]) {
    return this.tx(() => this.writer.deliver(this.pg(), marks), WRITE);
  }

  search(query: SearchQuery) {
    return searchPg(this.pg(), this.tables, query);
  }
}
