/** What Bun's server can tell of a request's peer. */
export interface PeerInfo {
  requestIP(request: Request): { address: string } | null;
}

/**
 * The address a request came from, for per-client rate limits. Behind `trustProxy` proxies
 * (TRUST_PROXY; nginx, a load balancer) the peer is the last proxy, and the client is the
 * address that many hops from the right of X-Forwarded-For: each proxy appends the peer it
 * saw, so entries further left were written by the client and prove nothing. Without trusted
 * proxies the header is ignored: a client could put anything there.
 */
export function clientAddress(request: Request, server: PeerInfo | null | undefined, trustProxy: number): string {
  const peer = server?.requestIP(request)?.address ?? "local";
  if (trustProxy === 0) return peer;
  const forwarded = request.headers.get("x-forwarded-for");
  if (!forwarded) return peer;
  const hops = forwarded.split(",").map((a) => a.trim()).filter(Boolean);
  return hops[hops.length - trustProxy] ?? hops[0] ?? peer;
}
