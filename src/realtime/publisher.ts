import type { Events, ServerEvent } from "../events";
import { phaseTrace } from "../lib/phases";
import type { Broker, BrokerMessage } from "./broker";
import type { Connection } from "./connection";
import type { Hub } from "./hub";
import { CloseCode, roomTopic, userTopic } from "./protocol";

/**
 * The services' `Events`, on the broker: each event is encoded once, here, and the
 * same text goes to every socket in every process.
 */
export class Publisher implements Events {
  constructor(private readonly broker: Broker) {}

  toRoom(roomId: string, event: ServerEvent): void {
    const message: Extract<BrokerMessage, { kind: "room" }> = { kind: "room", roomId, frame: encodeEvent(event) };
    const traced = phaseTrace && event.type === "message.new" ? (event.message as { id: string }).id : null;
    if (traced !== null) phaseTrace!.mark(traced, 5);
    if (event.type === "message.new") {
      // Only messages with a status (direct rooms) track delivery: nobody reads the position of
      // other rooms' members, so their receipts are never written.
      const m = event.message as { senderId?: unknown; seq?: unknown; status?: unknown } | undefined;
      if (typeof m?.senderId === "string" && typeof m.seq === "number" && m.status !== undefined)
        message.delivered = { senderId: m.senderId, seq: m.seq };
    } else if (event.type === "room.deleted") {
      message.closesRoom = true;
    }
    this.broker.publish(message);
    if (traced !== null) phaseTrace!.mark(traced, 6);
  }

  toUser(userId: string, event: ServerEvent): void {
    this.broker.publish({ kind: "user", userId, frame: JSON.stringify(event) });
  }

  joined(userId: string, roomId: string): void {
    this.broker.publish({ kind: "joined", userId, roomId });
  }

  left(userId: string, roomId: string): void {
    this.broker.publish({ kind: "left", userId, roomId });
  }

  sessionRevoked(sessionId: string): void {
    this.broker.publish({ kind: "sessionRevoked", sessionId });
  }

  /** `typing` to the room's other members; dropped for sockets that are backed up. */
  typing(roomId: string, userId: string): void {
    const frame = JSON.stringify({ type: "typing", roomId, userId });
    this.broker.publish({ kind: "room", roomId, frame, ephemeral: { skipUserId: userId } });
  }

  /** An ephemeral event to every socket of each of these users, once per socket. */
  toUsers(userIds: string[], event: ServerEvent): void {
    if (userIds.length === 0) return;
    this.broker.publish({ kind: "users", userIds, frame: JSON.stringify(event) });
  }
}

/** The JSON of each message published in a `message.new`, so that the sender's ack reuses it. */
const encodedMessages = new WeakMap<object, string>();

/** An event as JSON; a `message.new`'s message is encoded on its own and kept for messageJson. */
function encodeEvent(event: ServerEvent): string {
  const m = event.type === "message.new" ? event.message : undefined;
  if (typeof m !== "object" || m === null || Object.keys(event).length !== 2) return JSON.stringify(event);
  const json = JSON.stringify(m);
  encodedMessages.set(m, json);
  return `{"type":"message.new","message":${json}}`;
}

/** A message's JSON: the text its `message.new` was published with, when it was. */
export function messageJson(message: object): string {
  return encodedMessages.get(message) ?? JSON.stringify(message);
}

/** What local delivery needs of Bun's server: publishing to a topic. */
export interface TopicServer {
  /**
   * The bytes sent; 0 when the frame was dropped for any subscriber (or there were none), -1
   * when any subscriber was backed up (Bun's contract).
   */
  publish(topic: string, data: string): number;
}

/**
 * This process's end of the broker: message frames go out on Bun topics (`room:<id>`,
 * `user:<id>`) in one call however many sockets listen; ephemeral frames go socket by
 * socket so that a backed-up socket can be skipped; membership changes (un)subscribe
 * every socket of the user at once.
 */
export class LocalDelivery {
  private server: TopicServer | null = null;

