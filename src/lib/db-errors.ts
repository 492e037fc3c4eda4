/** Whether a database error (SQLite or PostgreSQL, wrapped by Drizzle or not) is a unique-constraint violation. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; errno?: unknown; message?: string; cause?: unknown } | undefined;
  if (!e) return false;
  if (e.code === "SQLITE_CONSTRAINT_UNIQUE" || e.code === "SQLITE_CONSTRAINT_PRIMARYKEY" || e.code === "23505") return true;
  // Bun's PostgreSQL errors carry the SQLSTATE in `errno`.
  if (e.errno === "23505") return true;
  if (typeof e.message === "string" && e.message.includes("UNIQUE constraint failed")) return true;
  return e.cause !== undefined && e.cause !== error && isUniqueViolation(e.cause);
}

/** The SQLSTATE of a PostgreSQL error, also when Drizzle has wrapped it. */
export function sqlState(error: unknown): string | undefined {
  for (let e = error as { errno?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++)
    if (typeof e.errno === "string" && /^[0-9A-Z]{5}$/.test(e.errno)) return e.errno;
  return undefined;
}

/** Bun's and the system's codes for a database that cannot be reached or cannot write now. */
const UNAVAILABLE_CODES = /^(ERR_POSTGRES_(CONNECTION_CLOSED|CONNECTION_REFUSED|CONNECTION_TIMEOUT|IDLE_TIMEOUT|LIFETIME_TIMEOUT|TLS_NOT_AVAILABLE)|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|ENOSPC|ConnectionRefused|ConnectionClosed|SQLITE_(FULL|IOERR.*|CANTOPEN.*|BUSY.*|LOCKED.*))$/;
/** SQLSTATE classes and states: connection exceptions, insufficient resources (disk full), shutdowns. */
const UNAVAILABLE_STATES = /^(08...|53...|57P0[1-3])$/;

/**
 * Whether an error says the database is down, unreachable, out of space or too busy right
 * now (a fault that passes, answered 503), rather than something wrong with the request or the code.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e = error as { code?: unknown; errno?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === "string" && UNAVAILABLE_CODES.test(e.code)) return true;
    if (typeof e.errno === "string" && (UNAVAILABLE_STATES.test(e.errno) || UNAVAILABLE_CODES.test(e.errno))) return true;
    if (typeof e.message === "string" && /database or disk is full|disk I\/O error|Connection (closed|refused)|connection terminated/i.test(e.message)) return true;
    if (e.cause === e) break;
  }
  return false;
}
