import { expect, test } from "bun:test";
import { Connection, type ConnectionHandler, type Socket } from "../../src/realtime/connection";

class FakeSocket implements Socket {
  readonly sent: string[] = [];
  buffered = 0;
  closedWith: [number | undefined, string | undefined] | null = null;
  subscribe() {}
  unsubscribe() {}
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

/** The real-time layer's side: it records what the connection hands it. */
class FakeHandler implements ConnectionHandler {
  readonly frames: unknown[] = [];
  closes = 0;
  closedWhenTold: boolean | null = null;
  message(_connection: Connection, data: unknown) {
    this.frames.push(data);
  }
  close(connection: Connection) {
    this.closes++;
    this.closedWhenTold = connection.closed;
  }
}

function connect(framesPerSecond = 10, highWater = 100, ready: Promise<void> = Promise.resolve()) {
  const socket = new FakeSocket();
  const handler = new FakeHandler();
  const connection = new Connection(socket, "u", "s", { handler, framesPerSecond, highWater, ready });
  return { socket, handler, connection };
}

test("the socket's frames and its close, as Bun reports them, go to the handler; a closed connection is already marked closed", () => {
  const { connection: c, socket, handler } = connect();
  c.message(socket, "one");
  c.message(socket, "two");
  expect(handler.frames).toEqual(["one", "two"]);
  c.close();
  expect(handler.closes).toBe(1);
  expect(handler.closedWhenTold).toBe(true);
  expect(socket.closedWith).toBeNull(); // closed by the peer: nothing to close here
});

test("frames are allowed in bursts up to the rate, then refill with time", () => {
  const { connection: c } = connect(3);
  const t = performance.now();
  expect([c.allowFrame(t), c.allowFrame(t), c.allowFrame(t), c.allowFrame(t)]).toEqual([true, true, true, false]);
  expect(c.allowFrame(t + 200)).toEqual(false); // 0.6 of a frame refilled
  expect(c.allowFrame(t + 400)).toEqual(true);
});

test("a rate of 0 allows everything", () => {
  const { connection: c } = connect(0);
  for (let i = 0; i < 1000; i++) expect(c.allowFrame(0)).toBe(true);
});

test("tasks wait for ready and run one at a time in arrival order", async () => {
  let open!: () => void;
  const { connection: c } = connect(10, 100, new Promise<void>((resolve) => (open = resolve)));
  const log: string[] = [];
  c.enqueue(async () => {
    log.push("a start");
    await Bun.sleep(0);
    log.push("a end");
  });
  c.enqueue(async () => void log.push("b"));
  await Promise.resolve();
  expect(log).toEqual([]);
  expect(c.busy).toBe(true);
  open();
  await c.idle();
  expect(log).toEqual(["a start", "a end", "b"]);
  expect(c.busy).toBe(false);
});

test("a task that throws closes the socket with 1011 and later tasks are skipped", async () => {
  const { connection: c, socket } = connect();
  let ran = false;
  c.enqueue(async () => {
    throw new Error("boom");
  });
  c.enqueue(async () => void (ran = true));
  await c.idle();
  expect(socket.closedWith).toEqual([1011, "internal error"]);
  expect(ran).toBe(false);
});

test("sends are pipelined: the next one starts at once; other frames wait until the sends before them are done", async () => {
  const { connection: c } = connect();
  const log: string[] = [];
  const finish: (() => void)[] = [];
  const send = (name: string) =>
    c.enqueue(async () => {
      log.push(`${name} queued`);
      await new Promise<void>((resolve) => finish.push(resolve));
      log.push(`${name} acked`);
    }, true);
  send("a");
  send("b");
  c.enqueue(async () => void log.push("read"));
  send("c");
  await Bun.sleep(0);
  expect(log).toEqual(["a queued", "b queued"]);
  expect(c.busy).toBe(true);
  finish[1]!();
  await Bun.sleep(0);
  expect(log).toEqual(["a queued", "b queued", "b acked"]);
  finish[0]!();
  await Bun.sleep(0);
  expect(log).toEqual(["a queued", "b queued", "b acked", "a acked", "read", "c queued"]);
  finish[2]!();
  await c.idle();
  expect(log.at(-1)).toBe("c acked");
  expect(c.busy).toBe(false);
});

test("once ready, a send with nothing ahead of it is handed on within enqueue; one behind another frame waits for it", async () => {
  let open!: () => void;
  const { connection: c } = connect(10, 100, new Promise<void>((resolve) => (open = resolve)));
  const log: string[] = [];
  c.enqueue(async () => void log.push("before ready"), true);
  await Bun.sleep(0);
  expect(log).toEqual([]);
  open();
  await c.idle();
  expect(log).toEqual(["before ready"]);

  c.enqueue(async () => void log.push("a"), true);
  expect(log).toEqual(["before ready", "a"]); // no turn of the chain first
  let release!: () => void;
  c.enqueue(async () => {
    log.push("read start");
    await new Promise<void>((resolve) => (release = resolve));
    log.push("read end");
  });
  c.enqueue(async () => void log.push("b"), true);
  await Bun.sleep(0);
  expect(log).toEqual(["before ready", "a", "read start"]);
  release();
  await c.idle();
  expect(log).toEqual(["before ready", "a", "read start", "read end", "b"]);

  c.enqueue(async () => void log.push("c"), true);
  expect(log.at(-1)).toBe("c");
  await c.idle();
  expect(c.busy).toBe(false);

  // A closed socket's send is not carried out, and leaves nothing pending.
  c.disconnect(1000, "bye");
  c.enqueue(async () => void log.push("after close"), true);
  await c.idle();
  expect(log.at(-1)).toBe("c");
  expect(c.busy).toBe(false);
});

test("a pipelined send that throws closes the socket with 1011; idle waits for sends in flight", async () => {
  const { connection: c, socket } = connect();
  let release!: () => void;
  let acked = false;
  c.enqueue(async () => {
    await new Promise<void>((resolve) => (release = resolve));
    acked = true;
  }, true);
  const idle = c.idle().then(() => acked);
  await Bun.sleep(0);
  release();
  expect(await idle).toBe(true);
  c.enqueue(async () => {
    throw new Error("boom");
  }, true);
  await c.idle();
  expect(socket.closedWith).toEqual([1011, "internal error"]);
  expect(c.busy).toBe(false);
});

test("a paced send waits while the socket is backed up and goes out once it drains", async () => {
  const { connection: c, socket } = connect(10, 100);
  socket.buffered = 500;
  let done = false;
  const sending = c.sendPaced("frame").then((ok) => ((done = true), ok));
  await Bun.sleep(0);
  expect(done).toBe(false);
  expect(socket.sent).toEqual([]);
  socket.buffered = 0;
  c.drain();
  expect(await sending).toBe(true);
  expect(socket.sent).toEqual(["frame"]);
});

test("a paced send that waits on a socket that closes gives up", async () => {
  const { connection: c, socket, handler } = connect(10, 100);
  socket.buffered = 500;
  const sending = c.sendPaced("frame");
  c.close();
  expect(await sending).toBe(false);
  expect(handler.closes).toBe(1);
  expect(socket.sent).toEqual([]);
});

test("frames sent in one turn of the event loop leave together, corked, in order; a paced send and a close write them first", async () => {
  const { connection: c, socket } = connect();
  c.send({ n: 1 });
  c.send({ n: 2 });
  c.send({ n: 3 });
  expect(socket.sent).toEqual([]);
  await new Promise((resolve) => setImmediate(resolve));
  expect(socket.sent).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
  expect(socket.corked).toBe(1);

  c.send({ n: 4 });
  expect(await c.sendPaced("paced")).toBe(true);
  expect(socket.sent.slice(3)).toEqual(['{"n":4}', "paced"]);

  c.send({ n: 5 });
  c.disconnect(1001, "server shutting down");
  expect(socket.sent.slice(5)).toEqual(['{"n":5}']);
  expect(socket.closedWith).toEqual([1001, "server shutting down"]);
  // Closed: nothing more is written, not even at the end of the turn.
  c.send({ n: 6 });
  await new Promise((resolve) => setImmediate(resolve));
  expect(socket.sent).toHaveLength(6);
});
