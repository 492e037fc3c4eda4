/**
 * Everything the app says to the server: REST calls with the access token (refreshed before it
 * expires and once on a 401), the WebSocket (ticket, reconnect with jittered backoff, `sync` with
 * `since` after a drop), and the sends still waiting for their `ack`, retried by clientId.
 * Views read the signals below and call the functions; nothing else opens a connection.
 *
 * The access token lives only in this module's memory. The refresh token is kept in
 * sessionStorage so that a reload stays signed in (see the README's "Web app" section).
 */
import { batch, signal } from "@preact/signals";
import type { AuthResult, FileView, Message, OwnUser, Room, RoomInvitation, Team, UserRef } from "./types";

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
const BACKOFF_MIN_MS = 300;
const BACKOFF_MAX_MS = 5_000;

export const me = signal<OwnUser | null>(null);
/** False until the stored session has been tried on start-up. */
export const booted = signal(false);
export const conn = signal<ConnState>("offline");
export const rooms = signal<Record<string, Room>>({});
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
/**
 * roomId → userId → read position, for the group rooms whose timeline is held: what moves the
 * `readCount` of held messages when someone sends (a send moves the sender's position too).
 */
const readPositions = new Map<string, Map<string, number>>();

// ---------------------------------------------------------------------------------------------
// Tokens and REST

let accessToken: string | null = null;
let accessExpiresAt = 0;
let refreshing: Promise<boolean> | null = null;

function storeTokens(result: { accessToken: string; refreshToken: string; expiresIn: number }) {
  accessToken = result.accessToken;
  accessExpiresAt = Date.now() + result.expiresIn * 1000;
  sessionStorage.setItem(REFRESH_KEY, result.refreshToken);
}

function clearTokens() {
  accessToken = null;
  accessExpiresAt = 0;
  sessionStorage.removeItem(REFRESH_KEY);
}

/** One refresh at a time: refresh tokens are single-use, a second concurrent one would end the session. */
function refresh(): Promise<boolean> {
  refreshing ??= (async () => {
    const refreshToken = sessionStorage.getItem(REFRESH_KEY);
    if (!refreshToken) return false;
    const res = await fetch("/api/auth/refresh", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refreshToken }),
    });
    if (res.status === 401) {
      clearTokens();
      return false;
    }
    if (!res.ok) throw new ApiError(res.status, "REFRESH_FAILED", "The session could not be renewed");
    storeTokens(await res.json());
    return true;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** `body`: JSON, or a FormData sent as multipart (the browser sets its boundary). */
async function request(method: string, path: string, body?: unknown, retried = false): Promise<Response> {
  if (accessToken && Date.now() > accessExpiresAt - 30_000) await refresh().catch(() => false);
  const headers: Record<string, string> = {};
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  const form = body instanceof FormData;
  if (body !== undefined && !form) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : form ? body : JSON.stringify(body) });
  if (res.status === 401 && accessToken && !retried && !path.startsWith("/api/auth/")) {
    if (await refresh().catch(() => false)) return request(method, path, body, true);
    signedOut();
  }
  return res;
}

/** A JSON call; a non-2xx answer throws an ApiError carrying the envelope's code and message. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await request(method, path, body);
  if (res.status === 204) return undefined as T;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const error = data?.error;
    throw new ApiError(res.status, error?.code ?? "HTTP_ERROR", error?.message ?? `Request failed (${res.status})`, error?.details);
  }
  return data as T;
}

// ---------------------------------------------------------------------------------------------
// Session

/** Tries the stored refresh token; signed in afterwards when it still worked. */
export async function boot() {
  try {
    if (sessionStorage.getItem(REFRESH_KEY) && (await refresh())) {
      me.value = await api<OwnUser>("GET", "/api/auth/me");
      rememberUsers([me.value]);
      start();
    }
  } catch {
    // The server is unreachable: show the sign-in screen; the token stays for the next reload.
  } finally {
    booted.value = true;
  }
}

export async function signIn(kind: "login" | "register", body: Record<string, string>) {
  const result = await api<AuthResult>("POST", `/api/auth/${kind}`, body);
  storeTokens(result);
  me.value = result.user;
  rememberUsers([result.user]);
  start();
}

