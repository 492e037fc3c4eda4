/** The session's `user` and `followed` events, against the app listening on 127.0.0.1. */
import { afterAll, describe, expect, test } from "bun:test";
import { type Client, createClient, type Session, type SessionEvents } from "bunchat/client";
import { serverForFile } from "../realtime/helpers";
import { recordFrames, until, within } from "./helpers";

const PASSWORD = "correct-horse-battery";
let counter = 0;
const name = (who: string) => `${who}${++counter}_${Math.random().toString(36).slice(2, 7)}`;

const live = serverForFile();

async function person(who: string): Promise<{ client: Client; id: string }> {
  const client = createClient({ baseUrl: live.base });
  const user = await client.register({ username: name(who), password: PASSWORD });
  return { client, id: user.id };
}

/** A connected session that has caught up, with every event of the given types kept. */
async function connected<K extends keyof SessionEvents>(client: Client, types: K[]) {
  const session = client.connect({ heartbeatMs: 0 });
  const seen = { synced: 0 } as { [T in K]: SessionEvents[T][] } & { synced: number };
  for (const type of types) {
    seen[type] = [] as never;
    session.on(type, (e) => void (seen[type] as SessionEvents[K][]).push(e));
  }
  session.on("synced", () => void seen.synced++);
  await until("synced", () => seen.synced > 0);
  return { session, seen };
}

describe("user.updated in the session", () => {
  let sessions: Session[] = [];
  afterAll(() => {
    for (const session of sessions) session.close();
  });

  test("renames the held messages' sender and the session's own user; goes to nobody who shares no room", async () => {
    const alice = await person("alice");
    const bob = await person("bob");
    const carol = await person("carol");
    const { data: room } = await bob.client.api.rooms.post({ name: "renames", memberIds: [alice.id] });
    const a = await connected(alice.client, ["user", "message"]);
    const c = await connected(carol.client, ["user"]);
    sessions = [a.session, c.session];
    const recorded = recordFrames(a.session);

    const { data: sent } = await bob.client.api.rooms({ id: room!.id }).messages.post({ content: "before the rename" });
    await until("bob's message", () => a.seen.message.some((m) => m.id === sent!.id));
    expect(a.session.messages(room!.id)[0]!.sender.displayName).not.toBe("Robert");

    expect((await bob.client.api.users.me.patch({ displayName: "Robert" })).status).toBe(200);
    const event = await until("bob's user.updated", () => a.seen.user.find((e) => e.user.id === bob.id));
    const shown = (await alice.client.api.users({ id: bob.id }).get()).data!;
    expect(event.user).toEqual({ ...shown, presence: event.user.presence });
    expect(a.session.messages(room!.id)[0]!.sender).toEqual({ id: bob.id, username: shown.username, displayName: "Robert", avatarUrl: null });

    expect((await alice.client.api.users.me.patch({ statusText: "reading" })).status).toBe(200);
    await until("alice's own user.updated", () => a.seen.user.some((e) => e.user.id === alice.id));
    expect(a.session.user).toMatchObject({ id: alice.id, statusText: "reading" });
    expect(a.session.user?.role).toBe("user");

    // Carol's own change reaches her after anything sent to her before it: Bob's never did.
    expect((await carol.client.api.users.me.patch({ displayName: "Caroline" })).status).toBe(200);
    await until("carol's own user.updated", () => c.seen.user.some((e) => e.user.id === carol.id));
    expect(c.seen.user.map((e) => e.user.id)).toEqual([carol.id]);
    recorded.check();
  });
});

describe("followed", () => {
  test("fires once when a room joined over REST is followed; the room then reads through the session", async () => {
    const alice = await person("alice");
    const bob = await person("bob");
    const { data: room } = await bob.client.api.rooms.post({ name: "open house", visibility: "public" });
    for (const content of ["one", "two", "three"]) await bob.client.api.rooms({ id: room!.id }).messages.post({ content });
    const { session, seen } = await connected(alice.client, ["followed", "message"]);
    try {
      expect(session.rooms()).not.toContain(room!.id);
      expect((await alice.client.api.rooms({ id: room!.id }).join.post()).status).toBe(200);
      await until("followed", () => seen.followed.some((e) => e.roomId === room!.id));
      expect(session.rooms()).toContain(room!.id);
      expect(session.hasOlder(room!.id)).toBe(true);
      const older = await within("the history", session.loadOlder(room!.id));
      expect(older.map((m) => m.content)).toEqual(["one", "two", "three"]);

      const { data: sent } = await bob.client.api.rooms({ id: room!.id }).messages.post({ content: "four" });
      await until("a live message", () => seen.message.some((m) => m.id === sent!.id));
      expect(session.messages(room!.id).map((m) => m.content)).toEqual(["one", "two", "three", "four"]);
      expect(seen.followed.filter((e) => e.roomId === room!.id)).toHaveLength(1);
    } finally {
      session.close();
    }
  });

  test("fires for a room created with the user in it", async () => {
    const alice = await person("alice");
    const bob = await person("bob");
    const { session, seen } = await connected(alice.client, ["followed", "room"]);
    try {
      const { data: room } = await bob.client.api.rooms.post({ name: "made for two", memberIds: [alice.id] });
      await until("followed", () => seen.followed.some((e) => e.roomId === room!.id));
      expect(session.rooms()).toContain(room!.id);
      // The room's own event came with it.
      expect(seen.room.some((e) => e.type === "room.created" && e.room.id === room!.id)).toBe(true);
      expect(seen.followed).toEqual([{ roomId: room!.id }]);
    } finally {
      session.close();
    }
  });
});
