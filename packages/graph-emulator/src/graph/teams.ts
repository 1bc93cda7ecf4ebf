// POST /teams (asynchronous: 202 + an operation to poll), GET /teams/{id}, its operations, channels (list, create)
// and members (list, add one, add up to 200 at once, remove). shared/reference/m365.md §1; limits: teamsCreate
// (10 per second per app) for creation, 4 per second per team for the rest.
import { type Team, type TeamMember, Teams } from "../tenant/teams.ts";
import { badRequest, GraphError } from "./errors.ts";
import { option, queryString, refuseUnsupported } from "./odata.ts";
import type { GraphResponse, GraphRoute, RouteContext, RouteLimit } from "./types.ts";

/** Queued before provisioning starts (the operation reports notStarted meanwhile). */
const QUEUED_SECONDS = 0.5;
const LIST_PAGE_SIZE = 100;
const MAX_BULK_MEMBERS = 200;
const READ_TEAM = ["Team.ReadBasic.All", "TeamSettings.Read.All", "TeamSettings.ReadWrite.All", "Group.Read.All"];
const READ_CHANNELS = ["Channel.ReadBasic.All", "ChannelSettings.Read.All", "ChannelSettings.ReadWrite.All"];
const READ_MEMBERS = ["TeamMember.Read.All", "TeamMember.ReadWriteNonOwnerRole.All", "TeamMember.ReadWrite.All"];
const WRITE_MEMBERS = ["TeamMember.ReadWriteNonOwnerRole.All", "TeamMember.ReadWrite.All"];

const perTeam = (context: RouteContext): RouteLimit => ({
  limitClass: "teamsPerTeam",
  key: `${context.token.appId}|${context.params[0]}`,
  cost: 1,
});

function team(context: RouteContext): Team {
  const found = context.state.tenant.teams.ready(context.params[0]!);
  if (!found) throw new GraphError(404, "NotFound", `No team found with Group Id ${context.params[0]}`);
  return found;
}

function teamBody(context: RouteContext, t: Team) {
  return {
    "@odata.context": `${context.graphBase}/$metadata#teams/$entity`,
    id: t.id,
    createdDateTime: t.createdDateTime,
    displayName: t.displayName,
    description: t.description,
    internalId: t.internalId,
    classification: null,
    specialization: "none",
    visibility: t.visibility,
    webUrl: `https://teams.microsoft.com/l/team/${encodeURIComponent(t.internalId)}/conversations?groupId=${t.id}&tenantId=${context.token.tenantId}`,
    isArchived: false,
    tenantId: context.token.tenantId,
  };
}

function channelBody(context: RouteContext, t: Team, c: Team["channels"][number]) {
  return {
    id: c.id,
    createdDateTime: c.createdDateTime,
    displayName: c.displayName,
    description: c.description,
    isFavoriteByDefault: null,
    email: "",
    webUrl: `https://teams.microsoft.com/l/channel/${encodeURIComponent(c.id)}/${encodeURIComponent(c.displayName)}?groupId=${t.id}&tenantId=${context.token.tenantId}`,
    membershipType: c.membershipType,
    tenantId: context.token.tenantId,
    isArchived: false,
  };
}

function memberBody(context: RouteContext, m: TeamMember) {
  return {
    "@odata.type": "#microsoft.graph.aadUserConversationMember",
    id: m.id,
    roles: m.roles,
    displayName: m.displayName,
    visibleHistoryStartDateTime: "0001-01-01T00:00:00Z",
    userId: m.userId,
    email: m.email,
    tenantId: context.token.tenantId,
  };
}

/** A team's channels or members, as Graph lists them (with their count). */
function collection(context: RouteContext, t: Team, name: "channels" | "members", value: unknown[]): GraphResponse {
  return {
    status: 200,
    headers: {},
    body: {
      "@odata.context": `${context.graphBase}/$metadata#teams('${t.id}')/${name}`,
      "@odata.count": value.length,
      value,
    },
  };
}

