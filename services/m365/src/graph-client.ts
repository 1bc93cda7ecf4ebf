import { setTimeout as sleep } from "node:timers/promises";
import type { GetTokenOptions, TokenCredential } from "@azure/identity";
import { ClientSecretCredential } from "@azure/identity";
import {
  Client,
  type Context,
  GraphClientError,
  HTTPMessageHandler,
  type Middleware,
} from "@microsoft/microsoft-graph-client";
import { type BudgetStore, type Grant, sleepUntil } from "./budget.ts";
import type { M365Config } from "./config.ts";
import { backoffMs, retryAfterMs, THROTTLED_STATUSES } from "./domain/batch.ts";
import { chargeFor, type LimitClass } from "./domain/limit-classes.ts";
import { M365AuthenticationError, M365UnreachableError } from "./errors.ts";

export type GraphMetrics = {
  request(limitClass: LimitClass | "none"): void;
  throttled(limitClass: LimitClass | "none", status: number): void;
};

const MICROSOFT_AUTHORITY = "https://login.microsoftonline.com";

export function createCredential(config: M365Config): TokenCredential {
  const c = config.connection;
  if (!c) throw new Error("M365 tenant connection is not configured");
  const microsoft = config.authorityHost === MICROSOFT_AUTHORITY;
  return new FreshTokenCredential(
    () =>
      new ClientSecretCredential(c.tenantId, c.clientId, c.clientSecret, {
        authorityHost: config.authorityHost,
        // Instance discovery asks Microsoft whether the authority is known: a local or sovereign one is not.
        ...(microsoft ? {} : { disableInstanceDiscovery: true }),
      }),
  );
}

/**
 * Graph's bulk activity feed refuses tokens with less than 45 minutes to live (412, m365.md §1), but MSAL hands out
 * its cached token until minutes before expiry. So a token with less than `minLifetimeMs` left is replaced: a new
 * credential has an empty cache and asks Entra ID for a new token (about one request every quarter of an hour).
 */
export class FreshTokenCredential implements TokenCredential {
  private inner: TokenCredential;
  private readonly create: () => TokenCredential;
  private readonly minLifetimeMs: number;

  constructor(create: () => TokenCredential, minLifetimeMs = 46 * 60_000) {
    this.create = create;
    this.inner = create();
    this.minLifetimeMs = minLifetimeMs;
  }

  /** A token request in flight per scope: callers at once share it (the first feed calls asked Entra eight times). */
  private readonly pending = new Map<string, ReturnType<TokenCredential["getToken"]>>();

  getToken(scopes: string | string[], options?: GetTokenOptions) {
    if (options?.abortSignal) return this.fetchToken(scopes, options);
    const key = [scopes].flat().join(" ");
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.fetchToken(scopes, options).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  private async fetchToken(scopes: string | string[], options?: GetTokenOptions) {
    const token = await this.inner.getToken(scopes, options);
    if (!token || token.expiresOnTimestamp - Date.now() >= this.minLifetimeMs) return token;
    this.inner = this.create();
    // Entra may still issue a short token (a policy); then that one is used.
    return (await this.inner.getToken(scopes, options)) ?? token;
  }
}

function setHeader(context: Context, name: string, value: string) {
  context.options ??= {};
  const headers = context.options.headers;
  if (headers instanceof Headers) headers.set(name, value);
  else context.options.headers = { ...(headers as Record<string, string> | undefined), [name]: value };
}

/** Adds the app token (client credentials, cached and renewed by MSAL) to every request. */
export class TokenMiddleware implements Middleware {
  private next?: Middleware;
  private readonly credential: TokenCredential;
  private readonly scope: string;

  constructor(credential: TokenCredential, scope: string) {
    this.credential = credential;
    this.scope = scope;
  }

  setNext(next: Middleware) {
    this.next = next;
  }

  async execute(context: Context): Promise<void> {
    let token: Awaited<ReturnType<TokenCredential["getToken"]>>;
    try {
      token = await this.credential.getToken(this.scope);
      if (!token) throw new Error(`no token for ${this.scope}`);
    } catch (error) {
      // The Graph client rethrows a GraphClientError as it is (others become a GraphError without the cause).
      throw carry(new M365AuthenticationError(firstLine(error)));
    }
    setHeader(context, "Authorization", `Bearer ${token.token}`);
    await this.next!.execute(context);
  }
}

/**
 * Draws each request from its class's cluster-wide budget, and retries 429/503/504 after Retry-After (or a
 * backoff). A 429 pauses the whole class (or the mailbox, for Outlook) for every replica, so the retry and every
 * other caller wait it out. $batch draws nothing here: its caller charges each sub-request.
 */
export class BudgetRetryMiddleware implements Middleware {
  private next?: Middleware;
  private readonly budgets: BudgetStore;
  private readonly maxAttempts: number;
  private readonly metrics?: GraphMetrics;