export async function signOut() {
  const refreshToken = sessionStorage.getItem(REFRESH_KEY);
  if (refreshToken) await api("POST", "/api/auth/logout", { refreshToken }).catch(() => undefined);
  signedOut();
}

function signedOut() {
  clearTokens();
  stop();
  readPositions.clear();
  batch(() => {
    me.value = null;
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
  readPositions.delete(roomId);
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
// Timelines

function upsertMessages(roomId: string, incoming: Message[], hasOlder?: boolean) {
  const timeline = timelines.value[roomId];
  if (!timeline && hasOlder === undefined) return; // not loaded: the next load reads it
  const bySeq = new Map((timeline?.messages ?? []).map((m) => [m.seq, m]));
  for (const message of incoming) {
    const old = bySeq.get(message.seq);
    bySeq.set(message.seq, old ? mergeMessage(old, message) : message);
  }
  rememberUsers(incoming.map((m) => m.sender));
  const messages = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  timelines.value = { ...timelines.value, [roomId]: { messages, hasOlder: hasOlder ?? timeline!.hasOlder } };
}

/** Events carry reactions with `me` false: what the caller did is kept from the copy held. */
function mergeMessage(old: Message, next: Message): Message {
  const mine = new Set(old.reactions.filter((r) => r.me).map((r) => r.emoji));
  // A readCount only grows while the message is held: a copy encoded earlier may arrive after a read was counted.
  const readCount = old.readCount !== undefined && next.readCount !== undefined ? Math.max(old.readCount, next.readCount) : next.readCount;
  return { ...next, status: next.status ?? old.status, readCount, reactions: next.reactions.map((r) => ({ ...r, me: r.me || mine.has(r.emoji) })) };
}

function changeMessage(roomId: string, messageId: string, change: (m: Message) => Message) {
  const timeline = timelines.value[roomId];
  if (!timeline) return;
  const at = timeline.messages.findIndex((m) => m.id === messageId);
  if (at < 0) return;
  const messages = timeline.messages.slice();
  messages[at] = change(messages[at]);
  timelines.value = { ...timelines.value, [roomId]: { ...timeline, messages } };
}

export async function loadTimeline(roomId: string) {
  if (rooms.value[roomId]?.kind !== "direct") void loadReadPositions(roomId);
  const page = await api<{ messages: Message[]; hasMore: boolean }>("GET", `/api/rooms/${roomId}/messages?limit=50`);
  const { [roomId]: _old, ...rest } = timelines.value;
  timelines.value = rest;
  upsertMessages(roomId, page.messages, page.hasMore);
}

export async function loadOlder(roomId: string) {
  const timeline = timelines.value[roomId];
  const first = timeline?.messages[0];
  if (!timeline || !first || !timeline.hasOlder) return;
  const page = await api<{ messages: Message[]; hasMore: boolean }>("GET", `/api/rooms/${roomId}/messages?before=${first.seq}&limit=50`);
  upsertMessages(roomId, page.messages, page.hasMore);
}

/** Reads `after` pages up to `before` (exclusive), replacing what is held: missed messages and changes. */
async function reread(roomId: string, after: number, before?: number) {
  for (;;) {
    const range = `after=${after}${before ? `&before=${before}` : ""}`;
    const page = await api<{ messages: Message[]; hasMore: boolean }>("GET", `/api/rooms/${roomId}/messages?${range}&limit=200`);
    upsertMessages(roomId, page.messages);
    const last = page.messages.at(-1);
    if (!page.hasMore || !last) return;
    after = last.seq;
  }
}

async function loadReadPositions(roomId: string) {
  const members = await api<{ user: UserRef; lastReadSeq: number }[]>("GET", `/api/rooms/${roomId}/members`).catch(() => null);
  if (members) readPositions.set(roomId, new Map(members.map((m) => [m.user.id, m.lastReadSeq])));
}

/**
 * `userId`'s read position moved from `from` to `to`: each held message in between that they did
 * not send is seen by one more member.
 */
function moveReadPosition(roomId: string, userId: string, from: number, to: number) {
  readPositions.get(roomId)?.set(userId, to);
  const timeline = timelines.value[roomId];
  if (!timeline || to <= from) return;
  let changed = false;
  const messages = timeline.messages.map((m) => {
    if (m.seq <= from || m.seq > to || m.senderId === userId || m.readCount === undefined) return m;
    changed = true;
    return { ...m, readCount: m.readCount + 1 };
  });
  if (changed) timelines.value = { ...timelines.value, [roomId]: { ...timeline, messages } };
}

export const heldSeq = (roomId: string) => timelines.value[roomId]?.messages.at(-1)?.seq ?? 0;

export function editMessage(messageId: string, content: string) {
  return api<Message>("PATCH", `/api/messages/${messageId}`, { content });
}

export function deleteMessage(messageId: string) {
  return api<void>("DELETE", `/api/messages/${messageId}`);
}

/** The change shows when its event comes back, so a reaction is counted once whatever the order. */
export function react(message: Message, emoji: string, on: boolean) {
  return api<Message>(on ? "PUT" : "DELETE", `/api/messages/${message.id}/reactions/${encodeURIComponent(emoji)}`);
}

// ---------------------------------------------------------------------------------------------
// Sends

export function send(roomId: string, content: string, replyToId: string | null = null, attachments: FileView[] = []) {
  const item: Pending = { clientId: crypto.randomUUID(), roomId, content, replyToId, attachments, createdAt: new Date().toISOString(), error: null };
  pending.value = [...pending.value, item];
  // The others stop showing the sender as typing when the message arrives; the next keystroke says so again.
  typingSentAt.delete(roomId);
  if (caughtUp) sendFrame(item);
}

export function retry(clientId: string) {
  const item = pending.value.find((p) => p.clientId === clientId);
  if (!item) return;
  pending.value = pending.value.map((p) => (p.clientId === clientId ? { ...p, error: null } : p));
  if (caughtUp) sendFrame(item);
}

export function discard(clientId: string) {
  pending.value = pending.value.filter((p) => p.clientId !== clientId);
}

function sendFrame(item: Pending) {
  frame({
    type: "message.send",
    roomId: item.roomId,
    content: item.content,
    clientId: item.clientId,
    ...(item.replyToId ? { replyToId: item.replyToId } : {}),
    ...(item.attachments.length ? { attachments: item.attachments.map((f) => f.id) } : {}),
  });
}

function settle(clientId: string | null | undefined) {
  if (clientId && pending.value.some((p) => p.clientId === clientId)) pending.value = pending.value.filter((p) => p.clientId !== clientId);
}

const typingSentAt = new Map<string, number>();
export function sendTyping(roomId: string) {
  const now = Date.now();
  if (now - (typingSentAt.get(roomId) ?? 0) < TYPING_SENT_EVERY_MS) return;
  typingSentAt.set(roomId, now);
  frame({ type: "typing", roomId });
}

/** Moves the caller's read position forward (never back), at once in the view. */
export function markRead(roomId: string, seq: number) {
  const room = rooms.value[roomId];
  if (!room || !room.myRole || seq <= (room.myLastReadSeq ?? 0)) return;
  patchRoom(roomId, (r) => ({ ...r, myLastReadSeq: seq, unreadCount: Math.max(0, r.lastSeq - seq) }));
  if (!frame({ type: "read", roomId, seq })) void api("POST", `/api/rooms/${roomId}/read`, { seq }).catch(() => undefined);
}

function bumpReceipts(roomId: string, next: Partial<Receipts>) {
  const old = receipts.value[roomId] ?? { read: 0, delivered: 0 };
  const read = Math.max(old.read, next.read ?? 0);
  const delivered = Math.max(old.delivered, next.delivered ?? 0, read);
  if (read !== old.read || delivered !== old.delivered) receipts.value = { ...receipts.value, [roomId]: { read, delivered } };
}

// ---------------------------------------------------------------------------------------------
// The socket

let socket: WebSocket | null = null;
let running = false;
let attempt = 0;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
/** `ready.at` of the last connection that caught up: where the next `sync` resumes from. */
let caughtUpAt: string | null = null;
/** True once this connection has caught up: sends go out directly. */
let caughtUp = false;

function frame(data: object): boolean {
  if (!socket || socket.readyState !== WebSocket.OPEN) return false;
  socket.send(JSON.stringify(data));
  return true;
}

function start() {
  if (running) return;
  running = true;
  caughtUpAt = null;
  void connect();
  void loadTeams().catch(() => undefined);
}

function stop() {
  running = false;
  caughtUp = false;
  clearTimeout(retryTimer);
  socket?.close(1000);
  socket = null;
  conn.value = "offline";
}

function scheduleReconnect() {
  if (!running) return;
  conn.value = "reconnecting";
  const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt) * (0.5 + Math.random() / 2);
  attempt++;
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => void connect(), delay);
}

async function connect() {
  if (!running) return;
  conn.value = caughtUpAt ? "reconnecting" : "connecting";
  let ticket: string;
  try {
    ticket = (await api<{ ticket: string }>("POST", "/api/auth/ws-ticket")).ticket;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return signedOut();
    return scheduleReconnect();
  }
  if (!running) return;
  const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws?ticket=${encodeURIComponent(ticket)}`;
  const ws = new WebSocket(url);
  socket = ws;
  caughtUp = false;
  ws.onmessage = (event) => {
    if (socket !== ws) return;
    try {
      void onFrame(ws, JSON.parse(String(event.data)));
    } catch {
      // A frame that is not JSON is not ours to act on.
    }
  };
  ws.onclose = (event) => {
    if (socket !== ws) return;
    socket = null;
    caughtUp = false;
    typing.value = {}; // nobody's typing is known while disconnected
    if (event.code === 4001) return signedOut();
    scheduleReconnect();
  };
}

let readyAt: string | null = null;
/** The sync this connection sent, kept to send again after RATE_LIMITED. */
let syncFrame: string | null = null;

async function onFrame(ws: WebSocket, f: any) {
  switch (f.type) {
    case "ready": {
      readyAt = f.at;
      rememberUsers([f.user]);
      const held = Object.keys(timelines.value).filter((id) => rooms.value[id]);
      if (caughtUpAt && held.length > 0) {
        syncFrame = JSON.stringify({ type: "sync", rooms: Object.fromEntries(held.map((id) => [id, heldSeq(id)])), since: caughtUpAt });
        ws.send(syncFrame);
        await loadRooms().catch(() => undefined);
      } else {
        try {
          await loadRooms();
          for (const id of held) await loadTimeline(id);
        } catch {
          return ws.close(); // and try again
        }
        caughtUpNow(ws);
      }
      return;
    }
    case "sync.done": {
      try {
        for (const [roomId, done] of Object.entries(f.rooms as Record<string, { lastSeq: number; hasMore: boolean; changesHaveMore?: boolean; changesLastSeq?: number }>)) {
          if (done.hasMore) await reread(roomId, done.lastSeq);
          if (done.changesHaveMore) await reread(roomId, done.changesLastSeq ?? 0, done.lastSeq + 1);
        }
      } catch {
        return ws.close();
      }
      caughtUpNow(ws);
      return;
    }
    case "message.new":
    case "message.updated":
    case "ack": {
      const message: Message | undefined = f.message;
      if (!message) return;
      // A hidden chat is not in the list held; its next message brings it back.
      if (!rooms.value[message.roomId] && f.type === "message.new") void loadRoom(message.roomId).catch(() => undefined);
      batch(() => {
        upsertMessages(message.roomId, [message]);
        settle(message.clientId);
        if (f.type !== "message.updated") noteNewMessage(message);
        else patchRoom(message.roomId, (r) => (r.lastMessage?.id === message.id ? { ...r, lastMessage: { ...r.lastMessage, content: message.content, deletedAt: message.deletedAt } } : r));
      });
      return;
    }
    case "message.deleted":
      batch(() => {
        changeMessage(f.roomId, f.id, (m) => ({ ...m, content: "", metadata: {}, reactions: [], deletedAt: m.deletedAt ?? new Date().toISOString() }));
        patchRoom(f.roomId, (r) => (r.lastMessage && r.lastMessage.id === f.id ? { ...r, lastMessage: { ...r.lastMessage, content: "", deletedAt: new Date().toISOString() } } : r));
      });
      return;
    case "reaction.added":
    case "reaction.removed": {
      const add = f.type === "reaction.added";
      const mine = f.userId === me.value?.id;
      changeMessage(f.roomId, f.messageId, (m) => {
        const reactions = m.reactions.map((r) => ({ ...r }));
        let entry = reactions.find((r) => r.emoji === f.emoji);
        if (!entry && add) reactions.push((entry = { emoji: f.emoji, count: 0, me: false }));
        if (!entry) return m;
        entry.count += add ? 1 : -1;
        if (mine) entry.me = add;
        return { ...m, reactions: reactions.filter((r) => r.count > 0) };
      });
      return;
    }
    case "error":
      // A sync refused for its rate: sent again once allowed (this connection has not caught up yet).
      if (!f.clientId && f.error?.code === "RATE_LIMITED" && !caughtUp && syncFrame) {
        const frameText = syncFrame;
        setTimeout(() => socket === ws && ws.readyState === WebSocket.OPEN && ws.send(frameText), (f.error.details?.retryAfter ?? 1) * 1000);
        return;
      }
      if (f.clientId) pending.value = pending.value.map((p) => (p.clientId === f.clientId ? { ...p, error: f.error?.message ?? "Not sent" } : p));
      return;
    case "typing": {
      const until = Date.now() + TYPING_SHOWN_MS;
      typing.value = { ...typing.value, [f.roomId]: { ...typing.value[f.roomId], [f.userId]: until } };
      setTimeout(pruneTyping, TYPING_SHOWN_MS + 50);
      return;
    }
    case "read":
      if (f.userId === me.value?.id) patchRoom(f.roomId, (r) => (f.seq > (r.myLastReadSeq ?? 0) ? { ...r, myLastReadSeq: f.seq, unreadCount: Math.max(0, r.lastSeq - f.seq) } : r));
      else if (rooms.value[f.roomId]?.kind === "direct") bumpReceipts(f.roomId, { read: f.seq });
      else if (typeof f.previousSeq === "number") moveReadPosition(f.roomId, f.userId, f.previousSeq, f.seq);
      return;
    case "delivered":
      if (f.userId !== me.value?.id) bumpReceipts(f.roomId, { delivered: f.seq });
      return;
    case "presence":
      presence.value = { ...presence.value, [f.userId]: f.presence };
      return;
    case "room.created":
      putRoom(f.room);
      return;
    case "room.updated":
      putRoom(f.room, true);
      return;
    case "room.deleted":
      dropRoom(f.roomId);
      return;
    case "member.joined":
      if (f.userId === me.value?.id) void loadRoom(f.roomId).catch(() => undefined);
      else patchRoom(f.roomId, (r) => ({ ...r, memberCount: r.memberCount + 1 }));
      return;
    case "member.left":
      if (f.userId === me.value?.id) dropRoom(f.roomId);
      else {
        readPositions.get(f.roomId)?.delete(f.userId);
        patchRoom(f.roomId, (r) => ({ ...r, memberCount: Math.max(0, r.memberCount - 1) }));
      }
      return;
    case "member.updated":
      if (f.userId === me.value?.id && f.role) patchRoom(f.roomId, (r) => ({ ...r, myRole: f.role }));
      return;
    case "team.updated":
      teams.value = { ...teams.value, [f.team.id]: f.team };
      return;
    case "team.deleted": {
      const { [f.teamId]: _gone, ...rest } = teams.value;
      teams.value = rest;
      return;
    }
  }
}

/** The connection holds everything now: it becomes the resume point, and waiting sends go out. */
function caughtUpNow(ws: WebSocket) {
  if (socket !== ws) return;
  caughtUpAt = readyAt;
  caughtUp = true;
  attempt = 0;
  conn.value = "online";
  for (const item of pending.value) if (!item.error) sendFrame(item);
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
  const position = readPositions.get(message.roomId)?.get(message.senderId);
  if (position !== undefined && message.seq > position) moveReadPosition(message.roomId, message.senderId, position, message.seq);
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
