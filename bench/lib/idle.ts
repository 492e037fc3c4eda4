/** Idle connections: what each costs the server in resident memory. */
import { memory } from "./proc";
import type { Target } from "./targets";
import { closePeers, openPeers, type PeerSpec } from "./ws";

export interface IdleResult {
  connections: number;
  rssBefore: number;
  rssAfter: number;
  bytesPerConnection: number;
  openSeconds: number;
  /** Sockets the server closed while they sat idle. */
  kicked: number;
}

/** Opens every socket (each until `ready`), lets the server settle, and reads its RSS before and after. */
export async function runIdle(target: Target, specs: PeerSpec[], settleMs: number): Promise<IdleResult> {
  await Bun.sleep(settleMs);
  const rssBefore = memory(target.server.pid).rss;
  const started = performance.now();
  const peers = await openPeers(specs, { concurrency: 32, timeoutMs: 20_000 });
  const openSeconds = (performance.now() - started) / 1000;
  try {
    await Bun.sleep(settleMs);
    const rssAfter = memory(target.server.pid).rss;
    return {
      connections: peers.length,
      rssBefore,
      rssAfter,
      bytesPerConnection: (rssAfter - rssBefore) / peers.length,
      openSeconds,
      kicked: peers.filter((p) => p.closedBy).length,
    };
  } finally {
    await closePeers(peers, 10_000);
  }
}
