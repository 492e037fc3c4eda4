/** The few REST calls that set a run up on our server: users and rooms. */
import type { BenchUser } from "./targets";

async function call<T>(url: string, init: RequestInit, expected: number): Promise<T> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  if (res.status !== expected) throw new Error(`${init.method ?? "GET"} ${new URL(url).pathname}: ${res.status} ${(await res.text()).slice(0, 300)}`);
  return (await res.json()) as T;
}

const json = (token?: string): Record<string, string> => ({
  "content-type": "application/json",
  ...(token && { authorization: `Bearer ${token}` }),
});

export async function register(baseUrl: string, username: string): Promise<BenchUser> {
  const body = JSON.stringify({ username, password: "bench-password-0123" });
  const { user, accessToken } = await call<{ user: { id: string }; accessToken: string }>(
    `${baseUrl}/api/auth/register`,
    { method: "POST", headers: json(), body },
    201,
  );
  return { id: user.id, username, token: accessToken };
}

/** A private group room owned by `owner` with `members` (at most 100 per call, as the API allows). */
export async function createRoom(baseUrl: string, owner: BenchUser, name: string, members: BenchUser[]): Promise<string> {
  const others = members.filter((m) => m.id !== owner.id);
  const { id } = await call<{ id: string }>(
    `${baseUrl}/api/rooms`,
    { method: "POST", headers: json(owner.token), body: JSON.stringify({ name, memberIds: others.slice(0, 100).map((m) => m.id) }) },
    201,
  );
  for (const member of others.slice(100))
    await call(`${baseUrl}/api/rooms/${id}/members`, { method: "POST", headers: json(owner.token), body: JSON.stringify({ userId: member.id }) }, 201);
  return id;
}
