/**
 * One story every resume test tells: a session follows a room live, loses its socket, misses
 * messages, edits, a deletion, reactions and a reply while it sends messages of its own, comes
 * back, and ends holding exactly the server's history with each of its sends there once.
 */
import { expect } from "bun:test";
import { type Client, createClient, type Message, type Session } from "bunchat/client";
import { Gate, loadAll, recordFrames, until, untilSameHistory, within } from "./helpers";

export interface Disruption {
  /** Makes the server drop the session's socket (and whatever else the story needs: a restart, a clock moved on). */
  disconnect(ctx: { userId: string; gate: Gate }): Promise<void>;
}

let counter = 0;
const name = (who: string) => `${who}${++counter}_${Math.random().toString(36).slice(2, 7)}`;
const PASSWORD = "correct-horse-battery";

function ok<T>(result: { data: T; error: { status: unknown; value: unknown } | null }): NonNullable<T> {
  if (result.error) throw new Error(`${result.error.status} ${JSON.stringify(result.error.value)}`);
  return result.data as NonNullable<T>;
}

export interface ScenarioResult {
  gate: Gate;
  client: Client;
  session: Session;
  refreshTokens: (string | null)[];
}

export async function resumeScenario(baseUrl: () => string, disruption: Disruption): Promise<ScenarioResult> {
  const gate = new Gate();
  const refreshTokens: (string | null)[] = [];
  const client = createClient({ baseUrl: baseUrl(), fetch: gate.fetch, onRefreshToken: (t) => refreshTokens.push(t) });
  const bob = createClient({ baseUrl: baseUrl() });
  const alice = await client.register({ username: name("alice"), password: PASSWORD });
  await bob.register({ username: name("bob"), password: PASSWORD });

  const room = ok(await bob.api.rooms.post({ name: "resume", memberIds: [alice.id] }));
  const earlier: Message[] = [];
  for (const content of ["one", "two", "three", "four", "five"])
    earlier.push(ok(await bob.api.rooms({ id: room.id }).messages.post({ content })));

  const session = client.connect({ reconnect: { baseMs: 10, maxMs: 200 }, heartbeatMs: 0 });
  const recorded = recordFrames(session);
  let synced = 0;
  session.on("synced", () => synced++);
  const states: string[] = [];
  session.on("state", (e) => states.push(e.state));
  try {
    await until("the first sync", () => synced >= 1);
    expect(session.rooms()).toContain(room.id);
    await loadAll(session, room.id);

    // Live: a send, a reaction by the session's user, an edit and a message from the other member.
    const live = await within("the live send", session.send(room.id, "alice live"));
    ok(await client.api.messages({ id: earlier[0]!.id }).reactions({ emoji: "👍" }).put());
    ok(await bob.api.messages({ id: earlier[1]!.id }).patch({ content: "two, edited live" }));
    ok(await bob.api.rooms({ id: room.id }).messages.post({ content: "bob live", replyToId: live.id }));
    await untilSameHistory(session, client, room.id);

    // A send on its way when the socket goes: acknowledged before or resent after, once either way.
    const inFlight = session.send(room.id, "in flight");
    gate.hold();
    await disruption.disconnect({ userId: alice.id, gate });
    await until("the session to notice", () => session.state === "reconnecting");

    const pending = ["away 1", "away 2", "away 3"].map((content) => session.send(room.id, content));
    // Settled below; rejected only if the story fails first and the session is closed.
    for (const p of [inFlight, ...pending]) p.catch(() => {});
    expect(session.pending().map((p) => p.content)).toEqual(expect.arrayContaining(["away 1", "away 2", "away 3"]));
    ok(await bob.api.rooms({ id: room.id }).messages.post({ content: "bob away 1" }));
    ok(await bob.api.messages({ id: earlier[2]!.id }).patch({ content: "three, edited away" }));
    ok(await bob.api.messages({ id: earlier[3]!.id }).delete());
    ok(await bob.api.messages({ id: earlier[0]!.id }).reactions({ emoji: "👍" }).put());
    ok(await bob.api.messages({ id: live.id }).reactions({ emoji: "🎉" }).put());
    ok(await bob.api.rooms({ id: room.id }).messages.post({ content: "bob reply away", replyToId: earlier[0]!.id }));
    gate.release();

    const acked = await within("every send to be acknowledged", Promise.all([inFlight, ...pending]));
    await until("the session to catch up", () => session.state === "open" && session.pending().length === 0 && synced >= 2);
    const history = await untilSameHistory(session, client, room.id);

    for (const sent of acked) {
      const copies = history.filter((m) => m.content === sent.content);
      expect(copies).toHaveLength(1);
      expect(copies[0]!.id).toBe(sent.id);
    }
    expect(new Set(history.map((m) => m.seq)).size).toBe(history.length);
    expect(history.map((m) => m.seq)).toEqual(history.map((_, i) => i + 1));
    expect(history.find((m) => m.id === earlier[0]!.id)!.reactions).toEqual([{ emoji: "👍", count: 2, me: true }]);
    expect(history.find((m) => m.id === earlier[0]!.id)!.replyCount).toBe(1);
    expect(history.find((m) => m.id === earlier[3]!.id)!.deletedAt).not.toBeNull();
    expect(states).toContain("reconnecting");
    recorded.check();
    const types = new Set(recorded.frames.map((f) => f.type));
    for (const type of ["ready", "sync.done", "ack", "message.new", "message.updated", "message.deleted", "reaction.added"])
      expect(types).toContain(type as never);
    return { gate, client, session, refreshTokens };
  } finally {
    gate.release();
    session.close();
  }
}
