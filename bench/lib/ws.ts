/**
 * A pool of real WebSocket clients: opened with bounded concurrency, each awaited until the
 * server's `ready` frame, then handed to whatever the scenario does with its frames.
 */
import type { BenchUser } from "./targets";

export interface Peer {
  user: BenchUser;
  ws: WebSocket;
  /** Frames after `ready` go here; scenarios replace it. */
  onFrame: (text: string) => void;
  /** Set when the server closed the socket while the scenario ran. */
  closedBy: { code: number; reason: string } | null;
}

export interface PeerSpec {
  user: BenchUser;
  url: string;
}

/** Runs `fn` over `items` with at most `concurrency` in flight; results in input order. */
export async function pool<T, R>(items: T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return results;
}

function openOne(spec: PeerSpec, timeoutMs: number): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(spec.url);
    const peer: Peer = { user: spec.user, ws, onFrame: () => {}, closedBy: null };
    let ready = false;
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`no ready frame within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.onmessage = (event) => {
      const text = typeof event.data === "string" ? event.data : String(event.data);
      if (ready) return peer.onFrame(text);
      if (!text.startsWith('{"type":"ready"')) return;
      ready = true;
      clearTimeout(timer);
      resolve(peer);
    };
    ws.onclose = (event) => {
      if (!ready) {
        clearTimeout(timer);
        return reject(new Error(`closed before ready: ${event.code} ${event.reason}`));
      }
      peer.closedBy ??= { code: event.code, reason: event.reason };
    };
    ws.onerror = () => {
      if (!ready) {
        clearTimeout(timer);
        reject(new Error("WebSocket error before ready"));
      }
    };
  });
}

/** Opens every socket (each until `ready`); on any failure closes those opened and throws. */
export async function openPeers(specs: PeerSpec[], options: { concurrency?: number; timeoutMs?: number } = {}): Promise<Peer[]> {
  const opened: Peer[] = [];
  try {
    return await pool(specs, options.concurrency ?? 64, async (spec) => {
      const peer = await openOne(spec, options.timeoutMs ?? 10_000);
      opened.push(peer);
      return peer;
    });
  } catch (error) {
    await closePeers(opened);
    throw error;
  }
}

/** Closes the sockets and waits (at most `timeoutMs`) for them to be closed. */
export async function closePeers(peers: Peer[], timeoutMs = 5000): Promise<void> {
  const closed = peers.map(
    (peer) =>
      new Promise<void>((resolve) => {
        if (peer.ws.readyState === WebSocket.CLOSED) return resolve();
        peer.ws.addEventListener("close", () => resolve());
        peer.closedBy ??= { code: 1000, reason: "closed by the bench" };
        peer.ws.close();
      }),
  );
  await Promise.race([Promise.all(closed), Bun.sleep(timeoutMs)]);
}
