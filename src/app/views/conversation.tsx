import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import {
  api,
  ApiError,
  conn,
  deleteMessage,
  discard,
  editMessage,
  loadOlder,
  loadRoom,
  loadTimeline,
  markRead,
  me,
  peers,
  pending,
  receipts,
  react,
  retry,
  roomTitle,
  rooms,
  send,
  sendTyping,
  timelines,
  typing,
  updateMine,
  users,
} from "../live";
import type { Message, Room } from "../types";
import { AttachButton, Attachments, Avatar, PickedFiles, useAttachments } from "./files";
import { ErrorLine, useAction } from "./form";
import { Members } from "./members";
import { navigate } from "../router";
import { Link, PresenceDot } from "./sidebar";
import { name, RichText, time } from "./text";

const EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "🙏"];

export function Conversation({ roomId }: { roomId: string }) {
  const room = rooms.value[roomId];
  const [missing, setMissing] = useState(false);
  const [panel, setPanel] = useState<"members" | { thread: Message } | null>(null);
  useEffect(() => {
    setMissing(false);
    setPanel(null);
    if (!rooms.value[roomId]) loadRoom(roomId).catch(() => setMissing(true));
  }, [roomId]);
  // Without a live session (stopped by 4008) the timeline waits for the next one.
  const live = conn.value !== "offline";
  useEffect(() => {
    if (live && room?.myRole && !timelines.value[roomId])
      void loadTimeline(roomId).catch((error) => !(error instanceof ApiError && error.code === "OFFLINE") && setMissing(true));
  }, [roomId, !!room?.myRole, live]);

  if (missing) return <section class="main"><p>This room does not exist or you cannot see it.</p><Link to="/">Back</Link></section>;
  if (!room) return <section class="main" aria-busy="true"><p>Loading…</p></section>;
  if (!room.myRole) return <JoinRoom room={room} />;
  const title = roomTitle(room);
  const peer = peers.value[roomId];
  return (
    <section class="main conversation" aria-label={`Conversation: ${title}`}>
      <header class="room-head">
        <Link to="/" class="back" aria-label="Back to rooms">‹</Link>
        <h1 class="clip">
          {room.kind === "direct" && <PresenceDot userId={peer} />} {title}
        </h1>
        {room.topic && <p class="muted clip topic">{room.topic}</p>}
        <button type="button" aria-expanded={panel === "members"} onClick={() => setPanel(panel === "members" ? null : "members")}>
          Members ({room.memberCount})
        </button>
        <MySettings room={room} />
      </header>
      <div class="conversation-body">
        <div class="timeline-column">
          <Timeline room={room} onThread={(message) => setPanel({ thread: message })} />
          <TypingLine roomId={roomId} />
          <Composer roomId={roomId} />
        </div>
        {panel === "members" && <Members room={room} onClose={() => setPanel(null)} />}
        {panel && panel !== "members" && <Thread room={room} parent={panel.thread} onClose={() => setPanel(null)} />}
      </div>
    </section>
  );
}

/** Mute (any room) and hide (direct chats: out of the list until the next message). */
function MySettings({ room }: { room: Room }) {
  const change = useAction((settings: { hidden?: boolean; muted?: boolean }) => updateMine(room.id, settings));
  return (
    <>
      <button type="button" aria-pressed={room.muted} disabled={change.busy} onClick={() => void change.run({ muted: !room.muted })}>
        {room.muted ? "Muted" : "Mute"}
      </button>
      {room.kind === "direct" && (
        <button type="button" disabled={change.busy} onClick={() => void change.run({ hidden: true }).then((ok) => ok && navigate("/"))}>
          Hide
        </button>
      )}
      <ErrorLine error={change.error} />
    </>
  );
}

function JoinRoom({ room }: { room: Room }) {
  const { run, error, busy } = useAction(async () => {
    await api("POST", `/api/rooms/${room.id}/join`);
    await loadRoom(room.id);
  });
  return (
    <section class="main">
      <h1>{roomTitle(room)}</h1>
      {room.topic && <p>{room.topic}</p>}
      <p>{room.memberCount} members</p>
      <ErrorLine error={error} />
      <button class="primary" disabled={busy} onClick={() => void run()}>
        Join room
      </button>
    </section>
  );
}

