/**
 * How many sockets one user and one client address may hold open in this process
 * (WS_MAX_PER_USER, WS_MAX_PER_ADDRESS). A socket counts from its admission to its close; a
 * cap of 0 counts nothing. With several processes each keeps its own counts.
 */
export class ConnectionCaps {
  private readonly byUser = new Map<string, number>();
  private readonly byAddress = new Map<string, number>();

  constructor(
    private readonly perUser: number,
    private readonly perAddress: number,
  ) {}

  /** Counts the socket in and returns null, or returns why it may not open (a close reason) and counts nothing. */
  admit(userId: string, address: string): string | null {
    const users = this.perUser > 0 ? (this.byUser.get(userId) ?? 0) : 0;
    if (this.perUser > 0 && users >= this.perUser) return `too many connections: at most ${this.perUser} per user`;
    const addresses = this.perAddress > 0 ? (this.byAddress.get(address) ?? 0) : 0;
    if (this.perAddress > 0 && addresses >= this.perAddress) return `too many connections: at most ${this.perAddress} per address`;
    if (this.perUser > 0) this.byUser.set(userId, users + 1);
    if (this.perAddress > 0) this.byAddress.set(address, addresses + 1);
    return null;
  }

  /** An admitted socket closed. */
  release(userId: string, address: string): void {
    if (this.perUser > 0) decrement(this.byUser, userId);
    if (this.perAddress > 0) decrement(this.byAddress, address);
  }

  /** Sockets counted for the user and for the address. */
  count(userId: string, address: string): { user: number; address: number } {
    return { user: this.byUser.get(userId) ?? 0, address: this.byAddress.get(address) ?? 0 };
  }
}

function decrement(counts: Map<string, number>, key: string) {
  const n = counts.get(key) ?? 0;
  if (n <= 1) counts.delete(key);
  else counts.set(key, n - 1);
}
