import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createApp } from "../../src/app";
import { RoomInvitations } from "../../src/modules/rooms/invitations";
import { errorCode, setup, type TestContext, type TestResponse, type TestUser } from "../helpers";
import { expectStatus } from "./rooms.helpers";

let ctx: TestContext;
let owner: TestUser;
let roomId: string;
/** The invitation clock: tests move it instead of waiting. */
let clock = Date.parse("2030-01-01T00:00:00Z");
let app: ReturnType<typeof createApp>;

/** Like ctx.call, on an app whose room invitations read `clock`. */
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
  app = createApp({ ...s, roomInvitations: new RoomInvitations(s.database, s.events, s.rooms, () => clock) });
  owner = await ctx.user();
  roomId = (await call("POST", "/api/rooms", owner.token, { name: "Linked" })).body.id;
});
afterAll(() => ctx.close());
beforeEach(() => ctx.events.clear());

const invite = (body: unknown = {}, room = roomId, who = owner) => call("POST", `/api/rooms/${room}/invitations`, who.token, body);
const accept = (code: string, u: TestUser) => call("POST", `/api/invitations/${encodeURIComponent(code)}/accept`, u.token);
const memberIds = async () => (await call("GET", `/api/rooms/${roomId}/members`, owner.token)).body.map((m: { user: { id: string } }) => m.user.id) as string[];
const stored = async (code: string) => (await call("GET", `/api/rooms/${roomId}/invitations`, owner.token)).body.find((i: { code: string }) => i.code === code);

function expect404(res: TestResponse) {
  expect(res.status).toBe(404);
  expect(errorCode(res)).toBe("NOT_FOUND");
}

