import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** Everything the server reads from its environment, parsed once. */
export interface Config {
  port: number;
  host: string;
  databaseUrl: string;
  redisUrl: string | null;
  jwtSecret: string;
  accessTokenTtl: number;
  refreshTokenTtl: number;
  corsOrigins: string[] | "*" | null;
  /** Host names (lower case, with a port or not) requests may name (ALLOWED_HOSTS); null: any. */
  allowedHosts: string[] | null;
  rateLimitAuth: number;
  rateLimitMessages: number;
  /** Requests per minute per client address without a valid access token; 0: off. */
  rateLimitAnon: number;
  /** Message searches per minute per user; 0: off. */
  rateLimitSearch: number;
  /** Proxies in front of the server whose X-Forwarded-For is believed (see plugins/client-address.ts). */
  trustProxy: number;
  /** Where email verification codes are sent through (SMTP_URL); null: emails are never verified. */
  smtp: SmtpConfig | null;
  logLevel: LogLevel;
  production: boolean;
  limits: Limits;
  /** The account made sure of at start-up (ADMIN_USERNAME, ADMIN_PASSWORD, ADMIN_EMAIL); null: none. */
  bootstrapAdmin: BootstrapAdmin | null;
  /** The bearer token of GET /metrics (METRICS_TOKEN); null: no metrics are kept and /metrics is 404. */
  metricsToken: string | null;
  /** Where uploaded files live (STORAGE_URL): `file://<dir>` or `s3://<bucket>[/<prefix>]`. */
  storageUrl: string;
  /** S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY; unset ones are left to Bun's S3 client (its own AWS_* / S3_* defaults). */
  s3: S3Settings;
  /** Bytes of one upload (UPLOAD_MAX_BYTES). */
  uploadMaxBytes: number;
  /** Bytes of all of one user's files (UPLOAD_QUOTA_BYTES). */
  uploadQuotaBytes: number;
  /** Seconds a signed file link stays valid (FILE_URL_TTL). */
  fileUrlTtl: number;
  /** Ms added to the system clock wherever the server reads the time (CLOCK_OFFSET_MS): tests of skewed clocks. */
  clockOffsetMs: number;
  /** BENCH_PHASES: the file a benchmark's phase trace is written to (src/lib/phases.ts); null: no trace. */
  benchPhases: string | null;
}

export interface S3Settings {
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

export interface BootstrapAdmin {
  username: string;
  /** Used only when the account is created; an existing account keeps its password. */
  password: string;
  email: string | null;
}

export interface Limits {
  /** Bytes of a request body (MAX_BODY_BYTES). */
  maxBodyBytes: number;
  contentMax: number;
  metadataMaxBytes: number;
  wsMaxPayload: number;
  wsFramesPerSecond: number;
  wsBackpressureLimit: number;
  wsIdleTimeout: number;
  /** Open sockets per user (WS_MAX_PER_USER) and per client address (WS_MAX_PER_ADDRESS) in this process; 0: no cap. */
  wsMaxPerUser: number;
  wsMaxPerAddress: number;
  /** `sync` frames per 10 s per user, bursts allowed; 0: no limit. */
  wsSyncRateLimit: number;
  /** Bytes of frames one `sync` replays at most, across its rooms. */
  wsSyncMaxBytes: number;
  presenceGraceMs: number;
  typingThrottleMs: number;
  /** argon2id cost: memory in KiB and passes. */
  passwordMemoryKib: number;
  passwordTimeCost: number;
}

export interface SmtpConfig {
  host: string;
  port: number;
  /** smtps://: TLS from the start; smtp://: STARTTLS when the server offers it. */
  secure: boolean;
  user: string | null;
  password: string | null;
  /** The sender of the codes: `?from=` in SMTP_URL, else the user name when it is an address, else no-reply@<host>. */
  from: string;
}

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A bad variable: its message is one line that names it. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

/** Text for a one-line message: its lines joined. */
export const oneLine = (text: string) => text.replace(/\s*\n\s*/g, " ").trim();

/** A value quoted for an error message, on one line and cut short. */
const shown = (value: string) => JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);

function int(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw.trim());
  if (!/^[+-]?\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max)
    throw new ConfigError(name, `must be a whole number from ${min} to ${max}, got ${shown(raw)}`);
  return value;
}

/** PORT alone, for `--healthcheck`, which must not touch the JWT secret or the database. */
export function readPort(env: Env): number {
  return int(env, "PORT", 3000, 0, 65535);
}

