import type { Logger } from "../logger";
import { RedisBroker } from "./redis-broker";
import { RedisBus } from "./redis-bus";
import { RedisLimits } from "./redis-limits";
import { RedisPresence, type RedisPresenceOptions } from "./redis-presence";

export interface RedisCluster {
  broker: RedisBroker;
  presence: RedisPresence;
  /** Rate limits, login slow-downs and typing throttles counted for every process. */
  limits: RedisLimits;
  /** Closes the connections; the real-time layer has closed the broker and presence first. */
  close(): Promise<void>;
}

/** What REDIS_URL turns on: events, presence and limits shared with every other process on this Redis. */
export async function connectRedis(url: string, logger: Logger, options: RedisPresenceOptions = {}): Promise<RedisCluster> {
  const bus = await RedisBus.connect(url, logger);
  try {
    const broker = await RedisBroker.create(bus);
    const presence = await RedisPresence.create(bus, logger, options);
    return { broker, presence, limits: new RedisLimits(bus, logger), close: () => bus.close() };
  } catch (error) {
    await bus.close();
    throw error;
  }
}
