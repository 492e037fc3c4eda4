/**
 * Carries real-time messages to every process that may hold a socket concerned. Every
 * publish goes through the broker and comes back to each process's local delivery, so a
 * single process and a fleet behind Redis take the same path. Frames travel already
 * encoded: they are turned into JSON once, where the event happens.
 */
export type BrokerMessage =
  | {
      kind: "room";
      roomId: string;
      frame: string;
      /** Typing: dropped for backed-up sockets and not sent to this user's sockets. */
      ephemeral?: { skipUserId?: string };
      /** A `message.new`: the members who receive it (other than the sender) mark it delivered. */
      delivered?: { senderId: string; seq: number };
      /** A `room.deleted`: every socket leaves the room after this frame. */
      closesRoom?: boolean;
    }
  | { kind: "user"; userId: string; frame: string }
  /** Presence and profile changes: ephemeral frames to each socket of these users, once per socket. */
  | { kind: "users"; userIds: string[]; frame: string }
  | { kind: "joined" | "left"; userId: string; roomId: string }
  | { kind: "sessionRevoked"; sessionId: string };

export interface Broker {
  publish(message: BrokerMessage): void;
  /** Receives every message published by any process, this one included. */
  subscribe(handler: (message: BrokerMessage) => void): () => void;
  close(): Promise<void>;
}

/** One process: a publish is handed straight to the local subscribers, synchronously. */
export class InMemoryBroker implements Broker {
  private readonly handlers = new Set<(message: BrokerMessage) => void>();

  publish(message: BrokerMessage): void {
    for (const handler of this.handlers) handler(message);
  }

  subscribe(handler: (message: BrokerMessage) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}
