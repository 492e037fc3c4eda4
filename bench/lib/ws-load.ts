/**
 * WebSocket traffic through a set of rooms, and what came of it. Senders send
 * `message.send` frames whose content carries the sender, a number and the send time;
 * every other member's socket must receive each acknowledged message once. Three ways to send:
 * - closed: each sender keeps `window` messages in flight (throughput);
 * - rate: open loop at a fixed total rate, latency measured from the scheduled time, so a
 *   slow server cannot hide its delay by slowing the senders down;
 * - burst: every sender sends `perSender` at once, faster than any server takes them (overload).
 * RATE_LIMITED answers are retried with the same clientId after a pause (bounded).
 */
import { BitSet } from "./bitset";
import { Histogram, type Summary } from "./histogram";
import { meter, type Metered } from "./proc";
import { countMessages, type Target } from "./targets";
import type { Peer } from "./ws";

export interface RoomPlan {
  roomId: string;
  /** Every member's socket. */
  peers: Peer[];
  /** The members that send (a subset of peers). */
  senders: Peer[];
}

export type SendMode =
  | { kind: "closed"; window: number }
  | { kind: "rate"; perSecond: number }
  | { kind: "burst"; perSender: number };

export interface WsLoadOptions {
  mode: SendMode;
  /** Sending stops after this long… */
  durationMs: number;
  /** …or after this many messages, whichever comes first. */
  maxMessages: number;
  /** After sending stops, how long answers and deliveries may take to arrive. */
  drainMs: number;
  /** Characters of message content. */
  contentLength: number;
}

export interface WsLoadResult {
  sent: number;
  acked: number;
  errors: Record<string, number>;
  /** Sends with neither an ack nor an error when the run ended. */
  unanswered: number;
  /** Messages found in the database for these rooms (null: the target persists nothing). */
  persisted: number | null;
  /** Deliveries of acknowledged messages that every other member's socket should have had. */
  expectedDeliveries: number;
  deliveries: number;
  /** Expected deliveries that never arrived. */
  lost: number;
  duplicates: number;
  /** Deliveries of messages the sender never had acknowledged. */
  unackedDelivered: number;
  /** Sockets the server closed during the run. */
  kicked: { code: number; reason: string }[];
  seconds: number;
  /** Seconds the senders took to send everything (burst). */
  sendSeconds: number;
  deliveriesPerSecond: number;
  messagesPerSecond: number;
  deliveriesPerCpuSecond: number;
  messagesPerCpuSecond: number;
  latency: Summary;
  ackLatency: Summary;
  server: Metered;
  clientCpuSeconds: number;
  drained: boolean;
}

interface Sender {
  no: number;
  peer: Peer;
  roomId: string;
  next: number;
  inflight: Map<string, { n: number; sentAt: number; origin: number; tries: number }>;
  acked: BitSet;
  /** Other members' sockets that receive this sender's messages. */
  fanout: number;
}

const MAX_RETRIES = 50;

