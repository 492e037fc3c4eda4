import { describe, expect, test } from "bun:test";
import { InMemoryBroker, type BrokerMessage } from "../../src/realtime/broker";
import { Connection, type ConnectionHandler, type Socket } from "../../src/realtime/connection";
import { Hub } from "../../src/realtime/hub";
import { parseFrame } from "../../src/realtime/protocol";
import { LocalDelivery, messageJson, Publisher } from "../../src/realtime/publisher";

/** A socket that records what the hub and delivery do to it. */
class FakeSocket implements Socket {
  readonly topics = new Set<string>();
  readonly sent: string[] = [];
  buffered = 0;
  closedWith: [number | undefined, string | undefined] | null = null;
  subscribe(topic: string) {
    this.topics.add(topic);
  }
  unsubscribe(topic: string) {
    this.topics.delete(topic);
  }
  send(data: string) {
    this.sent.push(data);
    return data.length;
  }
  getBufferedAmount() {
    return this.buffered;
  }
  close(code?: number, reason?: string) {
    this.closedWith = [code, reason];
  }
  corked = 0;
  cork(callback: () => unknown) {
    this.corked++;
    return callback();
  }
}

const ignored: ConnectionHandler = { message() {}, close() {} };

function connection(userId: string, session = "s1") {
  return new Connection(new FakeSocket(), userId, session, { handler: ignored, framesPerSecond: 0, highWater: 0, ready: Promise.resolve() });
}

function socketOf(hub: Hub<FakeSocket>, userId: string, rooms: string[] = [], session = "s1") {
  const added = connection(userId, session);
  const first = hub.add(added);
  hub.activate(added, rooms);
  return { connection: added, socket: added.socket, first };
}

describe("Hub", () => {
  test("a room-scoped socket: its one room, never its user's topic or other rooms; closed once it loses the room", () => {
    const hub = new Hub<FakeSocket>();
    const scoped = new Connection(new FakeSocket(), "a", "s1", { handler: ignored, framesPerSecond: 0, highWater: 0, ready: Promise.resolve(), scope: "r1" });
    hub.add(scoped);
    hub.activate(scoped, ["r1"]);
    const main = socketOf(hub, "a", ["r1"]);
    expect([...scoped.socket.topics]).toEqual(["room:r1"]);
    expect([...main.socket.topics].sort()).toEqual(["room:r1", "user:a"]);

    hub.join("a", "r2");
    expect([...scoped.rooms]).toEqual(["r1"]);
    expect([...scoped.socket.topics]).toEqual(["room:r1"]);
    expect(main.socket.topics.has("room:r2")).toBe(true);
    hub.leave("a", "r2");
    expect(scoped.socket.closedWith).toBeNull();

    hub.leave("a", "r1");
    expect(scoped.socket.closedWith?.[0]).toBe(4004);
    expect(main.socket.closedWith).toBeNull();

    const other = new Connection(new FakeSocket(), "b", "s2", { handler: ignored, framesPerSecond: 0, highWater: 0, ready: Promise.resolve(), scope: "r3" });
    hub.add(other);
    hub.activate(other, ["r3"]);
    hub.dropRoom("r3");
    expect(other.socket.closedWith?.[0]).toBe(4004);
  });

  test("counts sockets per user: first and last are reported", () => {
    const hub = new Hub<FakeSocket>();
    const a1 = socketOf(hub, "a");
    const a2 = socketOf(hub, "a");
    expect(a1.first).toBe(true);
    expect(a2.first).toBe(false);
    expect(hub.remove(a1.connection)).toBe(false);
    expect(hub.isConnected("a")).toBe(true);
    expect(hub.remove(a2.connection)).toBe(true);
    expect(hub.isConnected("a")).toBe(false);
    expect(hub.remove(a2.connection)).toBe(false);
  });

  test("activation subscribes the user topic and the loaded rooms", () => {
    const hub = new Hub<FakeSocket>();
    const { socket, connection: added } = socketOf(hub, "a", ["r1", "r2"]);
    expect([...socket.topics].sort()).toEqual(["room:r1", "room:r2", "user:a"]);
    expect([...hub.connectionsIn("r1")]).toEqual([added]);
  });

  test("join and leave reach every socket of the user at once, and only theirs", () => {
    const hub = new Hub<FakeSocket>();
    const a1 = socketOf(hub, "a");
    const a2 = socketOf(hub, "a");
    const b = socketOf(hub, "b");
    hub.join("a", "r");
    expect(a1.socket.topics.has("room:r")).toBe(true);
    expect(a2.socket.topics.has("room:r")).toBe(true);
    expect(b.socket.topics.has("room:r")).toBe(false);
    expect(hub.connectionsIn("r").size).toBe(2);
    hub.leave("a", "r");
    expect(a1.socket.topics.has("room:r")).toBe(false);
    expect(a2.socket.topics.has("room:r")).toBe(false);
    expect(hub.connectionsIn("r").size).toBe(0);
  });

  test("a change that happens while the room list loads wins over the list", () => {
    const hub = new Hub<FakeSocket>();
    const loading = connection("a", "s");
    hub.add(loading);
    hub.leave("a", "gone"); // left after the list was read
    hub.join("a", "new"); // joined after the list was read
    expect(loading.socket.topics.size).toBe(0); // nothing is subscribed before activation
    hub.activate(loading, ["gone", "kept"]);
    expect([...loading.socket.topics].sort()).toEqual(["room:kept", "room:new", "user:a"]);
  });

  test("dropping a room unsubscribes every socket from it", () => {
    const hub = new Hub<FakeSocket>();
    const a = socketOf(hub, "a", ["r", "s"]);
    const b = socketOf(hub, "b", ["r"]);
    hub.dropRoom("r");
    expect(a.socket.topics.has("room:r")).toBe(false);
    expect(b.socket.topics.has("room:r")).toBe(false);
    expect(a.connection.rooms.has("s")).toBe(true);
    expect(hub.connectionsIn("r").size).toBe(0);
  });

  test("removing a socket takes it out of its rooms", () => {
    const hub = new Hub<FakeSocket>();
    const a = socketOf(hub, "a", ["r"]);
    hub.remove(a.connection);
    expect(hub.connectionsIn("r").size).toBe(0);
    expect(hub.size).toBe(0);
  });
});

