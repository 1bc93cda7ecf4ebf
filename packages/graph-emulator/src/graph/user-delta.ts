// GET /users/delta: a full read in pages ($skiptoken next links) ending in a deltaLink ($deltatoken), then rounds of
// changes only. https://learn.microsoft.com/graph/api/user-delta, https://learn.microsoft.com/graph/delta-query-overview
//
// Cost: the initial read walks tenant.records by position and a change round walks the change log from a binary-
// searched position, so every page costs O(page size) however large the tenant (see tenant.ts).
import type { UserRecord } from "../tenant/tenant.ts";
import { badRequest, GraphError } from "./errors.ts";
import { hasAny, identityLimit, LIFECYCLE_READ, option, queryString, refuseUnsupported, USER_READ } from "./odata.ts";
import { decodeToken, encodeToken } from "./tokens.ts";
import type { GraphRoute, RouteContext } from "./types.ts";
import { parseUserSelect, projectUser, type Selection, selectContext } from "./user-shape.ts";

/** Delta links for directory objects live 7 days. */
export const DELTA_TOKEN_LIFETIME_MS = 7 * 86_400_000;
const MAX_PAGE_SIZE = 999;

type PageToken = {
  /** initial read or a round of changes */
  phase: "initial" | "changes";
  epoch: number;
  issuedAt: number;
  select: string | null;
  /** initial: index into tenant.records; changes: index into the change log */
  position: number;
  /** initial: version when the read started (the deltaLink resumes after it); changes: last version of this round */
  version: number;
  /** changes: the version the round started from (what the client already has) */
  from?: number;
};

type DeltaToken = { epoch: number; issuedAt: number; select: string | null; version: number };

export const userDeltaRoutes: GraphRoute[] = [
  {
    method: "GET",
    pattern: /^\/users\/delta(?:\(\))?\/?$/,
    permissions: USER_READ,
    limit: identityLimit,
    handle(context) {
      const { request, state } = context;
      const tenant = state.tenant;
      const skipToken = option(request, "$skiptoken");
      const deltaToken = option(request, "$deltatoken");
      let page: PageToken;
      if (skipToken !== null) {
        page = checkedToken<PageToken>(context, skipToken);
      } else if (deltaToken !== null) {
        if (deltaToken === "latest") {
          // Start tracking from now: no objects, just a deltaLink.
          const select = option(request, "$select");
          parseUserSelect(select, true);
          return deltaPage(context, parseUserSelect(select, true), [], {
            deltaLink: { epoch: tenant.deltaEpoch, issuedAt: Date.now(), select, version: tenant.currentVersion },
          });
        }
        const delta = checkedToken<DeltaToken>(context, deltaToken);
        page = {
          phase: "changes",
          epoch: delta.epoch,
          issuedAt: Date.now(),
          select: delta.select,
          position: tenant.logPositionAfter(delta.version),
          version: tenant.currentVersion,
          from: delta.version,
        };
      } else {
        // Query parameters count only on the first call; later calls carry them inside the tokens.
        refuseUnsupported(request, ["$select", "$deltatoken", "$skiptoken"]);
        const select = option(request, "$select");
        parseUserSelect(select, true);
        page = {
          phase: "initial",
          epoch: tenant.deltaEpoch,
          issuedAt: Date.now(),
          select,
          position: 0,
          version: tenant.currentVersion,
        };
      }
      const selection = parseUserSelect(page.select, true);
      const size = pageSize(context);
      const lifecycle = hasAny(context.token.roles, LIFECYCLE_READ);
      const minimal = /return=minimal/i.test(request.headers.prefer ?? "");
      const value: Record<string, unknown>[] = [];
      let position = page.position;
      let done: boolean;
      if (page.phase === "initial") {
        const records = tenant.records;
        while (position < records.length && value.length < size) {
          const record = records[position++]!;
          if (record.removed === null) value.push(deltaUser(record, selection, lifecycle, true));
        }
        while (position < records.length && records[position]!.removed !== null) position++;
        done = position >= records.length;
      } else {
        for (;;) {
          const entry = tenant.logEntry(position);
          if (!entry || entry.seq > page.version) break;
          if (value.length >= size) break;
          position++;
          // Only a user's latest change counts; if it is after this round, the next round reports it.
          if (entry.record.version !== entry.seq) continue;
          // Prefer: return=minimal — only the properties that changed since the client's token (whole objects when
          // created, removed or restored). https://learn.microsoft.com/graph/delta-query-overview#optional-query-parameters
          const changed = minimal ? tenant.changedSince(entry.record, page.from ?? 0, page.version) : null;
          value.push(deltaUser(entry.record, selection, lifecycle, false, changed));
        }
        const next = tenant.logEntry(position);
        done = !next || next.seq > page.version;
      }
      if (!done) return deltaPage(context, selection, value, { nextLink: { ...page, position } });
      return deltaPage(context, selection, value, {
        deltaLink: { epoch: page.epoch, issuedAt: Date.now(), select: page.select, version: page.version },
      });
    },
  },
];