function Timeline({ room, onThread }: { room: Room; onThread: (m: Message) => void }) {
  const timeline = timelines.value[room.id];
  const waiting = pending.value.filter((p) => p.roomId === room.id);
  const list = useRef<HTMLOListElement>(null);
  const atBottom = useRef(true);
  const anchor = useRef<{ height: number; top: number } | null>(null);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const messages = timeline?.messages ?? [];

  // Keeps the view where it was when older messages come in above, and at the bottom for new ones.
  useLayoutEffect(() => {
    const el = list.current;
    if (!el) return;
    if (anchor.current) {
      el.scrollTop = anchor.current.top + (el.scrollHeight - anchor.current.height);
      anchor.current = null;
    } else if (atBottom.current) el.scrollTop = el.scrollHeight;
  }, [messages, waiting.length]);

  // The read position follows the newest message seen in the list while the page is visible.
  useEffect(() => {
    const el = list.current;
    if (!el) return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (document.visibilityState !== "visible") return;
        let seen = 0;
        for (const entry of entries) if (entry.isIntersecting) seen = Math.max(seen, Number((entry.target as HTMLElement).dataset.seq));
        if (seen) markRead(room.id, seen);
      },
      { root: el, threshold: 0.5 },
    );
    for (const item of el.querySelectorAll("[data-seq]")) observer.observe(item);
    return () => observer.disconnect();
  }, [room.id, messages]);

  const older = async () => {
    const el = list.current;
    if (!el || loadingOlder || !timeline?.hasOlder) return;
    anchor.current = { height: el.scrollHeight, top: el.scrollTop };
    setLoadingOlder(true);
    try {
      await loadOlder(room.id);
    } finally {
      setLoadingOlder(false);
    }
  };

  const byId = new Map(messages.map((m) => [m.id, m]));
  return (
    <ol
      class="timeline"
      ref={list}
      tabIndex={0}
      aria-label="Messages"
      aria-busy={!timeline}
      onScroll={(event) => {
        const el = event.currentTarget;
        atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        if (el.scrollTop < 80) void older();
      }}
    >
      {timeline?.hasOlder && (
        <li class="older">
          <button type="button" onClick={() => void older()} disabled={loadingOlder}>
            {loadingOlder ? "Loading…" : "Load older messages"}
          </button>
        </li>
      )}
      {timeline && messages.length === 0 && waiting.length === 0 && <li class="muted empty">No messages yet. Say hello!</li>}
      {messages.map((message) => (
        <MessageItem key={message.id} room={room} message={message} parent={message.replyToId ? byId.get(message.replyToId) : undefined} onThread={onThread} />
      ))}
      {waiting.map((item) => (
        <li key={item.clientId} class="message mine pending" aria-label="Sending">
          <div class="meta">
            <strong>{name(me.value!)}</strong> <span class="muted">{item.error ? "not sent" : "sending…"}</span>
          </div>
          <div class="content">
            <RichText text={item.content} />
          </div>
          {item.attachments.length > 0 && (
            <ul class="attachments muted" aria-label="Attachments">
              {item.attachments.map((file) => <li key={file.id}>📎 {file.name}</li>)}
            </ul>
          )}
          {item.error && (
            <div class="actions visible">
              <span class="error">{item.error}</span>
              <button type="button" onClick={() => retry(item.clientId)}>Retry</button>
              <button type="button" onClick={() => discard(item.clientId)}>Discard</button>
            </div>
          )}
        </li>
      ))}
    </ol>
  );
}

function Tick({ room, message }: { room: Room; message: Message }) {
  const r = receipts.value[room.id];
  const status = message.seq <= (r?.read ?? 0) ? "read" : message.status === "read" ? "read" : message.seq <= (r?.delivered ?? 0) || message.status === "delivered" ? "delivered" : "sent";
  const label = { sent: "Sent", delivered: "Delivered", read: "Read" }[status];
  return (
    <span class={`tick ${status}`} role="img" aria-label={label} title={label} data-status={status}>
      {status === "sent" ? "✓" : "✓✓"}
    </span>
  );
}

