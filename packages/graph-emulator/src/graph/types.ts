// The emulator's transport-neutral request and response, so that `$batch` sub-requests run through exactly the same
// pipeline (token, route, permission, throttling) as requests arriving over HTTPS.
import type { Tenant } from "../tenant/tenant.ts";
import type { LimitClass, Throttler } from "../throttling.ts";

export type GraphRequest = {
  method: string;
  /** Path below the version segment, e.g. "/users/{id}/manager" (already percent-decoded per segment). */
  path: string;
  query: URLSearchParams;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: unknown;
  requestId: string;
};

export type GraphResponse = { status: number; headers: Record<string, string>; body?: unknown };

/** Claims of a verified app token that routes care about. */
export type AppToken = { appId: string; tenantId: string; roles: Set<string>; expiresAt: number };

export type EmulatorState = {
  tenant: Tenant;
  throttler: Throttler;
  /** https://127.0.0.1:<port> */
  baseUrl: string;
  /** Page size of users/delta (Graph's is not documented as fixed; `Prefer: odata.maxpagesize` changes it). */
  deltaPageSize: number;
  /** Simulated service time per limit class (ms), so that concurrency limits (Outlook: 4 per mailbox) can be reached. */
  latencyMs: Partial<Record<LimitClass, number>>;
};

export type RouteContext = {
  state: EmulatorState;
  request: GraphRequest;
  token: AppToken;
  /** Captures of the route pattern. */
  params: string[];
  /** https://127.0.0.1:<port>/v1.0 */
  graphBase: string;
};

export type RouteLimit = { limitClass: LimitClass; key: string; cost: number };

export type GraphRoute = {
  method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
  pattern: RegExp;
  /** Accepted application permissions: the documented least-privileged one first, then higher ones. */
  permissions: readonly string[];
  /** Throttling class and key for this request (null: only the global limit applies). */
  limit(context: RouteContext): RouteLimit | null;
  handle(context: RouteContext): GraphResponse | Promise<GraphResponse>;
};
