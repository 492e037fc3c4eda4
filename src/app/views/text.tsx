import type { JSX } from "preact";
import { users } from "../live";

const LINK = /\bhttps?:\/\/[^\s<>"]+/gi;
const TRAILING = /[.,;:!?)\]}'"]+$/;

/**
 * Message text as text nodes, with http(s) addresses turned into links: Preact sets text and
 * attributes only, so markup in a message stays visible characters. Other schemes never link.
 */
export function RichText({ text }: { text: string }) {
  const parts: (string | JSX.Element)[] = [];
  let last = 0;
  for (const found of text.matchAll(LINK)) {
    let url = found[0];
    const trail = TRAILING.exec(url)?.[0] ?? "";
    url = url.slice(0, url.length - trail.length);
    const at = found.index ?? 0;
    if (at > last) parts.push(text.slice(last, at));
    parts.push(
      <a href={url} target="_blank" rel="noopener noreferrer nofollow ugc">
        {url}
      </a>,
    );
    last = at + url.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return <>{parts}</>;
}

/** A user's name as last heard (`users`, kept current by user.updated), else as `user` carries it. */
export function name(user: { id?: string; displayName?: string | null; username: string } | undefined): string {
  const shown = (user?.id !== undefined && users.value[user.id]) || user;
  return shown ? shown.displayName || shown.username : "Someone";
}

export function time(iso: string) {
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : date.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}
