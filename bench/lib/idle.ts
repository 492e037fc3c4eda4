/**
 * Idle connections: what each costs the server in resident memory. Sockets open in equal
 * steps and RSS is read after each (once the server has settled). Two costs per connection:
 * the total, RSS growth from no sockets to all of them over their number (on a fresh server:
 * what a small deployment pays), and the least-squares slope through the readings after the
 * first step. The first step is the
 * warm-up: what the first sockets allocate once (code paths compiled, caches and pools
 * grown) is not a per-socket cost, and a garbage collection between two readings moves one
 * point, not the slope.
 */
import { memory } from "./proc";
import type { Target } from "./targets";
import { closePeers, openPeers, type Peer, type PeerSpec } from "./ws";

export interface IdleResult {
  connections: number;
  /** [sockets open, server RSS in bytes] after each step, starting with none. */
  points: [number, number][];
  /** Of RSS, before the first socket and with all open: the process's own memory and mapped files, in bytes. */
  anon: [number, number];
  file: [number, number];
  rssBefore: number;
  rssAfter: number;
  /** Least-squares slope of RSS over sockets, after the warm-up step. */
  bytesPerConnection: number;
  /** RSS growth from no sockets to all of them, over their number. */
  totalBytesPerConnection: number;
  openSeconds: number;
  /** Sockets the server closed while they sat idle. */
  kicked: number;
}

export function slope(points: [number, number][]): number {
  const mx = points.reduce((a, [x]) => a + x, 0) / points.length;
  const my = points.reduce((a, [, y]) => a + y, 0) / points.length;
  const den = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return den === 0 ? Number.NaN : points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / den;
}

export async function runIdle(target: Target, specs: PeerSpec[], options: { steps: number; settleMs: number }): Promise<IdleResult> {
  const peers: Peer[] = [];
  let openSeconds = 0;
  try {
    await Bun.sleep(options.settleMs);
    const before = memory(target.server.pid);
    const points: [number, number][] = [[0, before.rss]];
    const size = Math.ceil(specs.length / options.steps);
    for (let from = 0; from < specs.length; from += size) {
      const started = performance.now();
      peers.push(...(await openPeers(specs.slice(from, from + size), { concurrency: 32, timeoutMs: 20_000 })));
      openSeconds += (performance.now() - started) / 1000;
      await Bun.sleep(options.settleMs);
      points.push([peers.length, memory(target.server.pid).rss]);
    }
    const after = memory(target.server.pid);
    return {
      connections: peers.length,
      points,
      anon: [before.anon, after.anon],
      file: [before.file, after.file],
      rssBefore: points[0]![1],
      rssAfter: points.at(-1)![1],
      bytesPerConnection: slope(points.slice(1)),
      totalBytesPerConnection: peers.length ? (points.at(-1)![1] - points[0]![1]) / peers.length : Number.NaN,
      openSeconds,
      kicked: peers.filter((p) => p.closedBy).length,
    };
  } finally {
    await closePeers(peers, 10_000);
  }
}
