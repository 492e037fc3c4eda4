/**
 * The typed client of a bunchat server (`bunchat/client`), for browsers and Bun.
 *
 * ```ts
 * const client = createClient({ baseUrl: "https://chat.example.com" });
 * await client.login({ username: "ada", password: "…" });
 * const { data: room } = await client.api.rooms.post({ name: "general" });
 * const session = client.connect();
 * session.on("message", (m) => console.log(m.sender.username, m.content));
 * await session.send(room!.id, "hello");
 * ```
 *
 * It imports nothing of the server at run time: request, response and frame types come from
 * the server's own schemas through type-only imports.
 */
import { type Treaty, treaty } from "@elysiajs/eden/treaty2";
import type { App } from "../app";
import { RequestFailed, SignedOut, TokenKeeper } from "./auth";
import { Session, type SessionOptions, type WebSocketConstructor } from "./session";
import type { OwnUser } from "./types";

export { RequestFailed, SignedOut } from "./auth";
export { ServerRefused, Session, SessionClosed, type PendingSend, type SessionOptions, type WebSocketConstructor } from "./session";
export type * from "./types";

type Root = Treaty.Create<App>;
/** Typed REST calls under `/api`, from the server's route schemas (Eden Treaty): `api.rooms({ id }).messages.get({ query })`. */
export type Api = Root["api"];
type RegisterBody = Parameters<Api["auth"]["register"]["post"]>[0];
type LoginBody = Parameters<Api["auth"]["login"]["post"]>[0];

/** The fetch the client calls (the global one by default). */
export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** The server's origin, e.g. `https://chat.example.com`; defaults to the page's origin in a browser. */
  baseUrl?: string;
  /** Defaults to `globalThis.fetch`. */
  fetch?: Fetch;
  /** Defaults to `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** A refresh token kept from an earlier visit (see `onRefreshToken`): the client starts signed in. */
  refreshToken?: string | null;
  /**
   * Called with every new refresh token (they rotate on each refresh) and with null once the
   * session has ended, for keeping it across page loads. The access token stays in memory.
   */
  onRefreshToken?: (refreshToken: string | null) => void;
}

export interface Client {
  /** Typed REST calls; authenticated ones carry the access token, refreshed when due and once after a 401. */
  readonly api: Api;
  /** The fetch `api` goes through: paths under `baseUrl`, with the access token (refreshed when due and once after a 401). */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Whether the client holds a session (it may still turn out to be expired). */
  readonly signedIn: boolean;
  /** Creates an account and signs in with it. Throws RequestFailed (409 taken, 422 invalid…). */
  register(body: RegisterBody): Promise<OwnUser>;
  /** Signs in by username or verified email. Throws RequestFailed (401 on bad credentials). */
  login(body: LoginBody): Promise<OwnUser>;
  /** Ends the session on the server (its sockets close) and forgets the tokens; live sessions close. */
  logout(): Promise<void>;
  /** Trades the refresh token for new tokens now. Throws SignedOut when the session has ended. */
  refresh(): Promise<void>;
  /** Opens a live session on `/ws` (see Session). */
  connect(options?: SessionOptions): Session;
}

/** Creates a client. Nothing is requested until a method is called. */
export function createClient(options: ClientOptions = {}): Client {
  const baseUrl = (options.baseUrl ?? (globalThis as { location?: { origin: string } }).location?.origin ?? "").replace(/\/+$/, "");
  if (!baseUrl) throw new TypeError("createClient: baseUrl is required outside a browser");
  const baseFetch: Fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
  // Eden would turn every string that looks like a date into a Date; the schemas say strings.
  const plain: Root = treaty<App>(baseUrl, { fetcher: baseFetch as typeof fetch, parseDate: false });
  const tokens = new TokenKeeper(plain, options.onRefreshToken, options.refreshToken ?? null);

  const authedFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const token = await tokens.accessToken();
    const res = await baseFetch(input, withBearer(init, token));
    if (res.status !== 401 || token === null) return res;
    return baseFetch(input, withBearer(init, await tokens.afterRejection(token)));
  };
  const api: Api = treaty<App>(baseUrl, { fetcher: authedFetch as typeof fetch, parseDate: false }).api;

  const signIn = async (call: Promise<{ data: unknown; error: { status: unknown; value: unknown } | null }>) => {
    const { user, ...pair } = unwrap(await call) as { user: OwnUser; accessToken: string; refreshToken: string; expiresIn: number };
    tokens.store(pair);
    return user;
  };

  const wsUrl = `${baseUrl.replace(/^http/, "ws")}/ws`;
  const rest = {
    async ticket() {
      const answer = await api.auth["ws-ticket"].post();
      // Still refused after a refresh (or nothing to refresh with): the session is over.
      if (answer.error?.status === 401) throw new SignedOut();
      return unwrap(answer).ticket;
    },
    async history(roomId: string, query: { before?: number; after?: number; limit?: number }) {
      return unwrap(await api.rooms({ id: roomId }).messages.get({ query }));
    },
    async message(id: string) {
      const { data } = await api.messages({ id }).get();
      return data ?? null;
    },
    async room(id: string) {
      const { data } = await api.rooms({ id }).get();
      return data ?? null;
    },
    refresh: () => tokens.refresh(),
    onSignedOut(listener: () => void) {
      tokens.signedOut.add(listener);
      return () => void tokens.signedOut.delete(listener);
    },
  };

  return {
    api,
    fetch: (path, init) => authedFetch(`${baseUrl}${path}`, init),
    get signedIn() {
      return tokens.hasSession;
    },
    register: (body) => signIn(plain.api.auth.register.post(body)),
    login: (body) => signIn(plain.api.auth.login.post(body)),
    async logout() {
      const refreshToken = tokens.currentRefreshToken;
      if (!refreshToken) return;
      const accessToken = await tokens.accessToken().catch(() => null);
      // Live sessions stop first, so that the server closing their sockets is not taken for a drop.
      tokens.clear();
      if (!accessToken) return;
      const { error } = await plain.api.auth.logout.post({ refreshToken }, { headers: { authorization: `Bearer ${accessToken}` } });
      if (error && error.status !== 401) throw new RequestFailed(error.status as number, error.value);
    },
    async refresh() {
      await tokens.refresh();
    },
    connect: (sessionOptions) => new Session(wsUrl, rest, WebSocketImpl, sessionOptions),
  };
}

function withBearer(init: RequestInit | undefined, token: string | null): RequestInit {
  if (token === null) return init ?? {};
  const headers = new Headers(init?.headers);
  headers.set("authorization", `Bearer ${token}`);
  return { ...init, headers };
}

/** The data of an Eden answer, or the failure as an exception (SignedOut, a network error, RequestFailed). */
function unwrap<T>(result: { data: T; error: { status: unknown; value: unknown } | null }): NonNullable<T> {
  const { data, error } = result;
  if (error) {
    if (error.value instanceof Error) throw error.value;
    throw new RequestFailed(error.status as number, error.value);
  }
  return data as NonNullable<T>;
}
