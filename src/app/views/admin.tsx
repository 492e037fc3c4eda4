import { useEffect, useState } from "preact/hooks";
import type { AdminRoomPage, AdminUserPage, AuditPage, ReportPage } from "../../modules/admin/model";
import { api } from "../live";
import type { Stats } from "../types";
import { ErrorLine, useAction } from "./form";
import { name, time } from "./text";

type Tab = "stats" | "users" | "rooms" | "reports" | "audit";
const TABS: Tab[] = ["stats", "users", "rooms", "reports", "audit"];

/** Server administration: every read and change here is written to the server's audit log. */
export function Admin() {
  const [tab, setTab] = useState<Tab>("stats");
  return (
    <section class="main">
      <h1>Administration</h1>
      <div class="tabs" role="group" aria-label="Administration sections">
        {TABS.map((t) => (
          <button type="button" key={t} aria-pressed={tab === t} onClick={() => setTab(t)}>
            {t[0].toUpperCase() + t.slice(1)}
          </button>
        ))}
      </div>
      {tab === "stats" && <StatsView />}
      {tab === "users" && <UsersView />}
      {tab === "rooms" && <RoomsView />}
      {tab === "reports" && <ReportsView />}
      {tab === "audit" && <AuditView />}
    </section>
  );
}

/** Loads `load()` on mount and after each action; the action's error shows above the view. */
function useAdmin<T>(load: () => Promise<T>, deps: unknown[] = []) {
  const [data, setData] = useState<T | null>(null);
  const action = useAction(async (change?: () => Promise<unknown>) => {
    if (change) await change();
    setData(await load());
  });
  useEffect(() => void action.run(), deps);
  return { data, action };
}

function StatsView() {
  const { data, action } = useAdmin(() => api<Stats>("GET", "/api/admin/stats"));
  return (
    <>
      <ErrorLine error={action.error} />
      <dl class="stats">
        {data && Object.entries(data).map(([key, value]) => (
          <div key={key}><dt>{key}</dt><dd>{String(value)}</dd></div>
        ))}
      </dl>
    </>
  );
}

function UsersView() {
  const [q, setQ] = useState("");
  const { data, action } = useAdmin(() => api<AdminUserPage>("GET", `/api/admin/users?limit=100${q ? `&q=${encodeURIComponent(q)}` : ""}`), [q]);
  const patch = (id: string, body: object) => action.run(() => api("PATCH", `/api/admin/users/${id}`, body));
  return (
    <>
      <label>Find users<input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} /></label>
      <ErrorLine error={action.error} />
      <table>
        <thead><tr><th>User</th><th>Email</th><th>Role</th><th>Status</th><th>Actions</th></tr></thead>
        <tbody>
          {data?.users.map((u) => (
            <tr key={u.id}>
              <td>{name(u)} <span class="muted">@{u.username}</span></td>
              <td>{u.email ?? ""}</td>
              <td>{u.role}</td>
              <td>{u.deactivatedAt ? "deactivated" : "active"}</td>
              <td class="row">
                <button type="button" onClick={() => void patch(u.id, { role: u.role === "admin" ? "user" : "admin" })}>{u.role === "admin" ? "Demote" : "Make admin"}</button>
                <button type="button" onClick={() => void patch(u.id, { deactivated: !u.deactivatedAt })}>{u.deactivatedAt ? "Reactivate" : "Deactivate"}</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function RoomsView() {
  const { data, action } = useAdmin(() => api<AdminRoomPage>("GET", "/api/admin/rooms?limit=100"));
  return (
    <>
      <ErrorLine error={action.error} />
      <table>
        <thead><tr><th>Room</th><th>Kind</th><th>Visibility</th><th>Members</th><th>Messages</th><th>Actions</th></tr></thead>
        <tbody>
          {data?.rooms.map((r) => (
            <tr key={r.id}>
              <td>{r.name ?? "(direct)"}</td><td>{r.kind}</td><td>{r.visibility}</td><td>{r.memberCount}</td><td>{r.lastSeq}</td>
              <td>
                <button type="button" onClick={() => confirm(`Delete room ${r.name ?? r.id}?`) && void action.run(() => api("DELETE", `/api/admin/rooms/${r.id}`))}>Delete</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function ReportsView() {
  const [status, setStatus] = useState<"open" | "resolved">("open");
  const { data, action } = useAdmin(() => api<ReportPage>("GET", `/api/admin/reports?status=${status}&limit=100`), [status]);
  return (
    <>
      <label>Status
        <select value={status} onChange={(e) => setStatus(e.currentTarget.value as "open" | "resolved")}><option value="open">open</option><option value="resolved">resolved</option></select>
      </label>
      <ErrorLine error={action.error} />
      <ul class="cards">
        {data?.reports.map((r) => (
          <li key={r.id}>
            <div class="meta">{name(r.reporter)} reported, {time(r.createdAt)}: {r.reason}</div>
            <blockquote>{r.message.content || "(deleted)"}</blockquote>
            {r.status === "open" ? (
              <span class="row">
                <button type="button" onClick={() => void action.run(() => api("PATCH", `/api/admin/reports/${r.id}`, { status: "resolved" }))}>Resolve</button>
                <button type="button" onClick={() => confirm("Delete the message and resolve?") && void action.run(async () => { await api("DELETE", `/api/messages/${r.message.id}`).catch(() => undefined); await api("PATCH", `/api/admin/reports/${r.id}`, { status: "resolved", note: "message deleted" }); })}>
                  Delete message
                </button>
              </span>
            ) : (
              <span class="muted">resolved {r.note ? `: ${r.note}` : ""}</span>
            )}
          </li>
        ))}
        {data?.reports.length === 0 && <li class="muted">No reports.</li>}
      </ul>
    </>
  );
}

function AuditView() {
  const { data, action } = useAdmin(() => api<AuditPage>("GET", "/api/admin/audit?limit=100"));
  return (
    <>
      <ErrorLine error={action.error} />
      <table>
        <thead><tr><th>When</th><th>Who</th><th>Action</th><th>Target</th></tr></thead>
        <tbody>
          {data?.entries.map((e) => (
            <tr key={e.id}>
              <td>{time(e.createdAt)}</td><td>{e.actor ? name(e.actor) : "command line"}</td><td>{e.action}</td><td>{e.targetType} {e.targetId ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