function MessageItem({ room, message, parent, onThread }: { room: Room; message: Message; parent?: Message; onThread: (m: Message) => void }) {
  const mine = message.senderId === me.value?.id;
  const [editing, setEditing] = useState(false);
  const [picking, setPicking] = useState(false);
  const edit = useAction(async (content: string) => {
    await editMessage(message.id, content);
    setEditing(false);
  });
  const remove = useAction(() => deleteMessage(message.id));
  const toggle = useAction((emoji: string, on: boolean) => react(message, emoji, on));
  const [reported, setReported] = useState(false);
  const report = useAction(async () => {
    const reason = prompt("Why should the server's admins look at this message?")?.trim();
    if (!reason) return;
    await api("POST", `/api/messages/${message.id}/report`, { reason: reason.slice(0, 1000) });
    setReported(true);
  });
  const canDelete = mine || room.myRole === "owner" || room.myRole === "admin" || me.value?.role === "admin";
  const deleted = !!message.deletedAt;
  return (
    <li class={`message${mine ? " mine" : ""}${deleted ? " deleted" : ""}`} data-seq={message.seq} data-id={message.id}>
      <div class="meta">
        <Avatar user={message.sender} /> <strong class="sender">{name(message.sender)}</strong> <time dateTime={message.createdAt}>{time(message.createdAt)}</time>
        {message.editedAt && !deleted && <span class="muted"> (edited)</span>}
        {mine && room.kind === "direct" && !deleted && <Tick room={room} message={message} />}
        {mine && room.kind !== "direct" && !deleted && !!message.readCount && <span class="muted seen"> · seen by {message.readCount}</span>}
      </div>
      {message.replyToId && (
        <p class="quote muted clip">
          ↪ {parent ? <>{name(parent.sender)}: {parent.deletedAt ? "message deleted" : parent.content}</> : "a reply"}
        </p>
      )}
      {deleted ? (
        <div class="content muted">Message deleted</div>
      ) : editing ? (
        <form
          class="edit"
          onSubmit={(event) => {
            event.preventDefault();
            const content = String(new FormData(event.currentTarget).get("content") ?? "").trim();
            if (content) void edit.run(content);
          }}
        >
          <label class="sr-only" for={`edit-${message.id}`}>Edit message</label>
          <textarea
            id={`edit-${message.id}`}
            name="content"
            defaultValue={message.content}
            maxLength={4000}
            required
            onKeyDown={(event) => {
              if (event.key === "Escape") setEditing(false);
              if (event.key === "Enter" && !event.shiftKey) {
                event.preventDefault();
                event.currentTarget.form?.requestSubmit();
              }
            }}
            ref={(el) => el?.focus()}
          />
          <button class="primary" disabled={edit.busy}>Save</button>
          <button type="button" onClick={() => setEditing(false)}>Cancel</button>
          <ErrorLine error={edit.error} />
        </form>
      ) : (
        <>
          <div class="content">
            <RichText text={message.content} />
          </div>
          <Attachments files={message.attachments} />
        </>
      )}
      {message.reactions.length > 0 && (
        <div class="reactions">
          {message.reactions.map((r) => (
            <button type="button" key={r.emoji} class="reaction" aria-pressed={r.me} aria-label={`${r.emoji} ${r.count}${r.me ? ", yours" : ""}`} onClick={() => void toggle.run(r.emoji, !r.me)}>
              {r.emoji} {r.count}
            </button>
          ))}
        </div>
      )}
      {!deleted && !editing && (
        <div class="actions">
          <button type="button" aria-expanded={picking} onClick={() => setPicking(!picking)}>React</button>
          <button type="button" onClick={() => onThread(message)}>{message.replyCount ? `Replies (${message.replyCount})` : "Reply"}</button>
          {mine && <button type="button" onClick={() => setEditing(true)}>Edit</button>}
          {!mine && (
            <button type="button" onClick={() => void report.run()} disabled={reported}>
              {reported ? "Reported" : "Report"}
            </button>
          )}
          {canDelete && (
            <button type="button" onClick={() => confirm("Delete this message?") && void remove.run()}>
              Delete
            </button>
          )}
        </div>
      )}
      {picking && (
        <div class="picker" role="group" aria-label="Pick a reaction">
          {EMOJI.map((emoji) => (
            <button
              type="button"
              key={emoji}
              aria-label={`React with ${emoji}`}
              onClick={() => {
                setPicking(false);
                void toggle.run(emoji, !message.reactions.find((r) => r.emoji === emoji)?.me);
              }}
            >
              {emoji}
            </button>
          ))}
        </div>
      )}
      <ErrorLine error={remove.error ?? toggle.error ?? report.error} />
    </li>
  );
}

