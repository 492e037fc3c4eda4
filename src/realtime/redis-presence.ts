import type { Logger } from "../logger";
import type { PresenceCluster } from "./presence-cluster";
import type { RedisBus } from "./redis-bus";

export interface RedisPresenceOptions {
  /** Key and channel prefix. */
  prefix?: string;
  /** How often this process says it is alive (and looks for processes that stopped). */
  heartbeatMs?: number;
  /** A process silent for this long is dead: its users go offline unless online elsewhere. */
  staleMs?: number;
}

/*
 * In Redis, per process P: `<prefix>:proc:<P>`, a hash of the users with a socket on P (or
 * within P's grace period), and P's last heartbeat in the sorted set `<prefix>:procs`.
 * Scripts run atomically and read Redis's clock, so two processes never both think they
 * are a user's first or last, and clocks of different hosts need not agree.
 */
const NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)";
const LIVE = "local live = redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[3]), '+inf')";
const ELSEWHERE = `
local function elsewhere(user)
  for _, p in ipairs(live) do
    if p ~= ARGV[2] and redis.call('HEXISTS', ARGV[1] .. ':proc:' .. p, user) == 1 then return true end
  end
  return false
end`;

/** ARGV: prefix, proc, staleMs, ttlMs, user. 1 when the user was online on no other live process. */
const CLAIM = `${NOW} ${LIVE} ${ELSEWHERE}
local key = ARGV[1] .. ':proc:' .. ARGV[2]
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('HSET', key, ARGV[5], '1')
redis.call('PEXPIRE', key, ARGV[4])
if elsewhere(ARGV[5]) then return 0 end
return 1`;

/** ARGV: prefix, proc, staleMs, ttlMs, user. 1 when the user is now online on no live process. */
const RELEASE = `${NOW} ${LIVE} ${ELSEWHERE}
redis.call('HDEL', ARGV[1] .. ':proc:' .. ARGV[2], ARGV[5])
if elsewhere(ARGV[5]) then return 0 end
return 1`;

/**
 * ARGV: prefix, proc, staleMs, ttlMs, users… (this process's, when writing them again because
 * Redis lost them). Returns { was this process missing (1/0), live processes, stale processes }.
 */
const HEARTBEAT = `${NOW} ${LIVE}
local key = ARGV[1] .. ':proc:' .. ARGV[2]
local missing = redis.call('ZADD', KEYS[1], now, ARGV[2])
for i = 5, #ARGV, 500 do
  local batch = {}
  for j = i, math.min(i + 499, #ARGV) do
    table.insert(batch, ARGV[j])
    table.insert(batch, '1')
  end
  redis.call('HSET', key, unpack(batch))
end
redis.call('PEXPIRE', key, ARGV[4])
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[3])))
return { missing, live, stale }`;

/**
 * ARGV: prefix, proc (the one doing it), staleMs, ttlMs, dead proc. Removes a dead process
 * once (nil when it is alive again or already removed) and returns its users who are online
 * on no live process.
 */
const REAP = `${NOW}
local score = redis.call('ZSCORE', KEYS[1], ARGV[5])
if not score or tonumber(score) >= now - tonumber(ARGV[3]) then return nil end
redis.call('ZREM', KEYS[1], ARGV[5])
local key = ARGV[1] .. ':proc:' .. ARGV[5]
local users = redis.call('HKEYS', key)
redis.call('DEL', key)
${LIVE}
local gone = {}
for _, user in ipairs(users) do
  local found = false
  for _, p in ipairs(live) do
    if redis.call('HEXISTS', ARGV[1] .. ':proc:' .. p, user) == 1 then found = true break end
  end
  if not found then table.insert(gone, user) end
end
return gone`;

type Note =
  | { t: "on" | "off"; p: string; u: string }
  | { t: "hello"; p: string }
  | { t: "state"; p: string; users: string[] }
  | { t: "gone"; p: string };

/**
 * Presence across processes. Each process knows which users have sockets on every other
 * process (from their notes on a Redis channel), so `isOnlineElsewhere` answers without a
 * round trip; whether a user's first socket anywhere opened, or their last one anywhere
 * closed, is decided atomically in Redis, so exactly one process announces it. A process
 * that dies stops its heartbeat; after `staleMs` another process removes it and announces
 * its users offline (unless they are online elsewhere).
 */
export class RedisPresence implements PresenceCluster {
  readonly proc = Bun.randomUUIDv7();
  private readonly prefix: string;
  private readonly procsKey: string;
  private readonly channel: string;
  private readonly heartbeatMs: number;
  private readonly staleMs: number;
  /** Users claimed here and not yet released. */
  private readonly mine = new Set<string>();
  /** Other processes' users, as their notes told. */
  private readonly remote = new Map<string, Set<string>>();
  private goneHandler: (userIds: string[]) => void = () => {};
  private timer: Timer | null = null;
  private beating: Promise<void> | null = null;