  constructor(
    private readonly hub: Hub,
    private readonly options: {
      /** Buffered bytes past which a socket is given up on: Bun drops topic frames beyond it. */
      backpressureLimit: number;
      /** A socket went past the limit; it must be closed so that its client resumes with `sync`. */
      onOverflow: (connection: Connection) => void;
      /** A member's socket was handed a `message.new` from someone else. */
      onDelivered: (userId: string, roomId: string, seq: number) => void;
    },
  ) {}

  /** Bun's server exists only once the app listens. */
  attach(server: TopicServer | null): void {
    this.server = server;
  }

  readonly deliver = (m: BrokerMessage): void => {
    switch (m.kind) {
      case "room":
        if (m.ephemeral) {
          this.sendEphemeral(this.hub.connectionsIn(m.roomId), m.frame, m.ephemeral.skipUserId);
        } else {
          const sent = this.server?.publish(roomTopic(m.roomId), m.frame) ?? 0;
          if (this.hub.holdingAny) this.holdFor(m.roomId, m.frame);
          // A positive count means no subscriber was backed up: only a delivery mark needs the sockets then.
          if (sent <= 0 || m.delivered) this.afterPublish(this.hub.connectionsIn(m.roomId), m.roomId, m.delivered);
        }
        if (m.closesRoom) this.hub.dropRoom(m.roomId);
        return;
      case "user":
        if ((this.server?.publish(userTopic(m.userId), m.frame) ?? 0) <= 0) this.afterPublish(this.hub.connectionsOf(m.userId));
        return;
      case "users":
        for (const userId of m.userIds) this.sendEphemeral(this.hub.connectionsOf(userId), m.frame, undefined, true);
        return;
      case "joined":
        this.hub.join(m.userId, m.roomId);
        return;
      case "left":
        this.hub.leave(m.userId, m.roomId);
        return;
      case "sessionRevoked": {
        const doomed = [...this.hub.connections()].filter((c) => c.sessionId === m.sessionId);
        for (const connection of doomed) {
          // Closed from now on: frames still queued on it are not carried out for a revoked session.
          connection.disconnect(CloseCode.sessionRevoked, "session revoked");
        }
        return;
      }
    }
  };

  /** Sockets of the room whose sync is replaying get the frame once it is done (see Hub.hold). */
  private holdFor(roomId: string, frame: string) {
    for (const connection of this.hub.connectionsIn(roomId)) {
      if (!connection.held) continue;
      connection.held.push(frame);
      connection.heldBytes += frame.length;
      if (connection.heldBytes > this.options.backpressureLimit) this.options.onOverflow(connection);
    }
  }

  /** `personal`: a frame for the user, not a room's, which room-scoped sockets don't take. */
  private sendEphemeral(connections: Iterable<Connection>, frame: string, skipUserId?: string, personal = false) {
    for (const connection of connections) {
      if (!connection.active || connection.userId === skipUserId || connection.congested) continue;
      if (personal && connection.scope !== undefined) continue;
      connection.socket.send(frame);
    }
  }

  /**
   * Bun drops a topic frame for a socket whose buffer is past the limit, silently: such a
   * socket is closed instead, so that no message is ever lost without the client knowing.
   * The others that got a `message.new` from someone else mark it delivered.
   */
  private afterPublish(connections: Iterable<Connection>, roomId?: string, delivered?: { senderId: string; seq: number }) {
    let overflowed: Connection[] | null = null;
    let marked: Set<string> | null = null;
    for (const connection of connections) {
      if (!connection.active) continue;
      if (connection.socket.getBufferedAmount() > this.options.backpressureLimit) {
        (overflowed ??= []).push(connection);
        continue;
      }
      if (!delivered || connection.userId === delivered.senderId || marked?.has(connection.userId)) continue;
      (marked ??= new Set()).add(connection.userId);
      this.options.onDelivered(connection.userId, roomId!, delivered.seq);
    }
    if (overflowed) for (const connection of overflowed) this.options.onOverflow(connection);
  }
}
