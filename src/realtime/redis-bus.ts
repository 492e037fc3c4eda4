import { RedisClient } from "bun";
import type { Logger } from "../logger";

/** How long to wait between our own reconnection attempts once Bun's have given up. */
const RECONNECT_MS = 1000;
/** How often the connections are looked at, so that an outage is logged while Bun reconnects quietly. */
const WATCH_MS = 1000;

/**
 * The two Redis connections a process shares between its broker and its presence registry:
 * one for commands and publishes, one that only subscribes (a subscribed connection can run
 * nothing else).
 *
 * Bun reconnects a dropped connection by itself but does not subscribe again, and keeps the
 * old listeners; after a Redis restart this re-subscribes every channel (dropping the stale
 * listeners first, so nothing is delivered twice) and then runs the `onResubscribed` hooks,
 * so that callers can restore state that Redis may have lost. Once Bun gives up reconnecting,
 * this keeps trying every second.
 */
export class RedisBus {
  readonly commands: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly channels = new Map<string, (message: string) => void>();
  private readonly resubscribedHooks: (() => void | Promise<void>)[] = [];
  private started = false;
  private closing = false;
  private readonly retrying = new Map<RedisClient, Timer>();
  private watch: Timer | null = null;
  /** An outage was logged and its end not yet. */
  private down = false;

  private constructor(
    url: string,
    private readonly logger: Logger,
  ) {
    const options = { connectionTimeout: 5000, autoReconnect: true, enableOfflineQueue: true };
    this.commands = new RedisClient(url, options);
    this.subscriber = new RedisClient(url, options);
    this.subscriber.onconnect = () => {
      if (this.started && !this.closing) void this.resubscribe();
    };
    this.commands.onconnect = () => {
      if (this.started && !this.closing) this.logger.info("redis reconnected");
    };
    for (const client of [this.commands, this.subscriber]) client.onclose = (error) => this.lost(client, error);
  }

  /**
   * Connects both connections; rejects when Redis cannot be reached within `timeoutMs` (Bun
   * alone would keep retrying for half a minute before giving up).
   */
  static async connect(url: string, logger: Logger, timeoutMs = 5000): Promise<RedisBus> {
    const bus = new RedisBus(url, logger);
    let timer: Timer | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from Redis within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([Promise.all([bus.commands.connect(), bus.subscriber.connect()]), late]);
    } catch (error) {
      await bus.close();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    bus.started = true;
    bus.watch = setInterval(() => bus.check(), WATCH_MS);
    bus.watch.unref();
    return bus;
  }

  /** Delivers every message published on `channel` (by any process) to `listener`. */
  async listen(channel: string, listener: (message: string) => void): Promise<void> {
    this.channels.set(channel, listener);
    await this.subscriber.subscribe(channel, listener);
  }

  /** Runs after every re-subscription that follows a lost connection. */
  onResubscribed(hook: () => void | Promise<void>): void {
    this.resubscribedHooks.push(hook);
  }

  /** Fire and forget: while Redis is unreachable the message is logged and dropped. */
  publish(channel: string, message: string): void {
    this.commands.publish(channel, message).catch((error) => {
      if (!this.closing) this.logger.warn("redis publish failed", { channel, error: String(error) });
    });
  }

  /** Settles once everything published before it has reached Redis (one connection answers in order). */
  async flush(): Promise<void> {
    await this.commands.send("PING", []);
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.watch) clearInterval(this.watch);
    for (const timer of this.retrying.values()) clearTimeout(timer);
    this.retrying.clear();
    this.commands.close();
    this.subscriber.close();
  }

  /** Logs the start and the end of an outage once each. */
  private check() {
    const up = this.commands.connected && this.subscriber.connected;
    if (!up && !this.down) {
      this.down = true;
      this.logger.warn("redis unreachable: events reach this process's own sockets only, limits are counted here, until it is back");
    } else if (up && this.down) {
      this.down = false;
      this.logger.info("redis reachable again");
    }
  }

  private async resubscribe() {
    try {
      for (const [channel, listener] of this.channels) {
        await this.subscriber.unsubscribe(channel);
        await this.subscriber.subscribe(channel, listener);
      }
      this.logger.info("redis resubscribed", { channels: [...this.channels.keys()] });
      for (const hook of this.resubscribedHooks) await hook();
    } catch (error) {
      // The connection dropped again mid-way; its next onconnect starts over.
      this.logger.warn("redis resubscribe failed", { error: String(error) });
    }
  }

  /** Bun calls onclose when it has given up reconnecting (or on close()): keep trying. */
  private lost(client: RedisClient, error: Error) {
    if (this.closing || !this.started || this.retrying.has(client)) return;
    this.logger.warn("redis connection lost; retrying", { error: error?.message });
    const timer = setTimeout(() => {
      this.retrying.delete(client);
      client.connect().catch((again) => this.lost(client, again));
    }, RECONNECT_MS);
    this.retrying.set(client, timer);
  }
}
