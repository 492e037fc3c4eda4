/** Outgoing mail: one interface, and its SMTP implementation on nodemailer. */
import { createTransport } from "nodemailer";
import type { SmtpConfig } from "./config";

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  /** Resolves once the server has accepted the message; rejects when it refuses it or cannot be reached. */
  send(mail: Mail): Promise<void>;
}

/** A connection per message (codes are rare), with timeouts so an unresponsive server is given up on. */
export function smtpMailer(smtp: SmtpConfig): Mailer {
  const transport = createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    auth: smtp.user === null ? undefined : { user: smtp.user, pass: smtp.password ?? "" },
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  return {
    async send(mail) {
      await transport.sendMail({ from: smtp.from, to: mail.to, subject: mail.subject, text: mail.text });
    },
  };
}
