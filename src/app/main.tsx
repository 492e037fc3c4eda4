import { render } from "preact";
import { boot, booted, conn, halted, me, reconnect } from "./live";
import { match, path } from "./router";
import { Admin } from "./views/admin";
import { AuthScreen } from "./views/auth";
import { Conversation } from "./views/conversation";
import { Discover, Home, Invite, NewRoom, People, Profile, Search } from "./views/screens";
import { Sidebar } from "./views/sidebar";
import { TeamPage, Teams } from "./views/teams";

function Page() {
  const at = path.value;
  let params: Record<string, string> | null;
  if ((params = match("/rooms/:id", at))) return <Conversation roomId={params.id} key={params.id} />;
  if ((params = match("/invite/:code", at))) return <Invite code={params.code} />;
  if ((params = match("/teams/:id", at))) return <TeamPage teamId={params.id} key={params.id} />;
  switch (at) {
    case "/new": return <NewRoom />;
    case "/discover": return <Discover />;
    case "/people": return <People />;
    case "/teams": return <Teams />;
    case "/search": return <Search />;
    case "/profile": return <Profile />;
    case "/admin": return me.value?.role === "admin" ? <Admin /> : <Home />;
    default: return <Home />;
  }
}

function Banner() {
  const state = conn.value;
  if (halted.value)
    return (
      <div class="banner" role="alert">
        Too many open tabs or devices: this one is offline. Close one, then{" "}
        <button type="button" onClick={reconnect}>Reconnect</button>
      </div>
    );
  if (state !== "reconnecting" && state !== "connecting") return null;
  return (
    <div class="banner" role="status">
      {state === "reconnecting" ? "Connection lost: reconnecting…" : "Connecting…"}
    </div>
  );
}

function App() {
  if (!booted.value) return <p class="loading" aria-busy="true">Loading…</p>;
  if (!me.value) return <AuthScreen />;
  // On a narrow screen the room list is the home page; any other page takes the whole width.
  return (
    <div class={`shell ${path.value === "/" ? "at-home" : "at-page"}`}>
      <Banner />
      <Sidebar />
      <Page />
    </div>
  );
}

render(<App />, document.getElementById("app")!);
void boot();
