import { useEffect, useState } from "preact/hooks";
import { api, loadRoom, me, rememberUsers, roomInvitations, users } from "../live";
import type { Ban, PublicUser, Room, RoomInvitation, RoomMember } from "../types";
import { navigate } from "../router";
import { Avatar } from "./files";
import { ErrorLine, useAction } from "./form";
import { UserSearch } from "./screens";
import { PresenceDot } from "./sidebar";
import { name } from "./text";

const leaveRoom = (room: Room) => api("POST", `/api/rooms/${room.id}/leave`).then(() => navigate("/"));

const rank = { owner: 2, admin: 1, member: 0 } as const;

/** Members of a room; its admins add members, mute and ban (never the owner or a fellow admin). */
export function Members({ room, onClose }: { room: Room; onClose: () => void }) {
  const [members, setMembers] = useState<RoomMember[] | null>(null);
  const [bans, setBans] = useState<Ban[]>([]);
  const isAdmin = room.myRole === "owner" || room.myRole === "admin";
  const moderated = isAdmin && room.kind !== "direct";
  const reload = async () => {
    const list = await api<RoomMember[]>("GET", `/api/rooms/${room.id}/members`);
    rememberUsers(list.map((m) => m.user));
    setMembers(list);
    if (moderated) setBans(await api<Ban[]>("GET", `/api/rooms/${room.id}/bans`).catch(() => []));
  };
  const action = useAction(async (method: string, path: string, body?: unknown) => {
    await api(method, path, body);
    await reload();
  });
  useEffect(() => {
    void reload().catch(() => setMembers([]));
  }, [room.id, room.memberCount]);

  const actsOn = (m: RoomMember) => moderated && m.user.id !== me.value?.id && rank[room.myRole!] > rank[m.role];
  const muted = (m: RoomMember) => !!m.mutedUntil && new Date(m.mutedUntil) > new Date();
  return (
    <aside class="panel" aria-label="Members">
      <header class="panel-head">
        <h2>Members</h2>
        <button type="button" onClick={onClose} aria-label="Close members">✕</button>
      </header>
      {moderated && <RoomSettings room={room} />}
      {isAdmin && room.kind === "group" && room.visibility === "private" && <RoomInvitations room={room} />}
      {isAdmin && room.kind !== "direct" && (
        <UserSearch
          label="Add a member"
          action="Add"
          onPick={(user: PublicUser) => void action.run("POST", `/api/rooms/${room.id}/members`, { userId: user.id })}
        />
      )}
      <ErrorLine error={action.error} />
      <ul class="members" aria-busy={members === null}>
        {(members ?? []).map((m) => (
          <li key={m.user.id}>
            <Avatar user={m.user} /> <PresenceDot userId={m.user.id} /> <span class="clip">{name(m.user)}</span> <span class="muted">@{(users.value[m.user.id] ?? m.user).username}</span>
            {m.role !== "member" && <span class="badge role">{m.role}</span>}
            {muted(m) && <span class="badge role">muted</span>}
            {actsOn(m) && (
              <span class="row">
                {muted(m) ? (
                  <button type="button" onClick={() => void action.run("PATCH", `/api/rooms/${room.id}/members/${m.user.id}`, { mutedUntil: null })}>Unmute</button>
                ) : (
                  <button type="button" onClick={() => void action.run("PATCH", `/api/rooms/${room.id}/members/${m.user.id}`, { mutedUntil: new Date(Date.now() + 3_600_000).toISOString() })}>
                    Mute 1 h
                  </button>
                )}
                <button type="button" onClick={() => void action.run("DELETE", `/api/rooms/${room.id}/members/${m.user.id}`)}>Remove</button>
                <button type="button" onClick={() => confirm(`Ban ${name(m.user)}?`) && void action.run("POST", `/api/rooms/${room.id}/bans`, { userId: m.user.id })}>Ban</button>
              </span>
            )}
          </li>
        ))}
      </ul>
      {moderated && bans.length > 0 && (
        <>
          <h3>Banned</h3>
          <ul class="members">
            {bans.map((ban) => (
              <li key={ban.userId}>
                <span class="clip">{ban.userId}</span>
                <button type="button" onClick={() => void action.run("DELETE", `/api/rooms/${room.id}/bans/${ban.userId}`)}>Lift ban</button>
              </li>
            ))}
          </ul>
        </>
      )}
      {room.kind !== "direct" && (
        <button type="button" class="danger" onClick={() => confirm("Leave this room?") && void leaveRoom(room)}>
          Leave room
        </button>
      )}
    </aside>
  );
}

/** Invitation links of a private group room: anyone opening one at /invite/:code joins it. */
function RoomInvitations({ room }: { room: Room }) {
  const [list, setList] = useState<RoomInvitation[]>([]);
  const action = useAction(async (change?: () => Promise<unknown>) => {
    await change?.();
    setList(await roomInvitations.list(room.id));
  });
  useEffect(() => void action.run(), [room.id]);
  const link = (code: string) => `${location.origin}/invite/${code}`;
  const live = list.filter((inv) => !inv.revokedAt && new Date(inv.expiresAt) > new Date() && (inv.maxUses === null || inv.uses < inv.maxUses));
  return (
    <details>
      <summary>Invitation links</summary>
      <button type="button" disabled={action.busy} onClick={() => void action.run(() => roomInvitations.create(room.id))}>New invitation link</button>
      <ErrorLine error={action.error} />
      <ul class="members">
        {live.map((inv) => (
          <li key={inv.code}>
            <label class="grow">Invitation link<input readOnly value={link(inv.code)} onFocus={(e) => e.currentTarget.select()} /></label>
            <span class="muted">expires {new Date(inv.expiresAt).toLocaleDateString()}, used {inv.uses}</span>
            <button type="button" onClick={() => void navigator.clipboard?.writeText(link(inv.code))}>Copy</button>
            <button type="button" onClick={() => void action.run(() => roomInvitations.revoke(room.id, inv.code))}>Revoke</button>
          </li>
        ))}
      </ul>
    </details>
  );
}

function RoomSettings({ room }: { room: Room }) {
  const [saved, setSaved] = useState(false);
  const save = useAction(async (body: Record<string, string>) => {
    setSaved(false);
    await api("PATCH", `/api/rooms/${room.id}`, { name: body.name, topic: body.topic || null, visibility: body.visibility });
    await loadRoom(room.id);
    setSaved(true);
  });
  return (
    <details>
      <summary>Room settings</summary>
      <form class="stack" onSubmit={(e) => (e.preventDefault(), void save.run(Object.fromEntries(new FormData(e.currentTarget)) as Record<string, string>))}>
        <label>Name<input name="name" defaultValue={room.name ?? ""} required maxLength={80} /></label>
        <label>Topic<input name="topic" defaultValue={room.topic ?? ""} maxLength={500} /></label>
        <label>Visibility
          <select name="visibility" defaultValue={room.visibility}><option value="private">private</option><option value="public">public</option></select>
        </label>
        <ErrorLine error={save.error} />
        {saved && <p role="status">Saved.</p>}
        <button class="primary" disabled={save.busy}>Save</button>
      </form>
    </details>
  );
}

