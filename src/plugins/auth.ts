import { jwt } from "@elysiajs/jwt";
import { Elysia } from "elysia";
import { Unauthenticated } from "../errors";
import { verifyHs256 } from "../lib/hs256";
import type { AccessClaims, AuthService, Caller, TokenSigner } from "../modules/auth/service";
import { clientAddress } from "./client-address";
import type { RateLimiter } from "./rate-limit";

/**
 * An access-token signer on @elysiajs/jwt, HS256 only (so `alg: none` and key confusion fail);
 * tokens are verified by verifyHs256 (src/lib/hs256.ts).
 * `now` (ms) sets `exp` when signing and is the time expiry is checked against.
 */
export function createSigner(secret: string, now: () => number = Date.now): TokenSigner {
  const key = new TextEncoder().encode(secret);
  // The HMAC key is imported once: given the secret's bytes, every sign would import it again.
  const codec = crypto.subtle
    .importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"])
    .then((cryptoKey) => jwt({ name: "jwt", secret: cryptoKey, alg: "HS256" }).decorator.jwt);
  return {
    sign: async (claims, ttl) => (await codec).sign({ ...claims, exp: Math.floor(now() / 1000) + ttl }),
    async verify(token) {
      const payload = verifyHs256(token, key, Math.floor(now() / 1000));
      if (!payload || typeof payload.sub !== "string" || typeof payload.sid !== "string") return null;
      return { sub: payload.sub, sid: payload.sid } satisfies AccessClaims;
    },
  };
}

export function bearerToken(header: string | null | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}

/** The routes under /api that answer without a token (the contract's Conventions); RATE_LIMIT_AUTH counts them. */
export const OPEN_ROUTES = new Set(["/api/auth/register", "/api/auth/login", "/api/auth/refresh"]);

/** Whether a route (Elysia's pattern; Elysia also routes it with a trailing slash) needs an access token. */
export function needsToken(route: string): boolean {
  const path = route.length > 1 && route.endsWith("/") ? route.slice(0, -1) : route;
  return path.startsWith("/api/") && !OPEN_ROUTES.has(path);
}

/** A request's path, without parsing its whole URL. */
export function pathOf(request: Request): string {
  const { url } = request;
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const query = url.indexOf("?", start);
  return start === -1 ? "/" : url.slice(start, query === -1 ? undefined : query);
}

/** Each request's caller by its Authorization header, asked of the auth service at most once. */
const identified = new WeakMap<Request, Promise<Caller | null>>();

/** The caller whose valid access token the request's Authorization header carries, or null. */
export function callerOf(auth: Pick<AuthService, "authenticate">, request: Request): Promise<Caller | null> {
  let caller = identified.get(request);
  if (!caller) {
    const token = bearerToken(request.headers.get("authorization"));
    caller = token ? auth.authenticate(token) : Promise.resolve(null);
    identified.set(request, caller);
  }
  return caller;
}

/** The request's caller, or 401 saying what is missing. */
export async function requireCaller(auth: Pick<AuthService, "authenticate">, request: Request): Promise<Caller> {
  if (!bearerToken(request.headers.get("authorization")))
    throw new Unauthenticated("Send an access token as `Authorization: Bearer <token>`.");
  const caller = await callerOf(auth, request);
  if (!caller) throw new Unauthenticated("The access token is invalid, expired or revoked.");
  return caller;
}

/**
 * `{ auth: true }` on a route requires a valid access token of a live session and resolves `caller`.
 * The token is checked in `transform`, before the query is validated, and for routes with a
 * request body already before the body is read (authBeforeBody), so that a caller without a
 * valid token learns nothing but 401 and costs no parsing.
 */
export function authPlugin(auth: AuthService) {
  return new Elysia({ name: "auth", seed: auth.instanceId }).macro({
    auth: {
      detail: { security: [{ bearerAuth: [] }] },
      async transform({ request }) {
        await requireCaller(auth, request);
      },
      async resolve({ request }) {
        return { caller: await requireCaller(auth, request) };
      },
    },
  });
}

/**
 * Authenticates before any body is read, on every route that needs a token (needsToken: the
 * contract's rule, which the routes' `auth: true` follows). Parse hooks run after routing, so an
 * unknown route is still 404. Mount it before the request-bodies plugin: its parse hook must
 * run first.
 */
export function authBeforeBody(auth: AuthService) {
  return new Elysia({ name: "auth-before-body", seed: auth.instanceId }).onParse({ as: "global" }, async ({ request, route }) => {
    if (needsToken(route)) await requireCaller(auth, request);
  });
}

/** Paths that load balancers and orchestrators poll: never counted as anonymous traffic. */
const PROBES = new Set(["/health", "/ready", "/health/", "/ready/"]);

/**
 * The access token a WebSocket upgrade presents in its query or as the `bearer, <token>`
 * subprotocol (as the gateway reads them). A ticket is no token: it can be checked only by
 * spending it.
 */
function upgradeToken(request: Request): string | null {
  const query = new URL(request.url).searchParams.get("token");
  if (query) return query;
  const protocols = request.headers.get("sec-websocket-protocol")?.split(",").map((p) => p.trim()) ?? [];
  const at = protocols.indexOf("bearer");
  return at >= 0 ? (protocols[at + 1] ?? null) : null;
}

/**
 * RATE_LIMIT_ANON: requests without a valid access token (anything but the probes and what
 * `free` lets through) take from one bucket per client address, as they arrive, before anything
 * else is done for them. `trustProxy`: proxies in front whose X-Forwarded-For names the client
 * (TRUST_PROXY). `free`: requests that carry their own permission, checked cheaply (signed file
 * links, which pages load by the dozen without a token).
 */
export function anonymousRateLimit(auth: AuthService, limiter: RateLimiter, trustProxy: number, free: (request: Request, path: string) => boolean = () => false) {
  const plugin = new Elysia({ name: "anonymous-rate-limit", seed: auth.instanceId });
  if (!limiter.enabled) return plugin;
  return plugin.onRequest(async ({ request, server }) => {
    const path = pathOf(request);
    if (PROBES.has(path) || free(request, path)) return;
    if (request.headers.has("authorization")) {
      if (await callerOf(auth, request)) return;
    } else if (path === "/ws" || path === "/ws/" || path.startsWith("/ws/rooms/")) {
      const token = upgradeToken(request);
      if (token && (await auth.authenticate(token))) return;
    }
    limiter.take(clientAddress(request, server, trustProxy));
  });
}
