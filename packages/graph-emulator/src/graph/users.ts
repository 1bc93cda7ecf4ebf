// GET /users, GET /users/{id | userPrincipalName}, GET /users/{id}/manager.
// https://learn.microsoft.com/graph/api/user-list, user-get, user-list-manager
import { GraphError, notFound } from "./errors.ts";
import { hasAny, identityLimit, LIFECYCLE_READ, option, queryString, refuseUnsupported, USER_READ } from "./odata.ts";
import { decodeToken, encodeToken } from "./tokens.ts";
import type { GraphRoute, RouteContext } from "./types.ts";
import { parseTop, parseUserSelect, projectUser, selectContext } from "./user-shape.ts";

const DEFAULT_PAGE_SIZE = 100;

export const userRoutes: GraphRoute[] = [
  {
    method: "GET",
    pattern: /^\/users\/?$/,
    permissions: USER_READ,
    limit: identityLimit,
    handle(context) {
      const { request, state, graphBase } = context;
      refuseUnsupported(request, ["$select", "$top", "$skiptoken"]);
      const selection = parseUserSelect(option(request, "$select"), false);
      const top = parseTop(option(request, "$top"), DEFAULT_PAGE_SIZE);
      const skipToken = option(request, "$skiptoken");
      let position = 0;
      if (skipToken !== null) {
        const decoded = decodeToken<{ p: number }>(skipToken);
        if (!decoded || !Number.isInteger(decoded.p) || decoded.p < 0) {
          throw new GraphError(
            400,
            "Directory_ExpiredPageToken",
            "The specified page token value has expired and can no longer be included in your request.",
          );
        }
        position = decoded.p;
      }
      const records = state.tenant.records;
      const lifecycle = hasAny(context.token.roles, LIFECYCLE_READ);
      const value: Record<string, unknown>[] = [];
      while (position < records.length && value.length < top) {
        const record = records[position++]!;
        if (record.removed === null) value.push(projectUser(record, selection, lifecycle));
      }
      while (position < records.length && records[position]!.removed !== null) position++;
      const body: Record<string, unknown> = {
        "@odata.context": `${graphBase}/$metadata#users${selectContext(selection)}`,
      };
      if (position < records.length) {
        const kept: [string, string][] = [];
        for (const [key, value] of request.query) if (key.toLowerCase() !== "$skiptoken") kept.push([key, value]);
        kept.push(["$skiptoken", encodeToken({ p: position })]);
        body["@odata.nextLink"] = `${graphBase}/users${queryString(kept)}`;
      }
      body.value = value;
      return { status: 200, headers: {}, body };
    },
  },
  {
    method: "GET",
    pattern: /^\/users\/([^/]+)\/?$/,
    permissions: USER_READ,
    limit: identityLimit,
    handle(context) {
      refuseUnsupported(context.request, ["$select"]);
      const record = findUser(context, context.params[0]!);
      const selection = parseUserSelect(option(context.request, "$select"), false);
      const body = {
        "@odata.context": `${context.graphBase}/$metadata#users${selectContext(selection)}/$entity`,
        ...projectUser(record, selection, hasAny(context.token.roles, LIFECYCLE_READ)),
      };
      return { status: 200, headers: {}, body };
    },
  },
  {
    method: "GET",
    pattern: /^\/users\/([^/]+)\/manager\/?$/,
    permissions: USER_READ,
    limit: identityLimit,
    handle(context) {
      refuseUnsupported(context.request, ["$select"]);
      const record = findUser(context, context.params[0]!);
      const manager = record.managerId ? context.state.tenant.find(record.managerId) : undefined;
      if (!manager) throw notFound("manager");
      const selection = parseUserSelect(option(context.request, "$select"), false);
      const body = {
        "@odata.context": `${context.graphBase}/$metadata#directoryObjects/$entity`,
        "@odata.type": "#microsoft.graph.user",
        ...projectUser(manager, selection, hasAny(context.token.roles, LIFECYCLE_READ)),
      };
      return { status: 200, headers: {}, body };
    },
  },
];

export function findUser(context: RouteContext, idOrUpn: string) {
  const record = context.state.tenant.find(idOrUpn);
  if (!record) throw notFound(idOrUpn);
  return record;
}
