/**
 * Emails nobody proved: an address typed by someone else must neither block its owner nor log
 * anyone in, and no answer but the 409 of a verification may tell whose an address is.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { eq } from "drizzle-orm";
import { CODE_ATTEMPTS } from "../../src/modules/users/email";
import { errorCode, manualClock, recordingLogger, setup, type TestContext, type TestResponse } from "../helpers";
import { type MailSink, startMailSink } from "../mail-sink";

const PASSWORD = "correct-horse-battery";

let ctx: TestContext | undefined;
let sink: MailSink | undefined;
afterEach(async () => {
  await ctx?.services.emails.drain();
  await ctx?.close();
  await sink?.close();
  ctx = sink = undefined;
});

/** An app that mails codes to a fresh sink. */
async function withMail(options: Parameters<typeof setup>[1] = {}, overrides: Parameters<typeof setup>[0] = {}) {
  sink = await startMailSink();
  ctx = setup({ ...overrides, smtp: sink.smtp }, options);
  return { ctx, sink };
}

const call = (...args: Parameters<TestContext["call"]>) => ctx!.call(...args);

async function register(username: string, email?: string, password = PASSWORD) {
  const res = await call("POST", "/api/auth/register", { body: { username, password, email } });
  expect(res.status).toBe(201);
  return { id: res.body.user.id as string, token: res.body.accessToken as string, res };
}
const login = (username: string, password = PASSWORD) => call("POST", "/api/auth/login", { body: { username, password } });
const patchMe = (token: string, body: unknown) => call("PATCH", "/api/users/me", { token, body });
const verify = (token: string, code: string) => call("POST", "/api/auth/email/verify", { token, body: { code } });
const me = async (token: string) => (await call("GET", "/api/auth/me", { token })).body;

function expectWrongCode(res: TestResponse) {
  expect(res.status).toBe(422);
  expect(errorCode(res)).toBe("VALIDATION_FAILED");
  expect(res.body.error.details.fields.map((f: { field: string }) => f.field)).toEqual(["code"]);
}

