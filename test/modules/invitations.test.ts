import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createApp } from "../../src/app";
import { TeamService } from "../../src/modules/teams/service";
import { errorCode, setup, type TestContext, type TestResponse, type TestUser } from "../helpers";

let ctx: TestContext;
let owner: TestUser;
let teamId: string;
/** The invitation clock: tests move it instead of waiting. */
let clock = Date.parse("2030-01-01T00:00:00Z");
let app: ReturnType<typeof createApp>;

/** Like ctx.call, on an app whose team service reads `clock`. */
async function call(method: string, path: string, token: string, body?: unknown): Promise<TestResponse> {
  const res = await app.handle(
    new Request(`http://localhost${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

beforeAll(async () => {
  ctx = setup();
  const s = ctx.services;
  app = createApp({ ...s, teams: new TeamService(s.database, s.events, s.rooms, s.presence, () => clock) });
  owner = await ctx.user();
  teamId = (await call("POST", "/api/teams", owner.token, { name: "Invited" })).body.id;
});
afterAll(() => ctx.close());
beforeEach(() => ctx.events.clear());

const invite = (body: unknown = {}) => call("POST", `/api/teams/${teamId}/invitations`, owner.token, body);
const accept = (code: string, u: TestUser) => call("POST", `/api/invitations/${encodeURIComponent(code)}/accept`, u.token);
const memberIds = async () => (await call("GET", `/api/teams/${teamId}/members`, owner.token)).body.map((m: { user: { id: string } }) => m.user.id) as string[];
const stored = async (code: string) => (await call("GET", `/api/teams/${teamId}/invitations`, owner.token)).body.find((i: { code: string }) => i.code === code);

describe("invitation codes", () => {
  test("are unguessable: at least 128 random bits, base64url, never repeated", async () => {
    const codes = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const { status, body } = await invite();
      expect(status).toBe(201);
      expect(body.code).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(Buffer.from(body.code, "base64url").length).toBeGreaterThanOrEqual(16);
      codes.add(body.code);
    }
    expect(codes.size).toBe(30);
  });

  test("expire after 7 days by default, with unlimited uses", async () => {
    const { body } = await invite();
    expect(body).toMatchObject({ teamId, createdBy: owner.id, maxUses: null, uses: 0, revokedAt: null });
    expect(Date.parse(body.createdAt)).toBe(clock);
    expect(Date.parse(body.expiresAt) - Date.parse(body.createdAt)).toBe(7 * 24 * 3600 * 1000);
  });

  test("stop working the moment they expire", async () => {
    const { body } = await invite({ expiresInSeconds: 1 });
    const [early, late] = [await ctx.user(), await ctx.user()];
    clock += 999;
    expect((await accept(body.code, early)).status).toBe(200);
    clock += 1;
    const res = await accept(body.code, late);
    expect(res.status).toBe(404);
    expect(errorCode(res)).toBe("NOT_FOUND");
    expect(await memberIds()).not.toContain(late.id);

    // The default week, too.
    const week = (await invite()).body;
    clock += 7 * 24 * 3600 * 1000 - 1;
    expect((await accept(week.code, late)).status).toBe(200);
    clock += 1;
    expect((await accept(week.code, await ctx.user())).status).toBe(404);
  });

  test("are used up after maxUses; a member accepting again spends nothing", async () => {
    const { body } = await invite({ maxUses: 2 });
    const [a, b, c] = [await ctx.user(), await ctx.user(), await ctx.user()];
    expect((await accept(body.code, a)).status).toBe(200);
    ctx.events.clear();
    const again = await accept(body.code, a);
    expect(again.status).toBe(200);
    expect(again.body.team).toMatchObject({ id: teamId, myRole: "member" });
    expect(ctx.events.log).toEqual([]); // nothing changed, so nobody is told
    expect((await stored(body.code)).uses).toBe(1);
    expect((await accept(body.code, b)).status).toBe(200);
    expect((await stored(body.code)).uses).toBe(2);
    const third = await accept(body.code, c);
    expect(third.status).toBe(404);
    expect(errorCode(third)).toBe("NOT_FOUND");
    const ids = await memberIds();
    expect(ids.filter((id) => id === a.id)).toHaveLength(1);
    expect(ids).toContain(b.id);
    expect(ids).not.toContain(c.id);
  });

  test("concurrent accepts never go past maxUses", async () => {
    const { body } = await invite({ maxUses: 3 });
    const people = await Promise.all(Array.from({ length: 10 }, () => ctx.user()));
    const results = await Promise.all(people.map((u) => accept(body.code, u)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(3);
    expect(results.filter((r) => r.status === 404)).toHaveLength(7);
    expect((await stored(body.code)).uses).toBe(3);
    const ids = await memberIds();
    expect(people.filter((u) => ids.includes(u.id))).toHaveLength(3);
  });

  test("the same user accepting concurrently joins once and spends one use", async () => {
    const { body } = await invite({ maxUses: 5 });
    const u = await ctx.user();
    const results = await Promise.all(Array.from({ length: 5 }, () => accept(body.code, u)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect((await stored(body.code)).uses).toBe(1);
    expect((await memberIds()).filter((id) => id === u.id)).toHaveLength(1);
    expect(ctx.events.ofType("member.joined").filter((e) => "event" in e && e.event.userId === u.id)).toHaveLength(1);
  });

  test("revoked codes stop working; revoking is idempotent and scoped to the team", async () => {
    const { body } = await invite();
    expect((await call("DELETE", `/api/teams/${teamId}/invitations/${body.code}`, owner.token)).status).toBe(204);
    expect((await call("DELETE", `/api/teams/${teamId}/invitations/${body.code}`, owner.token)).status).toBe(204);
    expect((await stored(body.code)).revokedAt).toBe(new Date(clock).toISOString());
    const res = await accept(body.code, await ctx.user());
    expect(res.status).toBe(404);
    expect(errorCode(res)).toBe("NOT_FOUND");

    const otherOwner = await ctx.user();
    const other = (await call("POST", "/api/teams", otherOwner.token, { name: "Other" })).body.id;
    const theirs = (await call("POST", `/api/teams/${other}/invitations`, otherOwner.token, {})).body.code;
    // Another team's code can't be revoked through this team (nor through a team you don't run).
    expect((await call("DELETE", `/api/teams/${teamId}/invitations/${theirs}`, owner.token)).status).toBe(404);
    expect((await call("DELETE", `/api/teams/${other}/invitations/${theirs}`, owner.token)).status).toBe(404);
    expect((await call("DELETE", `/api/teams/${teamId}/invitations/nope`, owner.token)).status).toBe(404);
    expect((await accept(theirs, await ctx.user())).status).toBe(200);
  });

  test("unknown codes are 404", async () => {
    for (const code of ["nope", "x".repeat(43), Buffer.alloc(32).toString("base64url")]) {
      const res = await accept(code, owner);
      expect(res.status).toBe(404);
      expect(errorCode(res)).toBe("NOT_FOUND");
    }
  });

  test("listing shows every invitation, newest first", async () => {
    clock += 1000;
    const a = (await invite({ maxUses: 1 })).body.code;
    clock += 1000;
    const b = (await invite()).body.code;
    const list = (await call("GET", `/api/teams/${teamId}/invitations`, owner.token)).body.map((i: { code: string }) => i.code);
    expect(list.slice(0, 2)).toEqual([b, a]);
  });

  test("bad options are 422", async () => {
    for (const body of [{ expiresInSeconds: 0 }, { expiresInSeconds: 31 * 24 * 3600 }, { expiresInSeconds: 1.5 }, { maxUses: 0 }, { maxUses: -1 }]) {
      const res = await invite(body);
      expect(`${JSON.stringify(body)} ${res.status}`).toBe(`${JSON.stringify(body)} 422`);
      expect(errorCode(res)).toBe("VALIDATION_FAILED");
    }
  });
});
