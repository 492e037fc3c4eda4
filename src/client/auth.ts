import type { Treaty } from "@elysiajs/eden/treaty2";
import type { App } from "../app";
import type { OwnUser } from "./types";

type Root = Treaty.Create<App>;

/** What the server answers to register, login and refresh. */
export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
}

/** The refresh token is no longer accepted: the session ended (logout, reuse, revocation). */
export class SignedOut extends Error {
  constructor(message = "Signed out: log in again.") {
    super(message);
    this.name = "SignedOut";
  }
}

/** A refresh is due this long before the access token expires: a fifth of its life, at most a minute. */
const refreshLeadMs = (ttlMs: number) => Math.min(60_000, ttlMs / 5);

/**
 * The tokens of one signed-in user, in memory only. The access token is refreshed when it is
 * used within its last fifth of life (at most a minute before expiry), and once after a 401;
 * refreshes never overlap (a refresh token is single use), and each new refresh token is
 * handed to `persist`, which gets null once the session has ended.
 */
export class TokenKeeper {
  private access: { token: string; refreshAt: number } | null = null;
  private refreshToken: string | null;
  private refreshing: Promise<string> | null = null;
  /** Whoever wants to know the session ended (live sessions stop reconnecting). */
  readonly signedOut = new Set<() => void>();

  constructor(
    private readonly plain: Root,
    private readonly persist: ((refreshToken: string | null) => void) | undefined,
    refreshToken: string | null,
    private readonly now: () => number = Date.now,
  ) {
    this.refreshToken = refreshToken;
  }

  get hasSession(): boolean {
    return this.refreshToken !== null;
  }

  /** Keeps a pair the server just issued. */
  store(pair: TokenPair): void {
    this.access = { token: pair.accessToken, refreshAt: this.now() + pair.expiresIn * 1000 - refreshLeadMs(pair.expiresIn * 1000) };
    this.refreshToken = pair.refreshToken;
    this.persist?.(pair.refreshToken);
  }

  /** Forgets both tokens (and tells `persist`). */
  clear(): void {
    const had = this.refreshToken !== null;
    this.access = null;
    this.refreshToken = null;
    this.persist?.(null);
    if (had) for (const listener of this.signedOut) listener();
  }

  /** The refresh token, for logout. */
  get currentRefreshToken(): string | null {
    return this.refreshToken;
  }

  /** An access token that is not about to expire, refreshing first when needed; null when signed out. */
  async accessToken(): Promise<string | null> {
    if (this.access && this.now() < this.access.refreshAt) return this.access.token;
    if (!this.refreshToken) return null;
    return this.refresh();
  }

  /**
   * The server refused `rejected` (401): a new access token, from a refresh unless another call
   * has already replaced the rejected one. Throws SignedOut when the session is gone.
   */
  async afterRejection(rejected: string): Promise<string> {
    if (this.access && this.access.token !== rejected) return this.access.token;
    return this.refresh();
  }

  /** Trades the refresh token for a new pair; concurrent callers share one request. */
  refresh(): Promise<string> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  private async doRefresh(): Promise<string> {
    const refreshToken = this.refreshToken;
    if (!refreshToken) throw new SignedOut();
    const { data, error } = await this.plain.api.auth.refresh.post({ refreshToken });
    if (data) {
      // A logout while the refresh was in flight wins.
      if (this.refreshToken !== refreshToken) throw new SignedOut();
      this.store(data);
      return data.accessToken;
    }
    if (error.value instanceof Error) throw error.value;
    if (error.status === 401 || error.status === 422) {
      if (this.refreshToken === refreshToken) this.clear();
      throw new SignedOut();
    }
    throw new RequestFailed(error.status as number, error.value);
  }
}

/** A request that failed for a reason other than authentication (network, 5xx, 429…). */
export class RequestFailed extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`request failed with status ${status}${describe(body)}`);
    this.name = "RequestFailed";
  }
}

function describe(body: unknown): string {
  const message = (body as { error?: { message?: unknown } } | null)?.error?.message;
  return typeof message === "string" ? `: ${message}` : "";
}

/** The user a register or login answered with, for `Client.user`. */
export type SignedIn = { user: OwnUser } & TokenPair;