function databaseUrl(env: Env): string {
  const url = env.DATABASE_URL?.trim() || "sqlite://./data/chat.db";
  if (url.startsWith("sqlite://") && url.length > "sqlite://".length) return url;
  if (/^postgres(ql)?:\/\/.+/.test(url)) return url;
  throw new ConfigError("DATABASE_URL", `must be sqlite://<path> or postgres://…, got ${shown(url)}`);
}

function corsOrigins(env: Env): Config["corsOrigins"] {
  const raw = env.CORS_ORIGINS?.trim();
  if (!raw) return null;
  if (raw === "*") return "*";
  const origins = raw.split(",").map((o) => o.trim()).filter(Boolean);
  for (const origin of origins) {
    try {
      const parsed = new URL(origin);
      if (parsed.origin !== origin.replace(/\/$/, "")) throw new Error();
    } catch {
      throw new ConfigError("CORS_ORIGINS", `must be "*" or comma-separated origins like https://chat.example.com, got ${shown(origin)}`);
    }
  }
  return origins;
}

/** A host name, an IPv4 address or a bracketed IPv6 address, with an optional port. */
const HOST_NAME = /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)(:\d{1,5})?$/;

/** ALLOWED_HOSTS: comma-separated host names, each with a port or not; unset: any host. */
function allowedHosts(env: Env): string[] | null {
  const raw = env.ALLOWED_HOSTS?.trim();
  if (!raw) return null;
  const hosts = raw.split(",").map((h) => h.trim().toLowerCase()).filter(Boolean);
  for (const host of hosts)
    if (!HOST_NAME.test(host)) throw new ConfigError("ALLOWED_HOSTS", `must be comma-separated host names like chat.example.com or localhost:3000, got ${shown(host)}`);
  return hosts;
}

/** An address fit for a From header: one line, one @, no spaces or angle brackets. */
const ADDRESS = /^[^\s@<>,;"]+@[^\s@<>,;"]+$/;

/** A URL as it may be shown: whatever stands between the user name and the host is hidden. */
function withoutPassword(url: string): string {
  const scheme = url.indexOf("://");
  const start = scheme === -1 ? 0 : scheme + 3;
  const query = url.indexOf("?", start);
  const head = query === -1 ? url : url.slice(0, query);
  const at = head.includes("@") ? head.lastIndexOf("@") : url.lastIndexOf("@");
  const colon = url.indexOf(":", start);
  return at < start || colon === -1 || colon > at ? url : `${url.slice(0, colon)}:***${url.slice(at)}`;
}

/** SMTP_URL: `smtp://user:pass@host:port` or `smtps://…`, optionally `?from=<address>`. */
function smtp(env: Env): SmtpConfig | null {
  const raw = env.SMTP_URL?.trim();
  if (!raw) return null;
  const bad = (problem: string) => new ConfigError("SMTP_URL", `${problem}, got ${shown(withoutPassword(raw))}`);
  const form = "must be smtp://user:pass@host:port or smtps://user:pass@host:port";
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad(form);
  }
  if ((url.protocol !== "smtp:" && url.protocol !== "smtps:") || !url.hostname) throw bad(form);
  if (url.pathname !== "" && url.pathname !== "/") throw bad(`${form} (no path)`);
  if ([...url.searchParams.keys()].some((key) => key !== "from")) throw bad(`${form}, with no parameter but ?from=`);
  const secure = url.protocol === "smtps:";
  const port = url.port === "" ? (secure ? 465 : 587) : Number(url.port);
  if (port < 1) throw bad(`${form} with a port from 1 to 65535`);
  let user: string | null = null;
  let password: string | null = null;
  try {
    user = url.username ? decodeURIComponent(url.username) : null;
    password = url.password ? decodeURIComponent(url.password) : null;
  } catch {
    throw bad(`${form} with user and password percent-encoded`);
  }
  const from = url.searchParams.get("from") ?? (user && ADDRESS.test(user) ? user : `no-reply@${url.hostname}`);
  if (!ADDRESS.test(from)) throw bad(`${form}; ?from= must be an email address`);
  return { host: url.hostname.replace(/^\[(.*)\]$/, "$1"), port, secure, user, password, from };
}