function expectRateLimited(res: TestResponse) {
  expect(res.status).toBe(429);
  expect(errorCode(res)).toBe("RATE_LIMITED");
  expect(res.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
}

/** An answer about the caller's own user, without what differs between two users anyway. */
const shape = (user: Record<string, unknown>) => {
  const { id, username, displayName, createdAt, email, ...rest } = user;
  return rest;
};

describe("without SMTP_URL: emails are unverified, never unique, never a login name", () => {
  test("an address typed by someone else blocks nobody and logs nobody in", async () => {
    ctx = setup();
    const mallory = await register("mallory", "victim@example.com", "mallory-password");
    expect(mallory.res.body.user).toMatchObject({ email: "victim@example.com", emailVerified: false });
    // The owner registers with the address all the same, in any letter case.
    const victim = await register("victim", "Victim@Example.com");
    expect(victim.res.body.user).toMatchObject({ email: "Victim@Example.com", emailVerified: false });
    // Neither password logs in by the address: it is nobody's login name.
    for (const password of ["mallory-password", PASSWORD]) {
      const res = await login("victim@example.com", password);
      expect(res.status).toBe(401);
      expect(errorCode(res)).toBe("UNAUTHENTICATED");
      expect(res.body).toEqual((await login("nobody@example.com", password)).body);
    }
    // A third account may take it too, by PATCH.
    const third = await register("third");
    const res = await patchMe(third.token, { email: "VICTIM@example.com" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ email: "VICTIM@example.com", emailVerified: false });
    // There is no code to confirm anything with.
    const refused = await verify(victim.token, "ABCD-EFGH");
    expect(refused.status).toBe(400);
    expect(errorCode(refused)).toBe("BAD_REQUEST");
    expect((await me(victim.token)).emailVerified).toBe(false);
  });

  test("the same address again keeps its letter case as given and counts as no change", async () => {
    ctx = setup();
    const alice = await register("alice", "alice@example.com");
    for (let i = 0; i < 8; i++) expect((await patchMe(alice.token, { email: i % 2 ? "alice@example.com" : "ALICE@example.com" })).status).toBe(200);
    expect((await me(alice.token)).email).toBe("alice@example.com");
  });
});

describe("email verification (SMTP_URL set)", () => {
  test("register with an email: a code is mailed, and verifying it makes the address unique and a login name", async () => {
    await withMail();
    const alice = await register("alice", "Alice@Example.com");
    expect(alice.res.body.user).toMatchObject({ email: "Alice@Example.com", emailVerified: false });
    const code = await sink!.nextCode("Alice@Example.com");
    expect(sink!.messages[0]!.user).toBe("bunchat"); // the credentials of SMTP_URL were used
    // Not a login name before it is verified.
    expect((await login("alice@example.com")).status).toBe(401);

    const res = await verify(alice.token, code.toLowerCase().replace("-", " "));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...(await me(alice.token)), emailVerified: true });
    expect(res.body).toMatchObject({ id: alice.id, email: "Alice@Example.com", emailVerified: true });

    const byEmail = await login("ALICE@example.COM");
    expect(byEmail.status).toBe(200);
    expect(byEmail.body.user).toMatchObject({ id: alice.id, emailVerified: true });
    expect((await patchMe(byEmail.body.accessToken, { statusText: "hi" })).body.emailVerified).toBe(true);
  });

  test("an address someone else typed first does not stop its owner; the typist can neither verify it nor log in with it", async () => {
    await withMail();
    const mallory = await register("mallory", "victim@example.com", "mallory-password");
    const mallorys = await sink!.nextCode("victim@example.com"); // in the victim's mailbox, not Mallory's
    const victim = await register("victim", "victim@example.com");
    const victims = await sink!.nextCode("victim@example.com");
    expect(victims).not.toBe(mallorys);
    // Mallory can only guess; a code is good only for the account it was made for.
    expectWrongCode(await verify(mallory.token, "ABCD-EFGH"));
    expectWrongCode(await verify(mallory.token, victims));
    expectWrongCode(await verify(victim.token, mallorys));

    expect((await verify(victim.token, victims)).status).toBe(200);
    expect((await login("victim@example.com", "mallory-password")).status).toBe(401);
    const owner = await login("victim@example.com");
    expect(owner.status).toBe(200);
    expect(owner.body.user.id).toBe(victim.id);
    expect(await me(mallory.token)).toMatchObject({ email: "victim@example.com", emailVerified: false });
  });

  test("verifying an address another account has verified is 409, and the address stays with the first", async () => {
    await withMail();
    const a = await register("first_owner", "shared@example.com");
    const codeA = await sink!.nextCode("shared@example.com");
    const b = await register("second_owner", "shared@example.com");
    const codeB = await sink!.nextCode("shared@example.com");
    expect((await verify(a.token, codeA)).status).toBe(200);
    const res = await verify(b.token, codeB);
    expect(res.status).toBe(409);
    expect(errorCode(res)).toBe("CONFLICT");
    expect(await me(b.token)).toMatchObject({ email: "shared@example.com", emailVerified: false });
    expect((await login("shared@example.com")).body.user.id).toBe(a.id);
  });

  test("two accounts verifying one address at the same moment: one wins, the other gets 409", async () => {
    await withMail();
    const users = [];
    for (const name of ["racer_one", "racer_two", "racer_three"]) {
      const user = await register(name, "race@example.com");
      users.push({ ...user, code: await sink!.nextCode("race@example.com") });
    }
    const answers = await Promise.all(users.map((user) => verify(user.token, user.code)));
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    const winner = users[answers.findIndex((r) => r.status === 200)]!;
    expect((await login("race@example.com")).body.user.id).toBe(winner.id);
    const verified = await ctx!.services.database.db
      .select()
      .from(ctx!.services.database.tables.users)
      .where(eq(ctx!.services.database.tables.users.emailLower, "race@example.com"));
    expect(verified.filter((u) => u.emailVerifiedAt !== null).map((u) => u.id)).toEqual([winner.id]);
  });
});

