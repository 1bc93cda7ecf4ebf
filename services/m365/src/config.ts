import { z } from "zod";
import {
  type BucketShape,
  bucketShape,
  LIMIT_CLASSES,
  type LimitClass,
  PUBLISHED_LIMITS,
  type SendWindow,
  sendWindow,
} from "./domain/limit-classes.ts";

const optional = z
  .string()
  .optional()
  .transform((v) => (v === "" ? undefined : v));

const ZLimitOverrides = z
  .partialRecord(
    z.enum(LIMIT_CLASSES),
    z.object({ limit: z.number().positive().optional(), periodSeconds: z.number().positive().optional() }),
  )
  .default({});

/** The m365 service's own environment variables (documented in services/m365/README.md). */
const ZM365Env = z.object({
  M365_TENANT_ID: optional,
  M365_CLIENT_ID: optional,
  M365_CLIENT_SECRET: optional,
  M365_AUTHORITY_HOST: z.url().default("https://login.microsoftonline.com"),
  M365_GRAPH_URL: z.url().default("https://graph.microsoft.com"),
  /** The token scope; by default the Graph resource of M365_GRAPH_URL's cloud (see graphScope). */
  M365_GRAPH_SCOPE: optional,
  /** Share of each published limit that Hearth's replicas together may use. */
  M365_BUDGET_SHARE: z.coerce.number().gt(0).max(1).default(0.9),
  /** Share of the small per-second limits (kept by send windows, see sendWindow) that Hearth may use. */
  M365_WINDOW_SHARE: z.coerce.number().gt(0).max(1).default(1),
  /** JSON overriding Microsoft's numbers per class, e.g. {"bots":{"limit":30}}. */
  M365_LIMITS: optional,
  /** Attempts per Graph request when it is throttled (429) or unavailable (503/504). */
  M365_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(6),
  /** Hearth's Teams app in the org catalog (its catalog id, not the manifest id): installed for people on demand. */
  M365_TEAMS_APP_ID: optional,
});

export type M365Config = {
  /** undefined when the tenant connection is not configured: actions then answer 503. */
  connection?: { tenantId: string; clientId: string; clientSecret: string };
  authorityHost: string;
  graphUrl: string;
  /** Scope of the app token: the Graph resource id + "/.default", not necessarily the URL requests go to. */
  graphScope: string;
  shapes: Record<LimitClass, BucketShape>;
  /** The classes kept by a window of sends instead of their bucket. */
  windows: Partial<Record<LimitClass, SendWindow>>;
  maxAttempts: number;
  teamsAppId?: string;
};

export function loadM365Config(env: Record<string, string | undefined> = process.env): M365Config {
  const parsed = ZM365Env.safeParse(env);
  if (!parsed.success) {
    throw new Error(
      `Invalid m365 configuration: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  const e = parsed.data;
  const given = [e.M365_TENANT_ID, e.M365_CLIENT_ID, e.M365_CLIENT_SECRET].filter(Boolean).length;
  if (given > 0 && given < 3) {
    throw new Error("Invalid m365 configuration: M365_TENANT_ID, M365_CLIENT_ID and M365_CLIENT_SECRET go together");
  }
  const overrides = ZLimitOverrides.parse(e.M365_LIMITS ? JSON.parse(e.M365_LIMITS) : {});
  const shapes = Object.fromEntries(
    LIMIT_CLASSES.map((c) => [c, bucketShape({ ...PUBLISHED_LIMITS[c], ...overrides[c] }, e.M365_BUDGET_SHARE)]),
  ) as Record<LimitClass, BucketShape>;
  const windows: Partial<Record<LimitClass, SendWindow>> = {};
  for (const c of LIMIT_CLASSES) {
    const window = sendWindow({ ...PUBLISHED_LIMITS[c], ...overrides[c] }, e.M365_WINDOW_SHARE);
    if (window) windows[c] = window;
  }
  return {
    connection:
      given === 3
        ? { tenantId: e.M365_TENANT_ID!, clientId: e.M365_CLIENT_ID!, clientSecret: e.M365_CLIENT_SECRET! }
        : undefined,
    authorityHost: e.M365_AUTHORITY_HOST.replace(/\/+$/, ""),
    graphUrl: e.M365_GRAPH_URL.replace(/\/+$/, ""),
    graphScope: e.M365_GRAPH_SCOPE ?? graphScope(e.M365_GRAPH_URL),
    shapes,
    windows,
    maxAttempts: e.M365_MAX_ATTEMPTS,
    teamsAppId: e.M365_TEAMS_APP_ID,
  };
}

/** Graph's hosts in Microsoft's clouds (the token audience there is the host itself). */
const MICROSOFT_GRAPH_HOSTS = new Set([
  "graph.microsoft.com",
  "graph.microsoft.us",
  "dod-graph.microsoft.us",
  "microsoftgraph.chinacloudapi.cn",
]);

/**
 * The app token's scope. Entra issues Graph tokens for the Graph resource (https://graph.microsoft.com in the
 * public cloud), whatever URL the requests then go to: a local emulator stands in for the public cloud, so its
 * tokens are asked for Graph too, not for https://127.0.0.1:port.
 */
export function graphScope(graphUrl: string): string {
  const url = new URL(graphUrl);
  return MICROSOFT_GRAPH_HOSTS.has(url.hostname) ? `${url.origin}/.default` : "https://graph.microsoft.com/.default";
}
