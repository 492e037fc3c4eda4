import { useEffect, useState } from "preact/hooks";
import { acceptInvitation, api, loadRoom, me, rememberUsers, roomTitle, rooms, setAvatar, updateProfile } from "../live";
import { navigate } from "../router";
import type { Message, PublicUser, Room } from "../types";
import { Attachments, Avatar } from "./files";
import { ErrorLine, useAction } from "./form";
import { Link, PresenceDot } from "./sidebar";
import { name, RichText, time } from "./text";

const formData = (event: SubmitEvent) => Object.fromEntries(new FormData(event.currentTarget as HTMLFormElement)) as Record<string, string>;

export function Home() {
  return (
    <section class="main center">
      <h1>Welcome, {name(me.value!)}</h1>
      <p>Pick a room on the left, <Link to="/new">create one</Link>, <Link to="/discover">find a public room</Link> or <Link to="/people">start a direct chat</Link>.</p>
    </section>
  );
}

/** A search box over users (by username or display-name prefix) with one action per result. */
export function UserSearch({ label, action, onPick }: { label: string; action: string; onPick: (user: PublicUser) => void }) {
  const [q, setQ] = useState("");
  const [found, setFound] = useState<PublicUser[]>([]);
  useEffect(() => {
    const query = q.trim();
    if (!query) return setFound([]);
    const timer = setTimeout(() => {
      api<{ users: PublicUser[] }>("GET", `/api/users?q=${encodeURIComponent(query)}&limit=20`).then(
        (page) => {
          rememberUsers(page.users);
          setFound(page.users.filter((u) => u.id !== me.value?.id));
        },
        () => setFound([]),
      );
    }, 200);
    return () => clearTimeout(timer);
  }, [q]);
  return (
    <div class="user-search">
      <label>
        {label}
        <input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} placeholder="username or name" autocomplete="off" />
      </label>
      <ul aria-label="Users found" aria-live="polite">
        {found.map((user) => (
          <li key={user.id}>
            <Avatar user={user} /> <PresenceDot userId={user.id} /> <span class="clip">{name(user)}</span> <span class="muted">@{user.username}</span>
            <button type="button" onClick={() => onPick(user)} aria-label={`${action} ${user.username}`}>
              {action}
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function NewRoom() {
  const { run, error, busy } = useAction(async (body: Record<string, string>) => {
    const room = await api<Room>("POST", "/api/rooms", { name: body.name, topic: body.topic || undefined, visibility: body.visibility });
    await loadRoom(room.id);
    navigate(`/rooms/${room.id}`);
  });
  return (
    <section class="main narrow">
      <h1>New room</h1>
      <form class="stack" onSubmit={(e) => (e.preventDefault(), void run(formData(e)))}>
        <label>Name<input name="name" required maxLength={80} /></label>
        <label>Topic (optional)<input name="topic" maxLength={500} /></label>
        <fieldset>
          <legend>Who can find it</legend>
          <label class="inline"><input type="radio" name="visibility" value="private" checked /> Private: members only</label>
          <label class="inline"><input type="radio" name="visibility" value="public" /> Public: anyone may find and join</label>
        </fieldset>
        <ErrorLine error={error} />
        <button class="primary" disabled={busy}>Create room</button>
      </form>
    </section>
  );
}

export function Discover() {
  const [q, setQ] = useState("");
  const [found, setFound] = useState<Room[] | null>(null);
  useEffect(() => {
    const timer = setTimeout(() => {
      api<{ rooms: Room[] }>("GET", `/api/rooms/public?limit=50${q.trim() ? `&q=${encodeURIComponent(q.trim())}` : ""}`).then((page) => setFound(page.rooms), () => setFound([]));
    }, 200);
    return () => clearTimeout(timer);
  }, [q]);
  const join = useAction(async (room: Room) => {
    if (!rooms.value[room.id]?.myRole) await api("POST", `/api/rooms/${room.id}/join`);
    await loadRoom(room.id);
    navigate(`/rooms/${room.id}`);
  });
  return (
    <section class="main narrow">
      <h1>Public rooms</h1>
      <label>Filter by name<input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} /></label>
      <ErrorLine error={join.error} />
      <ul class="cards" aria-busy={found === null}>
        {(found ?? []).map((room) => (
          <li key={room.id}>
            <strong>{room.name}</strong> <span class="muted">{room.memberCount} members</span>
            {room.topic && <p class="muted">{room.topic}</p>}
            <button type="button" onClick={() => void join.run(room)} disabled={join.busy}>
              {rooms.value[room.id]?.myRole ? "Open" : "Join"}
            </button>
          </li>
        ))}
        {found?.length === 0 && <li class="muted">No public rooms found.</li>}
      </ul>
    </section>
  );
}

export function People() {
  const start = useAction(async (user: PublicUser) => {
    const room = await api<Room>("POST", "/api/rooms/direct", { userId: user.id });
    await loadRoom(room.id);
    navigate(`/rooms/${room.id}`);
  });
  return (
    <section class="main narrow">
      <h1>Direct chat</h1>
      <UserSearch label="Find someone" action="Message" onPick={(user) => void start.run(user)} />
      <ErrorLine error={start.error} />
    </section>
  );
}

export function Search() {
  const [results, setResults] = useState<Message[] | null>(null);
  const { run, error, busy } = useAction(async (q: string) => {
    const page = await api<{ messages: Message[] }>("GET", `/api/search/messages?q=${encodeURIComponent(q)}&limit=50`);
    setResults(page.messages);
  });
  return (
    <section class="main narrow">
      <h1>Search messages</h1>
      <form class="row" role="search" onSubmit={(e) => (e.preventDefault(), void run(formData(e).q))}>
        <label class="grow">Words to find<input type="search" name="q" required maxLength={200} /></label>
        <button class="primary" disabled={busy}>Search</button>
      </form>
      <ErrorLine error={error} />
      <ul class="cards" aria-live="polite">
        {(results ?? []).map((m) => {
          const room = rooms.value[m.roomId];
          return (
            <li key={m.id}>
              <div class="meta">
                <strong>{name(m.sender)}</strong> in <Link to={`/rooms/${m.roomId}`}>{room ? roomTitle(room) : "a room"}</Link> <time dateTime={m.createdAt}>{time(m.createdAt)}</time>
              </div>
              <RichText text={m.content} />
              <Attachments files={m.attachments} />
            </li>
          );
        })}
        {results?.length === 0 && <li class="muted">Nothing found.</li>}
      </ul>
    </section>
  );
}

export function Profile() {
  const user = me.value!;
  const [saved, setSaved] = useState(false);
  const { run, error, busy } = useAction(async (body: Record<string, string>) => {
    setSaved(false);
    await updateProfile({ displayName: body.displayName, statusText: body.statusText || null });
    setSaved(true);
  });
  return (
    <section class="main narrow">
      <h1>Profile</h1>
      <p>
        Signed in as <strong>@{user.username}</strong>
        {user.email && <> ({user.email})</>}
      </p>
      <AvatarForm />
      <form class="stack" onSubmit={(e) => (e.preventDefault(), void run(formData(e)))}>
        <label>Display name<input name="displayName" defaultValue={user.displayName} required maxLength={64} /></label>
        <label>Status<input name="statusText" defaultValue={user.statusText ?? ""} maxLength={140} /></label>
        <ErrorLine error={error} />
        {saved && <p role="status">Saved.</p>}
        <button class="primary" disabled={busy}>Save</button>
      </form>
    </section>
  );
}

/** PNG, JPEG, GIF or WebP; the server re-encodes it (at most 512 px) and answers the new URL. */
function AvatarForm() {
  const change = useAction((file: File | null) => setAvatar(file));
  const user = me.value!;
  return (
    <div class="row">
      <Avatar user={user} large />
      <label class="button">
        {user.avatarUrl ? "Change picture" : "Upload a picture"}
        <input
          type="file"
          class="sr-only"
          accept="image/png,image/jpeg,image/gif,image/webp"
          disabled={change.busy}
          onChange={(event) => {
            const file = event.currentTarget.files?.[0];
            event.currentTarget.value = "";
            if (file) void change.run(file);
          }}
        />
      </label>
      {user.avatarUrl && (
        <button type="button" disabled={change.busy} onClick={() => void change.run(null)}>
          Remove picture
        </button>
      )}
      <ErrorLine error={change.error} />
    </div>
  );
}

/** `/invite/:code`: accepts a room or team invitation and opens what it leads to. */
export function Invite({ code }: { code: string }) {
  const [done, setDone] = useState(false);
  const { run, error, busy } = useAction(async () => {
    const { room, team } = await acceptInvitation(code);
    setDone(true);
    navigate(room ? `/rooms/${room.id}` : team ? `/teams/${team.id}` : "/", true);
  });
  return (
    <section class="main narrow">
      <h1>Invitation</h1>
      <p>You were invited to join a room or a team.</p>
      <ErrorLine error={error} />
      <button class="primary" onClick={() => void run()} disabled={busy || done}>Accept invitation</button>
    </section>
  );
}