describe("codes", () => {
  test("are single use", async () => {
    await withMail();
    const alice = await register("alice", "alice@example.com");
    const code = await sink!.nextCode("alice@example.com");
    expect((await verify(alice.token, code)).status).toBe(200);
    expectWrongCode(await verify(alice.token, code));
  });

  test(`die after ${CODE_ATTEMPTS} tries, concurrent guesses included; a new code works`, async () => {
    await withMail();
    const alice = await register("alice", "alice@example.com");
    const code = await sink!.nextCode("alice@example.com");
    const guesses = await Promise.all(Array.from({ length: CODE_ATTEMPTS + 3 }, (_, i) => verify(alice.token, `WRNG-${"23456789"[i]}AAA`)));
    for (const res of guesses) expectWrongCode(res);
    // The tries are spent: the right code no longer works either.
    expectWrongCode(await verify(alice.token, code));
    expect((await me(alice.token)).emailVerified).toBe(false);
    // Setting the address again sends a new code.
    expect((await patchMe(alice.token, { email: "alice@example.com" })).status).toBe(200);
    const fresh = await sink!.nextCode("alice@example.com");
    expect((await verify(alice.token, fresh)).status).toBe(200);
  });

  test("expire after 30 minutes", async () => {
    const clock = manualClock();
    await withMail({ now: clock.now }, { accessTokenTtl: 7200 });
    const early = await register("early", "early@example.com");
    const earlyCode = await sink!.nextCode("early@example.com");
    const late = await register("late", "late@example.com");
    const lateCode = await sink!.nextCode("late@example.com");
    clock.advance(30 * 60_000 - 1000);
    expect((await verify(early.token, earlyCode)).status).toBe(200);
    clock.advance(2000);
    expectWrongCode(await verify(late.token, lateCode));
  });

  test("a new code replaces the old; a code is good only for the address it was sent to", async () => {
    await withMail();
    const alice = await register("alice", "alice@example.com");
    const first = await sink!.nextCode("alice@example.com");
    expect((await patchMe(alice.token, { email: "alice@example.com" })).status).toBe(200);
    const second = await sink!.nextCode("alice@example.com");
    expectWrongCode(await verify(alice.token, first));

    // Another address: the code sent to the first one dies, also when the first comes back.
    expect((await patchMe(alice.token, { email: "other@example.com" })).status).toBe(200);
    const other = await sink!.nextCode("other@example.com");
    expect((await patchMe(alice.token, { email: "alice@example.com" })).status).toBe(200);
    const third = await sink!.nextCode("alice@example.com");
    expectWrongCode(await verify(alice.token, second));
    expectWrongCode(await verify(alice.token, other));
    const res = await verify(alice.token, third);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ email: "alice@example.com", emailVerified: true });
  });

  test("clearing the email ends its code", async () => {
    await withMail();
    const alice = await register("alice", "alice@example.com");
    const code = await sink!.nextCode("alice@example.com");
    const cleared = await patchMe(alice.token, { email: null });
    expect(cleared.body).toMatchObject({ email: null, emailVerified: false });
    expectWrongCode(await verify(alice.token, code));
  });

  test("are stored only as keyed hashes", async () => {
    await withMail();
    const alice = await register("alice", "alice@example.com");
    const code = (await sink!.nextCode("alice@example.com")).replace("-", "");
    const { database } = ctx!.services;
    const rows = await database.db.select().from(database.tables.emailVerifications);
    expect(rows.length).toBe(1);
    const stored = JSON.stringify(rows);
    expect(stored).not.toContain(code);
    expect(stored).not.toContain(code.toLowerCase());
    for (const plain of [code, `${code.slice(0, 4)}-${code.slice(4)}`])
      for (const encoding of ["hex", "base64", "base64url"] as const)
        expect(stored).not.toContain(createHash("sha256").update(plain).digest(encoding));
    expect((await verify(alice.token, code)).status).toBe(200);
    expect(await database.db.select().from(database.tables.emailVerifications)).toEqual([]);
  });

  test("a verified address changed for another is free for its next owner", async () => {
    await withMail();
    const alice = await register("alice", "old@example.com");
    expect((await verify(alice.token, await sink!.nextCode("old@example.com"))).status).toBe(200);
    // A change of letter case is no change: still verified, no code, not counted.
    for (let i = 0; i < 8; i++) expect((await patchMe(alice.token, { email: i % 2 ? "old@example.com" : "OLD@example.com" })).body.emailVerified).toBe(true);

    expect((await patchMe(alice.token, { email: "new@example.com" })).body).toMatchObject({ email: "new@example.com", emailVerified: false });
    expect((await login("old@example.com")).status).toBe(401);
    const bob = await register("bob", "old@example.com");
    expect((await verify(bob.token, await sink!.nextCode("old@example.com"))).status).toBe(200);
    expect((await login("old@example.com")).body.user.id).toBe(bob.id);
  });
});

