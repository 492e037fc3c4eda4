/** The typed client's REST side and session events, against the app listening on 127.0.0.1. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createClient, RequestFailed, ServerRefused, type SessionEvents, SignedOut } from "bunchat/client";
import { manualClock } from "../helpers";
import { type LiveServer, startServer } from "../realtime/helpers";
import { Gate, loadAll, recordFrames, until, untilSameHistory, within } from "./helpers";

const PASSWORD = "correct-horse-battery";
let counter = 0;
const name = (who: string) => `${who}${++counter}_${Math.random().toString(36).slice(2, 7)}`;

let server: LiveServer;
const clock = manualClock();
let base: string;

beforeAll(async () => {
  server = await startServer({}, { now: clock.now });
  base = `http://127.0.0.1:${server.port}`;
});
afterAll(() => server.close());

describe("REST", () => {
  test("login and register refuse with the server's error envelope", async () => {
    const client = createClient({ baseUrl: base });
    const username = name("ada");
    await client.register({ username, password: PASSWORD });
    const taken = await client.register({ username, password: PASSWORD }).catch((e) => e);
    expect(taken).toBeInstanceOf(RequestFailed);
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe("CONFLICT");
    const wrong = await createClient({ baseUrl: base }).login({ username, password: "wrong-password" }).catch((e) => e);
    expect([wrong.status, wrong.body.error.code]).toEqual([401, "UNAUTHENTICATED"]);
  });

  test("typed calls carry the token; concurrent calls after an expiry share one refresh", async () => {
    const gate = new Gate();
    const client = createClient({ baseUrl: base, fetch: gate.fetch });
    const user = await client.login({ username: (await registered()).username, password: PASSWORD });
    const { data: me } = await client.api.auth.me.get();
    expect(me!.id).toBe(user.id);

    clock.advance((server.services.config.accessTokenTtl + 1) * 1000);
    const answers = await Promise.all(Array.from({ length: 5 }, () => client.api.auth.me.get()));
    expect(answers.map((a) => a.data?.id)).toEqual(Array(5).fill(user.id));
    expect(gate.answers.filter((a) => a.path === "/api/auth/refresh")).toHaveLength(1);
  });

  test("a kept refresh token signs in; every new one reaches the hook, and null at logout", async () => {
    const kept: (string | null)[] = [];
    const first = createClient({ baseUrl: base, onRefreshToken: (t) => kept.push(t) });
    await first.login({ username: (await registered()).username, password: PASSWORD });

    const later = createClient({ baseUrl: base, refreshToken: kept.at(-1)!, onRefreshToken: (t) => kept.push(t) });
    expect(later.signedIn).toBe(true);
    const { data: me } = await later.api.auth.me.get();
    expect(me).not.toBeNull();
    expect(kept).toHaveLength(2);
    expect(kept[1]).not.toBe(kept[0]);

    await later.logout();
    expect(kept.at(-1)).toBeNull();
    expect(later.signedIn).toBe(false);
    expect((await later.api.auth.me.get()).status).toBe(401);
    // The first client's refresh token was rotated away, and the session is over anyway.
    expect(await first.refresh().catch((e) => e)).toBeInstanceOf(SignedOut);
  });
});

describe("the live session", () => {
  test("tells typed events: messages, typing, read, presence, rooms and members", async () => {

    const alice = createClient({ baseUrl: base });
    const bob = createClient({ baseUrl: base });
    const a = await alice.register({ username: name("alice"), password: PASSWORD });
    const b = await bob.register({ username: name("bob"), password: PASSWORD });
    const session = alice.connect({ heartbeatMs: 0 });
    const recorded = recordFrames(session);
    const seen: { [K in keyof SessionEvents]?: SessionEvents[K][] } = {};
    for (const type of ["message", "typing", "read", "presence", "room", "state", "synced"] as const)
      session.on(type, (e) => void (seen[type] ??= [] as never[]).push(e as never));
    try {
      await until("open", () => seen.synced?.length);
      const { data: room } = await bob.api.rooms.post({ name: "events", memberIds: [a.id] });
      await until("room.created", () => seen.room?.some((e) => e.type === "room.created" && e.room.id === room!.id));
      expect(session.rooms()).toContain(room!.id);

      const bobSession = bob.connect({ heartbeatMs: 0 });
      try {
        await until("bob online", () => seen.presence?.some((e) => e.userId === b.id && e.presence === "online"));
        await until("bob's session open", () => bobSession.state === "open");
        bobSession.typing(room!.id);
        await until("typing", () => seen.typing?.some((e) => e.userId === b.id && e.roomId === room!.id));
        const sent = await within("bob's send", bobSession.send(room!.id, "hi alice"));
        await until("message", () => seen.message?.some((m) => m.id === sent.id));
        session.read(room!.id, sent.seq);
        await until("read", () => seen.read?.some((e) => e.userId === a.id && e.seq === sent.seq));
      } finally {
        bobSession.close();
      }

      await alice.api.rooms({ id: room!.id }).leave.post();
      await until("member.left", () => seen.room?.some((e) => e.type === "member.left" && e.userId === a.id));
      expect(session.rooms()).not.toContain(room!.id);
      expect(seen.state?.map((e) => e.state)).toEqual(["open"]);
      recorded.check();
      expect(new Set(recorded.frames.map((f) => f.type))).toEqual(
        new Set(["ready", "sync.done", "room.created", "presence", "typing", "message.new", "read", "member.left"] as const),
      );
    } finally {
      session.close();
    }
    expect(session.state).toBe("closed");
  });

  test("keeps readCount from read events and sends; edits, deletes, reacts and attaches over the socket; resumes from ready.position", async () => {
    const syncs: string[] = [];
    class Recording extends WebSocket {
      override send(data: Parameters<WebSocket["send"]>[0]) {
        const frame = JSON.parse(String(data));
        if (frame.type === "sync") syncs.push(frame.since ?? "");
        super.send(data);
      }
    }
    const gate = new Gate();
    const alice = createClient({ baseUrl: base, fetch: gate.fetch, WebSocket: Recording });
    const bob = createClient({ baseUrl: base });
    const carol = createClient({ baseUrl: base });
    const a = await alice.register({ username: name("alice"), password: PASSWORD });
    const b = await bob.register({ username: name("bob"), password: PASSWORD });
    const c = await carol.register({ username: name("carol"), password: PASSWORD });
    const { data: room } = await bob.api.rooms.post({ name: "counts", memberIds: [a.id, c.id] });
    for (const content of ["one", "two"]) await bob.api.rooms({ id: room!.id }).messages.post({ content });
    await carol.api.rooms({ id: room!.id }).messages.post({ content: "three" });

    const session = alice.connect({ heartbeatMs: 0, reconnect: { baseMs: 10, maxMs: 50 } });
    const recorded = recordFrames(session);
    let synced = 0;
    session.on("synced", () => synced++);
    try {
      await until("the first sync", () => synced >= 1);
      await loadAll(session, room!.id);
      await untilSameHistory(session, alice, room!.id);

      // Live reads: each read event counts once on the held messages it covers, with no REST read.
      const asked = () => gate.answers.filter((x) => x.path === `/api/rooms/${room!.id}/messages`).length;
      const before = asked();
      await carol.api.rooms({ id: room!.id }).read.post({ seq: 2 });
      await bob.api.rooms({ id: room!.id }).read.post({ seq: 3 });
      await until("the reads", () => session.messages(room!.id).map((m) => m.readCount).join() === "1,1,1");
      expect(asked()).toBe(before);
      await untilSameHistory(session, alice, room!.id);

      // A send moves its sender's read position: the messages below it gain a reader.
      const sent = await within("the send", session.send(room!.id, "four"));
      await until("alice's read position", () => session.messages(room!.id).map((m) => m.readCount).join() === "2,2,2,0");
      await bob.api.rooms({ id: room!.id }).messages.post({ content: "five" });
      await untilSameHistory(session, alice, room!.id);

      // Over the socket: an edit, reactions, a deletion, a send with an attachment.
      const edited = await within("the edit", session.edit(sent.id, "four, edited"));
      expect(edited.content).toBe("four, edited");
      const reacted = await within("the reaction", session.react(sent.id, "👍"));
      expect(reacted.reactions).toEqual([{ emoji: "👍", count: 1, me: true }]);
      await within("the unreaction", session.react(sent.id, "👍", false));
      await within("the deletion", session.delete(sent.id));
      const refused = await session.edit(sent.id, "too late").catch((e) => e);
      expect(refused).toBeInstanceOf(ServerRefused);
      expect(refused.error.code).toBe("CONFLICT");
      const { data: file, error } = await alice.api.files.post({ file: new File(["hello"], "hello.txt", { type: "text/plain" }) } as never);
      expect(error).toBeNull();
      const withFile = await within("the send with a file", session.send(room!.id, "", { attachments: [(file as { id: string }).id] }));
      expect(withFile.attachments.map((f) => f.id)).toEqual([(file as { id: string }).id]);
      await untilSameHistory(session, alice, room!.id);

      // Away: reads and a send the socket does not see; back, the store holds the server's counts.
      for (const connection of server.services.realtime.hub.connections()) if (connection.userId === a.id) connection.disconnect(1008, "reconnect");
      gate.hold();
      await until("the session to notice", () => session.state === "reconnecting");
      await carol.api.rooms({ id: room!.id }).read.post({ seq: withFile.seq });
      await carol.api.rooms({ id: room!.id }).messages.post({ content: "six" });
      gate.release();
      await until("the second sync", () => synced >= 2);
      await untilSameHistory(session, alice, room!.id);
      expect(syncs).toHaveLength(2);
      expect(syncs[0]).toBe("");
      expect(syncs[1]).toMatch(/^p\d+$/);
      recorded.check();
      for (const type of ["ack", "read", "message.updated", "message.deleted", "reaction.added", "reaction.removed"])
        expect(recorded.frames.map((f) => f.type)).toContain(type as never);
    } finally {
      gate.release();
      session.close();
    }
  });

  test("stops, signed out, when its session is revoked elsewhere", async () => {
    const kept: (string | null)[] = [];
    const client = createClient({ baseUrl: base, onRefreshToken: (t) => kept.push(t) });
    await client.register({ username: name("ada"), password: PASSWORD });
    const session = client.connect({ heartbeatMs: 0, reconnect: { baseMs: 10, maxMs: 50 } });
    const states: SessionEvents["state"][] = [];
    session.on("state", (e) => states.push(e));
    await until("open", () => session.state === "open");
    const pending = session.send("no-such-room", "never").catch((e) => e);

    // Another holder of the same refresh token logs out: the server closes the socket with 4001.
    await createClient({ baseUrl: base, refreshToken: kept.at(-1)! }).logout();
    await until("closed", () => session.state === "closed");
    expect(states.at(-1)).toMatchObject({ state: "closed", code: 4001, closedReason: "signed-out" });
    expect(client.signedIn).toBe(false);
    expect((await pending).name).toMatch(/SessionClosed|ServerRefused/);
  });

  test("stops at logout, and does not start without a session", async () => {
    const client = createClient({ baseUrl: base });
    await client.register({ username: name("ada"), password: PASSWORD });
    const session = client.connect({ heartbeatMs: 0 });
    await until("open", () => session.state === "open");
    await client.logout();
    expect(session.state).toBe("closed");

    const states: SessionEvents["state"][] = [];
    const gate = new Gate();
    const never = createClient({ baseUrl: base, fetch: gate.fetch }).connect({ reconnect: { baseMs: 1, maxMs: 1 } });
    never.on("state", (e) => states.push(e));
    await until("closed", () => never.state === "closed");
    expect(states).toEqual([{ state: "closed", closedReason: "signed-out" }]);
    expect(gate.answers.map((a) => a.status)).toEqual([401]);
  });

  test("stops without retrying when the server holds too many sockets of the user (4008)", async () => {
    const capped = await startServer({ limits: { ...server.services.config.limits, wsMaxPerUser: 1 } });
    try {
      const client = createClient({ baseUrl: `http://127.0.0.1:${capped.port}` });
      const user = await client.register({ username: name("ada"), password: PASSWORD });
      const first = client.connect({ heartbeatMs: 0 });
      await until("first open", () => first.state === "open");
      const gate = new Gate();
      const second = createClient({ baseUrl: `http://127.0.0.1:${capped.port}`, fetch: gate.fetch });
      await second.login({ username: user.username, password: PASSWORD });
      const extra = second.connect({ heartbeatMs: 0, reconnect: { baseMs: 1, maxMs: 1 } });
      const states: SessionEvents["state"][] = [];
      extra.on("state", (e) => states.push(e));
      await until("closed", () => extra.state === "closed");
      expect(states.at(-1)).toMatchObject({ state: "closed", code: 4008, closedReason: "too-many-connections" });
      expect(gate.answers.filter((a) => a.path === "/api/auth/ws-ticket")).toHaveLength(1);
      first.close();
    } finally {
      await capped.close();
    }
  });
});

async function registered() {
  const username = name("user");
  await createClient({ baseUrl: base }).register({ username, password: PASSWORD });
  return { username };
}