  private constructor(
    private readonly bus: RedisBus,
    private readonly logger: Logger,
    options: RedisPresenceOptions,
  ) {
    this.prefix = options.prefix ?? "bunchat:presence";
    this.procsKey = `${this.prefix}:procs`;
    this.channel = `${this.prefix}:notes`;
    this.heartbeatMs = options.heartbeatMs ?? 5000;
    this.staleMs = options.staleMs ?? 15_000;
  }

  static async create(bus: RedisBus, logger: Logger, options: RedisPresenceOptions = {}): Promise<RedisPresence> {
    const presence = new RedisPresence(bus, logger, options);
    await bus.listen(presence.channel, (raw) => presence.receive(raw));
    bus.onResubscribed(() => presence.rejoin());
    await presence.rejoin();
    presence.timer = setInterval(() => void presence.heartbeat(), presence.heartbeatMs);
    return presence;
  }

  /** Called with users announced offline because the process holding them died. */
  onGone(handler: (userIds: string[]) => void): void {
    this.goneHandler = handler;
  }

  isOnlineElsewhere(userId: string): boolean {
    for (const users of this.remote.values()) if (users.has(userId)) return true;
    return false;
  }

  async claim(userId: string): Promise<boolean> {
    this.mine.add(userId);
    const first = await this.script(CLAIM, userId);
    this.note({ t: "on", p: this.proc, u: userId });
    return first === 1;
  }

  async release(userId: string): Promise<boolean> {
    this.mine.delete(userId);
    const last = await this.script(RELEASE, userId);
    this.note({ t: "off", p: this.proc, u: userId });
    return last === 1;
  }

  /**
   * Stops the heartbeat. The registration stays until it goes stale, so users of this process
   * look online to the others for that long: time to reconnect elsewhere without flickering.
   */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beating;
  }

  /** Registers this process's users again (Redis may have lost them) and asks the others for theirs. */
  private async rejoin() {
    await this.heartbeat();
    this.note({ t: "hello", p: this.proc });
    this.note({ t: "state", p: this.proc, users: [...this.mine] });
  }

  private heartbeat(): Promise<void> {
    this.beating ??= this.beat().finally(() => (this.beating = null));
    return this.beating;
  }

  private async beat() {
    try {
      let [missing, live, stale] = (await this.script(HEARTBEAT)) as [number, string[], string[]];
      if (missing === 1 && this.mine.size > 0) {
        // Redis lost this process (restarted without its data): write its users again.
        [missing, live, stale] = (await this.script(HEARTBEAT, ...this.mine)) as [number, string[], string[]];
        this.note({ t: "state", p: this.proc, users: [...this.mine] });
      }
      const alive = new Set(live);
      for (const proc of this.remote.keys()) if (!alive.has(proc)) this.remote.delete(proc);
      for (const dead of stale) {
        const gone = (await this.bus.commands.send("EVAL", [REAP, "1", this.procsKey, ...this.args(dead)])) as string[] | null;
        if (gone === null) continue;
        this.logger.info("removed a process that stopped answering", { proc: dead, offline: gone.length });
        this.remote.delete(dead);
        this.note({ t: "gone", p: dead });
        if (gone.length > 0) this.goneHandler(gone);
      }
    } catch (error) {
      this.logger.warn("presence heartbeat failed", { error: String(error) });
    }
  }

  private script(body: string, ...rest: string[]): Promise<unknown> {
    return this.bus.commands.send("EVAL", [body, "1", this.procsKey, ...this.args(...rest)]);
  }

  private args(...rest: string[]): string[] {
    return [this.prefix, this.proc, String(this.staleMs), String(this.staleMs * 4), ...rest];
  }

  private note(note: Note) {
    this.bus.publish(this.channel, JSON.stringify(note));
  }

  private receive(raw: string) {
    let note: Note;
    try {
      note = JSON.parse(raw);
    } catch {
      return;
    }
    if (note.p === this.proc) return;
    switch (note.t) {
      case "on":
        this.usersOf(note.p).add(note.u);
        return;
      case "off":
        this.remote.get(note.p)?.delete(note.u);
        return;
      case "state":
        this.remote.set(note.p, new Set(note.users));
        return;
      case "hello":
        // A process (re)joined and knows nothing of ours yet.
        this.note({ t: "state", p: this.proc, users: [...this.mine] });
        return;
      case "gone":
        this.remote.delete(note.p);
        return;
    }
  }

  private usersOf(proc: string): Set<string> {
    let users = this.remote.get(proc);
    if (!users) this.remote.set(proc, (users = new Set()));
    return users;
  }
}
