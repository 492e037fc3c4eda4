/**
 * One WebSocket as the real-time layer holds it: who opened it, the rooms it receives, the
 * frames it writes and the frames it reads. The hub files it by user and room; Bun keeps it
 * as the socket's `data` once open (see gateway.ts), so its frames and its close reach it directly.
 */
import { CloseCode } from "./protocol";

/** What the real-time layer needs of a socket: the few methods of Bun's ServerWebSocket used here. */
export interface Socket {
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Bytes sent, -1 when queued behind backpressure, 0 when dropped. */
  send(data: string): number;
  getBufferedAmount(): number;
  close(code?: number, reason?: string): void;
  /** Runs `callback` with the socket corked: what it sends goes out in one write. */
  cork(callback: () => unknown): unknown;
}

/** Where a connection's incoming frames and its close go (the real-time layer). */
export interface ConnectionHandler {
  message(connection: Connection, data: unknown): void;
  close(connection: Connection, code?: number): void;
}

export interface ConnectionOptions {
  handler: ConnectionHandler;
  /** Frames per second the socket may send, in bursts of as many; 0 means no limit. */
  framesPerSecond: number;
  /** Buffered bytes above which a long reply waits for `drain`. */
  highWater: number;
  /** Settles when the socket is subscribed and told `ready`; frames wait for it. */
  ready: Promise<void>;
  /** The client address the upgrade came from (see plugins/client-address.ts). */
  address?: string;
  /** A room-scoped socket (/ws/rooms/:id): the one room it receives events of. */
  scope?: string;
}

/** Connections with frames posted in this turn of the event loop, written out by one setImmediate. */
let toFlush: Connection[] = [];

function flushPosted() {
  const connections = toFlush;
  toFlush = [];
  for (const connection of connections) connection.flush();
}

/**
 * Frames from the socket are handled in arrival order, their rate is limited, and long
 * replies wait for the socket to drain instead of overrunning its buffer.
 *
 * Sends are pipelined: a `message.send` is handed to the message writer and the next send
 * is taken at once, so a burst of sends from one socket shares a group commit (the writer
 * keeps their order: two sends from one tab commit in the order typed). Any other frame
 * waits until the sends before it are committed and acknowledged.
 */
export class Connection<S extends Socket = Socket> {
  /** The rooms this socket receives events of. */
  readonly rooms = new Set<string>();
  /** Subscribed to its topics and told `ready`; until then joins and leaves are only recorded. */
  active = false;
  /** Closed or gone: nothing more is sent to it or handled for it. */
  closed = false;
  /** Rooms joined or left while the initial room list was loading (see touch); null when none was. */
  touched: Set<string> | null = null;
  /** The client address the upgrade came from; "" when unknown. */
  readonly address: string;
  /**
   * Set for a room-scoped socket: it receives that room's events only (not its user's own
   * channel, not presence, not other rooms it joins), and is closed once it loses the room.
   */
  readonly scope: string | undefined;
  /** Frames posted in this turn of the event loop, not yet written. */
  private posted: string[] | null = null;
  /**
   * While a `sync` replays (see Hub.hold): the room events that arrived meanwhile, in order, to be
   * written once it is done, so that no replayed copy read earlier overtakes them. Null otherwise.
   */
  held: string[] | null = null;
  /** Bytes of `held`. */
  heldBytes = 0;

  private readonly handler: ConnectionHandler;
  /** Frames per second the socket may send; 0 means no limit. */
  private readonly framesPerSecond: number;
  private readonly highWater: number;
  private tokens: number;
  private refilledAt = performance.now();
  /** Received frames not yet handled (sends until acknowledged). */
  private pending = 0;
  private tail: Promise<void>;
  /** Tasks on `tail` that have not finished (the ready promise counts as one until it settles). */
  private chained = 1;
  /** Sends handed to the writer and not yet acknowledged (made on the first send: most sockets sit idle). */
  private sending: Set<Promise<void>> | null = null;
  /** Paced sends waiting for the socket to drain; null when none is. */
  private waiters: (() => void)[] | null = null;

  constructor(
    readonly socket: S,
    readonly userId: string,
    readonly sessionId: string,
    options: ConnectionOptions,
  ) {
    this.handler = options.handler;
    this.address = options.address ?? "";
    this.scope = options.scope;
    this.framesPerSecond = options.framesPerSecond;
    this.highWater = options.highWater;
    this.tokens = options.framesPerSecond;
    this.tail = options.ready.finally(() => this.chained--);
  }

  // ---- Bun's WebSocket events (Elysia's server-wide handler calls them on `ws.data`) ----

  message(_ws: unknown, data: unknown): void {
    this.handler.message(this, data);
  }

