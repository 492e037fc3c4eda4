import type { Broker, BrokerMessage } from "./broker";
import type { RedisBus } from "./redis-bus";

/**
 * Several processes behind a load balancer: every publish reaches this process's own
 * subscribers at once (synchronously, as with one process) and every other process
 * through one Redis channel. Each process tags what it publishes with its own id and
 * ignores its echo, so nothing is delivered twice. Messages from one process arrive
 * everywhere in the order it published them (one connection publishes, one subscribes).
 */
export class RedisBroker implements Broker {
  /** This process, as its messages say. */
  readonly origin = Bun.randomUUIDv7();
  private readonly handlers = new Set<(message: BrokerMessage) => void>();

  private constructor(
    private readonly bus: RedisBus,
    private readonly channel: string,
  ) {}

  static async create(bus: RedisBus, channel = "bunchat:events"): Promise<RedisBroker> {
    const broker = new RedisBroker(bus, channel);
    await bus.listen(channel, (raw) => broker.receive(raw));
    return broker;
  }

  publish(message: BrokerMessage): void {
    this.deliver(message);
    this.bus.publish(this.channel, `${this.origin}\n${JSON.stringify(message)}`);
  }

  subscribe(handler: (message: BrokerMessage) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Stops delivering; the bus is closed by whoever opened it. */
  async close(): Promise<void> {
    this.handlers.clear();
  }

  private receive(raw: string) {
    const cut = raw.indexOf("\n");
    if (cut < 0 || raw.startsWith(this.origin)) return;
    let message: BrokerMessage;
    try {
      message = JSON.parse(raw.slice(cut + 1));
    } catch {
      return; // not ours: the channel is shared only by bunchat processes
    }
    this.deliver(message);
  }

  private deliver(message: BrokerMessage) {
    for (const handler of this.handlers) handler(message);
  }
}
