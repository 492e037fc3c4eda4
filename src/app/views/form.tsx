import { useState } from "preact/hooks";
import { ApiError } from "../live";

/** Runs an action on submit, showing its error (the server's message) and a busy state. */
export function useAction<A extends unknown[]>(action: (...args: A) => Promise<unknown>) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (...args: A) => {
    setBusy(true);
    setError(null);
    try {
      await action(...args);
      return true;
    } catch (e) {
      setError(e instanceof ApiError ? describe(e) : "Something went wrong; try again.");
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { run, error, busy, setError };
}

function describe(error: ApiError) {
  const fields = (error.details as { fields?: { path?: string; message?: string }[] } | undefined)?.fields;
  if (fields?.length) return `${error.message}: ${fields.map((f) => `${f.path ?? ""} ${f.message ?? ""}`.trim()).join("; ")}`;
  return error.message;
}

export function ErrorLine({ error }: { error: string | null }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}