  constructor(budgets: BudgetStore, maxAttempts: number, metrics?: GraphMetrics) {
    this.budgets = budgets;
    this.maxAttempts = maxAttempts;
    this.metrics = metrics;
  }

  setNext(next: Middleware) {
    this.next = next;
  }

  async execute(context: Context): Promise<void> {
    const url = new URL(typeof context.request === "string" ? context.request : context.request.url);
    const method = (context.options?.method ?? "GET").toUpperCase();
    const charge = chargeFor(method, url.pathname);
    const label = charge?.limitClass ?? "none";
    // A throttled request keeps its grant: Graph did not count it, and its retry goes when Retry-After has passed
    // (the moment Graph's window admits it), not behind every request granted meanwhile. The class's clock moves by
    // the time from the grant to that retry (see BudgetStore.pause), so what is granted next keeps its distance
    // from the retry as it would have from the first send. Taking a new grant instead cost a whole slot per 429.
    let grant: Grant | undefined;
    let grantedAt = 0;
    for (let attempt = 1; ; attempt++) {
      if (charge && grant === undefined) {
        grant = await this.budgets.take(charge.limitClass, charge.cost, charge.scope);
        grantedAt = performance.now();
      }
      this.metrics?.request(label);
      const sentAt = performance.now();
      // A window class: the next send waits for this one's answer, so it is settled before anything else. Graph's
      // answer reaches the caller whatever becomes of the record (PostgreSQL away: the send counts after the
      // in-flight limit), or a call Graph accepted would be repeated.
      const slot = grant?.slot;
      const settle = async (counted: boolean) => {
        if (slot)
          await this.budgets.settle(slot, { counted, sentAt, answeredAt: performance.now() }).catch(() => undefined);
      };
      try {
        await this.next!.execute(context);
      } catch (error) {
        // No answer: it may have arrived, so it counts, until now at the latest.
        await settle(true);
        throw carry(new M365UnreachableError(firstLine(error)));
      }
      const response = context.response!;
      await settle(response.status !== 429);
      if (!THROTTLED_STATUSES.has(response.status) || attempt >= this.maxAttempts) return;
      this.metrics?.throttled(label, response.status);
      const wait = retryAfterMs(response.headers.get("Retry-After")) ?? backoffMs(attempt);
      await response.body?.cancel().catch(() => undefined);
      if (charge && response.status === 429) {
        // The class waits out Retry-After for every replica. A bucket's request keeps its grant (the pause moves the
        // bucket's clock by the time it held it); a window's refused send stays in the window as if it had arrived at
        // its granted time, and the retry takes a new place, behind nobody granted before the pause ends.
        const heldMs = slot ? 0 : performance.now() - grantedAt;
        const until = performance.now() + wait;
        await this.budgets.pause(charge.limitClass, wait, charge.scope, heldMs);
        await sleepUntil(until);
        if (slot) grant = undefined;
        else grantedAt = performance.now();
      } else {
        // Not a throttle of the class (503/504): the retry draws on the budget again.
        grant = undefined;
        await sleep(wait);
      }
    }
  }
}

export type GraphApi = {
  client: Client;
  /** The app's credential (with its token cache), e.g. to fetch the token before the first request needs it. */
  credential: TokenCredential;
  graphUrl: string;
  budgets: BudgetStore;
  maxAttempts: number;
};

/** The Graph client with Hearth's chain: token → budget and retry → fetch. */
export function createGraphApi(
  config: M365Config,
  budgets: BudgetStore,
  metrics?: GraphMetrics,
  credential: TokenCredential = createCredential(config),
): GraphApi {
  const client = Client.initWithMiddleware({
    baseUrl: config.graphUrl,
    defaultVersion: "v1.0",
    // Host name only: the library strips the port before comparing (m365.md §3).
    customHosts: new Set([new URL(config.graphUrl).hostname]),
    middleware: [
      new TokenMiddleware(credential, config.graphScope),
      new BudgetRetryMiddleware(budgets, config.maxAttempts, metrics),
      new HTTPMessageHandler(),
    ],
  });
  return { client, credential, graphUrl: config.graphUrl, budgets, maxAttempts: config.maxAttempts };
}

function firstLine(error: unknown): string {
  const e = error as { message?: string; cause?: { message?: string } };
  const message = e?.message ?? String(error);
  const cause = e?.cause?.message ? ` (${e.cause.message})` : "";
  return `${message.split("\n")[0]}${cause}`.slice(0, 500);
}

/** Wraps a Hearth error so that it crosses the Graph client unchanged; `unwrapGraphError` takes it out again. */
function carry(error: Error): GraphClientError {
  const carrier = new GraphClientError(error.message);
  carrier.customError = error;
  return carrier;
}

export function unwrapGraphError(error: unknown): unknown {
  return error instanceof GraphClientError && error.customError instanceof Error ? error.customError : error;
}
