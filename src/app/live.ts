/**
 * Everything the app says to the server, on top of `bunchat/client`: REST calls go through the
 * client's authorized fetch (access token refreshed before it expires and once on a 401); the
 * live session (ticket, reconnect, `sync` resume, the per-room message store with readCount,
 * sends retried by clientId, edits, deletions and reactions) is the client's Session. This module
 * turns the session's store and events into the signals the views read.
 *
 * The access token lives only in the client's memory. The refresh token is kept in
 * sessionStorage so that a reload stays signed in (see the README's "Web app" section).
 */
import { batch, signal } from "@preact/signals";
import { createClient, RequestFailed, ServerRefused, type Session, SignedOut } from "../client";
import type { FileView, Message, OwnUser, Room, RoomInvitation, Team, UserRef } from "./types";

export type ConnState = "offline" | "connecting" | "online" | "reconnecting";

export interface Timeline {
  /** Ascending by seq, no duplicates. */
  messages: Message[];
  /** Whether older messages exist before the first one held. */
  hasOlder: boolean;
}

export interface Pending {
  clientId: string;
  roomId: string;
  content: string;
  replyToId: string | null;
  /** Files already uploaded, sent with the message by id. */
  attachments: FileView[];
  createdAt: string;
  /** Set when the server refused the send; the message is then kept for a manual retry. */
  error: string | null;
}

export interface Receipts {
  /** Highest seq the other member of a direct chat has read / received. */
  read: number;
  delivered: number;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details?: unknown) {
    super(message);
  }
}

const REFRESH_KEY = "bunchat.refreshToken";
const TYPING_SHOWN_MS = 4_000;
const TYPING_SENT_EVERY_MS = 2_000;
const TIMELINE_PAGE = 50;

export const me = signal<OwnUser | null>(null);
/** False until the stored session has been tried on start-up. */
export const booted = signal(false);
export const conn = signal<ConnState>("offline");
/** Set when the server closed the session for good with 4008 (too many sockets for this user): no reconnecting until `reconnect()`. */
export const halted = signal<"too-many-connections" | null>(null);
export const rooms = signal<Record<string, Room>>({});
/** The rooms a view has opened: the session's held messages of each, as the views see them. */
export const timelines = signal<Record<string, Timeline>>({});
export const pending = signal<Pending[]>([]);
/** roomId → userId → until when (ms) they show as typing. */
export const typing = signal<Record<string, Record<string, number>>>({});
export const presence = signal<Record<string, "online" | "offline">>({});
/** Names of users seen anywhere (senders, members, search results). */
export const users = signal<Record<string, UserRef>>({});
/** roomId → the other member of a direct chat. */
export const peers = signal<Record<string, string>>({});
export const receipts = signal<Record<string, Receipts>>({});
export const teams = signal<Record<string, Team>>({});

const client = createClient({
  refreshToken: sessionStorage.getItem(REFRESH_KEY),
  onRefreshToken: (token) => (token ? sessionStorage.setItem(REFRESH_KEY, token) : sessionStorage.removeItem(REFRESH_KEY)),
});

// ---------------------------------------------------------------------------------------------
// REST

/**
 * A JSON call through the client's authorized fetch (`body`: JSON, or a FormData sent as
 * multipart); a non-2xx answer throws an ApiError carrying the envelope's code and message.
 */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const form = body instanceof FormData;
  let res: Response;
  try {
    res = await client.fetch(path, {
      method,
      headers: body !== undefined && !form ? { "content-type": "application/json" } : {},
      body: body === undefined ? undefined : form ? body : JSON.stringify(body),
    });
  } catch (error) {
    if (error instanceof SignedOut) {
      signedOut();
      throw new ApiError(401, "UNAUTHORIZED", error.message);
    }
    throw error;
  }
  if (res.status === 204) return undefined as T;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const error = data?.error;
    throw new ApiError(res.status, error?.code ?? "HTTP_ERROR", error?.message ?? `Request failed (${res.status})`, error?.details);
  }
  return data as T;
}

