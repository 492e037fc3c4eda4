import type { Connection } from "./hub";
import { CloseCode } from "./protocol";

/**
 * One socket's flow control: its frames are handled one at a time in arrival order
 * (so two sends from one tab commit in the order typed), their rate is limited, and
 * long replies wait for the socket to drain instead of overrunning its buffer.
 */
export class Client {
  private tail: Promise<void>;
  private pending = 0;
  private tokens: number;
  private refilledAt = performance.now();
  private waiters: (() => void)[] = [];

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
    this.tail = ready;
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
   */
  enqueue(task: () => Promise<void>): void {
    this.pending++;
    this.tail = this.tail
      .then(() => (this.conn.closed ? undefined : task()))
      .catch(() => {
        if (this.conn.closed) return;
        this.conn.closed = true;
        this.conn.socket.close(CloseCode.internal, "internal error");
      })
      .finally(() => {
        this.pending--;
      });
  }

  /** Settles when every frame received so far has been handled. */
  idle(): Promise<void> {
    return this.tail;
  }

  get busy(): boolean {
    return this.pending > 0;
  }

  send(frame: object): void {
    if (!this.conn.closed) this.conn.socket.send(JSON.stringify(frame));
  }

  /** Sends a frame of a long reply, waiting for the socket to drain first when it is backed up. */
  async sendPaced(text: string): Promise<boolean> {
    while (!this.conn.closed && this.conn.socket.getBufferedAmount() > this.highWater)
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.conn.closed) return false;
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