describe("room invite codes", () => {
  test("a code joins its room: { room } back, member events published, 7 days and unlimited uses by default", async () => {
    const created = await invite();
    expectStatus(created, 201, "invite");
    expect(created.body).toMatchObject({ roomId, createdBy: owner.id, maxUses: null, uses: 0, revokedAt: null });
    expect(created.body.code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(created.body.expiresAt) - Date.parse(created.body.createdAt)).toBe(7 * 24 * 3600 * 1000);

    const guest = await ctx.user();
    const res = await accept(created.body.code, guest);
    expectStatus(res, 200, "accept");
    expect(res.body.team).toBeUndefined();
    expect(res.body.room).toMatchObject({ id: roomId, kind: "group", myRole: "member", memberCount: 2 });
    expect(await memberIds()).toContain(guest.id);
    const log = ctx.events.log.map((e) => ("event" in e ? `${e.to} ${e.event.type}` : `${e.to} ${"userId" in e ? e.userId : ""}`));
    expect(log).toEqual([`joined ${guest.id}`, "room member.joined"]);
    expect(ctx.events.ofType("member.joined")[0]).toMatchObject({ roomId, event: { roomId, userId: guest.id } });

    // Accepting again as a member: the room back, no use spent, nobody told.
    ctx.events.clear();
    const again = await accept(created.body.code, guest);
    expect(again.status).toBe(200);
    expect(again.body.room.id).toBe(roomId);
    expect(ctx.events.log).toEqual([]);
    expect((await stored(created.body.code)).uses).toBe(1);
  });

  test("a team's code still answers { team } at the same route", async () => {
    const team = await call("POST", "/api/teams", owner.token, { name: "Both kinds" });
    const code = (await call("POST", `/api/teams/${team.body.id}/invitations`, owner.token, {})).body.code;
    const res = await accept(code, await ctx.user());
    expect(res.status).toBe(200);
    expect(res.body.room).toBeUndefined();
    expect(res.body.team).toMatchObject({ id: team.body.id, myRole: "member" });
  });

  test("an expired code is 404", async () => {
    const { body } = await invite({ expiresInSeconds: 60 });
    const [early, late] = [await ctx.user(), await ctx.user()];
    clock += 59_999;
    expect((await accept(body.code, early)).status).toBe(200);
    clock += 1;
    expect404(await accept(body.code, late));
    expect(await memberIds()).not.toContain(late.id);
  });

  test("a used-up code is 404; concurrent accepts never go past maxUses", async () => {
    const { body } = await invite({ maxUses: 2 });
    const people = await Promise.all(Array.from({ length: 6 }, () => ctx.user()));
    const results = await Promise.all(people.map((u) => accept(body.code, u)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(2);
    for (const r of results.filter((r) => r.status !== 200)) expect404(r);
    expect((await stored(body.code)).uses).toBe(2);
    const ids = await memberIds();
    expect(people.filter((u) => ids.includes(u.id))).toHaveLength(2);
    expect404(await accept(body.code, await ctx.user()));
  });

  test("a revoked code is 404; revoking is idempotent and scoped to its room", async () => {
    const { body } = await invite();
    const other = (await call("POST", "/api/rooms", owner.token, { name: "Elsewhere" })).body.id;
    expect404(await call("DELETE", `/api/rooms/${other}/invitations/${body.code}`, owner.token));
    expect((await call("DELETE", `/api/rooms/${roomId}/invitations/${body.code}`, owner.token)).status).toBe(204);
    expect((await call("DELETE", `/api/rooms/${roomId}/invitations/${body.code}`, owner.token)).status).toBe(204);
    expect((await stored(body.code)).revokedAt).toBe(new Date(clock).toISOString());
    const guest = await ctx.user();
    expect404(await accept(body.code, guest));
    expect(await memberIds()).not.toContain(guest.id);
    expect404(await accept("NoSuchCodeAtAll", guest));
  });

  test("a banned user is refused with 403 and spends no use", async () => {
    const { body } = await invite({ maxUses: 1 });
    const banned = await ctx.user();
    expectStatus(await call("POST", `/api/rooms/${roomId}/bans`, owner.token, { userId: banned.id }), 201, "ban");
    const res = await accept(body.code, banned);
    expect(res.status).toBe(403);
    expect(errorCode(res)).toBe("FORBIDDEN");
    expect(await memberIds()).not.toContain(banned.id);
    expect((await stored(body.code)).uses).toBe(0);
    expect(ctx.events.ofType("member.joined")).toHaveLength(0);
  });

  test("only admins and owners of a private group room manage codes", async () => {
    const member = await ctx.user();
    const admin = await ctx.user();
    const outsider = await ctx.user();
    expectStatus(await call("POST", `/api/rooms/${roomId}/members`, owner.token, { userId: member.id }), 201, "add member");
    expectStatus(await call("POST", `/api/rooms/${roomId}/members`, owner.token, { userId: admin.id, role: "admin" }), 201, "add admin");
    expect((await invite({}, roomId, admin)).status).toBe(201);
    expect((await call("GET", `/api/rooms/${roomId}/invitations`, admin.token)).status).toBe(200);
    for (const res of [await invite({}, roomId, member), await call("GET", `/api/rooms/${roomId}/invitations`, member.token)]) {
      expect(res.status).toBe(403);
      expect(errorCode(res)).toBe("FORBIDDEN");
    }
    expect404(await invite({}, roomId, outsider));
    expect404(await call("GET", `/api/rooms/${roomId}/invitations`, outsider.token));

    const pub = (await call("POST", "/api/rooms", owner.token, { name: "Open", visibility: "public" })).body.id;
    expect((await invite({}, pub)).status).toBe(403);
    const direct = (await call("POST", "/api/rooms/direct", owner.token, { userId: member.id })).body.id;
    expect((await invite({}, direct)).status).toBe(403);
  });

  test("bad bodies are 422; the room's deletion takes its codes along", async () => {
    for (const body of [{ expiresInSeconds: 0 }, { expiresInSeconds: 31 * 24 * 3600 }, { expiresInSeconds: 1.5 }, { maxUses: 0 }]) {
      const res = await invite(body);
      expect(res.status).toBe(422);
      expect(errorCode(res)).toBe("VALIDATION_FAILED");
    }
    const doomed = (await call("POST", "/api/rooms", owner.token, { name: "Doomed" })).body.id;
    const { body } = await invite({}, doomed);
    expect((await call("DELETE", `/api/rooms/${doomed}`, owner.token)).status).toBe(204);
    expect404(await accept(body.code, await ctx.user()));
  });
});
