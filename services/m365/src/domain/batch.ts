/** JSON $batch, built by hand (the SDK's BatchRequestContent breaks relative URLs: m365.md §3). */

export const MAX_BATCH_REQUESTS = 20;

export type SubRequest = {
  id: string;
  method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
  /** Relative to the version, without it: "/users/{id}/mailboxSettings". */
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
};

export type SubResponse = {
  id: string;
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
};

export function chunk<T>(items: readonly T[], size = MAX_BATCH_REQUESTS): T[][] {
  if (size < 1) throw new Error("chunk size must be positive");
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The body of POST /$batch: ≤ 20 requests, relative URLs, a Content-Type whenever there is a body. */
export function buildBatchBody(requests: readonly SubRequest[]): { requests: Array<Record<string, unknown>> } {
  if (requests.length === 0 || requests.length > MAX_BATCH_REQUESTS) {
    throw new Error(`A $batch holds 1 to ${MAX_BATCH_REQUESTS} requests, not ${requests.length}`);
  }
  const ids = new Set<string>();
  return {
    requests: requests.map((r) => {
      if (ids.has(r.id)) throw new Error(`Duplicate $batch request id ${r.id}`);
      ids.add(r.id);
      if (!r.url.startsWith("/") || /^\/(v1\.0|beta)\//.test(r.url)) {
        throw new Error(`A $batch URL is relative and without version: ${r.url}`);
      }
      const entry: Record<string, unknown> = { id: r.id, method: r.method, url: r.url };
      const headers = { ...r.headers };
      if (r.body !== undefined) {
        if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
          headers["Content-Type"] = "application/json";
        }
        entry.body = r.body;
      }
      if (Object.keys(headers).length > 0) entry.headers = headers;
      return entry;
    }),
  };
}

function header(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : headers[key];
}

/** Retry-After in ms: seconds (possibly fractional, "2.128") or an HTTP date; undefined when absent or bad. */
export function retryAfterMs(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export const THROTTLED_STATUSES = new Set([429, 503, 504]);

export type BatchOutcome = {
  /** Final responses by id. */
  done: Map<string, SubResponse>;
  /** Ids to send again (throttled or unavailable), after `retryAfterMs`. */
  retry: string[];
  retryAfterMs: number;
};

/**
 * Sorts one $batch answer (responses come in any order): throttled sub-requests (429/503/504) are retried,
 * all after the largest Retry-After among them (or `fallbackMs` when none says); the rest are final.
 * A sub-request missing from the answer is retried too.
 */
export function sortBatchResponses(
  sentIds: readonly string[],
  responses: readonly SubResponse[],
  fallbackMs: number,
  now = Date.now(),
): BatchOutcome {
  const done = new Map<string, SubResponse>();
  const retry: string[] = [];
  let wait = 0;
  let anyHeader = false;
  const byId = new Map(responses.map((r) => [String(r.id), r]));
  for (const id of sentIds) {
    const response = byId.get(id);
    if (!response || THROTTLED_STATUSES.has(response.status)) {
      retry.push(id);
      const ms = retryAfterMs(header(response?.headers, "Retry-After"), now);
      if (ms !== undefined) {
        anyHeader = true;
        wait = Math.max(wait, ms);
      }
    } else {
      done.set(id, response);
    }
  }
  return { done, retry, retryAfterMs: retry.length === 0 ? 0 : anyHeader ? wait : fallbackMs };
}

/** Exponential backoff with jitter for throttled answers without Retry-After. */
export function backoffMs(attempt: number, baseMs = 1000, maxMs = 60_000, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