describe("Publisher and local delivery", () => {
  function wired() {
    const hub = new Hub<FakeSocket>();
    const broker = new InMemoryBroker();
    const published: [string, string][] = [];
    const delivered: [string, string, number][] = [];
    const overflowed: string[] = [];
    const delivery = new LocalDelivery(hub, {
      backpressureLimit: 1000,
      onOverflow: (overflowing) => overflowed.push(overflowing.userId),
      onDelivered: (u, r, s) => delivered.push([u, r, s]),
    });
    // As Bun answers: 0 when a subscriber past the limit dropped the frame, -1 when one is backed up, else the bytes.
    const subscribers = (topic: string) => {
      const [kind, id] = topic.split(":") as [string, string];
      return [...(kind === "room" ? hub.connectionsIn(id) : hub.connectionsOf(id))].map((c) => c.socket.buffered);
    };
    delivery.attach({
      publish: (topic, data) => {
        published.push([topic, data]);
        const buffered = subscribers(topic);
        if (buffered.length === 0 || buffered.some((b) => b > 1000)) return 0;
        return buffered.some((b) => b > 0) ? -1 : data.length;
      },
    });
    const seen: BrokerMessage[] = [];
    broker.subscribe((m) => seen.push(m));
    broker.subscribe(delivery.deliver);
    return { hub, publisher: new Publisher(broker), published, delivered, overflowed, seen };
  }

  test("a room event is encoded once and published on the room topic", () => {
    const { publisher, published, seen } = wired();
    const event = { type: "member.joined", roomId: "r", userId: "u" };
    publisher.toRoom("r", event);
    expect(published).toEqual([["room:r", JSON.stringify(event)]]);
    expect(seen).toHaveLength(1);
  });

  test("a message.new is encoded once: the ack reuses the text the room got", () => {
    const { publisher, published } = wired();
    let encodings = 0;
    const message = { id: "m", seq: 1, senderId: "a", toJSON: () => (encodings++, { id: "m", seq: 1, content: "hi \u2028 \"q\"" }) };
    publisher.toRoom("r", { type: "message.new", message });
    expect(published[0]![1]).toBe(JSON.stringify({ type: "message.new", message }));
    encodings = 0;
    expect(messageJson(message)).toBe(JSON.stringify(message));
    expect(encodings).toBe(1); // the JSON.stringify in the expectation, not messageJson
    expect(messageJson({ other: true })).toBe('{"other":true}');
  });

  test("message.new with a status marks delivery for each other member once, however many sockets", () => {
    const { hub, publisher, delivered } = wired();
    socketOf(hub, "sender", ["r"]);
    socketOf(hub, "b", ["r"]);
    socketOf(hub, "b", ["r"]);
    socketOf(hub, "c", ["other"]);
    publisher.toRoom("r", { type: "message.new", message: { senderId: "sender", seq: 7, status: "sent" } });
    expect(delivered).toEqual([["b", "r", 7]]);
  });

  test("message.new without a status (not a direct room) marks nothing delivered", () => {
    const { hub, publisher, published, delivered } = wired();
    socketOf(hub, "sender", ["r"]);
    socketOf(hub, "b", ["r"]);
    publisher.toRoom("r", { type: "message.new", message: { senderId: "sender", seq: 3 } });
    expect(published).toHaveLength(1);
    expect(delivered).toEqual([]);
  });

  test("a socket past the backpressure limit after a publish is given up on, not marked delivered", () => {
    const { hub, publisher, delivered, overflowed } = wired();
    socketOf(hub, "b", ["r"]);
    const stuck = socketOf(hub, "c", ["r"]);
    stuck.socket.buffered = 1001;
    publisher.toRoom("r", { type: "message.new", message: { senderId: "a", seq: 1, status: "sent" } });
    expect(overflowed).toEqual(["c"]);
    expect(delivered).toEqual([["b", "r", 1]]);
    publisher.toUser("c", { type: "room.created", room: {} });
    expect(overflowed).toEqual(["c", "c"]);
  });

  test("typing skips the typist's sockets and backed-up sockets", () => {
    const { hub, publisher } = wired();
    const mine = socketOf(hub, "a", ["r"]);
    const free = socketOf(hub, "b", ["r"]);
    const busy = socketOf(hub, "c", ["r"]);
    busy.socket.buffered = 4096;
    publisher.typing("r", "a");
    expect(mine.socket.sent).toEqual([]);
    expect(busy.socket.sent).toEqual([]);
    expect(free.socket.sent.map((s) => JSON.parse(s))).toEqual([{ type: "typing", roomId: "r", userId: "a" }]);
  });

  test("an event to several users reaches each of their sockets exactly once", () => {
    const { hub, publisher } = wired();
    const b1 = socketOf(hub, "b", ["r1", "r2"]);
    const b2 = socketOf(hub, "b", ["r1"]);
    const c = socketOf(hub, "c");
    publisher.toUsers(["b"], { type: "presence", userId: "a", presence: "online", lastSeenAt: null });
    expect(b1.socket.sent).toHaveLength(1);
    expect(b2.socket.sent).toHaveLength(1);
    expect(c.socket.sent).toHaveLength(0);
  });

  test("joined/left (un)subscribe through the broker; room.deleted drops the room", () => {
    const { hub, publisher } = wired();
    const a = socketOf(hub, "a");
    publisher.joined("a", "r");
    expect(a.socket.topics.has("room:r")).toBe(true);
    publisher.left("a", "r");
    expect(a.socket.topics.has("room:r")).toBe(false);
    publisher.joined("a", "r");
    publisher.toRoom("r", { type: "room.deleted", roomId: "r" });
    expect(a.socket.topics.has("room:r")).toBe(false);
  });

  test("a revoked session closes only that session's sockets", () => {
    const { hub, publisher } = wired();
    const s1 = socketOf(hub, "a", [], "one");
    const s2 = socketOf(hub, "a", [], "two");
    publisher.sessionRevoked("one");
    expect(s1.socket.closedWith).toEqual([4001, "session revoked"]);
    expect(s2.socket.closedWith).toBeNull();
  });
});

