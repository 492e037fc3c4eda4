/**
 * What one group commit costs on SQLite, per message, in the shapes of `bun run bench`:
 * SqliteBatchWriter.insert inside one transaction (checks, seqs, INSERTs, read positions,
 * the backlog's indexing when it is due) and then its COMMIT, with the log pages it wrote.
 *
 *   bun bench/write-batch.ts                 # 1 room × 10 senders, batches of 20; 100 rooms × 5, batches of 220
 *   bun bench/write-batch.ts 100 5 220       # rooms, senders per room, messages per batch
 *   bun bench/write-batch.ts 100 5 220 --pages   # also which tables and indexes a commit's log pages belong to
 *
 * A fresh SQLite file (WAL, the server's pragmas and migrations) in a temporary directory,
 * 60,000 messages with a clientId each; the first half warms the file up, the second half is
 * measured. Prints figures and asserts nothing. Compare runs on the same machine only.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqlite } from "../src/db/sqlite";
import { SqliteBatchWriter } from "../src/db/messages/sqlite/batch";
import type { NewMessage } from "../src/db/messages/store";

const TOTAL = 60_000;
/** Commits after the measured ones whose log pages are sorted by B-tree (--pages). */
const PAGE_SAMPLES = 10;
const byBtree = Bun.argv.includes("--pages");
const args = Bun.argv.slice(2).filter((a) => a !== "--pages");
const shapes: [rooms: number, senders: number, batch: number][] =
  args.length >= 3 ? [[Number(args[0]), Number(args[1]), Number(args[2])]] : [[1, 10, 20], [100, 5, 220]];

for (const [roomCount, senders, batch] of shapes) {
  const dir = mkdtempSync(join(tmpdir(), "bunchat-write-batch-"));
  const file = join(dir, "bench.db");
  const database = openSqlite(file);
  const sqlite = database.sqlite;
  try {
    const now = Date.now();
    const rooms: string[] = [];
    const users: string[] = [];
    sqlite.transaction(() => {
      for (let r = 0; r < roomCount; r++) {
        const roomId = Bun.randomUUIDv7();
        rooms.push(roomId);
        sqlite
          .query("INSERT INTO rooms (id, kind, name, visibility, created_by, created_at, last_activity_at) VALUES (?, 'group', ?, 'private', 'bench', ?, ?)")
          .run(roomId, `room ${r}`, now, now);
        for (let s = 0; s < senders; s++) {
          const userId = Bun.randomUUIDv7();
          users.push(userId);
          sqlite
            .query(
              "INSERT INTO users (id, username, username_lower, password_hash, display_name, display_name_lower, created_at) VALUES (?1, ?1, ?1, 'x', ?1, ?1, ?2)",
            )
            .run(userId, now);
          sqlite.query("INSERT INTO room_members (room_id, user_id, role, joined_at) VALUES (?, ?, 'member', ?)").run(roomId, userId, now);
        }
      }
    })();
    const store = new SqliteBatchWriter(sqlite, database.messages.backlog);
    const pad = "x".repeat(100);
    let n = 0;
    // Round robin over rooms, then over each room's senders, as the load generator sends.
    const next = (): NewMessage => {
      const i = n++;
      const r = i % roomCount;
      const s = Math.floor(i / roomCount) % senders;
      return {
        id: Bun.randomUUIDv7(),
        roomId: rooms[r]!,
        senderId: users[r * senders + s]!,
        content: `${s}|${i}|${pad}`.slice(0, 100),
        metadata: null,
        replyToId: null,
        clientId: `bench.${s}-${i}`,
      };
    };
    // mxFrame of the WAL index header (native byte order): the frames in the log so far.
    const logFrames = () => {
      try {
        return readFileSync(`${file}-shm`).readUInt32LE(16);
      } catch {
        return 0;
      }
    };
    /** One batch in its own transaction: the ns spent inside it and on its COMMIT, and the log's frames before and after. */
    const commitBatch = async () => {
      const messages = Array.from({ length: batch }, next);
      const framesBefore = logFrames();
      const t0 = Bun.nanoseconds();
      sqlite.exec("BEGIN IMMEDIATE");
      store.insert(messages, new Date());
      const t1 = Bun.nanoseconds();
      sqlite.exec("COMMIT");
      const t2 = Bun.nanoseconds();
      return { inside: t1 - t0, commit: t2 - t1, framesBefore, framesAfter: logFrames() };
    };
    let inside = 0;
    let commit = 0;
    let measured = 0;
    let commits = 0;
    let frames = 0;
    for (let done = 0; done < TOTAL; done += batch) {
      const one = await commitBatch();
      if (done < TOTAL / 2) continue;
      inside += one.inside;
      commit += one.commit;
      measured += batch;
      commits++;
      // The log grows by the commit's frames, or starts over with them after a checkpoint.
      frames += one.framesAfter >= one.framesBefore ? one.framesAfter - one.framesBefore : one.framesAfter;
    }
    const us = (ns: number) => (ns / measured / 1000).toFixed(1);
    // A few more commits, unmeasured: each frame's header in the log names its page, and dbstat the
    // table or index (and the kind of page) each page of the file belongs to.
    const perBtree = new Map<string, number>();
    let sampled = 0;
    for (let k = 0; byBtree && k < PAGE_SAMPLES * 3 && sampled < PAGE_SAMPLES; k++) {
      const { framesBefore, framesAfter } = await commitBatch();
      if (framesAfter <= framesBefore) continue; // a checkpoint started the log over
      const owner = new Map<number, string>();
      for (const row of sqlite.query<{ name: string; pageno: number; pagetype: string }, []>("SELECT name, pageno, pagetype FROM dbstat").all())
        owner.set(row.pageno, `${row.name} (${row.pagetype})`);
      for (const page of loggedPages(`${file}-wal`, framesBefore, framesAfter)) {
        const name = owner.get(page) ?? "free";
        perBtree.set(name, (perBtree.get(name) ?? 0) + 1);
      }
      sampled++;
    }
    console.log(
      `${roomCount} room${roomCount === 1 ? "" : "s"} × ${senders} senders, batches of ${batch}: ` +
        `${us(inside + commit)} µs per message (${us(inside)} in the transaction, ${us(commit)} its commit), ` +
        `about ${(frames / commits).toFixed(0)} log pages a commit`,
    );
    if (sampled > 0) {
      console.log(`  log pages a commit by table or index (${sampled} commits):`);
      for (const [name, n] of [...perBtree].sort((a, b) => b[1] - a[1]))
        if (n / sampled >= 0.5) console.log(`  ${(n / sampled).toFixed(1).padStart(7)}  ${name}`);
    }
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The page numbers of frames [from, to) of a WAL file: a 32-byte header, then frames of a 24-byte header (its page number first) and a page. */
function loggedPages(path: string, from: number, to: number): number[] {
  const fd = openSync(path, "r");
  try {
    const word = Buffer.alloc(4);
    readSync(fd, word, 0, 4, 8);
    const frameSize = 24 + word.readUInt32BE(0);
    const pages: number[] = [];
    for (let f = from; f < to; f++) {
      readSync(fd, word, 0, 4, 32 + f * frameSize);
      pages.push(word.readUInt32BE(0));
    }
    return pages;
  } finally {
    closeSync(fd);
  }
}