/** STORAGE_URL: `file://<dir>` (relative to the working directory, or absolute) or `s3://<bucket>[/<prefix>]`. */
function storageUrl(env: Env): string {
  const url = env.STORAGE_URL?.trim() || "file://./data/files";
  if (/^file:\/\/.+/.test(url) || /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(url)) return url;
  throw new ConfigError("STORAGE_URL", `must be file://<directory> or s3://<bucket>[/<prefix>], got ${shown(url)}`);
}

function s3Settings(env: Env): S3Settings {
  const endpoint = env.S3_ENDPOINT?.trim() || undefined;
  if (endpoint && !/^https?:\/\/.+/.test(endpoint)) throw new ConfigError("S3_ENDPOINT", `must be http(s)://…, got ${shown(endpoint)}`);
  return {
    endpoint,
    region: env.S3_REGION?.trim() || undefined,
    accessKeyId: env.S3_ACCESS_KEY_ID?.trim() || undefined,
    secretAccessKey: env.S3_SECRET_ACCESS_KEY || undefined,
  };
}

/** ADMIN_USERNAME and ADMIN_PASSWORD, both or neither; ADMIN_EMAIL only with them. */
function bootstrapAdmin(env: Env): BootstrapAdmin | null {
  const username = env.ADMIN_USERNAME?.trim() || null;
  const password = env.ADMIN_PASSWORD || null;
  const email = env.ADMIN_EMAIL?.trim() || null;
  if (username && !password) throw new ConfigError("ADMIN_PASSWORD", "is required when ADMIN_USERNAME is set");
  if (!username && password) throw new ConfigError("ADMIN_USERNAME", "is required when ADMIN_PASSWORD is set");
  if (!username && email) throw new ConfigError("ADMIN_USERNAME", "is required when ADMIN_EMAIL is set");
  if (email && !ADDRESS.test(email)) throw new ConfigError("ADMIN_EMAIL", `must be an email address, got ${shown(email)}`);
  return username && password ? { username, password, email } : null;
}

/** METRICS_TOKEN: unset or empty turns metrics off; a set one is a bearer token, long enough not to be guessed. */
function metricsToken(env: Env): string | null {
  const token = env.METRICS_TOKEN;
  if (token === undefined || token === "") return null;
  if (!/^[\x21-\x7e]{16,256}$/.test(token))
    throw new ConfigError("METRICS_TOKEN", "must be 16 to 256 printable characters without spaces");
  return token;
}

/**
 * Outside production a missing JWT_SECRET is generated once and kept beside the
 * default database, so tokens survive restarts of a development server.
 */
function jwtSecret(env: Env, production: boolean, secretFile: string): string {
  const given = env.JWT_SECRET;
  if (given !== undefined && given !== "") {
    if (given.length < 32) throw new ConfigError("JWT_SECRET", "must be at least 32 characters");
    return given;
  }
  if (production) throw new ConfigError("JWT_SECRET", "is required when NODE_ENV=production");
  try {
    if (existsSync(secretFile)) {
      const kept = readFileSync(secretFile, "utf8").trim();
      if (kept.length >= 32) return kept;
    }
    const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(48))).toString("base64url");
    mkdirSync(dirname(secretFile), { recursive: true });
    writeFileSync(secretFile, secret + "\n", { mode: 0o600 });
    return secret;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError("JWT_SECRET", `is unset, and the generated one cannot be kept in ${secretFile} (${oneLine(reason)}): set it, or make the directory writable`);
  }
}

/**
 * Reads and checks every variable; the first bad one throws a ConfigError. `secretFile` is where
 * a generated development JWT secret is kept.
 */
