import { signal } from "@preact/signals";

/** The page's path; the server answers every client-side path with the same page. */
export const path = signal(location.pathname);

export function navigate(to: string, replace = false) {
  if (to === location.pathname) return;
  history[replace ? "replaceState" : "pushState"](null, "", to);
  path.value = to;
}

addEventListener("popstate", () => {
  path.value = location.pathname;
});

/** `/rooms/:id` against `/rooms/abc` → { id: "abc" }; null when it does not match. */
export function match(pattern: string, at: string): Record<string, string> | null {
  const want = pattern.split("/");
  const have = at.split("/");
  if (want.length !== have.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith(":")) params[want[i].slice(1)] = decodeURIComponent(have[i]);
    else if (want[i] !== have[i]) return null;
  }
  return params;
}
