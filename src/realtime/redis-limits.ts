import type { Logger } from "../logger";
import type { LoginRule, SharedCounters } from "../plugins/rate-limit";
import type { RedisBus } from "./redis-bus";

/** How long a counter may take to answer before this process counts alone for that request. */
const ANSWER_MS = 500;

/* Scripts read Redis's clock, so the processes' own clocks need not agree. */
const NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)";

/**
 * Token buckets kept as the time their tokens are all spent by (GCRA): the same buckets as
 * RateLimiter's. ARGV: capacity, windowMs, then per key the tokens asked for. Per key, the
 * tokens taken (the first ones asked for) and the ms until the next one is free (0 when all were).
 */
const TAKE = `${NOW}
local window = tonumber(ARGV[2])
local interval = window / tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local taken = 0
  for _ = 1, tonumber(ARGV[i + 2]) do
    if tat + interval - now > window then break end
    tat = tat + interval
    taken = taken + 1
  end
  if taken > 0 then redis.call('SET', key, string.format('%.3f', tat), 'PX', math.max(1, math.ceil(tat - now))) end
  local wait = 0
  if taken < tonumber(ARGV[i + 2]) then wait = math.max(1, math.ceil(tat + interval - now - window)) end
  out[#out + 1] = taken
  out[#out + 1] = wait
end
return out`;

/** ARGV: free, windowMs, maxLockMs. 0 when the failure was counted, else the ms its lock has left. */
const FAILURE = `${NOW}
local h = redis.call('HMGET', KEYS[1], 'count', 'until', 'last')
local count, locked, last = tonumber(h[1]) or 0, tonumber(h[2]) or 0, tonumber(h[3]) or 0
if locked > now then return locked - now end
local window, maxlock = tonumber(ARGV[2]), tonumber(ARGV[3])
if count == 0 or now - last > window then count = 0 locked = 0 end
count = count + 1
local over = count - tonumber(ARGV[1])
if over >= 0 then locked = now + math.min(1000 * 2 ^ math.min(over, 40), maxlock) end
redis.call('HSET', KEYS[1], 'count', count, 'until', locked, 'last', now)
redis.call('PEXPIRE', KEYS[1], window + maxlock)
return 0`;

const sha1 = (text: string) => new Bun.CryptoHasher("sha1").update(text).digest("hex");

/**
 * Rate limits, login slow-downs and throttles counted in Redis, for every process at once.
 * While Redis cannot be reached (not connected, an error, no answer within ANSWER_MS) every
 * answer is null and the callers count in their own process: one warning says so when that
 * starts and one line when the shared counts are back.
 */
export class RedisLimits implements SharedCounters {
  private readonly prefix: string;
  private readonly shas = new Map<string, string>();
  private down = false;

  constructor(
    private readonly bus: RedisBus,
    private readonly logger: Logger,
    prefix = "bunchat:limit",
  ) {
    this.prefix = prefix;
    for (const script of [TAKE, FAILURE]) this.shas.set(script, sha1(script));
  }

  async take(keys: string[], capacity: number, windowMs: number): Promise<number[] | null> {
    // One script for the whole batch: each key once, with how many of its requests are asked.
    const asked = new Map<string, number>();
    for (const key of keys) asked.set(key, (asked.get(key) ?? 0) + 1);
    const names = [...asked.keys()];
    const reply = await this.answer(
      () => this.script(TAKE, names.map((key) => this.key(key)), [String(capacity), String(windowMs), ...asked.values()].map(String)) as Promise<number[]>,
    );
    if (!reply) return null;
    const left = new Map(names.map((key, i) => [key, { taken: reply[2 * i]!, wait: reply[2 * i + 1]! }]));
    // In the order asked: a key's first requests got its tokens, the rest wait.
    return keys.map((key) => {
      const entry = left.get(key)!;
      if (entry.taken > 0) {
        entry.taken--;
        return 0;
      }
      return entry.wait;
    });
  }

  async once(key: string, ms: number): Promise<boolean | null> {
    // SET … NX answers OK when it set the key, nothing when the key was there.
    return this.answer(async () => (await this.bus.commands.send("SET", [this.key(key), "1", "PX", String(Math.max(1, ms)), "NX"])) === "OK");
  }

  async failure(key: string, rule: LoginRule): Promise<number | null> {
    return this.answer(() => this.script(FAILURE, [this.key(key)], [String(rule.free), String(rule.windowMs), String(rule.maxLockMs)]) as Promise<number>);
  }

  async clear(key: string): Promise<void> {
    await this.answer(() => this.bus.commands.send("DEL", [this.key(key)]));
  }

  private key(key: string) {
    return `${this.prefix}:${key}`;
  }

  /** EVALSHA, loading the script with EVAL when Redis does not know it (first use, or after a restart). */
  private async script(body: string, keys: string[], args: string[]): Promise<unknown> {
    const rest = [String(keys.length), ...keys, ...args];
    try {
      return await this.bus.commands.send("EVALSHA", [this.shas.get(body)!, ...rest]);
    } catch (error) {
      if (!String(error).includes("NOSCRIPT")) throw error;
      return this.bus.commands.send("EVAL", [body, ...rest]);
    }
  }

  /**
   * The reply to `ask`, or null when Redis is not there: nothing is asked of a connection that
   * is down (it would be queued until Redis is back), and a reply that is late is not waited for.
   */
  private async answer<T>(ask: () => Promise<T>): Promise<T | null> {
    if (!this.bus.commands.connected) return this.unreachable("not connected");
    const reply = ask();
    let timer: Timer | undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(resolve, ANSWER_MS, "late")));
    try {
      const value = await Promise.race([reply, late]);
      if (value === "late") {
        reply.catch(() => {});
        return this.unreachable(`no answer within ${ANSWER_MS} ms`);
      }
      if (this.down) {
        this.down = false;
        this.logger.info("shared limits reachable again: counting across processes");
      }
      return value;
    } catch (error) {
      return this.unreachable(String(error));
    } finally {
      clearTimeout(timer);
    }
  }

  private unreachable(reason: string): null {
    if (!this.down) {
      this.down = true;
      this.logger.warn("shared limits unreachable: counting in this process until redis answers", { reason });
    }
    return null;
  }
}
