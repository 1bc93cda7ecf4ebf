// Messaging: POST /users/{id}/sendMail; the user's Teams app installations (GET/POST/DELETE
// /users/{id}/teamwork/installedApps); activity feed notifications, one user (POST
// /users/{id}/teamwork/sendActivityNotification) or up to 100 (POST /teamwork/sendActivityNotificationToRecipients).
// shared/reference/m365.md §1 (permissions, preconditions) and §2 (Teams limits per app per tenant).

import type { CatalogApp } from "../tenant/teamwork.ts";
import type { UserRecord } from "../tenant/tenant.ts";
import { badRequest, GraphError } from "./errors.ts";
import { mailboxOwner, outlookLimit } from "./mailbox-settings.ts";
import { option } from "./odata.ts";
import type { GraphRoute, RouteContext, RouteLimit } from "./types.ts";

const MAX_RECIPIENTS = 100;
const MIN_BULK_TOKEN_LIFETIME_MS = 45 * 60_000;
const INSTALL_SELF = ["TeamsAppInstallation.ReadWriteSelfForUser.All", "TeamsAppInstallation.ReadWriteForUser.All"];
const READ_INSTALLS = [
  "TeamsAppInstallation.ReadSelfForUser.All",
  "TeamsAppInstallation.ReadWriteSelfForUser.All",
  "TeamsAppInstallation.ReadForUser.All",
  "TeamsAppInstallation.ReadWriteForUser.All",
];

const teamsLimit =
  (limitClass: RouteLimit["limitClass"]) =>
  (context: RouteContext): RouteLimit => ({
    limitClass,
    key: `${context.token.appId}|${context.token.tenantId}`,
    cost: 1,
  });

function user(context: RouteContext, idOrUpn: string): UserRecord {
  const record = context.state.tenant.find(idOrUpn);
  if (!record) throw new GraphError(404, "NotFound", `User '${idOrUpn}' was not found.`);
  return record;
}

function object(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequest(`The property '${name}' is missing or is not an object.`, "BadRequest");
  }
  return value as Record<string, unknown>;
}

/** "Self" permissions see and manage only the installations of the calling app's own Teams app. */
function ownAppOnly(context: RouteContext): CatalogApp | undefined {
  const roles = context.token.roles;
  const broad =
    roles.has("TeamsAppInstallation.ReadWriteForUser.All") || roles.has("TeamsAppInstallation.ReadForUser.All");
  return broad ? undefined : context.state.tenant.teamwork.catalogAppFor(context.token.appId);
}

function installationBody(context: RouteContext, installation: { id: string; teamsAppId: string }, expand: boolean) {
  const app = context.state.tenant.teamwork.catalog.get(installation.teamsAppId)!;
  return {
    "@odata.type": "#microsoft.graph.userScopeTeamsAppInstallation",
    id: installation.id,
    consentedPermissionSet: null,
    ...(expand
      ? {
          teamsApp: {
            id: app.id,
            externalId: app.externalId,
            displayName: app.displayName,
            distributionMethod: app.distributionMethod,
          },
        }
      : {}),
  };
}

/** The Teams app of the calling Entra app must be installed for the recipient (m365.md §1). */
function requireInstalled(context: RouteContext, recipient: UserRecord): CatalogApp {
  const teamwork = context.state.tenant.teamwork;
  const app = teamwork.catalogAppFor(context.token.appId);
  if (!teamwork.installedFor(recipient.data.id).some((i) => i.teamsAppId === app.id)) {
    throw new GraphError(
      403,
      "Forbidden",
      `Required app is not installed for the recipient '${recipient.data.id}'; install the Teams app whose ` +
        "webApplicationInfo.id is the calling application.",
    );
  }
  return app;
}

type Activity = {
  topic: { source: string; value: string; webUrl?: string };
  activityType: string;
  previewText: string;
  templateParameters: Array<{ name: string; value: string }>;
  chainId?: number;
};

function parseActivity(body: Record<string, unknown>): Activity {
  const topic = object(body.topic, "topic");
  if (topic.source !== "entityUrl" && topic.source !== "text") {
    throw badRequest("topic.source must be 'entityUrl' or 'text'.", "BadRequest");
  }
  if (typeof topic.value !== "string" || topic.value === "") throw badRequest("topic.value is required.", "BadRequest");
  if (topic.source === "text" && typeof topic.webUrl !== "string") {
    throw badRequest("topic.webUrl is required when topic.source is 'text'.", "BadRequest");
  }
  if (typeof body.activityType !== "string" || body.activityType === "") {
    throw badRequest("activityType is required.", "BadRequest");
  }
  const preview = object(body.previewText, "previewText");
  if (typeof preview.content !== "string") throw badRequest("previewText.content is required.", "BadRequest");
  const parameters = body.templateParameters ?? [];
  if (!Array.isArray(parameters) || parameters.some((p) => typeof p?.name !== "string")) {
    throw badRequest("templateParameters must be a list of { name, value }.", "BadRequest");
  }
  return {
    topic: { source: topic.source, value: topic.value, webUrl: topic.webUrl as string | undefined },
    activityType: body.activityType,
    // Teams shows 150 characters of the preview.
    previewText: preview.content.slice(0, 150),
    templateParameters: parameters.map((p: { name: string; value: unknown }) => ({
      name: p.name,
      value: String(p.value),
    })),
    chainId: typeof body.chainId === "number" ? body.chainId : undefined,
  };
}

