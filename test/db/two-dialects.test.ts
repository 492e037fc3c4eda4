/**
 * A SQLite and a PostgreSQL database open in one process at once: each app serves its own
 * data, through its own tables and message store, whatever the other does in between.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { setup, type TestContext } from "../helpers";

describe.if(!!Bun.env.TEST_DATABASE_URL)("SQLite and PostgreSQL side by side", () => {
  const apps: TestContext[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((ctx) => ctx.close()));
  });

  test("each database serves its own users, rooms, messages, search and receipts", async () => {
    const lite = setup({ databaseUrl: "sqlite://:memory:" });
    const pg = setup();
    apps.push(lite, pg);
    expect(lite.services.database.dialect).toBe("sqlite");
    expect(pg.services.database.dialect).toBe("pg");

    // The same names on both: neither database knows of the other's rows.
    const [liteAlice, pgAlice] = await Promise.all([lite.user("alice"), pg.user("alice")]);
    const [liteBob, pgBob] = await Promise.all([lite.user("bob"), pg.user("bob")]);
    expect(liteAlice.id).not.toBe(pgAlice.id);

    const room = async (ctx: TestContext, owner: typeof liteAlice, member: typeof liteBob, name: string) => {
      const res = await ctx.call("POST", "/api/rooms", { token: owner.token, body: { name, memberIds: [member.id] } });
      expect(res.status).toBe(201);
      return res.body.id as string;
    };
    const [liteRoom, pgRoom] = await Promise.all([room(lite, liteAlice, liteBob, "lite room"), room(pg, pgAlice, pgBob, "pg room")]);

    // Sends interleaved across the two: each room numbers its own messages 1, 2, 3 …
    for (let i = 1; i <= 5; i++) {
      const [a, b] = await Promise.all([
        lite.call("POST", `/api/rooms/${liteRoom}/messages`, { token: liteAlice.token, body: { content: `sqlite walrus ${i}`, clientId: `c${i}` } }),
        pg.call("POST", `/api/rooms/${pgRoom}/messages`, { token: pgAlice.token, body: { content: `postgres otter ${i}`, clientId: `c${i}` } }),
      ]);
      expect([a.status, a.body.seq, b.status, b.body.seq]).toEqual([201, i, 201, i]);
    }

    const history = async (ctx: TestContext, roomId: string, token: string) =>
      (await ctx.call("GET", `/api/rooms/${roomId}/messages`, { token })).body.messages.map((m: { content: string }) => m.content);
    expect(await history(lite, liteRoom, liteBob.token)).toEqual([1, 2, 3, 4, 5].map((i) => `sqlite walrus ${i}`));
    expect(await history(pg, pgRoom, pgBob.token)).toEqual([1, 2, 3, 4, 5].map((i) => `postgres otter ${i}`));

    // A room of one database is not found on the other, nor are its messages found by search.
    expect((await lite.call("GET", `/api/rooms/${pgRoom}`, { token: liteAlice.token })).status).toBe(404);
    expect((await pg.call("GET", `/api/rooms/${liteRoom}`, { token: pgAlice.token })).status).toBe(404);
    const search = async (ctx: TestContext, token: string, q: string) =>
      (await ctx.call("GET", `/api/search/messages?q=${q}`, { token })).body.messages.length as number;
    expect([await search(lite, liteBob.token, "walrus"), await search(lite, liteBob.token, "otter")]).toEqual([5, 0]);
    expect([await search(pg, pgBob.token, "otter"), await search(pg, pgBob.token, "walrus")]).toEqual([5, 0]);

    // A retried clientId answers with the first message on its own database only.
    const retry = await pg.call("POST", `/api/rooms/${pgRoom}/messages`, { token: pgAlice.token, body: { content: "again", clientId: "c3" } });
    expect([retry.status, retry.body.content]).toEqual([200, "postgres otter 3"]);

    // Read positions and rooms lists stay apart too.
    expect((await lite.call("POST", `/api/rooms/${liteRoom}/read`, { token: liteBob.token, body: { seq: 5 } })).status).toBeLessThan(300);
    const unread = async (ctx: TestContext, token: string) => (await ctx.call("GET", "/api/rooms", { token })).body.rooms[0].unreadCount;
    expect([await unread(lite, liteBob.token), await unread(pg, pgBob.token)]).toEqual([0, 5]);
  });
});
