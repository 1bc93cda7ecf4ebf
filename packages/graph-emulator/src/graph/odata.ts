// OData helpers shared by the routes: links in Graph's spelling, and refusing query options we do not emulate
// (better a clear 400 than a silently ignored $filter that makes a test pass for the wrong reason).

import { GraphError } from "./errors.ts";
import type { GraphRequest, RouteContext, RouteLimit } from "./types.ts";

/** `?$top=5&$skiptoken=…` with `$` and `,` left readable, as in Graph's own next links. */
export function queryString(parameters: [string, string][]): string {
  if (parameters.length === 0) return "";
  const encode = (value: string) => encodeURIComponent(value).replace(/%2C/gi, ",").replace(/%24/g, "$");
  return `?${parameters.map(([key, value]) => `${key}=${encode(value)}`).join("&")}`;
}

export function refuseUnsupported(request: GraphRequest, supported: readonly string[]): void {
  for (const key of request.query.keys()) {
    if (key.startsWith("$") && !supported.includes(key.toLowerCase())) {
      throw new GraphError(
        400,
        "Request_UnsupportedQuery",
        `The query option '${key}' is not supported by this emulator for this request.`,
      );
    }
  }
}

/** Case-insensitive read of an OData system query option (Graph accepts `$select` and `$SELECT`). */
export function option(request: GraphRequest, name: string): string | null {
  for (const [key, value] of request.query) if (key.toLowerCase() === name) return value;
  return null;
}

/** Identity-class cost of reading users: 2 resource units, 1 less with $select, 1 more with $expand. */
export function identityLimit(context: RouteContext): RouteLimit {
  let cost = 2;
  if (option(context.request, "$select") !== null) cost -= 1;
  if (option(context.request, "$expand") !== null) cost += 1;
  return { limitClass: "identity", key: `${context.token.appId}|${context.token.tenantId}`, cost: Math.max(1, cost) };
}

export const USER_READ = [
  "User.Read.All",
  "User.ReadWrite.All",
  "Directory.Read.All",
  "Directory.ReadWrite.All",
] as const;
export const LIFECYCLE_READ = ["User-LifeCycleInfo.Read.All", "User-LifeCycleInfo.ReadWrite.All"] as const;

export function hasAny(roles: Set<string>, permissions: readonly string[]): boolean {
  return permissions.some((permission) => roles.has(permission));
}