export function loadConfig(env: Env = Bun.env, secretFile = "./data/jwt-secret"): Config {
  const production = env.NODE_ENV === "production";
  const logLevel = (env.LOG_LEVEL?.trim() || "info") as LogLevel;
  if (!LOG_LEVELS.includes(logLevel))
    throw new ConfigError("LOG_LEVEL", `must be one of ${LOG_LEVELS.join(", ")}, got ${shown(env.LOG_LEVEL ?? "")}`);
  const redisUrl = env.REDIS_URL?.trim() || null;
  if (redisUrl && !/^rediss?:\/\/.+/.test(redisUrl))
    throw new ConfigError("REDIS_URL", `must be redis://… or rediss://…, got ${shown(redisUrl)}`);
  const host = env.HOST?.trim() || "0.0.0.0";
  if (/\s|\//.test(host)) throw new ConfigError("HOST", `must be a host name or IP address, got ${shown(host)}`);

  const config: Omit<Config, "jwtSecret"> = {
    port: readPort(env),
    host,
    databaseUrl: databaseUrl(env),
    redisUrl,
    accessTokenTtl: int(env, "ACCESS_TOKEN_TTL", 900, 1),
    refreshTokenTtl: int(env, "REFRESH_TOKEN_TTL", 2_592_000, 1),
    corsOrigins: corsOrigins(env),
    allowedHosts: allowedHosts(env),
    rateLimitAuth: int(env, "RATE_LIMIT_AUTH", 20, 0),
    rateLimitMessages: int(env, "RATE_LIMIT_MESSAGES", 30, 0),
    rateLimitAnon: int(env, "RATE_LIMIT_ANON", 120, 0),
    rateLimitSearch: int(env, "RATE_LIMIT_SEARCH", 30, 0),
    trustProxy: int(env, "TRUST_PROXY", 0, 0, 10),
    smtp: smtp(env),
    logLevel,
    production,
    bootstrapAdmin: bootstrapAdmin(env),
    metricsToken: metricsToken(env),
    benchPhases: env.BENCH_PHASES || null,
    storageUrl: storageUrl(env),
    s3: s3Settings(env),
    uploadMaxBytes: int(env, "UPLOAD_MAX_BYTES", 10 * 1024 * 1024, 1, 2 ** 31 - 1),
    uploadQuotaBytes: int(env, "UPLOAD_QUOTA_BYTES", 1024 * 1024 * 1024, 0),
    fileUrlTtl: int(env, "FILE_URL_TTL", 86_400, 60, 7 * 86_400),
    clockOffsetMs: int(env, "CLOCK_OFFSET_MS", 0, -86_400_000, 86_400_000),
    limits: {
      maxBodyBytes: int(env, "MAX_BODY_BYTES", 1024 * 1024, 1024, 1024 * 1024 * 1024),
      contentMax: int(env, "MESSAGE_MAX_LENGTH", 4000, 1),
      metadataMaxBytes: int(env, "METADATA_MAX_BYTES", 4096, 2),
      wsMaxPayload: int(env, "WS_MAX_PAYLOAD", 64 * 1024, 1024),
      wsFramesPerSecond: int(env, "WS_RATE_LIMIT", 50, 0),
      wsBackpressureLimit: int(env, "WS_BACKPRESSURE_LIMIT", 1024 * 1024, 1024),
      wsIdleTimeout: int(env, "WS_IDLE_TIMEOUT", 60, 0, 960),
      wsMaxPerUser: int(env, "WS_MAX_PER_USER", 20, 0),
      wsMaxPerAddress: int(env, "WS_MAX_PER_ADDRESS", 100, 0),
      wsSyncRateLimit: int(env, "WS_SYNC_RATE_LIMIT", 10, 0),
      wsSyncMaxBytes: int(env, "WS_SYNC_MAX_BYTES", 4 * 1024 * 1024, 64 * 1024),
      presenceGraceMs: int(env, "PRESENCE_GRACE_MS", 5000, 0),
      typingThrottleMs: int(env, "TYPING_THROTTLE_MS", 2000, 0),
      passwordMemoryKib: int(env, "PASSWORD_MEMORY_KIB", 65536, 1024),
      passwordTimeCost: int(env, "PASSWORD_TIME_COST", 2, 1),
    },
  };
  // Last, so that a bad variable elsewhere never leaves a generated secret behind.
  return { ...config, jwtSecret: jwtSecret(env, production, secretFile) };
}

/** A config for tests: in-memory database, fixed secret, limits off unless given. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  const base = loadConfig(
    {
      DATABASE_URL: "sqlite://:memory:",
      JWT_SECRET: "test-secret-test-secret-test-secret-0123456789",
      RATE_LIMIT_AUTH: "0",
      RATE_LIMIT_MESSAGES: "0",
      RATE_LIMIT_ANON: "0",
      WS_MAX_PER_USER: "0",
      WS_MAX_PER_ADDRESS: "0",
      WS_SYNC_RATE_LIMIT: "0",
      RATE_LIMIT_SEARCH: "0",
      LOG_LEVEL: "error",
      PRESENCE_GRACE_MS: "50",
      // Cheap hashing keeps tests fast; production keeps argon2id's defaults.
      PASSWORD_MEMORY_KIB: "1024",
      PASSWORD_TIME_COST: "1",
    },
    "/dev/null",
  );
  return { ...base, ...overrides, limits: { ...base.limits, ...overrides.limits } };
}
