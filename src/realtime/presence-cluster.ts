/**
 * Who else holds a user's sockets: the part of presence that spans processes. A user is
 * online while some process has a socket of theirs (or is within its grace period after the
 * last one closed). One process needs none of this; several share it through Redis
 * (redis-presence.ts).
 */
export interface PresenceCluster {
  /** Some other process has the user online. Answers from memory, without a round trip. */
  isOnlineElsewhere(userId: string): boolean;
  /** This process now has the user online; true when no other process had: announce it. */
  claim(userId: string): Promise<boolean>;
  /** This process no longer has the user online; true when no process has: announce it. */
  release(userId: string): Promise<boolean>;
  /** Users announced offline because the process that held them stopped. */
  onGone(handler: (userIds: string[]) => void): void;
  close(): Promise<void>;
}

/** One process: it is always the first and the last. */
export const singleProcess: PresenceCluster = {
  isOnlineElsewhere: () => false,
  claim: async () => true,
  release: async () => true,
  onGone() {},
  close: async () => {},
};
