/** A room's window of messages: every seq once, in order, whatever order and however often they arrive. */
import { describe, expect, test } from "bun:test";
import type { Message } from "bunchat/client";
import { reacted, RoomWindow } from "../../src/client/store";

const message = (seq: number, fields: Partial<Message> = {}): Message => ({
  id: `m${seq}`,
  roomId: "r",
  seq,
  senderId: "u1",
  sender: { id: "u1", username: "ada", displayName: null, avatarUrl: null },
  content: `message ${seq}`,
  metadata: null,
  replyToId: null,
  replyCount: 0,
  reactions: [],
  clientId: null,
  createdAt: "2026-01-01T00:00:00.000Z",
  editedAt: null,
  deletedAt: null,
  ...fields,
} as Message);

const seqs = (w: RoomWindow) => w.messages.map((m) => m.seq);

describe("RoomWindow", () => {
  test("holds messages after its top in order, once each, holding later ones until the gap is filled", () => {
    const w = new RoomWindow("r", 2);
    expect(w.put(message(3)).map((m) => m.seq)).toEqual([3]);
    expect(w.put(message(3))).toEqual([]);
    expect(w.put(message(6))).toEqual([]);
    expect(w.put(message(5))).toEqual([]);
    expect(w.hasGap).toBe(true);
    expect(seqs(w)).toEqual([3]);
    expect(w.put(message(4)).map((m) => m.seq)).toEqual([4, 5, 6]);
    expect(w.hasGap).toBe(false);
    expect([w.start, w.top]).toEqual([3, 6]);
    expect(w.put(message(2))).toEqual([]);
    expect(seqs(w)).toEqual([3, 4, 5, 6]);
  });

  test("scroll-back prepends only the messages just before it", () => {
    const w = new RoomWindow("r", 4);
    expect(w.hasOlder).toBe(true);
    expect(w.prepend([message(3), message(4)]).map((m) => m.seq)).toEqual([3, 4]);
    // Not adjacent: nothing is added, so no gap opens.
    expect(w.prepend([message(1)])).toEqual([]);
    expect(w.prepend([message(1), message(2)]).map((m) => m.seq)).toEqual([1, 2]);
    expect(w.hasOlder).toBe(false);
    expect(seqs(w)).toEqual([1, 2, 3, 4]);
    w.put(message(5));
    expect(seqs(w)).toEqual([1, 2, 3, 4, 5]);
  });

  test("an event's copy keeps whether the user reacted, and a deletion stays", () => {
    const w = new RoomWindow("r", 0);
    w.put(message(1, { reactions: [{ emoji: "👍", count: 1, me: true }] }));
    w.replace(message(1, { content: "edited", editedAt: "2026-01-01T00:01:00.000Z", reactions: [{ emoji: "👍", count: 2, me: false }] }));
    expect(w.get(1)!.reactions).toEqual([{ emoji: "👍", count: 2, me: true }]);
    expect(w.get(1)!.content).toBe("edited");
    w.replace(message(1, { content: "", deletedAt: "2026-01-01T00:02:00.000Z" }));
    w.replace(message(1, { content: "late edit" }));
    expect(w.get(1)!.deletedAt).toBe("2026-01-01T00:02:00.000Z");
    // A copy read for the user over REST is taken as it is.
    w.replace(message(1, { content: "", deletedAt: "2026-01-01T00:02:00.000Z", reactions: [{ emoji: "👍", count: 1, me: false }] }), true);
    expect(w.get(1)!.reactions).toEqual([{ emoji: "👍", count: 1, me: false }]);
  });

  test("counts a held message's replies from the replies it holds", () => {
    const w = new RoomWindow("r", 0);
    w.put(message(1));
    w.put(message(2, { replyToId: "m1" }));
    expect(w.get(1)!.replyCount).toBe(1);
    // A copy fetched or replayed later counts the same replies once.
    w.replace(message(1, { replyCount: 1 }), true);
    w.put(message(3, { replyToId: "m1" }));
    expect(w.get(1)!.replyCount).toBe(2);
  });

  test("reactions: counts per emoji, `me` for the session's user, gone at zero", () => {
    let m = message(1);
    m = reacted(m, "👍", "u2", "u1", true);
    m = reacted(m, "👍", "u1", "u1", true);
    m = reacted(m, "🎉", "u2", "u1", true);
    expect(m.reactions).toEqual([
      { emoji: "👍", count: 2, me: true },
      { emoji: "🎉", count: 1, me: false },
    ]);
    m = reacted(m, "👍", "u1", "u1", false);
    m = reacted(m, "🎉", "u2", "u1", false);
    expect(m.reactions).toEqual([{ emoji: "👍", count: 1, me: false }]);
  });

  test("a read position's move counts once on the held messages it covers that its reader did not send", () => {
    const w = new RoomWindow("r", 0);
    for (let seq = 1; seq <= 5; seq++) w.put(message(seq, { readCount: 0, senderId: seq === 3 ? "u2" : "u1" }));
    w.read("u2", 1, 4);
    expect(w.messages.map((m) => m.readCount)).toEqual([0, 1, 0, 1, 0]);
    expect(w.readers.get("u2")).toBe(4);
    w.read("u3", 0, 9);
    expect(w.messages.map((m) => m.readCount)).toEqual([1, 2, 1, 2, 1]);
    expect(w.countsBelow(3, "u1")).toBe(false);
    expect(w.countsBelow(4, "u1")).toBe(true);
    const direct = new RoomWindow("d", 0);
    direct.put(message(1, { status: "sent" }));
    direct.read("u2", 0, 1);
    expect(direct.messages[0]!.readCount).toBeUndefined();
  });
});
