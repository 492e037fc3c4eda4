import { afterEach, expect, test } from "bun:test";
import net from "node:net";
import type { TestUser } from "../helpers";
import { eventually, type Frame, type LiveServer, startServer } from "./helpers";

let server: LiveServer;
let raw: RawClient | null = null;
afterEach(async () => {
  raw?.destroy();
  raw = null;
  await server?.close();
});

/**
 * A WebSocket client on a bare TCP socket that can stop reading, so that the kernel
 * buffers fill and the server sees backpressure — what a stalled phone on a bad network does.
 */
class RawClient {
  readonly frames: Frame[] = [];
  private buffer = Buffer.alloc(0);
  private upgraded = false;
  ended = false;
  closeFrame: { code: number; reason: string } | null = null;

  constructor(private readonly socket: net.Socket) {
    socket.on("data", (chunk) => this.feed(Buffer.from(chunk)));
    socket.on("close", () => (this.ended = true));
    socket.on("error", () => (this.ended = true));
  }

  static connect(port: number, token: string): RawClient {
    const socket = net.connect(port, "127.0.0.1");
    const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
    socket.write(
      `GET /ws?token=${token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    return new RawClient(socket);
  }

  pause() {
    this.socket.pause();
  }
  resume() {
    this.socket.resume();
  }
  destroy() {
    this.socket.destroy();
  }

  private feed(chunk: Buffer) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    if (!this.upgraded) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      if (!this.buffer.subarray(0, end).toString().startsWith("HTTP/1.1 101")) throw new Error("upgrade refused");
      this.upgraded = true;
      this.buffer = this.buffer.subarray(end + 4);
    }
    // Server frames are unmasked: opcode, 7/16/64-bit length, payload.
    for (;;) {
      if (this.buffer.length < 2) return;
      const opcode = this.buffer[0]! & 0x0f;
      let length = this.buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) return;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) return;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.buffer.length < offset + length) return;
      const payload = this.buffer.subarray(offset, offset + length);
      this.buffer = this.buffer.subarray(offset + length);
      if (opcode === 1) this.frames.push(JSON.parse(payload.toString()));
      if (opcode === 8) this.closeFrame = { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString() };
    }
  }
}

async function room(owner: TestUser, members: TestUser[]): Promise<string> {
  const res = await server.call("POST", "/api/rooms", { token: owner.token, body: { name: "room", memberIds: members.map((m) => m.id) } });
  return res.body.id;
}

test("a backed-up socket loses typing and presence frames but no message; past the limit it is closed", async () => {
  const limit = 512 * 1024;
  server = await startServer({ limits: { wsBackpressureLimit: limit } as never });
  const [a, r, d] = [await server.user(), await server.user(), await server.user()];
  const roomId = await room(a, [r, d]);
  const a1 = await server.connect(a);
  raw = RawClient.connect(server.port, r.token);
  await eventually(() => raw!.frames.some((f) => f.type === "ready"), "the raw client's ready frame");
  raw.pause();

  const hub = server.services.realtime.hub;
  const rawConn = () => [...hub.connectionsOf(r.id)][0];
  const big = "x".repeat(4000);
  let sent = 0;
  const burst = async (count: number) => {
    await Promise.all(Array.from({ length: count }, () => server.services.messages.send(a.id, roomId, { content: big })));
    sent += count;
  };

  // Fill the kernel buffers until Bun queues well over a few frames for this socket, so that
  // the kernel taking some more of it cannot empty Bun's queue before the typing frame below.
  const margin = limit / 2;
  while (rawConn()!.socket.getBufferedAmount() < margin) {
    if (sent >= 5000) throw new Error("the socket never backed up");
    await burst(10);
  }
  expect(rawConn()!.socket.getBufferedAmount()).toBeLessThan(limit);

  // Ephemeral frames now skip it: typing from a, presence of d.
  a1.send({ type: "typing", roomId });
  await a1.barrier();
  await server.connect(d);
  await a1.next("presence", (f) => f.userId === d.id);
  // Nothing was sent to it since the burst, so its queue only shrank: still backed up now, it
  // was when the typing and presence frames went out.
  expect(rawConn()!.congested).toBe(true);
  // A message still goes through.
  await burst(1);
  const last = sent;

  raw.resume();
  await eventually(() => raw!.frames.some((f) => f.type === "message.new" && f.message.seq === last), `message ${last} on the raw client`, 10_000);
  const seqs = raw.frames.filter((f) => f.type === "message.new").map((f) => f.message.seq);
  expect(seqs).toEqual(Array.from({ length: last }, (_, i) => i + 1));
  expect(raw.frames.filter((f) => f.type === "typing")).toEqual([]);
  expect(raw.frames.filter((f) => f.type === "presence" && f.userId === d.id)).toEqual([]);

  // Stalled for good: past the limit the server gives up on it rather than drop a message.
  // On a new socket: this one has just read megabytes, and the kernel has grown its receive
  // buffer to match (tens of MiB on loopback), which would take a long burst to fill.
  raw.destroy();
  await eventually(() => !rawConn(), "the first raw socket to be gone");
  raw = RawClient.connect(server.port, r.token);
  await eventually(() => raw!.frames.some((f) => f.type === "ready"), "the second raw client's ready frame");
  raw.pause();
  const first = sent + 1;
  while (rawConn()) {
    if (sent >= first + 5000) throw new Error("the socket was never closed");
    await burst(10);
  }
  raw.resume();
  // Its buffer is past the limit, so the close frame itself may not fit: the connection just ends.
  await eventually(() => raw!.ended, "the connection to end", 10_000);
  if (raw.closeFrame) expect(raw.closeFrame.code).toBe(1008);
  // What did arrive is a gap-free run from the first message sent after it said ready: the
  // client resumes with sync from its last seq.
  const received = raw.frames.filter((f) => f.type === "message.new").map((f) => f.message.seq);
  expect(received.length).toBeGreaterThan(0);
  expect(received).toEqual(Array.from({ length: received.length }, (_, i) => first + i));
});

test("heartbeats: a socket that does not answer pings is closed after the idle timeout; a live one stays", async () => {
  server = await startServer({ limits: { wsIdleTimeout: 8 } as never });
  const [a, b] = [await server.user(), await server.user()];
  const live = await server.connect(a);
  raw = RawClient.connect(server.port, b.token); // reads frames but never answers a ping
  await eventually(() => raw!.frames.some((f) => f.type === "ready"), "the raw client's ready frame");
  await eventually(() => !server.services.realtime.hub.isConnected(b.id), "the silent socket to be dropped", 25_000);
  await eventually(() => raw!.ended, "the raw connection to end");
  await live.barrier();
  expect(live.isOpen).toBe(true);
}, 30_000);
