// Throttling per limit class with Microsoft's published numbers (shared/reference/m365.md §2,
// https://learn.microsoft.com/graph/throttling-limits). Windows are fixed windows on the wall clock divided by
// `timeScale`: with timeScale 100 a 10 s window lasts 100 ms and Retry-After says how long to wait in real seconds.

export type WindowLimit = { limit: number; windowSeconds: number };

export type ThrottlingLimits = {
  /** All requests of one app, all tenants. */
  global: WindowLimit;
  /** Identity and access (users, delta, manager): resource units per app + tenant (tenants over 500 users). */
  identity: WindowLimit;
  /** Outlook (mailboxSettings, events, mail): requests per app + mailbox. */
  outlook: WindowLimit & { concurrent: number };
  /** Teams limits per app per tenant, for the Teams routes. */
  teamsActivityNotification: WindowLimit;
  teamsBulkActivityNotification: WindowLimit;
  teamsInstalledApps: WindowLimit;
  teamsCreate: WindowLimit;
  teamsOther: WindowLimit;
  teamsPerTeam: WindowLimit;
};

export const MICROSOFT_LIMITS: ThrottlingLimits = {
  global: { limit: 130_000, windowSeconds: 10 },
  identity: { limit: 8_000, windowSeconds: 10 },
  outlook: { limit: 10_000, windowSeconds: 600, concurrent: 4 },
  teamsActivityNotification: { limit: 5, windowSeconds: 1 },
  teamsBulkActivityNotification: { limit: 2, windowSeconds: 1 },
  teamsInstalledApps: { limit: 30, windowSeconds: 1 },
  teamsCreate: { limit: 10, windowSeconds: 1 },
  teamsOther: { limit: 30, windowSeconds: 1 },
  teamsPerTeam: { limit: 4, windowSeconds: 1 },
};

export type LimitClass = Exclude<keyof ThrottlingLimits, "global">;

export type ThrottlingOptions = boolean | Partial<ThrottlingLimits>;

export type Admission =
  | { ok: true; release(): void; headers: Record<string, string> }
  | { ok: false; retryAfterSeconds: number; limitClass: LimitClass | "global"; concurrency?: boolean };

type Window = { start: number; used: number; inFlight: number };

export class Throttler {
  enabled: boolean;
  limits: ThrottlingLimits;
  readonly timeScale: number;
  private readonly windows = new Map<string, Window>();
  /** 429s answered per limit class since start (or the last configure), for tests and benchmarks. */
  readonly refused = new Map<LimitClass | "global", number>();

  constructor(options: ThrottlingOptions | undefined, timeScale = 1) {
    this.timeScale = timeScale > 0 ? timeScale : 1;
    this.enabled = options !== false;
    this.limits = { ...MICROSOFT_LIMITS, ...(typeof options === "object" ? options : {}) };
  }

  configure(options: ThrottlingOptions): void {
    this.enabled = options !== false;
    if (typeof options === "object") this.limits = { ...this.limits, ...options };
    this.windows.clear();
    this.refused.clear();
  }

  /**
   * Counts one request (of `cost` units in its class) for `key` (app + tenant, or app + mailbox) and either
   * admits it or says how long to wait. Throttled requests are not counted. Every request also counts against the
   * app's global limit; `limitClass` null means only that one applies.
   */
  admit(appId: string, limitClass: LimitClass | null, key: string, cost = 1): Admission {
    if (!this.enabled) return { ok: true, release: () => {}, headers: {} };
    // Sub-millisecond: a window of 50 ms (a scaled second) judged on whole milliseconds would be 49 for some calls.
    const now = performance.timeOrigin + performance.now();
    const global = this.window(`global|${appId}`, this.limits.global, now);
    if (limitClass === null) {
      // Only the global per-app limit applies.
      if (global.used + 1 > this.limits.global.limit) return this.refuse(global, this.limits.global, now, "global");
      global.used += 1;
      return { ok: true, release: () => {}, headers: {} };
    }
    const limit = this.limits[limitClass];
    const window = this.window(`${limitClass}|${key}`, limit, now);
    if (global.used + 1 > this.limits.global.limit) return this.refuse(global, this.limits.global, now, "global");
    if (window.used + cost > limit.limit) return this.refuse(window, limit, now, limitClass);
    const concurrent = "concurrent" in limit ? (limit as { concurrent: number }).concurrent : Infinity;
    if (window.inFlight >= concurrent) {
      this.count(limitClass);
      return { ok: false, retryAfterSeconds: 1 / this.timeScale, limitClass, concurrency: true };
    }
    global.used += 1;
    window.used += cost;
    window.inFlight++;
    const headers: Record<string, string> = {};
    if (limitClass === "identity") {
      headers["x-ms-resource-unit"] = String(cost);
      const percentage = Math.round((window.used / limit.limit) * 100);
      // Graph sends it only once usage passes 80 % of the limit.
      if (percentage >= 80) headers["x-ms-throttle-limit-percentage"] = String(percentage / 100);
    }
    let released = false;
    return {
      ok: true,
      headers,
      release: () => {
        if (!released) window.inFlight--;
        released = true;
      },
    };
  }

  private window(key: string, limit: WindowLimit, now: number): Window {
    let window = this.windows.get(key);
    if (!window) {
      window = { start: now, used: 0, inFlight: 0 };
      this.windows.set(key, window);
    } else if (now - window.start >= this.windowMs(limit)) {
      window.start = now;
      window.used = 0;
    }
    return window;
  }

  private count(limitClass: LimitClass | "global") {
    this.refused.set(limitClass, (this.refused.get(limitClass) ?? 0) + 1);
  }

  private refuse(window: Window, limit: WindowLimit, now: number, limitClass: LimitClass | "global"): Admission {
    this.count(limitClass);
    const waitMs = Math.max(1, window.start + this.windowMs(limit) - now);
    return { ok: false, retryAfterSeconds: Math.ceil(waitMs) / 1000, limitClass };
  }

  private windowMs(limit: WindowLimit): number {
    return (limit.windowSeconds * 1000) / this.timeScale;
  }
}
