import { Elysia } from "elysia";
import { BadRequest } from "../errors";
import { pathOf } from "./auth";

/** Probes and the metrics scrape answer whatever host they are asked by: orchestrators and Prometheus call them by address. */
const PROBES = new Set(["/health", "/ready", "/health/", "/ready/", "/metrics"]);

/** The host a request names (its Host header, else its URL's), in lower case. */
function hostOf(request: Request): string {
  return (request.headers.get("host") ?? new URL(request.url).host).toLowerCase();
}

/**
 * ALLOWED_HOSTS: a request whose Host is not in the list gets 400 before anything else is done
 * for it (DNS rebinding, requests for names the server was never meant to answer to). An entry
 * with a port matches that host and port; one without, that host on any port. null: any host.
 */
export function allowedHosts(hosts: string[] | null) {
  const plugin = new Elysia({ name: "allowed-hosts", seed: hosts?.join(",") ?? "" });
  if (!hosts) return plugin;
  const exact = new Set(hosts);
  return plugin.onRequest(({ request }) => {
    if (PROBES.has(pathOf(request))) return;
    const host = hostOf(request);
    if (exact.has(host)) return;
    // Without the port: the last colon after any IPv6 brackets.
    const port = host.lastIndexOf(":");
    if (port > host.lastIndexOf("]") && exact.has(host.slice(0, port))) return;
    throw new BadRequest("This server does not answer to that host name.");
  });
}
