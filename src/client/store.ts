import type { Message } from "./types";

/**
 * One room's messages as the client holds them: every seq from `start` to `top`, each once, in
 * order (an empty window has start = top + 1). Messages that arrive past a gap wait in
 * `ahead` until the gap is filled; messages older than the window are not kept (scroll-back
 * adds them through `prepend`).
 */
export class RoomWindow {
  start: number;
  top: number;
  readonly messages: Message[] = [];
  /** Messages past top + 1, waiting for the gap before them to be filled. */
  readonly ahead = new Map<number, Message>();
  /**
   * Members' read positions as seen move while connected (read events, messages they sent):
   * a member missing here has a position the client does not know.
   */
  readonly readers = new Map<string, number>();
  /** The seqs of the held replies to each held message: a message's replyCount is their number. */
  private readonly replies = new Map<string, Set<number>>();

  constructor(
    readonly roomId: string,
    top: number,
  ) {
    this.top = top;
    this.start = top + 1;
  }

  /** The sender's public fields as they are now, on every message of theirs held (waiting ones too). */
  renameSender(sender: Message["sender"]): void {
    for (let i = 0; i < this.messages.length; i++) if (this.messages[i]!.senderId === sender.id) this.messages[i] = { ...this.messages[i]!, sender };
    for (const [seq, m] of this.ahead) if (m.senderId === sender.id) this.ahead.set(seq, { ...m, sender });
  }

  /** Whether a message is missing between the window and what arrived after it. */
  get hasGap(): boolean {
    return this.ahead.size > 0;
  }

  /** Whether older messages exist before the window. */
  get hasOlder(): boolean {
    return this.start > 1;
  }

  get(seq: number): Message | undefined {
    return seq >= this.start && seq <= this.top ? this.messages[seq - this.start] : undefined;
  }

  byId(id: string): Message | undefined {
    // Recent messages are the ones touched: search from the newest.
    for (let i = this.messages.length - 1; i >= 0; i--) if (this.messages[i]!.id === id) return this.messages[i];
    return undefined;
  }

  /**
   * Takes a message as the server sent it (live, replayed or fetched) and returns the messages
   * that joined the window, in seq order. A copy of a held message replaces it (see merge);
   * `exact` when it was read for this user over REST rather than carried by an event.
   */
  put(message: Message, exact = false): Message[] {
    const { seq } = message;
    if (seq <= this.top) {
      this.replace(message, exact);
      return [];
    }
    if (seq > this.top + 1) {
      this.ahead.set(seq, message);
      return [];
    }
    const joined = [this.append(message)];
    for (let next = this.ahead.get(this.top + 1); next; next = this.ahead.get(this.top + 1)) {
      this.ahead.delete(next.seq);
      joined.push(this.append(next));
    }
    for (const seq of this.ahead.keys()) if (seq <= this.top) this.ahead.delete(seq);
    return joined;
  }

  /**
   * A member's read position moved from `from` to `to`: each held message with from < seq ≤ to
   * that carries a readCount and was not sent by them gains one reader.
   */
  read(userId: string, from: number, to: number): void {
    for (let seq = Math.max(from + 1, this.start); seq <= Math.min(to, this.top); seq++) {
      const m = this.messages[seq - this.start]!;
      if (m.readCount !== undefined && m.senderId !== userId) this.messages[seq - this.start] = { ...m, readCount: m.readCount + 1 };
    }
    if (to > (this.readers.get(userId) ?? -1)) this.readers.set(userId, to);
  }

  /** Whether a held message below `seq`, not sent by `userId`, carries a readCount that their reading could move. */
  countsBelow(seq: number, userId: string): boolean {
    for (let i = Math.min(seq, this.top + 1) - 1 - this.start; i >= 0; i--) {
      const m = this.messages[i]!;
      if (m.readCount !== undefined && m.senderId !== userId) return true;
    }
    return false;
  }

  /** Older messages just before the window (a history page, ascending); returns those added. */
  prepend(page: Message[]): Message[] {
    const older = page.filter((m) => m.seq < this.start).sort((a, b) => a.seq - b.seq);
    const added: Message[] = [];
    for (let i = older.length - 1; i >= 0; i--) {
      const m = older[i]!;
      if (m.seq !== this.start - 1) break;
      this.start--;
      this.messages.unshift(this.withReplies(m));
      this.countReply(m);
      added.unshift(this.messages[0]!);
    }
    return added;
  }

  /** Replaces a held message with a newer copy; returns the message as now held, or undefined when not held. */
  replace(copy: Message, exact = false): Message | undefined {
    const held = this.get(copy.seq);
    if (!held || held.id !== copy.id) return undefined;
    const merged = exact ? copy : merge(held, copy);
    this.messages[copy.seq - this.start] = this.withReplies(merged);
    return this.messages[copy.seq - this.start];
  }

  private append(message: Message): Message {
    this.top = message.seq;
    if (this.messages.length === 0) this.start = message.seq;
    const held = this.withReplies(message);
    this.messages.push(held);
    this.countReply(held);
    return held;
  }

  /** Counts a reply for its parent, when the parent is held. */
  private countReply(message: Message) {
    if (!message.replyToId) return;
    let seqs = this.replies.get(message.replyToId);
    if (!seqs) this.replies.set(message.replyToId, (seqs = new Set()));
    seqs.add(message.seq);
    const parent = this.byId(message.replyToId);
    if (parent && parent.seq < message.seq) this.messages[parent.seq - this.start] = { ...parent, replyCount: seqs.size };
  }

  /**
   * The window holds every message from a held parent to top, so the replies it holds are all
   * the parent's replies so far: a fetched or replayed copy of the parent may have counted more,
   * or fewer, than the window has reached.
   */
  private withReplies(message: Message): Message {
    const count = this.replies.get(message.id)?.size ?? 0;
    return count === message.replyCount ? message : { ...message, replyCount: count };
  }
}

/**
 * A held message and a newer copy of it that an event carried. A deletion is final. Events say
 * `me: false` for every reaction: whether the user reacted is kept from the held copy (live
 * reaction events keep that exact).
 */
function merge(held: Message, copy: Message): Message {
  if (held.deletedAt && !copy.deletedAt) return held;
  const reactions = copy.reactions.map((r) => ({ ...r, me: r.me || (held.reactions.find((h) => h.emoji === r.emoji)?.me ?? false) }));
  const status = copy.status ?? held.status;
  return status === undefined ? { ...copy, reactions } : { ...copy, reactions, status };
}

/** A message with a reaction added or removed by `userId`; `self` is the session's user. */
export function reacted(message: Message, emoji: string, userId: string, self: string, added: boolean): Message {
  const reactions = message.reactions.map((r) => ({ ...r }));
  const at = reactions.findIndex((r) => r.emoji === emoji);
  if (added) {
    if (at < 0) reactions.push({ emoji, count: 1, me: userId === self });
    else {
      reactions[at]!.count++;
      if (userId === self) reactions[at]!.me = true;
    }
  } else if (at >= 0) {
    const r = reactions[at]!;
    r.count--;
    if (userId === self) r.me = false;
    if (r.count <= 0) reactions.splice(at, 1);
  }
  return { ...message, reactions };
}

/** A message as a deletion leaves it: same id and seq, nothing else to show. */
export function deleted(message: Message, at: string): Message {
  return { ...message, content: "", metadata: null, reactions: [], deletedAt: message.deletedAt ?? at };
}
