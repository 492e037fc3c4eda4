import { useState } from "preact/hooks";
import { signIn } from "../live";
import { ErrorLine, useAction } from "./form";

export function AuthScreen() {
  const [mode, setMode] = useState<"login" | "register">("login");
  const { run, error, busy } = useAction(signIn);
  const onSubmit = (event: SubmitEvent) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(event.currentTarget as HTMLFormElement)) as Record<string, string>;
    if (!data.displayName) delete data.displayName;
    void run(mode, data);
  };
  return (
    <main class="auth">
      <h1>bunchat</h1>
      <div class="tabs" role="group" aria-label="Account">
        <button type="button" aria-pressed={mode === "login"} onClick={() => setMode("login")}>
          Sign in
        </button>
        <button type="button" aria-pressed={mode === "register"} onClick={() => setMode("register")}>
          Create account
        </button>
      </div>
      <form onSubmit={onSubmit} class="stack">
        <label>
          Username{mode === "login" ? " or email" : ""}
          <input name="username" autocomplete="username" required minLength={3} maxLength={mode === "login" ? 320 : 32} />
        </label>
        {mode === "register" && (
          <label>
            Display name (optional)
            <input name="displayName" maxLength={64} />
          </label>
        )}
        <label>
          Password
          <input name="password" type="password" autocomplete={mode === "login" ? "current-password" : "new-password"} required minLength={8} maxLength={128} />
        </label>
        <ErrorLine error={error} />
        <button class="primary" disabled={busy}>
          {mode === "login" ? "Sign in" : "Create account"}
        </button>
      </form>
    </main>
  );
}
