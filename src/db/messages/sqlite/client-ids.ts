/**
 * SQLite's index of clientIds: which message, if any, a sender already sent into a room with
 * a clientId. A B-tree keyed by room, sender and clientId costs every batch of messages a log
 * page per sender it touches (and random clientIds a page per message), the largest part of a
 * group commit's writes. Here the indexed messages' clientIds are kept instead as
 * fingerprints: each batch of the backlog that is indexed (./backlog.ts) appends one row
 * to client_id_blocks, a blob of the batch's fingerprints and rowids (12 bytes a message,
 * three log pages for 1,024 messages), and every connection that writes holds them all in
 * memory in a hash table, loading the blocks it has not seen yet when it starts a write.
 *
 * A fingerprint only points at candidates: a lookup reads each candidate row and compares room,
 * sender and clientId, so a collision, a deleted message or a rowid taken again by another
 * message is never an answer. What must never happen is a missing entry, and none can go
 * missing: every indexed message with a clientId is in a block (the blocks of existing rows
 * are written when the database gets its fingerprint key, see rekeyBlocks), blocks are only ever added, and
 * a connection loads every block it has not loaded before it looks.
 *
 * Memory: 17 to 34 bytes per message with a clientId (12 bytes a slot, a fingerprint and a
 * rowid; the table doubles past 70 % full, so it is 35 to 70 % full). The server reads the blocks
 * when it opens the database (70 to 130 ms a million). Messages of deleted rooms keep their
 * entries, which match nothing, until the process restarts and the blocks are read again.
 */
import type { Database as SQLite, Statement } from "bun:sqlite";

/** The key of a clientId: unique per room and sender. */
export const clientKey = (roomId: string, senderId: string, clientId: string) => `${roomId}\n${senderId}\n${clientId}`;
/** clientKey in SQL, over a row of messages. */
export const CLIENT_KEY_SQL = "room_id || char(10) || sender_id || char(10) || client_id";

/**
 * The fingerprint of a clientId key (clientKey): 32 bits of xxHash32 keyed by the database's
 * seed (search_state.client_id_seed), the same in every process on that database. Without the
 * seed nobody can make keys that share a fingerprint, which would make each lookup read many rows.
 */
export const fingerprint = (key: string, seed: number): number => Bun.hash.xxHash32(key, seed);

/** A block as stored: the rowids (float64, native order) then the fingerprints (uint32). */
export function encodeBlock(rowids: readonly number[], prints: readonly number[]): Uint8Array {
  const n = rowids.length;
  const bytes = new Uint8Array(n * 12);
  new Float64Array(bytes.buffer, 0, n).set(rowids);
  new Uint32Array(bytes.buffer, n * 8, n).set(prints);
  return bytes;
}

export function decodeBlock(data: Uint8Array): { rowids: Float64Array; prints: Uint32Array } {
  const n = Math.floor(data.byteLength / 12);
  // Copied: a blob read from SQLite need not be aligned for float64 views.
  const copy = new Uint8Array(n * 12);
  copy.set(data.subarray(0, n * 12));
  return { rowids: new Float64Array(copy.buffer, 0, n), prints: new Uint32Array(copy.buffer, n * 8, n) };
}

/** Open addressing on fingerprints, linear probing; a slot is empty while its rowid is 0 (rowids start at 1). */
export class FingerprintTable {
  private prints = new Uint32Array(1024);
  private rowids = new Float64Array(1024);
  private mask = 1023;
  size = 0;

  add(print: number, rowid: number): void {
    if ((this.size + 1) * 10 > this.rowids.length * 7) this.grow();
    this.place(print, rowid);
    this.size++;
  }

  /** The rowids filed under this fingerprint. */
  candidates(print: number): number[] {
    const out: number[] = [];
    for (let i = print & this.mask; this.rowids[i] !== 0; i = (i + 1) & this.mask) if (this.prints[i] === print) out.push(this.rowids[i]!);
    return out;
  }

  private place(print: number, rowid: number): void {
    let i = print & this.mask;
    while (this.rowids[i] !== 0) i = (i + 1) & this.mask;
    this.prints[i] = print;
    this.rowids[i] = rowid;
  }

  private grow(): void {
    const prints = this.prints;
    const rowids = this.rowids;
    this.prints = new Uint32Array(prints.length * 2);
    this.rowids = new Float64Array(rowids.length * 2);
    this.mask = this.rowids.length - 1;
    for (let i = 0; i < rowids.length; i++) if (rowids[i] !== 0) this.place(prints[i]!, rowids[i]!);
  }
}