function TypingLine({ roomId }: { roomId: string }) {
  const who = Object.keys(typing.value[roomId] ?? {}).filter((id) => id !== me.value?.id);
  const names = who.map((id) => name(users.value[id]));
  return (
    <p class="typing muted" aria-live="polite">
      {names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`}
    </p>
  );
}

export function Composer({ roomId, replyToId = null, label = "Message" }: { roomId: string; replyToId?: string | null; label?: string }) {
  const [text, setText] = useState("");
  const attachments = useAttachments();
  const id = `composer-${replyToId ?? roomId}`;
  const ready = (text.trim() !== "" || attachments.files.length > 0) && !attachments.busy;
  const submit = () => {
    if (!ready) return;
    send(roomId, text.trim(), replyToId, attachments.files);
    setText("");
    attachments.clear();
  };
  return (
    <form
      class="composer"
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
    >
      <label class="sr-only" for={id}>{label}</label>
      <textarea
        id={id}
        rows={1}
        placeholder={`${label}…`}
        value={text}
        maxLength={4000}
        onInput={(event) => {
          setText(event.currentTarget.value);
          if (event.currentTarget.value.trim()) sendTyping(roomId);
        }}
        onKeyDown={(event) => {
          if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
            event.preventDefault();
            submit();
          }
        }}
      />
      <AttachButton id={`${id}-files`} attachments={attachments} />
      <button class="primary" disabled={!ready}>Send</button>
      <PickedFiles attachments={attachments} />
    </form>
  );
}

function Thread({ room, parent, onClose }: { room: Room; parent: Message; onClose: () => void }) {
  const [replies, setReplies] = useState<Message[] | null>(null);
  const timeline = timelines.value[room.id];
  // Replies already in the timeline show at once; the thread's own page adds older ones.
  const live = (timeline?.messages ?? []).filter((m) => m.replyToId === parent.id);
  const current = timeline?.messages.find((m) => m.id === parent.id) ?? parent;
  useEffect(() => {
    setReplies(null);
    api<{ messages: Message[] }>("GET", `/api/messages/${parent.id}/replies?limit=200`).then((page) => setReplies(page.messages), () => setReplies([]));
  }, [parent.id]);
  const all = new Map([...(replies ?? []), ...live].map((m) => [m.id, m]));
  const sorted = [...all.values()].sort((a, b) => a.seq - b.seq);
  const waiting = pending.value.filter((p) => p.replyToId === parent.id);
  return (
    <aside class="panel" aria-label="Thread">
      <header class="panel-head">
        <h2>Thread</h2>
        <button type="button" onClick={onClose} aria-label="Close thread">✕</button>
      </header>
      <div class="quote">
        <strong>{name(current.sender)}</strong>: {current.deletedAt ? "Message deleted" : <RichText text={current.content} />}
      </div>
      <ol class="thread" aria-busy={replies === null}>
        {sorted.map((m) => (
          <li key={m.id} class="message">
            <div class="meta"><strong>{name(m.sender)}</strong> <time dateTime={m.createdAt}>{time(m.createdAt)}</time></div>
            <div class="content">{m.deletedAt ? "Message deleted" : <RichText text={m.content} />}</div>
            {!m.deletedAt && <Attachments files={m.attachments} />}
          </li>
        ))}
        {waiting.map((p) => (
          <li key={p.clientId} class="message pending"><div class="content"><RichText text={p.content} /></div></li>
        ))}
      </ol>
      <Composer roomId={room.id} replyToId={parent.id} label="Reply" />
    </aside>
  );
}