describe("probing for addresses", () => {
  test("no answer tells whether an address is someone's, verified or not", async () => {
    await withMail();
    const bob = await register("bob", "bob@example.com");
    expect((await verify(bob.token, await sink!.nextCode("bob@example.com"))).status).toBe(200);
    await register("carol", "carol@example.com"); // unverified
    await sink!.nextCode("carol@example.com");

    // Register: the same answer for a verified, an unverified and a fresh address.
    const registered = await Promise.all(
      ["bob@example.com", "carol@example.com", "fresh@example.com"].map((email, i) =>
        call("POST", "/api/auth/register", { body: { username: `prober${i}`, password: PASSWORD, email } }),
      ),
    );
    for (const res of registered) {
      expect(res.status).toBe(201);
      expect(shape(res.body.user)).toEqual(shape(registered[2]!.body.user));
    }
    // PATCH: the same.
    const alice = await register("alice");
    const patched = [];
    for (const email of ["bob@example.com", "carol@example.com", "fresh2@example.com"]) patched.push(await patchMe(alice.token, { email }));
    for (const res of patched) {
      expect(res.status).toBe(200);
      expect(shape(res.body)).toEqual(shape(patched[2]!.body));
      expect(res.body.emailVerified).toBe(false);
    }
    // Login with a wrong password: the same for a verified address, an unverified one and nobody's.
    const logins = await Promise.all(["bob@example.com", "carol@example.com", "nobody@example.com"].map((name) => login(name, "wrong-password")));
    for (const res of logins) {
      expect(res.status).toBe(401);
      expect(res.body).toEqual(logins[2]!.body);
    }

    // Bob's mailbox got no code for the accounts that merely typed his verified address:
    // the mail to the fresh addresses, sent after them, came; none to bob came with it.
    await sink!.nextCode("fresh@example.com");
    await sink!.nextCode("fresh2@example.com");
    await sink!.nextCode("carol@example.com");
    await sink!.nextCode("carol@example.com");
    expect(sink!.messages.filter((m) => m.to.includes("bob@example.com")).length).toBe(1);
  });

  test("new addresses are limited per user: 5 an hour, then 429 with Retry-After", async () => {
    const clock = manualClock();
    await withMail({ now: clock.now });
    const alice = await register("alice");
    const bob = await register("bob");
    const probes: TestResponse[] = [];
    for (let i = 0; i < 200; i++) {
      const res = await patchMe(alice.token, { email: `probe${i}@example.com` });
      probes.push(res);
      if (res.status === 429) break;
    }
    expect(probes.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429]);
    expectRateLimited(probes[5]!);
    expect(Number(probes[5]!.headers.get("retry-after"))).toBe(12 * 60);
    // Nothing changed by the refused one.
    expect((await me(alice.token)).email).toBe("probe4@example.com");
    // Asking for a new code for the same address counts too.
    expectRateLimited(await patchMe(alice.token, { email: "probe4@example.com" }));
    // Other profile fields and clearing the email are not limited; other users are not either.
    expect((await patchMe(alice.token, { statusText: "still here" })).status).toBe(200);
    expect((await patchMe(bob.token, { email: "bob@example.com" })).status).toBe(200);
    // One more every 12 minutes.
    clock.advance(12 * 60_000);
    expect((await patchMe(alice.token, { email: "later@example.com" })).status).toBe(200);
    expectRateLimited(await patchMe(alice.token, { email: "later2@example.com" }));
    expect((await patchMe(alice.token, { email: null })).status).toBe(200);
  });
});

describe("mail that cannot be sent", () => {
  test("a server that refuses the message fails no request; the failure is logged", async () => {
    const logger = recordingLogger();
    sink = await startMailSink({ refuse: true });
    ctx = setup({ smtp: sink.smtp }, { logger });
    const alice = await register("alice", "alice@example.com");
    expect((await patchMe(alice.token, { email: "alice2@example.com" })).status).toBe(200);
    await ctx.services.emails.drain();
    const failures = logger.lines.filter((l) => l.msg === "verification code not sent");
    expect(failures.length).toBe(2);
    expect(failures[0]!.fields).toMatchObject({ userId: alice.id });
    expect(JSON.stringify(failures)).toContain("Mailbox unavailable");
    expect(sink.messages).toEqual([]);
  });

  test("an unreachable server fails no request; the failure is logged", async () => {
    const logger = recordingLogger();
    const closed = await startMailSink();
    await closed.close(); // nothing listens on its port any more
    ctx = setup({ smtp: closed.smtp }, { logger });
    await register("alice", "alice@example.com");
    await ctx.services.emails.drain();
    expect(logger.lines.filter((l) => l.msg === "verification code not sent").length).toBe(1);
  });

  test("nothing is sent for a change that did not commit", async () => {
    await withMail();
    await register("alice", "alice@example.com");
    await sink!.nextCode("alice@example.com");
    const taken = await call("POST", "/api/auth/register", { body: { username: "ALICE", password: PASSWORD, email: "ghost@example.com" } });
    expect(taken.status).toBe(409);
    await ctx!.services.emails.drain();
    expect(sink!.messages.flatMap((m) => m.to)).toEqual(["alice@example.com"]);
  });
});
