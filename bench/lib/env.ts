/** The environment the benchmarks start our server with: a SQLite file, every rate limit off. */
export const BENCH_JWT_SECRET = "bench-secret-bench-secret-bench-secret-0123456789";
export const BENCH_TOKEN_TTL = 7200;

export function serverEnv(dbPath: string): Record<string, string> {
  return {
    DATABASE_URL: `sqlite://${dbPath}`,
    JWT_SECRET: BENCH_JWT_SECRET,
    ACCESS_TOKEN_TTL: String(BENCH_TOKEN_TTL),
    RATE_LIMIT_AUTH: "0",
    RATE_LIMIT_ANON: "0",
    RATE_LIMIT_SEARCH: "0",
    WS_MAX_PER_USER: "0",
    WS_MAX_PER_ADDRESS: "0",
    WS_SYNC_RATE_LIMIT: "0",
    RATE_LIMIT_MESSAGES: "0",
    WS_RATE_LIMIT: "0",
    // Users go offline as their sockets close, inside the scenario that closes them, not seconds
    // later in the middle of the next one.
    PRESENCE_GRACE_MS: "0",
    LOG_LEVEL: "warn",
    // Registration speed only: the message path never hashes passwords.
    PASSWORD_MEMORY_KIB: "1024",
    PASSWORD_TIME_COST: "1",
  };
}
