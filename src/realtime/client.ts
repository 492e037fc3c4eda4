import type { Connection } from "./hub";
import { CloseCode } from "./protocol";

/**
 * One socket's flow control: its frames are handled in arrival order, their rate is
 * limited, and long replies wait for the socket to drain instead of overrunning its buffer.
 *
 * Sends are pipelined: a `message.send` is handed to the message writer and the next send
 * is taken at once, so a client's burst shares one group commit instead of one commit each
 * (the writer keeps their order: two sends from one tab still commit in the order typed).
 * Any other frame waits until the sends before it are committed and acknowledged.
 */
export class Client {
  private tail: Promise<void>;
  private pending = 0;
  private tokens: number;
  private refilledAt = performance.now();
  private waiters: (() => void)[] = [];
  /** Sends handed to the writer and not yet acknowledged (made on the first send: most sockets sit idle). */
  private sending: Set<Promise<void>> | null = null;
  /** Tasks on `tail` that have not finished (the ready promise counts as one until it settles). */
  private chained = 1;

  constructor(
    readonly conn: Connection,
    /** Frames per second a socket may send, in bursts of as many; 0 means no limit. */
    private readonly framesPerSecond: number,
    /** Buffered bytes above which a long reply waits for `drain`. */
    private readonly highWater: number,
    /** Settles when the socket is subscribed and told `ready`; frames wait for it. */
    ready: Promise<void>,
  ) {
    this.tokens = framesPerSecond;
    this.tail = ready.finally(() => this.chained--);
  }

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
      if (this.conn.closed) return;
      if (pipelined) {
        handedOn = true;
        return this.handOn(task);
      }
      if (this.sending?.size) await Promise.all(this.sending);
      if (!this.conn.closed) await task();
    };
    this.tail = this.tail
      .then(run)
      .catch(() => this.fail())
      .finally(() => {
        this.chained--;
        if (!handedOn) this.pending--;
      });
  }

  /** Starts a send and keeps it among those in flight: a later send does not wait for its answer, other frames do. */
  private handOn(task: () => Promise<void>): void {
    if (this.conn.closed) return void this.pending--;
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
    this.conn.close(CloseCode.internal, "internal error");
  }

  /** Settles when every frame received so far has been handled (sends acknowledged). */
  async idle(): Promise<void> {
    await this.tail;
    if (this.sending?.size) await Promise.all(this.sending);
    this.conn.flush();
  }

  get busy(): boolean {
    return this.pending > 0;
  }

  /** Sends a frame at the end of this turn of the event loop, after the ones sent before it (see Connection.post). */
  send(frame: object): void {
    if (!this.conn.closed) this.conn.post(JSON.stringify(frame));
  }

  /** The same, for a frame already encoded. */
  sendText(text: string): void {
    if (!this.conn.closed) this.conn.post(text);
  }

  /** Sends a frame of a long reply, waiting for the socket to drain first when it is backed up. */
  async sendPaced(text: string): Promise<boolean> {
    while (!this.conn.closed && this.conn.socket.getBufferedAmount() > this.highWater)
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.conn.closed) return false;
    this.conn.flush();
    this.conn.socket.send(text);
    return true;
  }

  /** Bun says the socket can take more. */
  drained(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** The socket closed: nothing waits for it any more. */
  closed(): void {
    this.drained();
  }
}