describe("parseFrame", () => {
  test("accepts each client frame", () => {
    for (const frame of [
      { type: "message.send", roomId: "r", content: "hi", clientId: "c" },
      { type: "message.send", roomId: "r", content: "hi", clientId: "c", metadata: { a: 1 }, replyToId: null },
      { type: "typing", roomId: "r" },
      { type: "read", roomId: "r", seq: 3 },
      { type: "sync", rooms: { r: 0, s: 12 } },
      { type: "ping" },
    ])
      expect(parseFrame(JSON.stringify(frame))).toEqual({ ok: true, frame: frame as never });
  });

  test("takes a value Elysia already parsed", () => {
    expect(parseFrame({ type: "ping" })).toEqual({ ok: true, frame: { type: "ping" } });
  });

  test("names what is wrong", () => {
    const cases: [unknown, string, RegExp][] = [
      ["{not json", "BAD_REQUEST", /not valid JSON/],
      ["42", "BAD_REQUEST", /JSON object/],
      [[1, 2], "BAD_REQUEST", /JSON object/],
      [null, "BAD_REQUEST", /JSON object/],
      [{ kind: "ping" }, "BAD_REQUEST", /string `type`/],
      [{ type: "dance" }, "BAD_REQUEST", /Unknown frame type "dance"/],
      [new Uint8Array([1, 2]), "BAD_REQUEST", /Binary/],
      [{ type: "read", roomId: "r", seq: -1 }, "VALIDATION_FAILED", /read frame: seq/],
      [{ type: "typing" }, "VALIDATION_FAILED", /typing frame: roomId/],
      [{ type: "sync", rooms: { r: "x" } }, "VALIDATION_FAILED", /sync frame: rooms\.r/],
    ];
    for (const [input, code, message] of cases) {
      const parsed = parseFrame(input);
      if (parsed.ok) throw new Error(`accepted ${JSON.stringify(input)}`);
      expect(parsed.error.code).toBe(code as never);
      expect(parsed.error.message).toMatch(message);
    }
  });

  test("a bad message.send keeps its clientId for the error frame", () => {
    const parsed = parseFrame({ type: "message.send", roomId: "r", clientId: "c-1" });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.clientId).toBe("c-1");
    expect(parsed.error.details?.fields.map((f) => f.field)).toContain("content");
  });
});