/** One connection's view of client_id_blocks. */
export class ClientIdIndex {
  private readonly table = new FingerprintTable();
  /** The newest block loaded into the table; -1 before the first load. */
  private loaded = -1;
  private readonly newBlocks: Statement<{ id: number; data: Uint8Array }, [number]>;
  private readonly newestBlock: Statement<{ id: number | null }, []>;
  private readonly rowsOf: Statement<{ rowid: number; key: string }, [number, number]>;
  private readonly addBlock: Statement<unknown, [Uint8Array]>;
  private readonly verify: Statement<{ id: string }, [number, string, string, string]>;
  /** This database's fingerprint key. */
  readonly seed: number;

  constructor(sqlite: SQLite) {
    this.seed = sqlite.query<{ seed: number }, []>("SELECT client_id_seed AS seed FROM search_state WHERE id = 1").get()?.seed ?? 0;
    this.newBlocks = sqlite.prepare("SELECT id, data FROM client_id_blocks WHERE id > ?1 ORDER BY id");
    this.newestBlock = sqlite.prepare("SELECT max(id) AS id FROM client_id_blocks");
    this.rowsOf = sqlite.prepare(
      `SELECT rowid, ${CLIENT_KEY_SQL} AS key FROM messages ` +
        "WHERE rowid > ?1 AND rowid <= ?2 AND client_id IS NOT NULL",
    );
    this.addBlock = sqlite.prepare("INSERT INTO client_id_blocks (data) VALUES (?1)");
    this.verify = sqlite.prepare(
      "SELECT id FROM messages WHERE rowid = ?1 AND room_id = ?2 AND sender_id = ?3 AND client_id = ?4",
    );
  }

  /** Loads the blocks committed since the last call, by any connection: when the database is opened, and first in each write transaction. */
  refresh(): void {
    // Most writes find nothing new: max(id) is one step down the table's B-tree.
    if (this.loaded >= 0 && (this.newestBlock.get()?.id ?? 0) <= this.loaded) return;
    for (const block of this.newBlocks.all(this.loaded)) {
      const { rowids, prints } = decodeBlock(block.data);
      for (let i = 0; i < rowids.length; i++) this.table.add(prints[i]!, rowids[i]!);
      this.loaded = block.id;
    }
    if (this.loaded < 0) this.loaded = 0;
  }

  /** The id of the indexed message with this key, if there is one (after refresh). */
  find(key: string, roomId: string, senderId: string, clientId: string): string | undefined {
    for (const rowid of this.table.candidates(fingerprint(key, this.seed))) {
      const row = this.verify.get(rowid, roomId, senderId, clientId);
      if (row) return row.id;
    }
    return undefined;
  }

  /**
   * Writes the block of the messages in rowids (from, to] that carry a clientId, inside the
   * transaction that indexes them; this connection loads it at its next refresh.
   */
  index(from: number, to: number): void {
    const rows = this.rowsOf.all(from, to);
    if (rows.length === 0) return;
    this.addBlock.run(
      encodeBlock(
        rows.map((r) => r.rowid),
        rows.map((r) => fingerprint(r.key, this.seed)),
      ),
    );
  }

  /** Entries in memory (bench and tests). */
  get entries(): number {
    return this.table.size;
  }
}

/**
 * Writes the blocks of the messages indexed so far (rowids up to search_state.indexed_upto); the
 * migrations that create the blocks or change their key run it, in their transaction.
 */
export function ensureBlocks(sqlite: SQLite, span = 65_536): void {
  const upto = sqlite.query<{ upto: number }, []>("SELECT indexed_upto AS upto FROM search_state WHERE id = 1").get()?.upto ?? 0;
  const index = new ClientIdIndex(sqlite);
  for (let from = 0; from < upto; from += span) index.index(from, Math.min(upto, from + span));
}

/** Gives the database a random fingerprint key and writes every block again under it (run by the migration that adds the key). */
export function rekeyBlocks(sqlite: SQLite): void {
  const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
  sqlite.query("UPDATE search_state SET client_id_seed = ?1 WHERE id = 1").run(seed);
  sqlite.exec("DELETE FROM client_id_blocks");
  ensureBlocks(sqlite);
}