function deltaPage(
  context: RouteContext,
  selection: Selection,
  value: Record<string, unknown>[],
  link: { nextLink: PageToken } | { deltaLink: DeltaToken },
) {
  const base = `${context.graphBase}/users/delta`;
  const body: Record<string, unknown> = {
    "@odata.context": `${context.graphBase}/$metadata#users${selectContext(selection)}`,
  };
  if ("nextLink" in link)
    body["@odata.nextLink"] = `${base}${queryString([["$skiptoken", encodeToken(link.nextLink)]])}`;
  else body["@odata.deltaLink"] = `${base}${queryString([["$deltatoken", encodeToken(link.deltaLink)]])}`;
  body.value = value;
  const headers: Record<string, string> = {};
  const prefer = context.request.headers.prefer ?? "";
  const applied: string[] = [];
  if (/return=minimal/i.test(prefer)) applied.push("return=minimal");
  if (/odata\.maxpagesize/i.test(prefer)) applied.push(`odata.maxpagesize=${pageSize(context)}`);
  if (applied.length > 0) headers["preference-applied"] = applied.join(", ");
  return { status: 200, headers, body };
}

function deltaUser(
  record: UserRecord,
  selection: Selection,
  lifecycle: boolean,
  initial: boolean,
  /** return=minimal: the properties that changed (null: send the whole object) */
  changed: Set<string> | null = null,
): Record<string, unknown> {
  if (record.removed !== null) {
    return { "@odata.type": "#microsoft.graph.user", id: record.data.id, "@removed": { reason: record.removed } };
  }
  if (changed !== null) {
    const properties = selection.properties.filter((name) => name === "id" || changed.has(name));
    const user = projectUser(record, { ...selection, properties }, lifecycle);
    if (selection.manager && changed.has("manager")) addManagerDelta(user, record, initial);
    return user;
  }
  const user = projectUser(record, selection, lifecycle);
  if (selection.manager) addManagerDelta(user, record, initial);
  return user;
}

function addManagerDelta(user: Record<string, unknown>, record: UserRecord, initial: boolean): void {
  if (record.managerId) user["manager@delta"] = [{ "@odata.type": "#microsoft.graph.user", id: record.managerId }];
  else if (!initial && record.formerManagerId) {
    user["manager@delta"] = [
      { "@odata.type": "#microsoft.graph.user", id: record.formerManagerId, "@removed": { reason: "deleted" } },
    ];
  }
}

function checkedToken<T extends { epoch: number; issuedAt: number; select: string | null }>(
  context: RouteContext,
  raw: string,
): T {
  const token = decodeToken<T>(raw);
  const tenant = context.state.tenant;
  if (!token || token.epoch !== tenant.deltaEpoch || Date.now() - token.issuedAt > DELTA_TOKEN_LIFETIME_MS) {
    const select = token && typeof token.select === "string" ? token.select : null;
    const location = `${context.graphBase}/users/delta${select ? queryString([["$select", select]]) : ""}`;
    throw new GraphError(
      410,
      "syncStateNotFound",
      "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
      { location },
    );
  }
  return token;
}

function pageSize(context: RouteContext): number {
  const match = /odata\.maxpagesize=(\d+)/i.exec(context.request.headers.prefer ?? "");
  if (!match) return context.state.deltaPageSize;
  const size = Number(match[1]);
  if (size < 1) throw badRequest("odata.maxpagesize must be at least 1.");
  return Math.min(size, MAX_PAGE_SIZE);
}
