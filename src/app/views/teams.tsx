import { useEffect, useState } from "preact/hooks";
import { api, loadRoom, loadTeams, me, teams } from "../live";
import { navigate } from "../router";
import type { Invitation, Room, Team, TeamMember } from "../types";
import { ErrorLine, useAction } from "./form";
import { Link } from "./sidebar";
import { name } from "./text";

const formData = (event: SubmitEvent) => Object.fromEntries(new FormData(event.currentTarget as HTMLFormElement)) as Record<string, string>;

export function Teams() {
  useEffect(() => void loadTeams().catch(() => undefined), []);
  const create = useAction(async (body: Record<string, string>) => {
    const team = await api<Team>("POST", "/api/teams", { name: body.name, description: body.description || undefined });
    await loadTeams();
    navigate(`/teams/${team.id}`);
  });
  return (
    <section class="main narrow">
      <h1>Teams</h1>
      <ul class="cards">
        {Object.values(teams.value).map((team) => (
          <li key={team.id}>
            <Link to={`/teams/${team.id}`}>{team.name}</Link>
            {team.description && <p class="muted">{team.description}</p>}
          </li>
        ))}
        {Object.keys(teams.value).length === 0 && <li class="muted">You are in no team yet.</li>}
      </ul>
      <h2>New team</h2>
      <form class="stack" onSubmit={(e) => (e.preventDefault(), void create.run(formData(e)))}>
        <label>Name<input name="name" required maxLength={80} /></label>
        <label>Description (optional)<input name="description" maxLength={500} /></label>
        <ErrorLine error={create.error} />
        <button class="primary" disabled={create.busy}>Create team</button>
      </form>
    </section>
  );
}

export function TeamPage({ teamId }: { teamId: string }) {
  const team = teams.value[teamId];
  const [channels, setChannels] = useState<Room[]>([]);
  const [members, setMembers] = useState<TeamMember[]>([]);
  const [invitations, setInvitations] = useState<Invitation[]>([]);
  const myRole = members.find((m) => m.user.id === me.value?.id)?.role;
  const isAdmin = myRole === "owner" || myRole === "admin";
  const reload = async () => {
    const [c, m] = await Promise.all([api<Room[]>("GET", `/api/teams/${teamId}/channels`), api<TeamMember[]>("GET", `/api/teams/${teamId}/members`)]);
    setChannels(c);
    setMembers(m);
    const role = m.find((x) => x.user.id === me.value?.id)?.role;
    if (role === "owner" || role === "admin") setInvitations(await api<Invitation[]>("GET", `/api/teams/${teamId}/invitations`).catch(() => []));
  };
  const action = useAction(async (run: () => Promise<unknown>) => {
    await run();
    await reload();
  });
  useEffect(() => void action.run(async () => {}), [teamId]);
  const link = (code: string) => `${location.origin}/invite/${code}`;
  return (
    <section class="main narrow">
      <h1>{team?.name ?? "Team"}</h1>
      {team?.description && <p>{team.description}</p>}
      <ErrorLine error={action.error} />
      <h2>Channels</h2>
      <ul class="cards">
        {channels.map((channel) => (
          <li key={channel.id}>
            <Link to={`/rooms/${channel.id}`}># {channel.name}</Link> <span class="muted">{channel.visibility}</span>
          </li>
        ))}
      </ul>
      {isAdmin && (
        <form
          class="row"
          onSubmit={(e) => {
            e.preventDefault();
            const body = formData(e);
            (e.currentTarget as HTMLFormElement).reset();
            void action.run(async () => {
              const room = await api<Room>("POST", `/api/teams/${teamId}/channels`, { name: body.name, visibility: body.visibility });
              await loadRoom(room.id);
            });
          }}
        >
          <label class="grow">New channel<input name="name" required maxLength={80} /></label>
          <label>Visibility
            <select name="visibility"><option value="public">public</option><option value="private">private</option></select>
          </label>
          <button class="primary">Create</button>
        </form>
      )}
      {isAdmin && (
        <>
          <h2>Invitation links</h2>
          <button type="button" onClick={() => void action.run(() => api("POST", `/api/teams/${teamId}/invitations`, {}))}>New invitation link</button>
          <ul class="cards">
            {invitations.map((inv) => (
              <li key={inv.code}>
                <label>Link<input readOnly value={link(inv.code)} onFocus={(e) => e.currentTarget.select()} /></label>
                <span class="muted">expires {new Date(inv.expiresAt).toLocaleString()}</span>
                <button type="button" onClick={() => void navigator.clipboard?.writeText(link(inv.code))}>Copy</button>
                <button type="button" onClick={() => void action.run(() => api("DELETE", `/api/teams/${teamId}/invitations/${inv.code}`))}>Revoke</button>
              </li>
            ))}
          </ul>
        </>
      )}
      <h2>Members ({members.length})</h2>
      <ul class="members">
        {members.map((m) => (
          <li key={m.user.id}>
            {name(m.user)} <span class="muted">@{m.user.username}</span> {m.role !== "member" && <span class="badge role">{m.role}</span>}
          </li>
        ))}
      </ul>
      {myRole && myRole !== "owner" && (
        <button type="button" class="danger" onClick={() => confirm("Leave this team?") && void action.run(async () => { await api("POST", `/api/teams/${teamId}/leave`); await loadTeams(); navigate("/teams"); })}>
          Leave team
        </button>
      )}
    </section>
  );
}
