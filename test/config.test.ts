import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createApp } from "../src/app";
import { ConfigError, loadConfig } from "../src/config";
import { setup } from "./helpers";

const SECRET = "a-secret-that-is-long-enough-0123456789";
const dirs: string[] = [];
/** A secret-file path in a fresh temporary directory (the file does not exist yet). */
function secretPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "bunchat-config-"));
  dirs.push(dir);
  return join(dir, "data", "jwt-secret");
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function configError(env: Record<string, string>, file = secretPath()): ConfigError {
  try {
    loadConfig({ JWT_SECRET: SECRET, ...env }, file);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)}`);
}

describe("loadConfig", () => {
  test("the contract's defaults", () => {
    const config = loadConfig({ JWT_SECRET: SECRET }, secretPath());
    expect(config).toMatchObject({
      port: 3000,
      host: "0.0.0.0",
      databaseUrl: "sqlite://./data/chat.db",
      redisUrl: null,
      jwtSecret: SECRET,
      accessTokenTtl: 900,
      refreshTokenTtl: 2_592_000,
      corsOrigins: null,
      rateLimitAuth: 20,
      rateLimitMessages: 30,
      rateLimitSearch: 30,
      logLevel: "info",
      production: false,
      metricsToken: null,
    });
    expect(config.limits).toMatchObject({ maxBodyBytes: 1_048_576, contentMax: 4000, metadataMaxBytes: 4096, wsMaxPayload: 65536 });
    expect(config).toMatchObject({ storageUrl: "file://./data/files", uploadMaxBytes: 10_485_760, uploadQuotaBytes: 1_073_741_824, fileUrlTtl: 86_400 });
  });

  test("files: STORAGE_URL, S3_*, UPLOAD_* and FILE_URL_TTL", () => {
    const config = loadConfig(
      {
        JWT_SECRET: SECRET,
        STORAGE_URL: "s3://chat-files/uploads",
        S3_ENDPOINT: "http://127.0.0.1:9000",
        S3_REGION: "eu-west-1",
        S3_ACCESS_KEY_ID: "key",
        S3_SECRET_ACCESS_KEY: "secret",
        UPLOAD_MAX_BYTES: "1000",
        UPLOAD_QUOTA_BYTES: "0",
        FILE_URL_TTL: "600",
      },
      secretPath(),
    );
    expect(config).toMatchObject({ storageUrl: "s3://chat-files/uploads", uploadMaxBytes: 1000, uploadQuotaBytes: 0, fileUrlTtl: 600 });
    expect(config.s3).toEqual({ endpoint: "http://127.0.0.1:9000", region: "eu-west-1", accessKeyId: "key", secretAccessKey: "secret" });
    expect(loadConfig({ JWT_SECRET: SECRET, STORAGE_URL: "file:///var/lib/bunchat/files" }, secretPath()).storageUrl).toBe("file:///var/lib/bunchat/files");
  });

  test("reads every variable", () => {
    const config = loadConfig(
      {
        PORT: "8080",
        HOST: "127.0.0.1",
        DATABASE_URL: "sqlite://:memory:",
        REDIS_URL: "redis://localhost:6379",
        JWT_SECRET: SECRET,
        ACCESS_TOKEN_TTL: "60",
        REFRESH_TOKEN_TTL: "3600",
        CORS_ORIGINS: "https://chat.example.com, http://localhost:5173",
        RATE_LIMIT_AUTH: "0",
        RATE_LIMIT_MESSAGES: "5",
        RATE_LIMIT_SEARCH: "0",
        LOG_LEVEL: "debug",
        MESSAGE_MAX_LENGTH: "100",
        WS_MAX_PAYLOAD: "2048",
        MAX_BODY_BYTES: "65536",
      },
      secretPath(),
    );
    expect(config).toMatchObject({
      port: 8080,
      host: "127.0.0.1",
      databaseUrl: "sqlite://:memory:",
      redisUrl: "redis://localhost:6379",
      accessTokenTtl: 60,
      refreshTokenTtl: 3600,
      corsOrigins: ["https://chat.example.com", "http://localhost:5173"],
      rateLimitAuth: 0,
      rateLimitMessages: 5,
      rateLimitSearch: 0,
      logLevel: "debug",
    });
    expect(config.limits).toMatchObject({ contentMax: 100, wsMaxPayload: 2048, maxBodyBytes: 65536 });
    expect(loadConfig({ JWT_SECRET: SECRET, CORS_ORIGINS: "*" }, secretPath()).corsOrigins).toBe("*");
    expect(loadConfig({ JWT_SECRET: SECRET }, secretPath()).allowedHosts).toBeNull();
    expect(loadConfig({ JWT_SECRET: SECRET, ALLOWED_HOSTS: " Chat.Example.com, localhost:3000,[::1]:3000,10.0.0.5 " }, secretPath()).allowedHosts).toEqual([
      "chat.example.com",
      "localhost:3000",
      "[::1]:3000",
      "10.0.0.5",
    ]);
    expect(loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: "postgres://u:p@localhost/chat" }, secretPath()).databaseUrl).toBe(
      "postgres://u:p@localhost/chat",
    );
  });

  const bad: [string, string][] = [
    ["PORT", "abc"],
    ["PORT", "70000"],
    ["PORT", "-1"],
    ["PORT", "80.5"],
    ["PORT", "3000\nHOST=evil"],
    ["HOST", "not a host"],
    ["DATABASE_URL", "mysql://localhost/chat"],
    ["DATABASE_URL", "sqlite://"],
    ["DATABASE_URL", "./data/chat.db"],
    ["REDIS_URL", "http://localhost:6379"],
    ["JWT_SECRET", "too-short"],
    ["ACCESS_TOKEN_TTL", "0"],
    ["ACCESS_TOKEN_TTL", "15m"],
    ["REFRESH_TOKEN_TTL", "-5"],
    ["CORS_ORIGINS", "chat.example.com"],
    ["CORS_ORIGINS", "https://chat.example.com/path"],
    ["ALLOWED_HOSTS", "https://chat.example.com"],
    ["ALLOWED_HOSTS", "chat.example.com/path"],
    ["ALLOWED_HOSTS", "chat.example.com, bad host"],
    ["RATE_LIMIT_AUTH", "-1"],
    ["RATE_LIMIT_AUTH", "lots"],
    ["RATE_LIMIT_MESSAGES", "1e3"],
    ["RATE_LIMIT_SEARCH", "-1"],
    ["RATE_LIMIT_SEARCH", "30/min"],
    ["LOG_LEVEL", "verbose"],
    ["MESSAGE_MAX_LENGTH", "0"],
    ["WS_MAX_PAYLOAD", "10"],
    ["MAX_BODY_BYTES", "1mb"],
    ["MAX_BODY_BYTES", "100"],
    ["SMTP_URL", "mail.example.com:587"],
    ["SMTP_URL", "http://mail.example.com"],
    ["SMTP_URL", "smtp://user:pass@"],
    ["SMTP_URL", "smtp://user:pass@mail.example.com:0"],
    ["SMTP_URL", "smtp://user:pass@mail.example.com:70000"],
    ["SMTP_URL", "smtp://user:pass@mail.example.com/path"],
    ["SMTP_URL", "smtp://user:pass@mail.example.com?tls=off"],
    ["WS_MAX_PER_USER", "-1"],
    ["WS_MAX_PER_USER", "twenty"],
    ["WS_MAX_PER_ADDRESS", "1.5"],
    ["WS_MAX_PER_ADDRESS", "100\nWS_MAX_PER_USER=0"],
    ["WS_SYNC_RATE_LIMIT", "-1"],
    ["WS_SYNC_RATE_LIMIT", "often"],
    ["WS_SYNC_MAX_BYTES", "0"],
    ["WS_SYNC_MAX_BYTES", "4mb"],
    ["SMTP_URL", "smtp://user:pass@mail.example.com?from=not-an-address"],
    ["SMTP_URL", "smtp://user:%E0%A4%A@mail.example.com"],
    ["METRICS_TOKEN", "short"],
    ["METRICS_TOKEN", "has a space in it somewhere"],
    ["STORAGE_URL", "./data/files"],
    ["STORAGE_URL", "s3://"],
    ["STORAGE_URL", "gs://bucket"],
    ["S3_ENDPOINT", "minio:9000"],
    ["UPLOAD_MAX_BYTES", "0"],
    ["UPLOAD_MAX_BYTES", "10MB"],
    ["UPLOAD_QUOTA_BYTES", "-1"],
    ["FILE_URL_TTL", "10"],
    ["FILE_URL_TTL", "1d"],
  ];
  for (const [variable, value] of bad)
    test(`${variable}=${JSON.stringify(value)} stops start-up with one line naming it`, () => {
      const error = configError({ [variable]: value });
      expect(error.variable).toBe(variable);
      expect(error.message).toStartWith(`Invalid configuration: ${variable} `);
      expect(error.message).not.toContain("\n");
    });

  test("METRICS_TOKEN: kept as given; empty is unset", () => {
    expect(loadConfig({ JWT_SECRET: SECRET, METRICS_TOKEN: "a-scrape-token-0123456789" }, secretPath()).metricsToken).toBe("a-scrape-token-0123456789");
    expect(loadConfig({ JWT_SECRET: SECRET, METRICS_TOKEN: "" }, secretPath()).metricsToken).toBeNull();
  });

  test("ADMIN_USERNAME and ADMIN_PASSWORD come together; ADMIN_EMAIL only with them, and an address", () => {
    const cases: [Record<string, string>, string][] = [
      [{ ADMIN_USERNAME: "root" }, "ADMIN_PASSWORD"],
      [{ ADMIN_PASSWORD: "root-password" }, "ADMIN_USERNAME"],
      [{ ADMIN_EMAIL: "root@example.com" }, "ADMIN_USERNAME"],
      [{ ADMIN_USERNAME: "root", ADMIN_PASSWORD: "root-password", ADMIN_EMAIL: "not an address" }, "ADMIN_EMAIL"],
    ];
    for (const [env, variable] of cases) {
      const error = configError(env);
      expect(error.variable).toBe(variable);
      expect(error.message).not.toContain("\n");
    }
    expect(loadConfig({ JWT_SECRET: SECRET }, secretPath()).bootstrapAdmin).toBeNull();
    const env = { JWT_SECRET: SECRET, ADMIN_USERNAME: " root ", ADMIN_PASSWORD: " pass word ", ADMIN_EMAIL: "root@example.com" };
    expect(loadConfig(env, secretPath()).bootstrapAdmin).toEqual({ username: "root", password: " pass word ", email: "root@example.com" });
  });

  test("SMTP_URL: server, port, TLS, credentials and sender", () => {
    const smtp = (url: string) => loadConfig({ JWT_SECRET: SECRET, SMTP_URL: url }, secretPath()).smtp;
    expect(loadConfig({ JWT_SECRET: SECRET }, secretPath()).smtp).toBeNull();
    expect(smtp("smtp://bunchat:p%40ss%3Aword@mail.example.com:2525")).toEqual({
      host: "mail.example.com",
      port: 2525,
      secure: false,
      user: "bunchat",
      password: "p@ss:word",
      from: "no-reply@mail.example.com",
    });
    expect(smtp("smtps://chat@example.com:secret@mail.example.com")).toMatchObject({ port: 465, secure: true, user: "chat@example.com", from: "chat@example.com" });
    expect(smtp("smtp://127.0.0.1")).toMatchObject({ host: "127.0.0.1", port: 587, user: null, password: null });
    expect(smtp("smtp://u:p@mail.example.com:25?from=chat@example.com")!.from).toBe("chat@example.com");
  });

  test("a bad SMTP_URL is named without its password", () => {
    for (const url of ["smtp://user:hunter2-secret@mail.example.com:0", "smtps://me@example.com:hunter2-secret@mail.example.com/x", "user:hunter2-secret@mail.example.com"]) {
      const error = configError({ SMTP_URL: url });
      expect(error.variable).toBe("SMTP_URL");
      expect(error.message).not.toContain("hunter2");
      expect(error.message).toContain("mail.example.com");
    }
  });

  test("a bad variable leaves no generated secret behind", () => {
    const file = secretPath();
    expect(() => loadConfig({ PORT: "nope" }, file)).toThrow(ConfigError);
    expect(existsSync(file)).toBe(false);
  });
});

describe("the JWT secret", () => {
  test("outside production a missing secret is generated once, kept private, and reused", () => {
    const file = secretPath();
    const first = loadConfig({}, file).jwtSecret;
    expect(first.length).toBeGreaterThanOrEqual(32);
    expect(readFileSync(file, "utf8").trim()).toBe(first);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadConfig({}, file).jwtSecret).toBe(first);
    expect(loadConfig({ NODE_ENV: "development" }, file).jwtSecret).toBe(first);
    // Another data directory gets its own.
    expect(loadConfig({}, secretPath()).jwtSecret).not.toBe(first);
  });

  test("a kept secret is read back as written", () => {
    const file = secretPath();
    loadConfig({}, file);
    writeFileSync(file, `${SECRET}\n`);
    expect(loadConfig({}, file).jwtSecret).toBe(SECRET);
  });

  test("a secret that cannot be kept stops start-up with one line naming JWT_SECRET", () => {
    const file = secretPath();
    // The data directory's place is taken by a file: nothing can be written under it, even by root.
    mkdirSync(dirname(dirname(file)), { recursive: true });
    writeFileSync(dirname(file), "not a directory");
    const error = configError({ JWT_SECRET: "" }, file);
    expect(error.variable).toBe("JWT_SECRET");
    expect(error.message).toContain(file);
    expect(error.message).not.toContain("\n");
  });

  test("JWT_SECRET wins and nothing is written", () => {
    const file = secretPath();
    expect(loadConfig({ JWT_SECRET: SECRET }, file).jwtSecret).toBe(SECRET);
    expect(existsSync(file)).toBe(false);
  });

  test("is required in production, and never generated there", () => {
    const file = secretPath();
    const error = configError({ NODE_ENV: "production", JWT_SECRET: "" }, file);
    expect(error.variable).toBe("JWT_SECRET");
    expect(error.message).toContain("NODE_ENV=production");
    expect(existsSync(file)).toBe(false);
    const config = loadConfig({ NODE_ENV: "production", JWT_SECRET: SECRET }, file);
    expect(config.production).toBe(true);
    expect(config.jwtSecret).toBe(SECRET);
  });
});

describe("the server's start-up", () => {
  const entry = join(import.meta.dir, "..", "src", "index.ts");

  test("a bad variable exits 1 with that one line on stderr", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "bunchat-start-"));
    dirs.push(cwd);
    const proc = Bun.spawn([process.execPath, entry], {
      cwd,
      env: { PATH: process.env.PATH ?? "", RATE_LIMIT_AUTH: "many" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toEqual([`Invalid configuration: RATE_LIMIT_AUTH must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, got "many"`]);
    // It stopped before touching the data directory.
    expect(existsSync(join(cwd, "data"))).toBe(false);
  });

  test("a data directory that cannot be written exits 1 with one line on stderr", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "bunchat-start-"));
    dirs.push(cwd);
    writeFileSync(join(cwd, "data"), "not a directory");
    const proc = Bun.spawn([process.execPath, entry], {
      cwd,
      env: { PATH: process.env.PATH ?? "", DATABASE_URL: "sqlite://:memory:" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    const lines = stderr.trim().split("\n");
    expect(lines.length).toBe(1);
    expect(lines[0]).toStartWith("Invalid configuration: JWT_SECRET ");
    expect(lines[0]).toContain("./data/jwt-secret");
  });

  test("a busy port stops start-up with one line, rather than sharing the port", async () => {
    const ctx = setup();
    const first = createApp(ctx.services).listen({ port: 0, hostname: "127.0.0.1" });
    const port = first.server!.port!;
    const cwd = mkdtempSync(join(tmpdir(), "bunchat-start-"));
    dirs.push(cwd);
    const proc = Bun.spawn([process.execPath, entry], {
      cwd,
      env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: String(port), DATABASE_URL: "sqlite://:memory:", JWT_SECRET: SECRET },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      // Either it exits, or it logs that it listens (and is stopped below): no waiting on a clock.
      const started = (async () => {
        const reader = proc.stdout.getReader();
        for (let text = ""; ; ) {
          const { done, value } = await reader.read();
          if (done) return false;
          text += new TextDecoder().decode(value);
          if (text.includes('"listening"')) return true;
        }
      })();
      expect(await Promise.race([started, proc.exited.then(() => false)])).toBe(false);
      expect(await proc.exited).toBe(1);
      const stderr = await new Response(proc.stderr).text();
      expect(stderr.trim().split("\n")).toEqual([expect.stringMatching(new RegExp(`^Cannot listen on 127\\.0\\.0\\.1:${port} \\(HOST, PORT\\): `))]);
    } finally {
      proc.kill();
      await first.stop(true);
      await ctx.close();
    }
  });

  test("--healthcheck exits 1 when nothing answers", async () => {
    // A port that was free a moment ago: listen on 0, note the port, close.
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = probe.port;
    probe.stop(true);
    const proc = Bun.spawn([process.execPath, entry, "--healthcheck"], {
      env: { PATH: process.env.PATH ?? "", PORT: String(port) },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await proc.exited).toBe(1);
  });
});