/** The client's failures in the envelope's terms, for the views. */
function asApiError(error: unknown): unknown {
  if (error instanceof RequestFailed) {
    const envelope = (error.body as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
    return new ApiError(error.status, envelope?.code ?? "HTTP_ERROR", envelope?.message ?? error.message, envelope?.details);
  }
  if (error instanceof ServerRefused) return new ApiError(0, error.error.code, error.error.message, error.error.details);
  return error;
}

// ---------------------------------------------------------------------------------------------
// Account

/** Tries the stored refresh token; signed in afterwards when it still worked. */
export async function boot() {
  try {
    if (client.signedIn) {
      me.value = await api<OwnUser>("GET", "/api/auth/me");
      rememberUsers([me.value]);
      start();
    }
  } catch {
    // The server is unreachable (or the session is over): show the sign-in screen.
  } finally {
    booted.value = true;
  }
}

export async function signIn(kind: "login" | "register", body: Record<string, string>) {
  try {
    me.value = kind === "login" ? await client.login(body as never) : await client.register(body as never);
  } catch (error) {
    throw asApiError(error);
  }
  rememberUsers([me.value]);
  start();
}

export async function signOut() {
  stop();
  await client.logout().catch(() => undefined);
  signedOut();
}

function signedOut() {
  stop();
  opened.clear();
  batch(() => {
    me.value = null;
    halted.value = null;
    rooms.value = {};
    timelines.value = {};
    pending.value = [];
    typing.value = {};
    peers.value = {};
    receipts.value = {};
    teams.value = {};
  });
}

export async function updateProfile(fields: Partial<Pick<OwnUser, "displayName" | "statusText">>) {
  me.value = await api<OwnUser>("PATCH", "/api/users/me", fields);
  rememberUsers([me.value]);
}

const fileForm = (file: File) => {
  const form = new FormData();
  form.append("file", file);
  return form;
};

/** Uploads one file (`POST /api/files`); attach it to a send by its id. */
export function upload(file: File) {
  return api<FileView>("POST", "/api/files", fileForm(file));
}

/** `file` null removes the avatar. */
export async function setAvatar(file: File | null) {
  me.value = await api<OwnUser>(file ? "PUT" : "DELETE", "/api/users/me/avatar", file ? fileForm(file) : undefined);
  rememberUsers([me.value]);
}

// ---------------------------------------------------------------------------------------------
// Rooms, users, teams

export function rememberUsers(list: UserRef[]) {
  const next = { ...users.value };
  const seen = { ...presence.value };
  for (const user of list) {
    next[user.id] = { id: user.id, username: user.username, displayName: user.displayName, avatarUrl: user.avatarUrl ?? null };
    const state = (user as { presence?: "online" | "offline" }).presence;
    if (state) seen[user.id] = state;
  }
  batch(() => {
    users.value = next;
    presence.value = seen;
  });
}

/** Every profile held, read again (a few requests at a time) while `current` is the live session. */
async function refreshUsers(current: Session) {
  const ids = Object.keys(users.value).filter((id) => id !== me.value?.id);
  let next = 0;
  const worker = async () => {
    while (next < ids.length && session === current) {
      const user = await api<UserRef & { presence?: "online" | "offline" }>("GET", `/api/users/${ids[next++]}`).catch(() => null);
      if (user && session === current) rememberUsers([user]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, ids.length) }, worker));
  if (session === current) for (const roomId of opened) publish(roomId);
}

/** `shared`: the room as any member sees it (room.updated): the caller's own fields stay as they were. */
function putRoom(room: Room, shared = false) {
  const old = rooms.value[room.id];
  const merged = old && shared ? { ...old, ...room, myRole: old.myRole, myLastReadSeq: old.myLastReadSeq, unreadCount: old.unreadCount, hidden: old.hidden, muted: old.muted } : room;
  rooms.value = { ...rooms.value, [room.id]: merged };
  if (room.kind === "direct" && !peers.value[room.id]) void loadPeer(room.id);
}

function patchRoom(roomId: string, change: (room: Room) => Room) {
  const room = rooms.value[roomId];
  if (room) rooms.value = { ...rooms.value, [roomId]: change(room) };
}

