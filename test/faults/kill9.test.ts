/**
 * `kill -9` of the server in the middle of a send storm from many sockets, several times in a
 * row: after each restart every acknowledged message is in history, each room's seqs run 1..n
 * with no gap, sends retried with their clientId land once, and a client that resumes with
 * `sync` holds exactly the history. On the run's database (SQLite file, or PostgreSQL with
 * TEST_DATABASE_URL).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestUser } from "../helpers";
import { freshPgDatabase, type TestDatabase } from "../pg";
import type { WsClient } from "../realtime/helpers";
import { history, makeRoom, register, type Server, spawnServer, until, WAIT_MS } from "./procs";

const ROUNDS = 3;
const SENDERS_PER_ROOM = 4;
const ROOMS = 3;
const IN_FLIGHT = 4;
/** Acks to wait for in a round before the kill. */
const ACKS_BEFORE_KILL = 60;

interface Sender {
  user: TestUser;
  roomId: string;
  name: string;
  next: number;
  /** clientId → seq, as acknowledged. */
  acked: Map<string, number>;
  /** Sent and not acknowledged: retried after the restart. */
  unacked: Set<string>;
  socket: WsClient | null;
}

describe("kill -9 during a send storm", () => {
  let databaseUrl: string;
  let database: TestDatabase | null = null;
  let dir: string | null = null;
  let server: Server | null = null;

  beforeAll(async () => {
    if (Bun.env.TEST_DATABASE_URL) {
      database = freshPgDatabase(Bun.env.TEST_DATABASE_URL);
      await database.created;
      databaseUrl = database.url;
    } else {
      dir = mkdtempSync(join(tmpdir(), "bunchat-kill9-"));
      databaseUrl = `sqlite://${join(dir, "chat.db")}`;
    }
  });

  afterAll(async () => {
    server?.proc.kill("SIGKILL");
    await server?.proc.exited;
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  test(`${ROUNDS} kills: nothing acknowledged lost, seqs gap-free, retries land once, resumed clients hold the history`, async () => {
    server = await spawnServer("server", { DATABASE_URL: databaseUrl });
    const owner = await register(server, "k");
    const watcher = await register(server, "w");
    const senders: Sender[] = [];
    const roomIds: string[] = [];
    for (let r = 0; r < ROOMS; r++) {
      const users = await Promise.all(Array.from({ length: SENDERS_PER_ROOM }, () => register(server!, "s")));
      const roomId = await makeRoom(server, owner, [watcher, ...users], `storm ${r}`);
      roomIds.push(roomId);
      users.forEach((user, i) =>
        senders.push({ user, roomId, name: `r${r}s${i}`, next: 0, acked: new Map(), unacked: new Set(), socket: null }),
      );
    }
    /** What the watching client holds: room → seq → content. */
    const held = new Map<string, Map<number, string>>(roomIds.map((id) => [id, new Map()]));
    let position: string | null = null;
    let roundAcks = 0;

    const send = (sender: Sender, clientId: string) => {
      sender.unacked.add(clientId);
      sender.socket!.send({ type: "message.send", roomId: sender.roomId, content: clientId, clientId });
    };
    const startSender = (sender: Sender, socket: WsClient) => {
      sender.socket = socket;
      socket.ws.addEventListener("message", (e) => {
        const frame = JSON.parse(String(e.data));
        if (frame.type !== "ack" || !sender.unacked.delete(frame.clientId)) return;
        sender.acked.set(frame.clientId, frame.message.seq);
        roundAcks++;
        if (socket.ws.readyState === WebSocket.OPEN) send(sender, `${sender.name}-${sender.next++}`);
      });
      // Retries first (same clientId: they must land once), then new sends.
      for (const clientId of [...sender.unacked]) send(sender, clientId);
      for (let i = sender.unacked.size; i < IN_FLIGHT; i++) send(sender, `${sender.name}-${sender.next++}`);
    };
    /** The watching client: resumes with sync from what it holds, then keeps what arrives. */
    const watch = async () => {
      const socket = await server!.connect(watcher);
      socket.ws.addEventListener("message", (e) => {
        const frame = JSON.parse(String(e.data));
        if (frame.type === "message.new") held.get(frame.message.roomId)?.set(frame.message.seq, frame.message.content);
      });
      let rooms: Record<string, number> = Object.fromEntries(roomIds.map((id) => [id, Math.max(0, ...held.get(id)!.keys())]));
      // A sync replays up to 500 messages a room: go on from where it stopped, as a client does.
      while (Object.keys(rooms).length > 0) {
        socket.send({ type: "sync", rooms, ...(position && { since: position }) });
        const done = await socket.next("sync.done", () => true, WAIT_MS);
        rooms = Object.fromEntries(Object.entries(done.rooms as Record<string, { lastSeq: number; hasMore: boolean }>).filter(([, r]) => r.hasMore).map(([id, r]) => [id, r.lastSeq]));
      }
      position = socket.ready.position;
      return socket;
    };

    for (let round = 1; round <= ROUNDS + 1; round++) {
      await watch();
      roundAcks = 0;
      await Promise.all(senders.map(async (sender) => startSender(sender, await server!.connect(sender.user))));
      if (round > ROUNDS) break;
      await until(`${ACKS_BEFORE_KILL} acks in round ${round}`, () => roundAcks >= ACKS_BEFORE_KILL);
      server.proc.kill("SIGKILL");
      await server.proc.exited;
      server = await spawnServer("server", { DATABASE_URL: databaseUrl });
    }
    // Last round: the retries and the in-flight sends are acknowledged; then all stop.
    await until("acks after the last restart", () => roundAcks >= ACKS_BEFORE_KILL);
    for (const sender of senders) sender.socket!.ws.close();
    await until("nothing left unacknowledged", async () => {
      const left = senders.filter((s) => s.unacked.size > 0);
      // A close can beat an ack: those sends are retried on a fresh socket, as a client would.
      for (const sender of left) {
        const socket = await server!.connect(sender.user);
        for (const clientId of sender.unacked)
          socket.send({ type: "message.send", roomId: sender.roomId, content: clientId, clientId });
        await until(`${sender.name}'s retries`, () => {
          for (const frame of socket.all("ack")) if (sender.unacked.delete(frame.clientId)) sender.acked.set(frame.clientId, frame.message.seq);
          return sender.unacked.size === 0;
        });
        socket.close();
      }
      return true;
    });

    let total = 0;
    for (const roomId of roomIds) {
      const messages = await history(server, owner, roomId);
      total += messages.length;
      // Gap-free seqs, each clientId once.
      expect(messages.map((m) => m.seq)).toEqual(messages.map((_, i) => i + 1));
      const contents = messages.map((m) => m.content as string);
      expect(new Set(contents).size).toBe(contents.length);
      const bySeq = new Map(messages.map((m) => [m.seq as number, m.content as string]));
      // Every acknowledged message, at the seq its ack gave.
      for (const sender of senders.filter((s) => s.roomId === roomId))
        for (const [clientId, seq] of sender.acked) expect([clientId, bySeq.get(seq)]).toEqual([clientId, clientId]);
      // Nothing that was never sent.
      for (const content of contents) expect(content).toMatch(/^r\d+s\d+-\d+$/);
    }
    expect(total).toBeGreaterThanOrEqual(ROUNDS * ACKS_BEFORE_KILL);

    // The watcher resumes once more and holds exactly the history.
    const last = await watch();
    for (const roomId of roomIds) {
      const messages = await history(server, owner, roomId);
      const mine = held.get(roomId)!;
      expect([...mine.entries()].sort((x, y) => x[0] - y[0])).toEqual(messages.map((m) => [m.seq, m.content]));
    }
    last.close();
  }, 180_000);
});
