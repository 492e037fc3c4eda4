import { jwt } from "@elysiajs/jwt";
import { Elysia } from "elysia";
import { Unauthenticated } from "../errors";
import type { AccessClaims, AuthService, Caller, TokenSigner } from "../modules/auth/service";

/**
 * An access-token signer on @elysiajs/jwt, HS256 only (so `alg: none` and key confusion fail).
 * `now` (ms) sets `exp` when signing and is the time expiry is checked against.
 */
export function createSigner(secret: string, now: () => number = Date.now): TokenSigner {
  const { jwt: codec } = jwt({ name: "jwt", secret, alg: "HS256" }).decorator;
  return {
    sign: (claims, ttl) => codec.sign({ ...claims, exp: Math.floor(now() / 1000) + ttl }),
    async verify(token) {
      const payload = await codec.verify(token, { algorithms: ["HS256"], currentDate: new Date(now()) });
      if (!payload || typeof payload.sub !== "string" || typeof payload.sid !== "string") return null;
      return { sub: payload.sub, sid: payload.sid } satisfies AccessClaims;
    },
  };
}

export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}

/**
 * `{ auth: true }` on a route requires a valid access token of a live session and resolves `caller`.
 * The token is checked in `transform`, before the body and query are validated, so that a caller
 * without a valid token learns nothing but 401.
 */
export function authPlugin(auth: AuthService) {
  const callers = new WeakMap<Request, Caller>();
  return new Elysia({ name: "auth", seed: auth.instanceId }).macro({
    auth: {
      detail: { security: [{ bearerAuth: [] }] },
      async transform({ request }) {
        const token = bearerToken(request.headers.get("authorization") ?? undefined);
        if (!token) throw new Unauthenticated("Send an access token as `Authorization: Bearer <token>`.");
        const caller = await auth.authenticate(token);
        if (!caller) throw new Unauthenticated("The access token is invalid, expired or revoked.");
        callers.set(request, caller);
      },
      resolve({ request }) {
        const caller = callers.get(request);
        if (!caller) throw new Unauthenticated();
        return { caller };
      },
    },
  });
}
