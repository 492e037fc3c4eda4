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