export async function runWsLoad(target: Target, rooms: RoomPlan[], options: WsLoadOptions): Promise<WsLoadResult> {
  const senders: Sender[] = [];
  const senderOf = new Map<Peer, Sender>();
  for (const room of rooms)
    for (const peer of room.senders) {
      const s: Sender = { no: senders.length, peer, roomId: room.roomId, next: 0, inflight: new Map(), acked: new BitSet(), fanout: room.peers.length - 1 };
      senders.push(s);
      senderOf.set(peer, s);
    }
  const latency = new Histogram();
  const ackLatency = new Histogram();
  const errors: Record<string, number> = {};
  const received = new Map<Peer, Map<number, BitSet>>();
  let sent = 0;
  let acked = 0;
  let inflight = 0;
  let expected = 0;
  let deliveries = 0;
  let duplicates = 0;
  let sendingDone = false;
  let lastEvent = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const maybeDone = () => {
    if (sendingDone && inflight === 0 && deliveries >= expected) finish();
  };

  const pad = "x".repeat(options.contentLength);
  // clientIds are unique per run: a reused one would be answered with the earlier message.
  const tag = Bun.randomUUIDv7().slice(-8);
  const roomIds = rooms.map((r) => r.roomId);
  const persistedBefore = countMessages(target, roomIds);
  const send = (s: Sender, n: number, origin: number, tries = 0) => {
    const clientId = `${tag}.${s.no}-${n}`;
    const head = `${s.no}|${n}|${origin.toFixed(3)}|`;
    const content = head + pad.slice(head.length);
    if (tries === 0) {
      sent++;
      inflight++;
    }
    s.inflight.set(clientId, { n, sentAt: performance.now(), origin, tries });
    s.peer.ws.send(`{"type":"message.send","roomId":"${s.roomId}","content":"${content}","clientId":"${clientId}"}`);
  };
  const sendNext = (s: Sender, origin = performance.now()) => {
    if (sendingDone) return;
    send(s, s.next++, origin);
    if (sent >= options.maxMessages) stopSending();
  };

  const onFrame = (peer: Peer, text: string) => {
    const now = performance.now();
    if (text.startsWith('{"type":"message.new"')) {
      const { message } = JSON.parse(text) as { message: { content: string } };
      const [no, n, origin] = message.content.split("|", 3);
      const from = Number(no);
      const own = senderOf.get(peer);
      if (own && own.no === from) return;
      let bySender = received.get(peer);
      if (!bySender) received.set(peer, (bySender = new Map()));
      let got = bySender.get(from);
      if (!got) bySender.set(from, (got = new BitSet()));
      if (!got.add(Number(n))) return void duplicates++;
      deliveries++;
      lastEvent = now;
      latency.record(now - Number(origin));
      return maybeDone();
    }
    const s = senderOf.get(peer);
    if (!s) return;
    if (text.startsWith('{"type":"ack"')) {
      const { clientId } = JSON.parse(text) as { clientId: string };
      const pending = s.inflight.get(clientId);
      if (!pending) return;
      s.inflight.delete(clientId);
      inflight--;
      acked++;
      expected += s.fanout;
      s.acked.add(pending.n);
      lastEvent = now;
      ackLatency.record(now - pending.sentAt);
      if (options.mode.kind === "closed") sendNext(s);
      return maybeDone();
    }
    if (text.startsWith('{"type":"error"')) {
      const frame = JSON.parse(text) as { clientId?: string; error: { code: string } };
      errors[frame.error.code] = (errors[frame.error.code] ?? 0) + 1;
      const pending = frame.clientId !== undefined ? s.inflight.get(frame.clientId) : undefined;
      if (!pending) return;
      if (frame.error.code === "RATE_LIMITED" && pending.tries < MAX_RETRIES) {
        // Slowed down, not dropped: the same clientId again after a pause.
        setTimeout(() => send(s, pending.n, pending.origin, pending.tries + 1), 50 + pending.tries * 20);
        return;
      }
      s.inflight.delete(frame.clientId!);
      inflight--;
      if (options.mode.kind === "closed") sendNext(s);
      return maybeDone();
    }
  };
  for (const room of rooms) for (const peer of room.peers) peer.onFrame = (text) => onFrame(peer, text);

  let stopTimer: Timer | undefined;
  let ticker: Timer | undefined;
  let sendSeconds = 0;
  const stopSending = () => {
    if (sendingDone) return;
    sendingDone = true;
    sendSeconds = (performance.now() - started) / 1000;
    clearTimeout(stopTimer);
    clearInterval(ticker);
    maybeDone();
  };

  const metered = meter(target.server.pid);
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  lastEvent = started;
  stopTimer = setTimeout(stopSending, options.durationMs);
  const mode = options.mode;
  if (mode.kind === "closed") {
    for (let i = 0; i < mode.window && !sendingDone; i++) for (const s of senders) sendNext(s);
  } else if (mode.kind === "burst") {
    outer: for (let i = 0; i < mode.perSender; i++)
      for (const s of senders) {
        sendNext(s);
        if (sendingDone) break outer;
      }
    stopSending();
  } else {
    // Open loop: message k is due at started + k / rate, whatever happened to the ones before it.
    const interval = 1000 / mode.perSecond;
    let k = 0;
    const tick = () => {
      const due = Math.min(options.maxMessages, Math.floor((performance.now() - started) / interval) + 1);
      while (k < due && !sendingDone) {
        sendNext(senders[k % senders.length]!, started + k * interval);
        k++;
      }
    };
    tick();
    ticker = setInterval(tick, 1);
  }

  // Bounded: the send phase by its timer, then at most drainMs for what is still on its way.
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (sendingDone) {
        clearInterval(check);
        resolve();
      }
    }, 5);
  });
  let drained = true;
  await Promise.race([finished, Bun.sleep(options.drainMs).then(() => (drained = false))]);
  if (!drained) maybeDone();
  const server = metered.end();
  const cpu = process.cpuUsage(cpu0);
  const seconds = Math.max(0.001, (lastEvent - started) / 1000);

  // Exact accounting: every acknowledged message against every other member's socket.
  let lost = 0;
  let unackedDelivered = 0;
  let unanswered = 0;
  for (const room of rooms)
    for (const s of senders.filter((x) => x.roomId === room.roomId)) {
      unanswered += s.inflight.size;
      for (const peer of room.peers) {
        if (peer === s.peer) continue;
        const got = received.get(peer)?.get(s.no);
        lost += s.acked.missingFrom(got);
        if (got) unackedDelivered += got.missingFrom(s.acked);
      }
    }
  const kicked = rooms.flatMap((r) => r.peers).flatMap((p) => (p.closedBy && p.closedBy.reason !== "closed by the bench" ? [p.closedBy] : []));
  return {
    sent,
    acked,
    errors,
    unanswered,
    persisted: persistedBefore === null ? null : countMessages(target, roomIds)! - persistedBefore,
    expectedDeliveries: expected,
    deliveries,
    lost,
    duplicates,
    unackedDelivered,
    kicked,
    seconds,
    sendSeconds,
    deliveriesPerSecond: deliveries / seconds,
    messagesPerSecond: acked / seconds,
    deliveriesPerCpuSecond: deliveries / Math.max(0.001, server.cpuSeconds),
    messagesPerCpuSecond: acked / Math.max(0.001, server.cpuSeconds),
    latency: latency.summary(),
    ackLatency: ackLatency.summary(),
    server,
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
    drained,
  };
}