/** One `aadUserConversationMember` of a request body: the user it binds and its roles. */
function memberRequest(value: unknown, where: string): { userRef: string; roles: string[] } {
  const m = value as Record<string, unknown> | null;
  const type = String(m?.["@odata.type"] ?? "").replace(/^#/, "");
  if (type !== "microsoft.graph.aadUserConversationMember") {
    throw badRequest(`${where} must be a microsoft.graph.aadUserConversationMember.`, "BadRequest");
  }
  const bind = m!["user@odata.bind"];
  const match = typeof bind === "string" ? /\/users\('?([^')]+)'?\)$|\/users\/([^/]+)$/.exec(bind) : null;
  if (!match) throw badRequest(`${where}.user@odata.bind must reference a user.`, "BadRequest");
  const roles = Array.isArray(m!.roles) ? (m!.roles as unknown[]).map(String) : [];
  if (roles.some((r) => r !== "owner" && r !== "guest"))
    throw badRequest(`${where}.roles: unknown role.`, "BadRequest");
  return { userRef: decodeURIComponent(match[1] ?? match[2]!), roles };
}

function addMember(context: RouteContext, t: Team, userRef: string, roles: string[], creating = false): TeamMember {
  const user = context.state.tenant.find(userRef);
  if (!user || user.removed !== null) throw new GraphError(404, "NotFound", `User '${userRef}' was not found.`);
  // Team.Create names the first owners; later, owners need the broader member permission.
  if (roles.includes("owner") && !creating && !context.token.roles.has("TeamMember.ReadWrite.All")) {
    throw new GraphError(403, "Forbidden", "Adding an owner needs TeamMember.ReadWrite.All.");
  }
  const existing = t.members.find((m) => m.userId === user.data.id);
  if (existing) {
    existing.roles = roles;
    return existing;
  }
  const member: TeamMember = {
    id: Teams.membershipId(t.id, user.data.id),
    userId: user.data.id,
    displayName: user.data.displayName,
    email: user.data.mail,
    roles,
    addedAt: new Date().toISOString(),
  };
  t.members.push(member);
  return member;
}

