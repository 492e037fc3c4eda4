import { computed } from "@preact/signals";
import { me, peers, presence, roomTitle, rooms, signOut, teams, users } from "../live";
import { navigate, path } from "../router";
import type { Room } from "../types";
import { Avatar } from "./files";
import { name } from "./text";

const activity = (room: Room) => room.lastActivityAt;

/** The caller's rooms but those they hid, most recent activity first. */
const ordered = computed(() => Object.values(rooms.value).filter((r) => r.myRole && !r.hidden).sort((a, b) => (activity(a) < activity(b) ? 1 : activity(a) > activity(b) ? -1 : 0)));

export function Link({ to, children, ...rest }: { to: string; children: preact.ComponentChildren; class?: string; "aria-label"?: string }) {
  return (
    <a
      href={to}
      aria-current={path.value === to ? "page" : undefined}
      onClick={(event) => {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        navigate(to);
      }}
      {...rest}
    >
      {children}
    </a>
  );
}

export function PresenceDot({ userId }: { userId: string | undefined }) {
  const online = userId ? presence.value[userId] === "online" : false;
  return <span class={`dot ${online ? "online" : ""}`} role="img" aria-label={online ? "online" : "offline"} title={online ? "online" : "offline"} />;
}

function preview(room: Room) {
  const last = room.lastMessage;
  if (!last) return "No messages yet";
  if (last.deletedAt) return "Message deleted";
  const who = last.senderId === me.value?.id ? "You" : name(users.value[last.senderId]);
  return `${who}: ${last.content || "sent a file"}`;
}

export function Sidebar() {
  const user = me.value!;
  return (
    <nav class="sidebar" aria-label="Rooms and tools">
      <header class="me">
        <Link to="/profile" class="me-link">
          <Avatar user={user} /> <PresenceDot userId={user.id} /> <span>{name(user)}</span>
        </Link>
        <button type="button" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <ul class="tools">
        <li><Link to="/new">New room</Link></li>
        <li><Link to="/discover">Public rooms</Link></li>
        <li><Link to="/people">Direct chat</Link></li>
        <li><Link to="/teams">Teams</Link></li>
        <li><Link to="/search">Search</Link></li>
        {user.role === "admin" && <li><Link to="/admin">Admin</Link></li>}
      </ul>
      <h2 id="rooms-heading">Rooms</h2>
      <ul class="rooms" aria-labelledby="rooms-heading">
        {ordered.value.map((room) => {
          const team = room.teamId ? teams.value[room.teamId] : undefined;
          const title = roomTitle(room);
          return (
            <li key={room.id}>
              <Link to={`/rooms/${room.id}`} class="room-link">
                <span class="room-title">
                  {room.kind === "direct" ? (
                    <>
                      <Avatar user={users.value[peers.value[room.id] ?? ""]} /> <PresenceDot userId={peers.value[room.id]} />
                    </>
                  ) : (
                    <span aria-hidden="true">#</span>
                  )}
                  <span class="clip">{title}</span>
                  {team && <span class="muted clip"> · {team.name}</span>}
                  {room.muted && (
                    <span class="muted muted-mark" role="img" aria-label="muted" title="muted">
                      🔕
                    </span>
                  )}
                  {room.unreadCount > 0 && (
                    <span class={room.muted ? "badge quiet" : "badge"}>
                      {room.unreadCount}
                      <span class="sr-only"> unread</span>
                    </span>
                  )}
                </span>
                <span class="preview clip">{preview(room)}</span>
              </Link>
            </li>
          );
        })}
        {ordered.value.length === 0 && <li class="muted">No rooms yet: create one or find a public one.</li>}
      </ul>
    </nav>
  );
}
