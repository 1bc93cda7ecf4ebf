/**
 * Microsoft Graph throttles per limit class (shared/reference/m365.md §2). Hearth keeps one token bucket per
 * (tenant, class[, scope]) so that every replica together stays under the published numbers.
 */
export const LIMIT_CLASSES = [
  "identityRead",
  "identityWrite",
  "outlookMailbox",
  "teamsBulkActivity",
  "teamsUserActivity",
  "teamsInstalledApps",
  "teamsCreate",
  "teamsPerTeam",
  "teamsOther",
  "bots",
] as const;
export type LimitClass = (typeof LIMIT_CLASSES)[number];

export type PublishedLimit = {
  /** Requests (or identity resource units) allowed per period. */
  limit: number;
  periodSeconds: number;
  /** "mailbox": one bucket per mailbox (the scope is the user id); "team": one per team; "app": one per tenant. */
  per: "app" | "mailbox" | "team";
};

/** Microsoft's published numbers (subject to change, hence configurable). */
export const PUBLISHED_LIMITS: Record<LimitClass, PublishedLimit> = {
  identityRead: { limit: 8000, periodSeconds: 10, per: "app" },
  identityWrite: { limit: 3000, periodSeconds: 150, per: "app" },
  outlookMailbox: { limit: 10_000, periodSeconds: 600, per: "mailbox" },
  teamsBulkActivity: { limit: 2, periodSeconds: 1, per: "app" },
  teamsUserActivity: { limit: 5, periodSeconds: 1, per: "app" },
  teamsInstalledApps: { limit: 30, periodSeconds: 1, per: "app" },
  teamsCreate: { limit: 10, periodSeconds: 1, per: "app" },
  teamsPerTeam: { limit: 4, periodSeconds: 1, per: "team" },
  /** Every other Teams call (e.g. listing teams), per app. */
  teamsOther: { limit: 30, periodSeconds: 1, per: "app" },
  bots: { limit: 50, periodSeconds: 1, per: "app" },
};

export type BucketShape = { capacity: number; refillPerSecond: number };

/**
 * A bucket that lets through at most `share` of the published limit per period. Over a window of length P a token
 * bucket admits at most capacity + rate·P, so the burst (capacity) is taken out of the rate: a burst of
 * `burstFraction`, the rest refilled over the period.
 *
 * Small limits (2 rps for the bulk feed, 5, 10, 4) get the smallest burst there is, one request, and then the full
 * `share` as rate: a bucket of capacity 1 grants at most once per 1/rate, so a half-open window of length P (the
 * emulator's and, as far as published, Graph's) holds at most ceil(rate·P) ≤ ceil(share·limit) ≤ limit requests,
 * and the rate over any longer stretch is share·limit. Taking the burst out of the rate there as well would cost a
 * tenth of the throughput (1.62 instead of 1.8 bulk calls per second at share 0.9) for no safety: the margin for
 * timing jitter between our grant and Graph's count is what `share` leaves, (1/share − 1)·P per `limit` requests.
 */
export function bucketShape(published: PublishedLimit, share = 0.9, burstFraction = 0.1): BucketShape {
  const allowed = published.limit * share;
  if (allowed * burstFraction <= 1) return { capacity: 1, refillPerSecond: allowed / published.periodSeconds };
  const capacity = allowed * burstFraction;
  const refillPerSecond = (allowed - capacity) / published.periodSeconds;
  return { capacity, refillPerSecond };
}

/** At most `limit` sends whose arrival at Graph can lie in any period of `periodMs` (BudgetStore's send windows). */
export type SendWindow = { limit: number; periodMs: number };

/**
 * Small per-second limits (the bulk feed's 2, the per-user feed's 5, team creation's 10, 4 per team) are kept by a
 * window of sends instead of a rate: a send may go once the send `limit` places before it has been answered and a
 * period has passed since the latest moment Graph can have counted it (its answer, less the fastest round trip
 * seen). The margin against Graph's count is then measured per send rather than guessed as a share of the rate,
 * which on a 50 ms scaled window cost a tenth of the throughput and still met 429s whenever one call's latency
 * differed from another's by a few milliseconds. `share` lowers the limit's rate all the same (1: the published
 * number, which the window never exceeds). Larger limits keep their token bucket: there a few milliseconds of
 * jitter are lost in the burst.
 */
export function sendWindow(published: PublishedLimit, share = 1): SendWindow | undefined {
  if (published.limit > 10) return undefined;
  return { limit: published.limit, periodMs: (published.periodSeconds * 1000) / share };
}

/** Identity cost in resource units: GET users costs 2; we do not count the $select discount (conservative). */
export const IDENTITY_DELTA_PAGE_COST = 2;

export type Charge = { limitClass: LimitClass; scope: string; cost: number };

/**
 * Which budget a Graph request draws on, from its method and path (relative to the version, e.g.
 * "/users/{id}/mailboxSettings"). `$batch` itself draws nothing: each sub-request is charged on its own.
 */
export function chargeFor(method: string, path: string): Charge | undefined {
  const p = path.replace(/^\/(v1\.0|beta)(?=\/)/, "").split("?")[0];
  const m = method.toUpperCase();
  if (p === "/$batch") return undefined;
  let match = /^\/users\/([^/]+)\/(mailboxSettings|events|calendarView|sendMail|messages)/i.exec(p);
  if (match) return { limitClass: "outlookMailbox", scope: decodeURIComponent(match[1]).toLowerCase(), cost: 1 };
  if (/^\/teamwork\/sendActivityNotificationToRecipients$/i.test(p))
    return { limitClass: "teamsBulkActivity", scope: "", cost: 1 };
  if (/^\/users\/[^/]+\/teamwork\/sendActivityNotification$/i.test(p))
    return { limitClass: "teamsUserActivity", scope: "", cost: 1 };
  if (m === "POST" && /^\/users\/[^/]+\/teamwork\/installedApps$/i.test(p))
    return { limitClass: "teamsInstalledApps", scope: "", cost: 1 };
  if (m === "POST" && /^\/teams$/i.test(p)) return { limitClass: "teamsCreate", scope: "", cost: 1 };
  if (/^\/teams\/?$/i.test(p)) return { limitClass: "teamsOther", scope: "", cost: 1 };
  match = /^\/teams\/([^/]+)(\/|$)/i.exec(p);
  if (match) return { limitClass: "teamsPerTeam", scope: decodeURIComponent(match[1]).toLowerCase(), cost: 1 };
  match = /^\/(users|groups|directoryObjects|applications|servicePrincipals)(\/|$)/i.exec(p);
  if (match) {
    if (m === "GET") return { limitClass: "identityRead", scope: "", cost: IDENTITY_DELTA_PAGE_COST };
    return { limitClass: "identityWrite", scope: "", cost: 1 };
  }
  return undefined;
}
