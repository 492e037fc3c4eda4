/**
 * SQLite's backlog of new messages: the rows above search_state.indexed_upto, which are not
 * yet in the full-text index (messages_fts) nor in the clientId blocks (client-ids.ts).
 * Indexing a message in the commit that stores it cost that commit log pages that few other
 * messages shared: a new full-text segment every commit, and a page of a clientId B-tree per
 * sender. Indexed in batches of BACKLOG_ROWS, the pages are shared by hundreds of messages.
 *
 * The message writer adds to the backlog and indexes it, inside its own transaction, once
 * BACKLOG_ROWS wait; a search indexes what is left before it looks (search.ts). Until then
 * the writer finds a waiting message's clientId in memory: it holds the write lock while it
 * looks, and reads the backlog's clientIds from the database again whenever another
 * connection has written (data_version) or the newest rowid is not the one it left.
 * Migrations 0006 to 0008 hold the table and the triggers that keep indexed rows in step; 0010
 * keeps indexed_upto at or below the largest rowid, so that every new row lands in the backlog;
 * 0011 replaces the clientId B-tree with blocks.
 */
import type { Database as SQLite, Statement } from "bun:sqlite";
import { CLIENT_KEY_SQL, ClientIdIndex, clientKey } from "./client-ids";

export { clientKey };

/** Messages waiting before the writer indexes them. */
export const BACKLOG_ROWS = 1024;
/** The most backlog rows one batch of the writer indexes: twice what it adds between two indexings, so a backlog shrinks. */
export const WRITER_SPAN = 2 * BACKLOG_ROWS;


export class SqliteBacklog {
  /** Rows inserted by the writer since the backlog was last indexed. */
  private added = 0;
  /** The clientIds of the waiting rows (clientKey → message id), exact while `knownEnd` and `knownVersion` hold. */
  private readonly waiting = new Map<string, string>();
  /** The newest messages rowid as this connection last saw it; -1 until read. */
  private knownEnd = -1;
  private knownVersion = -1;
  private readonly state: Statement<{ upto: number; last: number | null }, []>;
  private readonly dataVersion: Statement<{ data_version: number }, []>;
  private readonly waitingClientIds: Statement<{ key: string; id: string }, [number]>;
  private readonly indexContent: Statement<unknown, [number, number]>;
  private readonly moveTo: Statement<unknown, [number]>;
  /** The clientIds of the indexed rows. */
  readonly clientIds: ClientIdIndex;
  private readonly stillThere: Statement<{ ok: number }, [string]>;

  constructor(sqlite: SQLite) {
    this.state = sqlite.prepare(
      "SELECT indexed_upto AS upto, (SELECT max(rowid) FROM messages) AS last FROM search_state WHERE id = 1",
    );
    this.dataVersion = sqlite.prepare("PRAGMA data_version");
    this.waitingClientIds = sqlite.prepare(
      `SELECT ${CLIENT_KEY_SQL} AS key, id FROM messages WHERE rowid > ?1 AND client_id IS NOT NULL`,
    );
    this.indexContent = sqlite.prepare(
      "INSERT INTO messages_fts(rowid, content) SELECT rowid, content FROM messages WHERE rowid > ?1 AND rowid <= ?2 AND deleted_at IS NULL",
    );
    this.moveTo = sqlite.prepare("UPDATE search_state SET indexed_upto = ?1 WHERE id = 1");
    this.clientIds = new ClientIdIndex(sqlite);
    this.stillThere = sqlite.prepare("SELECT 1 AS ok FROM messages WHERE id = ?");
  }

  /**
   * Makes the waiting clientIds exact, and loads the clientId blocks written since; the writer
   * calls it first in each of its transactions (before any block of its own, which a rollback
   * could take back: a block is loaded only once it was committed before this transaction).
   * They are read again from the database when another connection has committed since, or
   * when the newest rowid moved other than by this writer (messages deleted here).
   */
  begin(): void {
    this.clientIds.refresh();
    const version = this.dataVersion.get()!.data_version;
    const state = this.state.get();
    const last = state?.last ?? 0;
    if (version === this.knownVersion && last === this.knownEnd) return;
    this.waiting.clear();
    for (const row of this.waitingClientIds.all(state?.upto ?? 0)) this.waiting.set(row.key, row.id);
    this.knownVersion = version;
    this.knownEnd = last;
  }

  /** The message already sent with this clientId in this room by this sender, if any (after begin). */
  find(roomId: string, senderId: string, clientId: string, key = clientKey(roomId, senderId, clientId)): string | undefined {
    const waiting = this.waiting.get(key);
    // A waiting message may have been deleted since (with its room): then it is no answer.
    if (waiting !== undefined && this.stillThere.get(waiting)) return waiting;
    return this.clientIds.find(key, roomId, senderId, clientId);
  }

  /**
   * The writer inserted `rows` messages, the newest at rowid `lastRowid`, with these clientIds;
   * once BACKLOG_ROWS wait, the backlog is indexed in the same transaction, at most
   * WRITER_SPAN rows of it: a backlog the writer did not make (rows imported straight into the
   * file) is worked off over its next batches, not in one transaction that stalls every socket.
   */
  inserted(rows: number, lastRowid: number, clientIds: Iterable<[key: string, id: string]>): void {
    for (const [key, id] of clientIds) this.waiting.set(key, id);
    // Rows are numbered on from the newest, which begin() read: the insert's last rowid is the newest now.
    this.knownEnd = lastRowid;
    this.added += rows;
    if (this.added >= BACKLOG_ROWS) this.index(Number.MAX_SAFE_INTEGER, WRITER_SPAN);
  }

  /** The last rowid of messages when committed ones wait to be indexed, else null. */
  backlogEnd(): number | null {
    const state = this.state.get();
    return state && state.last !== null && state.last > state.upto ? state.last : null;
  }

  /**
   * Indexes the backlog, up to rowid `until` and `span` rowids at most; runs inside the caller's
   * write transaction. Returns whether rows up to `until` are left.
   */
  index(until = Number.MAX_SAFE_INTEGER, span = Number.MAX_SAFE_INTEGER): boolean {
    this.added = 0;
    const state = this.state.get();
    if (!state || state.last === null) return false;
    const end = Math.min(state.last, until);
    if (end <= state.upto) return false;
    const to = Math.min(end, state.upto + span);
    this.indexContent.run(state.upto, to);
    this.clientIds.index(state.upto, to);
    this.moveTo.run(to);
    // What waits has changed (and this transaction may yet roll back): the next batch reads it again.
    this.knownEnd = -1;
    return to < end;
  }
}
