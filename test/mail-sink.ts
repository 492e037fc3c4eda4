/**
 * A local SMTP server for tests, on 127.0.0.1 and a free port: it keeps every message it is
 * given, so a test can read the verification code a user was sent.
 */
import { SMTPServer } from "smtp-server";
import { loadConfig, type SmtpConfig } from "../src/config";

export interface SinkMessage {
  /** The envelope's recipients. */
  to: string[];
  /** The user the client logged in as. */
  user: string | undefined;
  raw: string;
}

export interface MailSink {
  /** SMTP_URL for the server. */
  url: string;
  /** That SMTP_URL as the config holds it: `setup({ smtp: sink.smtp })`. */
  smtp: SmtpConfig;
  port: number;
  messages: SinkMessage[];
  /** The code of the next message to `to` not read before, waiting for it (bounded). */
  nextCode(to: string): Promise<string>;
  /** Resolves once `count` messages have arrived (bounded). */
  received(count: number): Promise<void>;
  close(): Promise<void>;
}

const USER = "bunchat";
const PASSWORD = "sink-password";
const WAIT_MS = 5000;

async function until<T>(check: () => T | undefined, what: string): Promise<T> {
  const deadline = performance.now() + WAIT_MS;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/** `refuse`: every message is refused with 550 after it was sent, as by a server that will not deliver it. */
export async function startMailSink(options: { refuse?: boolean } = {}): Promise<MailSink> {
  const messages: SinkMessage[] = [];
  const server = new SMTPServer({
    // Plain SMTP on loopback: no STARTTLS, so no certificate is needed.
    disabledCommands: ["STARTTLS"],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === USER && auth.password === PASSWORD) callback(null, { user: USER });
      else callback(new Error("Invalid username or password"));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        if (options.refuse) return callback(Object.assign(new Error("Mailbox unavailable"), { responseCode: 550 }));
        messages.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user,
          raw: Buffer.concat(chunks).toString("utf8"),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.server.address() as { port: number }).port;
  const read = new Set<SinkMessage>();
  const url = `smtp://${USER}:${PASSWORD}@127.0.0.1:${port}`;
  return {
    url,
    smtp: loadConfig({ JWT_SECRET: "x".repeat(32), SMTP_URL: url }, "/dev/null").smtp!,
    port,
    messages,
    async nextCode(to) {
      const message = await until(
        () => messages.find((m) => !read.has(m) && m.to.some((address) => address.toLowerCase() === to.toLowerCase())),
        `a message to ${to}`,
      );
      read.add(message);
      const code = /code is ([2-9A-Z]{4}-[2-9A-Z]{4})/.exec(message.raw)?.[1];
      if (!code) throw new Error(`no code in the message to ${to}:\n${message.raw}`);
      return code;
    },
    async received(count) {
      await until(() => (messages.length >= count ? true : undefined), `${count} messages`);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