function dropRoom(roomId: string) {
  const { [roomId]: _room, ...rest } = rooms.value;
  const { [roomId]: _timeline, ...kept } = timelines.value;
  opened.delete(roomId);
  batch(() => {
    rooms.value = rest;
    timelines.value = kept;
  });
}

export async function loadRooms() {
  const all: Room[] = [];
  let cursor: string | null = null;
  do {
    const page: { rooms: Room[]; nextCursor: string | null } = await api("GET", `/api/rooms?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    all.push(...page.rooms);
    cursor = page.nextCursor;
  } while (cursor);
  rooms.value = Object.fromEntries(all.map((room) => [room.id, room]));
  // Also after a reconnect: the other members' presence and read positions may have moved meanwhile.
  await Promise.all(all.filter((room) => room.kind === "direct").map((room) => loadPeer(room.id)));
}

export async function loadRoom(roomId: string) {
  putRoom(await api<Room>("GET", `/api/rooms/${roomId}`));
}

async function loadPeer(roomId: string) {
  const members = await api<{ user: UserRef & { presence?: "online" | "offline" }; lastReadSeq: number }[]>("GET", `/api/rooms/${roomId}/members`).catch(() => null);
  if (!members) return;
  rememberUsers(members.map((m) => m.user));
  const other = members.find((m) => m.user.id !== me.value?.id);
  if (!other) return;
  batch(() => {
    peers.value = { ...peers.value, [roomId]: other.user.id };
    bumpReceipts(roomId, { read: other.lastReadSeq });
  });
}

/** My own settings for a room: `hidden` (direct chats) leaves my list until its next message. */
export async function updateMine(roomId: string, settings: { hidden?: boolean; muted?: boolean }) {
  putRoom(await api<Room>("PATCH", `/api/rooms/${roomId}/me`, settings));
}

export const roomInvitations = {
  list: (roomId: string) => api<RoomInvitation[]>("GET", `/api/rooms/${roomId}/invitations`),
  create: (roomId: string) => api<RoomInvitation>("POST", `/api/rooms/${roomId}/invitations`, {}),
  revoke: (roomId: string, code: string) => api<void>("DELETE", `/api/rooms/${roomId}/invitations/${encodeURIComponent(code)}`),
};

/** Accepts a room or team invitation code; answers what it joined. */
export async function acceptInvitation(code: string): Promise<{ room?: Room; team?: Team }> {
  const result = await api<{ room?: Room; team?: Team }>("POST", `/api/invitations/${encodeURIComponent(code)}/accept`);
  await Promise.all([loadRooms(), loadTeams()]);
  return result;
}

export async function loadTeams() {
  const page = await api<{ teams: Team[] }>("GET", "/api/teams?limit=200");
  teams.value = Object.fromEntries(page.teams.map((team) => [team.id, team]));
}

/** A room's title as the caller sees it: a direct chat is named after the other member. */
export function roomTitle(room: Room): string {
  if (room.kind !== "direct") return room.name ?? "Untitled";
  const peer = users.value[peers.value[room.id] ?? ""];
  return peer ? peer.displayName || peer.username : "Direct chat";
}

// ---------------------------------------------------------------------------------------------
// Timelines: the session's store, for the rooms a view opened

let session: Session | null = null;
const opened = new Set<string>();
const dirty = new Set<string>();

/** Copies the session's held messages of a room into `timelines` (once per task, however many events). */
function publish(roomId: string) {
  if (!opened.has(roomId)) return;
  if (dirty.size === 0) queueMicrotask(flush);
  dirty.add(roomId);
}

function flush() {
  const next = { ...timelines.value };
  for (const roomId of dirty) {
    if (!opened.has(roomId) || !session) continue;
    const messages = session.messages(roomId).slice();
    rememberUsers(messages.filter((m) => !users.value[m.senderId]).map((m) => m.sender));
    next[roomId] = { messages, hasOlder: session.hasOlder(roomId) };
  }
  dirty.clear();
  timelines.value = next;
}

/** How long a view waits for the session to follow a room before it shows the room as missing. */
const FOLLOW_GIVE_UP_MS = 15_000;

/**
 * Resolves once the session follows the room: at once, or when the session says it started to
 * (`followed`, a room joined or created) or caught up (`synced`); false when the session stops
 * or FOLLOW_GIVE_UP_MS pass first.
 */
function followed(roomId: string): Promise<boolean> {
  const current = session;
  if (!current) return Promise.resolve(false);
  if (current.rooms().includes(roomId)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const check = () => {
      if (session !== current || current.state === "closed") return done(false);
      if (current.rooms().includes(roomId)) return done(true);
    };
    const offs = [current.on("followed", check), current.on("synced", check), current.on("state", check)];
    const limit = setTimeout(() => done(current.rooms().includes(roomId)), FOLLOW_GIVE_UP_MS);
    function done(ok: boolean) {
      for (const off of offs) off();
      clearTimeout(limit);
      resolve(ok);
    }
  });
}

export async function loadTimeline(roomId: string) {
  if (!(await followed(roomId)) || !session) throw session ? new ApiError(404, "NOT_FOUND", "Room not found") : offline();
  const current = session;
  opened.add(roomId);
  try {
    if (current.messages(roomId).length < TIMELINE_PAGE && current.hasOlder(roomId)) await current.loadOlder(roomId, TIMELINE_PAGE - current.messages(roomId).length);
  } catch (error) {
    throw asApiError(error);
  }
  publish(roomId);
}

export async function loadOlder(roomId: string) {
  if (!session || !session.hasOlder(roomId)) return;
  await session.loadOlder(roomId, TIMELINE_PAGE).catch((error) => {
    throw asApiError(error);
  });
  publish(roomId);
}

export const heldSeq = (roomId: string) => timelines.value[roomId]?.messages.at(-1)?.seq ?? 0;

/** What a view is told when there is no live session (signed out, or stopped by 4008). */
const offline = () => new ApiError(0, "OFFLINE", "Not connected");

function live(): Session {
  if (!session) throw offline();
  return session;
}

export async function editMessage(messageId: string, content: string) {
  return live().edit(messageId, content).catch((error) => Promise.reject(asApiError(error)));
}

export async function deleteMessage(messageId: string) {
  return live().delete(messageId).catch((error) => Promise.reject(asApiError(error)));
}

/** The change shows when its event comes back, so a reaction is counted once whatever the order. */
export async function react(message: Message, emoji: string, on: boolean) {
  return live().react(message.id, emoji, on).catch((error) => Promise.reject(asApiError(error)));
}

// ---------------------------------------------------------------------------------------------
// Sends: the session keeps each until acknowledged (sent again after reconnects); the list shows them

export function send(roomId: string, content: string, replyToId: string | null = null, attachments: FileView[] = []) {
  const item: Pending = { clientId: crypto.randomUUID(), roomId, content, replyToId, attachments, createdAt: new Date().toISOString(), error: null };
  pending.value = [...pending.value, item];
  // The others stop showing the sender as typing when the message arrives; the next keystroke says so again.
  typingSentAt.delete(roomId);
  sendPending(item);
}

export function retry(clientId: string) {
  const item = pending.value.find((p) => p.clientId === clientId);
  if (!item) return;
  if (!session && me.value) start();
  pending.value = pending.value.map((p) => (p.clientId === clientId ? { ...p, error: null } : p));
  sendPending(item);
}

export function discard(clientId: string) {
  pending.value = pending.value.filter((p) => p.clientId !== clientId);
}

function sendPending(item: Pending) {
  const current = session;
  if (!current) return;
  current
    .send(item.roomId, item.content, {
      clientId: item.clientId,
      ...(item.replyToId ? { replyToId: item.replyToId } : {}),
      ...(item.attachments.length ? { attachments: item.attachments.map((f) => f.id) } : {}),
    })
    .then(() => settle(item.clientId))
    .catch((error) => {
      // Refused, or its session closed for good: kept for a manual retry (a sign-out empties the list).
      const reason = error instanceof ServerRefused ? error.message : "Not sent: disconnected";
      pending.value = pending.value.map((p) => (p.clientId === item.clientId ? { ...p, error: reason || "Not sent" } : p));
    });
}

function settle(clientId: string) {
  if (pending.value.some((p) => p.clientId === clientId)) pending.value = pending.value.filter((p) => p.clientId !== clientId);
}

const typingSentAt = new Map<string, number>();
export function sendTyping(roomId: string) {
  const now = Date.now();
  if (now - (typingSentAt.get(roomId) ?? 0) < TYPING_SENT_EVERY_MS) return;
  typingSentAt.set(roomId, now);
  session?.typing(roomId);
}

/** Moves the caller's read position forward (never back), at once in the view. */
export function markRead(roomId: string, seq: number) {
  const room = rooms.value[roomId];
  if (!room || !room.myRole || seq <= (room.myLastReadSeq ?? 0)) return;
  patchRoom(roomId, (r) => ({ ...r, myLastReadSeq: seq, unreadCount: Math.max(0, r.lastSeq - seq) }));
  if (session?.state === "open") session.read(roomId, seq);
  else void api("POST", `/api/rooms/${roomId}/read`, { seq }).catch(() => undefined);
}

function bumpReceipts(roomId: string, next: Partial<Receipts>) {
  const old = receipts.value[roomId] ?? { read: 0, delivered: 0 };
  const read = Math.max(old.read, next.read ?? 0);
  const delivered = Math.max(old.delivered, next.delivered ?? 0, read);
  if (read !== old.read || delivered !== old.delivered) receipts.value = { ...receipts.value, [roomId]: { read, delivered } };
}

// ---------------------------------------------------------------------------------------------
// The live session

/** A new live session after one stopped for good (4008): the server may have a socket free by now. */
export function reconnect() {
  if (me.value) start();
}

function start() {
  if (session) return;
  halted.value = null;
  const current = client.connect({ reconnect: { baseMs: 300, maxMs: 5_000 } });
  session = current;
  conn.value = "connecting";
  void loadTeams().catch(() => undefined);
  const on: Session["on"] = (type, listener) => current.on(type, (event) => session === current && listener(event));

  on("state", ({ state, closedReason }) => {
    if (state === "closed") {
      // Too many sockets (or closed): offline until a retry opens a new session.
      if (closedReason === "signed-out") signedOut();
      else {
        stop();
        if (closedReason === "too-many-connections") halted.value = closedReason;
      }
      return;
    }
    if (state === "reconnecting") {
      conn.value = "reconnecting";
      typing.value = {}; // nobody's typing is known while disconnected
    }
  });
  let syncs = 0;
  on("synced", () => {
    // Rooms, the other members' presence and read positions may have moved meanwhile; after a
    // reconnect, so may the profiles shown (user.updated and presence are not replayed).
    const resumed = syncs++ > 0;
    void Promise.all([loadRooms(), resumed ? refreshUsers(current) : undefined])
      .catch(() => undefined)
      .finally(() => {
        if (session === current && current.state === "open") conn.value = "online";
      });
    for (const roomId of opened) publish(roomId);
  });
  on("frame", (f) => {
    if (f.type === "ready") rememberUsers([f.user]);
  });
  on("message", (message) => {
    // A hidden chat is not in the list held; its next message brings it back.
    if (!rooms.value[message.roomId]) void loadRoom(message.roomId).catch(() => undefined);
    batch(() => {
      rememberUsers([message.sender]);
      publish(message.roomId);
      if (message.clientId) settle(message.clientId);
      noteNewMessage(message);
    });
  });
  on("edit", (message) => {
    publish(message.roomId);
    patchRoom(message.roomId, (r) => (r.lastMessage?.id === message.id ? { ...r, lastMessage: { ...r.lastMessage, content: message.content, deletedAt: message.deletedAt } } : r));
  });
  on("delete", (message) => {
    publish(message.roomId);
    patchRoom(message.roomId, (r) => (r.lastMessage?.id === message.id ? { ...r, lastMessage: { ...r.lastMessage, content: "", deletedAt: message.deletedAt ?? new Date().toISOString() } } : r));
  });
  on("reaction", (f) => publish(f.roomId));
  on("typing", (f) => {
    const until = Date.now() + TYPING_SHOWN_MS;
    typing.value = { ...typing.value, [f.roomId]: { ...typing.value[f.roomId], [f.userId]: until } };
    setTimeout(pruneTyping, TYPING_SHOWN_MS + 50);
  });
  on("read", (f) => {
    publish(f.roomId);
    if (f.userId === me.value?.id) patchRoom(f.roomId, (r) => (f.seq > (r.myLastReadSeq ?? 0) ? { ...r, myLastReadSeq: f.seq, unreadCount: Math.max(0, r.lastSeq - f.seq) } : r));
    else if (rooms.value[f.roomId]?.kind === "direct") bumpReceipts(f.roomId, { read: f.seq });
  });
  on("delivered", (f) => {
    publish(f.roomId);
    if (f.userId !== me.value?.id) bumpReceipts(f.roomId, { delivered: f.seq });
  });
  on("presence", (f) => {
    presence.value = { ...presence.value, [f.userId]: f.presence };
  });
  on("room", (f) => {
    switch (f.type) {
      case "room.created":
        return putRoom(f.room as Room);
      case "room.updated":
        return putRoom(f.room as Room, true);
      case "room.deleted":
        return dropRoom(f.roomId);
      case "member.joined":
        if (f.userId === me.value?.id) void loadRoom(f.roomId).catch(() => undefined);
        else patchRoom(f.roomId, (r) => ({ ...r, memberCount: r.memberCount + 1 }));
        return;
      case "member.left":
        if (f.userId === me.value?.id) dropRoom(f.roomId);
        else patchRoom(f.roomId, (r) => ({ ...r, memberCount: Math.max(0, r.memberCount - 1) }));
        return;
      case "member.updated":
        if (f.userId === me.value?.id && f.role) patchRoom(f.roomId, (r) => ({ ...r, myRole: f.role as Room["myRole"] }));
        return;
    }
  });
  on("user", ({ user }) => {
    // Senders, members and direct chats' names read `users`; the held messages' senders changed too.
    batch(() => {
      rememberUsers([user]);
      if (user.id === me.value?.id) me.value = { ...me.value, ...user };
      for (const roomId of opened) publish(roomId);
    });
  });
  on("team", (f) => {
    if (f.type === "team.updated") teams.value = { ...teams.value, [f.team.id]: f.team as Team };
    else {
      const { [f.teamId]: _gone, ...rest } = teams.value;
      teams.value = rest;
    }
  });
}

function stop() {
  const current = session;
  session = null;
  current?.close();
  conn.value = "offline";
}

function noteNewMessage(message: Message) {
  const own = message.senderId === me.value?.id;
  patchRoom(message.roomId, (r) => {
    if (message.seq < r.lastSeq) return r;
    const lastMessage = { id: message.id, seq: message.seq, senderId: message.senderId, content: message.content, createdAt: message.createdAt, deletedAt: message.deletedAt };
    const read = own ? Math.max(r.myLastReadSeq ?? 0, message.seq) : (r.myLastReadSeq ?? 0);
    // A hidden chat comes back to the list with its next message.
    return { ...r, lastMessage, lastSeq: message.seq, myLastReadSeq: read, unreadCount: Math.max(0, message.seq - read), lastActivityAt: message.createdAt, hidden: false };
  });
  if (typing.value[message.roomId]?.[message.senderId]) {
    const { [message.senderId]: _gone, ...rest } = typing.value[message.roomId];
    typing.value = { ...typing.value, [message.roomId]: rest };
  }
}

function pruneTyping() {
  const now = Date.now();
  let changed = false;
  const next: Record<string, Record<string, number>> = {};
  for (const [roomId, who] of Object.entries(typing.value)) {
    next[roomId] = {};
    for (const [userId, until] of Object.entries(who)) {
      if (until > now) next[roomId][userId] = until;
      else changed = true;
    }
  }
  if (changed) typing.value = next;
}