  /** The socket can take more: paced sends go on. */
  drain(): void {
    this.wake();
  }

  /** The socket closed (with `code`): nothing is sent or handled any more, and nothing waits for it. */
  close(_ws?: unknown, code?: number): void {
    this.closed = true;
    this.wake();
    this.handler.close(this, code);
  }

  /** The room was joined or left: while the socket is not yet active, that change is newer than its room list. */
  touch(roomId: string): void {
    if (!this.active) (this.touched ??= new Set()).add(roomId);
  }

  // ---- writing ----

  /**
   * Sends `text` at the end of this turn of the event loop, corked together with the socket's
   * other posted frames: a group commit acknowledges many sends at once, and a socket's acks
   * of one commit leave in one write. Frames keep the order they were posted in.
   */
  post(text: string): void {
    if (this.closed) return;
    if (this.posted) return void this.posted.push(text);
    this.posted = [text];
    if (toFlush.length === 0) setImmediate(flushPosted);
    toFlush.push(this);
  }

  /** Posts a frame (see post). */
  send(frame: object): void {
    if (!this.closed) this.post(JSON.stringify(frame));
  }

  /** Writes the posted frames now (before a frame sent directly, or a close). */
  flush(): void {
    const posted = this.posted;
    if (!posted) return;
    this.posted = null;
    if (this.closed) return;
    if (posted.length === 1) this.socket.send(posted[0]!);
    else this.socket.cork(() => posted.forEach((text) => this.socket.send(text)));
  }

  /** Writes `texts` now, after what was posted, in one write. */
  writeNow(texts: string[]): void {
    this.flush();
    if (this.closed || texts.length === 0) return;
    this.socket.cork(() => texts.forEach((text) => this.socket.send(text)));
  }

  /** Sends a frame of a long reply, waiting for the socket to drain first when it is backed up. */
  async sendPaced(text: string): Promise<boolean> {
    while (!this.closed && this.socket.getBufferedAmount() > this.highWater)
      await new Promise<void>((resolve) => (this.waiters ??= []).push(resolve));
    if (this.closed) return false;
    this.flush();
    this.socket.send(text);
    return true;
  }

  /** Closes the socket after writing what was posted to it; nothing more is sent or handled. */
  disconnect(code: number, reason: string): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.socket.close(code, reason);
  }

  /** Backed up: the kernel buffer is full and Bun is queueing this socket's frames. */
  get congested(): boolean {
    return this.socket.getBufferedAmount() > 0;
  }

  // ---- reading ----

  /** Takes one frame from the socket's allowance; false means it is flooding. */
  allowFrame(now = performance.now()): boolean {
    if (this.framesPerSecond === 0) return true;
    this.tokens = Math.min(this.framesPerSecond, this.tokens + ((now - this.refilledAt) * this.framesPerSecond) / 1000);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Runs `task` after every frame received before it. Tasks report their own failures as
   * error frames; one that throws anyway leaves the socket in an unknown state, so it is closed.
   *
   * A `pipelined` task (a send) must have handed its work on by the time it returns its
   * promise, before its first await: the next task starts then, without waiting for it.
   * With nothing queued or running ahead of it (the usual case for a sender) it starts
   * within this call, not a turn of the promise chain later.
   */
  enqueue(task: () => Promise<void>, pipelined = false): void {
    this.pending++;
    if (pipelined && this.chained === 0) return this.handOn(task);
    this.chained++;
    let handedOn = false;
    const run = async () => {
      if (this.closed) return;
      if (pipelined) {
        handedOn = true;
        return this.handOn(task);
      }
      if (this.sending?.size) await Promise.all(this.sending);
      if (!this.closed) await task();
    };
    this.tail = this.tail
      .then(run)
      .catch(() => this.fail())
      .finally(() => {
        this.chained--;
        if (!handedOn) this.pending--;
      });
  }

  /** Settles when every frame received so far has been handled (sends acknowledged). */
  async idle(): Promise<void> {
    await this.tail;
    if (this.sending?.size) await Promise.all(this.sending);
    this.flush();
  }

  get busy(): boolean {
    return this.pending > 0;
  }

  /** Starts a send and keeps it among those in flight: a later send does not wait for its answer, other frames do. */
  private handOn(task: () => Promise<void>): void {
    if (this.closed) return void this.pending--;
    const sending = (this.sending ??= new Set());
    const done: Promise<void> = task()
      .catch(() => this.fail())
      .finally(() => {
        sending.delete(done);
        this.pending--;
      });
    sending.add(done);
  }

  private fail() {
    this.disconnect(CloseCode.internal, "internal error");
  }

  private wake() {
    const waiters = this.waiters;
    this.waiters = null;
    if (waiters) for (const wake of waiters) wake();
  }
}