function deliver(context: RouteContext, recipient: UserRecord, app: CatalogApp, activity: Activity) {
  context.state.tenant.teamwork.deliver({
    recipientId: recipient.data.id,
    teamsAppId: app.id,
    ...activity,
    deliveredAt: new Date().toISOString(),
  });
}

function recipients(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0)
    throw badRequest("recipients must list at least one recipient.", "BadRequest");
  if (value.length > MAX_RECIPIENTS) {
    throw badRequest(`The number of recipients exceeds the limit of ${MAX_RECIPIENTS}.`, "BadRequest");
  }
  return value.map((entry, i) => {
    const r = object(entry, `recipients[${i}]`);
    if (
      r["@odata.type"] !== "microsoft.graph.aadUserNotificationRecipient" &&
      r["@odata.type"] !== "#microsoft.graph.aadUserNotificationRecipient"
    ) {
      throw badRequest(`recipients[${i}] must be a microsoft.graph.aadUserNotificationRecipient.`, "BadRequest");
    }
    if (typeof r.userId !== "string") throw badRequest(`recipients[${i}].userId is required.`, "BadRequest");
    return r.userId;
  });
}

export const teamworkRoutes: GraphRoute[] = [
  {
    method: "POST",
    pattern: /^\/users\/([^/]+)\/sendMail\/?$/,
    permissions: ["Mail.Send"],
    limit: outlookLimit,
    handle(context) {
      const sender = mailboxOwner(context);
      const body = object(context.request.body, "body");
      const message = object(body.message, "message");
      const addresses = (list: unknown, name: string): string[] => {
        if (list === undefined) return [];
        if (!Array.isArray(list)) throw badRequest(`${name} must be a list.`, "ErrorInvalidRecipients");
        return list.map((r) => {
          const address = (r as { emailAddress?: { address?: unknown } })?.emailAddress?.address;
          if (typeof address !== "string" || !/^[^@\s]+@[^@\s]+$/.test(address)) {
            throw new GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.");
          }
          return address;
        });
      };
      const to = addresses(message.toRecipients, "toRecipients");
      const cc = addresses(message.ccRecipients, "ccRecipients");
      if (to.length + cc.length === 0) {
        throw new GraphError(
          400,
          "ErrorInvalidRecipients",
          "At least one recipient isn't valid., Recipient is missing.",
        );
      }
      const content =
        message.body === undefined ? { contentType: "text", content: "" } : object(message.body, "message.body");
      const contentType = String(content.contentType ?? "text").toLowerCase();
      if (contentType !== "text" && contentType !== "html") {
        throw badRequest(`Requested value '${content.contentType}' was not found.`, "RequestBodyRead");
      }
      context.state.tenant.teamwork.sentMail.push({
        id: crypto.randomUUID(),
        senderId: sender.data.id,
        sentAt: new Date().toISOString(),
        subject: typeof message.subject === "string" ? message.subject : "",
        contentType,
        content: typeof content.content === "string" ? content.content : "",
        to,
        cc,
        saveToSentItems: body.saveToSentItems !== false,
      });
      return { status: 202, headers: {} };
    },
  },
  {
    method: "GET",
    pattern: /^\/users\/([^/]+)\/teamwork\/installedApps\/?$/,
    permissions: READ_INSTALLS,
    limit: teamsLimit("teamsOther"),
    handle(context) {
      const record = user(context, context.params[0]!);
      const own = ownAppOnly(context);
      const expand = (option(context.request, "$expand") ?? "").split(",").includes("teamsApp");
      const filter = option(context.request, "$filter");
      let wanted: string | undefined;
      if (filter !== null) {
        const match = /^teamsApp\/id eq '([^']+)'$/.exec(filter.trim());
        if (!match) throw badRequest(`Unsupported filter: ${filter}`, "BadRequest");
        wanted = match[1];
      }
      const value = context.state.tenant.teamwork
        .installedFor(record.data.id)
        .filter((i) => (!own || i.teamsAppId === own.id) && (!wanted || i.teamsAppId === wanted))
        .map((i) => installationBody(context, i, expand));
      return {
        status: 200,
        headers: {},
        body: {
          "@odata.context": `${context.graphBase}/$metadata#users('${record.data.id}')/teamwork/installedApps`,
          value,
        },
      };
    },
  },
  {
    method: "POST",
    pattern: /^\/users\/([^/]+)\/teamwork\/installedApps\/?$/,
    permissions: INSTALL_SELF,
    limit: teamsLimit("teamsInstalledApps"),
    handle(context) {
      const record = user(context, context.params[0]!);
      const body = object(context.request.body, "body");
      const bind = body["teamsApp@odata.bind"];
      const match = typeof bind === "string" ? /\/appCatalogs\/teamsApps\/([^/?]+)$/.exec(bind) : null;
      if (!match) throw badRequest("teamsApp@odata.bind must reference /appCatalogs/teamsApps/{id}.", "BadRequest");
      const teamwork = context.state.tenant.teamwork;
      const app = teamwork.catalog.get(decodeURIComponent(match[1]!));
      if (!app)
        throw new GraphError(404, "NotFound", `The app '${match[1]}' is not in the organization's app catalog.`);
      const own = ownAppOnly(context);
      if (own && own.id !== app.id) {
        throw new GraphError(
          403,
          "Forbidden",
          "The Self permission allows installing only the calling app's own Teams app.",
        );
      }
      if (teamwork.installedFor(record.data.id).some((i) => i.teamsAppId === app.id)) {
        throw new GraphError(409, "Conflict", "The app is already installed for this user.");
      }
      const installation = teamwork.install(record.data.id, app.id);
      return {
        status: 201,
        headers: {
          location: `${context.graphBase}/users('${record.data.id}')/teamwork/installedApps('${installation.id}')`,
        },
      };
    },
  },
  {
    method: "DELETE",
    pattern: /^\/users\/([^/]+)\/teamwork\/installedApps\/([^/]+)\/?$/,
    permissions: INSTALL_SELF,
    limit: teamsLimit("teamsOther"),
    handle(context) {
      const record = user(context, context.params[0]!);
      const teamwork = context.state.tenant.teamwork;
      const installation = teamwork.installedFor(record.data.id).find((i) => i.id === context.params[1]);
      const own = ownAppOnly(context);
      if (!installation || (own && installation.teamsAppId !== own.id)) {
        throw new GraphError(404, "NotFound", `Installation '${context.params[1]}' was not found.`);
      }
      teamwork.uninstall(record.data.id, installation.id);
      return { status: 204, headers: {} };
    },
  },
  {
    method: "POST",
    pattern: /^\/users\/([^/]+)\/teamwork\/sendActivityNotification\/?$/,
    permissions: ["TeamsActivity.Send"],
    limit: teamsLimit("teamsActivityNotification"),
    handle(context) {
      const recipient = user(context, context.params[0]!);
      const activity = parseActivity(object(context.request.body, "body"));
      const app = requireInstalled(context, recipient);
      deliver(context, recipient, app, activity);
      return { status: 204, headers: {} };
    },
  },
  {
    method: "POST",
    pattern: /^\/teamwork\/sendActivityNotificationToRecipients\/?$/,
    permissions: ["TeamsActivity.Send", "TeamsActivity.Send.User"],
    limit: teamsLimit("teamsBulkActivityNotification"),
    handle(context) {
      // m365.md §1: the bulk feed wants a token with at least 45 minutes to live.
      if (context.token.expiresAt - Date.now() < MIN_BULK_TOKEN_LIFETIME_MS) {
        throw new GraphError(
          412,
          "PreconditionFailed",
          "The access token must be valid for at least 45 minutes; request a new token and try again.",
        );
      }
      const body = object(context.request.body, "body");
      const ids = recipients(body.recipients);
      const activity = parseActivity(body);
      const teamwork = context.state.tenant.teamwork;
      const app = teamwork.catalogAppFor(context.token.appId);
      // Accepted as a whole; delivery is asynchronous in Graph: the 202 is written first, the deliveries follow in
      // this turn of the event loop's check phase (before any caller can have read the answer from its socket).
      // Recipients without the app get nothing.
      setImmediate(() => {
        try {
          for (const id of ids) {
            const recipient = context.state.tenant.find(id);
            if (recipient && teamwork.installedFor(recipient.data.id).some((i) => i.teamsAppId === app.id)) {
              deliver(context, recipient, app, activity);
            } else {
              teamwork.undelivered.push({ recipientId: id, reason: recipient ? "appNotInstalled" : "unknownUser" });
            }
          }
        } catch (error) {
          console.error("graph-emulator: bulk activity delivery failed", error);
        }
      });
      return { status: 202, headers: {} };
    },
  },
];