export const teamRoutes: GraphRoute[] = [
  {
    method: "POST",
    pattern: /^\/teams\/?$/,
    permissions: ["Team.Create"],
    limit: (context) => ({
      limitClass: "teamsCreate",
      key: `${context.token.appId}|${context.token.tenantId}`,
      cost: 1,
    }),
    handle(context): GraphResponse {
      const body = (context.request.body ?? {}) as Record<string, unknown>;
      const template = body["template@odata.bind"];
      if (typeof template !== "string" || !/teamsTemplates\('?standard'?\)$/.test(template)) {
        throw badRequest("template@odata.bind must reference teamsTemplates('standard').", "BadRequest");
      }
      if (typeof body.displayName !== "string" || body.displayName.trim() === "") {
        throw badRequest("displayName is required.", "BadRequest");
      }
      const members = Array.isArray(body.members) ? body.members : [];
      const requested = members.map((m, i) => memberRequest(m, `members[${i}]`));
      if (!requested.some((m) => m.roles.includes("owner"))) {
        throw badRequest("An owner is required when a team is created with application permissions.", "BadRequest");
      }
      const visibility = body.visibility === "public" ? "public" : "private";
      const now = Date.now();
      const scale = context.state.throttler.timeScale;
      const teams = context.state.tenant.teams;
      const readyAt = now + (teams.provisioningSeconds * 1000) / scale;
      const id = crypto.randomUUID();
      const created: Team = {
        id,
        internalId: `19:${crypto.randomUUID().replace(/-/g, "")}@thread.tacv2`,
        displayName: body.displayName,
        description: typeof body.description === "string" ? body.description : null,
        visibility,
        createdDateTime: new Date(now).toISOString(),
        readyAt,
        channels: [
          {
            id: `19:${crypto.randomUUID().replace(/-/g, "")}@thread.tacv2`,
            displayName: "General",
            description: null,
            createdDateTime: new Date(now).toISOString(),
            membershipType: "standard",
          },
        ],
        members: [],
      };
      for (const m of requested) addMember(context, created, m.userRef, m.roles, true);
      const operationId = crypto.randomUUID();
      // A creation the control API told to fail is accepted all the same; only its operation tells.
      const failure = teams.pendingFailures.shift() ?? null;
      if (!failure) teams.teams.set(id, created);
      teams.operations.set(operationId, {
        id: operationId,
        teamId: id,
        createdDateTime: created.createdDateTime,
        startsAt: now + (QUEUED_SECONDS * 1000) / scale,
        readyAt,
        failure,
      });
      return {
        status: 202,
        headers: {
          location: `/teams('${id}')/operations('${operationId}')`,
          "content-location": `/teams('${id}')`,
        },
      };
    },
  },
  {
    method: "GET",
    pattern: /^\/teams\/([^/]+)\/operations\/([^/]+)\/?$/,
    permissions: ["Team.Create", ...READ_TEAM],
    limit: perTeam,
    handle(context) {
      const operation = context.state.tenant.teams.operations.get(context.params[1]!);
      if (!operation || operation.teamId !== context.params[0]) {
        throw new GraphError(404, "NotFound", `Operation ${context.params[1]} was not found.`);
      }
      const status = Teams.status(operation);
      return {
        status: 200,
        headers: {},
        body: {
          "@odata.context": `${context.graphBase}/$metadata#teams('${operation.teamId}')/operations/$entity`,
          id: operation.id,
          operationType: "createTeam",
          createdDateTime: operation.createdDateTime,
          status,
          lastActionDateTime: new Date(
            status === "notStarted" ? Date.parse(operation.createdDateTime) : Math.min(Date.now(), operation.readyAt),
          ).toISOString(),
          attemptsCount: 1,
          targetResourceId: operation.teamId,
          targetResourceLocation: `/teams('${operation.teamId}')`,
          error: status === "failed" ? operation.failure : null,
        },
      };
    },
  },
  {
    // List teams: basic properties only (the rest null, as Graph lists them); $filter on displayName, $top.
    method: "GET",
    pattern: /^\/teams\/?$/,
    permissions: [...READ_TEAM, "Directory.Read.All", "Directory.ReadWrite.All"],
    limit: (context) => ({
      limitClass: "teamsOther",
      key: `${context.token.appId}|${context.token.tenantId}`,
      cost: 1,
    }),
    handle(context): GraphResponse {
      refuseUnsupported(context.request, ["$filter", "$top", "$skiptoken"]);
      const filter = option(context.request, "$filter");
      let name: string | null = null;
      if (filter !== null) {
        const match = /^displayName eq '((?:[^']|'')*)'$/.exec(filter.trim());
        if (!match) throw badRequest(`Unsupported filter: ${filter}`, "BadRequest");
        name = match[1]!.replace(/''/g, "'");
      }
      const topText = option(context.request, "$top");
      const top = topText === null ? LIST_PAGE_SIZE : Number(topText);
      if (!Number.isInteger(top) || top < 1 || top > 999) throw badRequest("$top must be between 1 and 999.");
      const skip = Number(option(context.request, "$skiptoken") ?? 0);
      if (!Number.isInteger(skip) || skip < 0) throw badRequest("Invalid $skiptoken.", "BadRequest");
      const all = context.state.tenant.teams.list().filter((t) => name === null || t.displayName === name);
      const page = all.slice(skip, skip + top);
      const next: [string, string][] = [
        ...(filter !== null ? ([["$filter", filter]] as [string, string][]) : []),
        ["$top", String(top)],
        ["$skiptoken", String(skip + top)],
      ];
      return {
        status: 200,
        headers: {},
        body: {
          "@odata.context": `${context.graphBase}/$metadata#teams`,
          ...(skip + top < all.length ? { "@odata.nextLink": `${context.graphBase}/teams${queryString(next)}` } : {}),
          value: page.map((t) => ({
            id: t.id,
            createdDateTime: null,
            displayName: t.displayName,
            description: t.description,
            internalId: null,
            classification: null,
            specialization: null,
            visibility: t.visibility,
            webUrl: null,
            isArchived: false,
            tenantId: null,
          })),
        },
      };
    },
  },
  {
    method: "GET",
    pattern: /^\/teams\/([^/]+)\/?$/,
    permissions: READ_TEAM,
    limit: perTeam,
    handle: (context) => ({ status: 200, headers: {}, body: teamBody(context, team(context)) }),
  },
  {
    method: "GET",
    pattern: /^\/teams\/([^/]+)\/channels\/?$/,
    permissions: READ_CHANNELS,
    limit: perTeam,
    handle(context) {
      const t = team(context);
      return collection(
        context,
        t,
        "channels",
        t.channels.map((c) => channelBody(context, t, c)),
      );
    },
  },
  {
    method: "GET",
    pattern: /^\/teams\/([^/]+)\/channels\/([^/]+)\/?$/,
    permissions: READ_CHANNELS,
    limit: perTeam,
    handle(context) {
      const t = team(context);
      const channel = t.channels.find((c) => c.id === context.params[1]);
      if (!channel) throw new GraphError(404, "NotFound", `Channel ${context.params[1]} was not found.`);
      return {
        status: 200,
        headers: {},
        body: {
          "@odata.context": `${context.graphBase}/$metadata#teams('${t.id}')/channels/$entity`,
          ...channelBody(context, t, channel),
        },
      };
    },
  },
  {
    method: "POST",
    pattern: /^\/teams\/([^/]+)\/channels\/?$/,
    permissions: ["Channel.Create"],
    limit: perTeam,
    handle(context) {
      const t = team(context);
      const body = (context.request.body ?? {}) as Record<string, unknown>;
      const name = typeof body.displayName === "string" ? body.displayName.trim() : "";
      if (!name || name.length > 50 || /[~#%&*{}+/\\:<>?|'"]/.test(name)) {
        throw badRequest(
          "displayName is required: at most 50 characters, none of ~ # % & * { } + / \\ : < > ? | ' \".",
        );
      }
      if (t.channels.some((c) => c.displayName.toLowerCase() === name.toLowerCase())) {
        throw new GraphError(400, "NameAlreadyExists", `Channel name already existed, please use other name: ${name}`);
      }
      const channel = {
        id: `19:${crypto.randomUUID().replace(/-/g, "")}@thread.tacv2`,
        displayName: name,
        description: typeof body.description === "string" ? body.description : null,
        createdDateTime: new Date().toISOString(),
        membershipType: "standard" as const,
      };
      t.channels.push(channel);
      return { status: 201, headers: {}, body: channelBody(context, t, channel) };
    },
  },
  {
    method: "GET",
    pattern: /^\/teams\/([^/]+)\/members\/?$/,
    permissions: READ_MEMBERS,
    limit: perTeam,
    handle(context) {
      const t = team(context);
      return collection(
        context,
        t,
        "members",
        t.members.map((m) => memberBody(context, m)),
      );
    },
  },
  {
    method: "POST",
    pattern: /^\/teams\/([^/]+)\/members\/?$/,
    permissions: WRITE_MEMBERS,
    limit: perTeam,
    handle(context) {
      const t = team(context);
      const m = memberRequest(context.request.body, "body");
      return { status: 201, headers: {}, body: memberBody(context, addMember(context, t, m.userRef, m.roles)) };
    },
  },
  {
    method: "POST",
    pattern: /^\/teams\/([^/]+)\/members\/add\/?$/,
    permissions: WRITE_MEMBERS,
    limit: perTeam,
    handle(context) {
      const t = team(context);
      const values = (context.request.body as { values?: unknown } | undefined)?.values;
      if (!Array.isArray(values) || values.length === 0)
        throw badRequest("values must list the members to add.", "BadRequest");
      if (values.length > MAX_BULK_MEMBERS) {
        throw badRequest(`At most ${MAX_BULK_MEMBERS} members can be added in one request.`, "BadRequest");
      }
      const requested = values.map((v, i) => memberRequest(v, `values[${i}]`));
      // Partial results: each member succeeds or fails on its own.
      const value = requested.map(({ userRef, roles }) => {
        try {
          const member = addMember(context, t, userRef, roles);
          return {
            "@odata.type": "#microsoft.graph.aadUserConversationMemberResult",
            userId: member.userId,
            error: null,
          };
        } catch (error) {
          const e = error as GraphError;
          return {
            "@odata.type": "#microsoft.graph.aadUserConversationMemberResult",
            userId: userRef,
            error: { code: e.code ?? "BadRequest", message: e.message },
          };
        }
      });
      return {
        status: 200,
        headers: {},
        body: {
          "@odata.context": `${context.graphBase}/$metadata#Collection(microsoft.graph.actionResultPart)`,
          value,
        },
      };
    },
  },
  {
    method: "DELETE",
    pattern: /^\/teams\/([^/]+)\/members\/([^/]+)\/?$/,
    permissions: WRITE_MEMBERS,
    limit: perTeam,
    handle(context) {
      const t = team(context);
      const index = t.members.findIndex((m) => m.id === context.params[1]);
      if (index < 0) throw new GraphError(404, "NotFound", `Member ${context.params[1]} was not found.`);
      const member = t.members[index]!;
      if (member.roles.includes("owner") && !context.token.roles.has("TeamMember.ReadWrite.All")) {
        throw new GraphError(403, "Forbidden", "Removing an owner needs TeamMember.ReadWrite.All.");
      }
      t.members.splice(index, 1);
      return { status: 204, headers: {} };
    },
  },
];
