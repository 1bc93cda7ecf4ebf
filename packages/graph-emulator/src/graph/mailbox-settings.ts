// GET /users/{id | userPrincipalName}/mailboxSettings (and its timeZone and language parts).
// https://learn.microsoft.com/graph/api/user-get-mailboxsettings — Outlook limit class, one mailbox per key.
import type { UserRecord } from "../tenant/tenant.ts";
import { GraphError } from "./errors.ts";
import { refuseUnsupported } from "./odata.ts";
import type { GraphRoute, RouteContext } from "./types.ts";

const MAILBOX_READ = ["MailboxSettings.Read", "MailboxSettings.ReadWrite"] as const;

const DATE_FORMATS: Record<string, string> = {
  "en-US": "M/d/yyyy",
  "de-DE": "dd.MM.yyyy",
  "nl-NL": "d-M-yyyy",
  "pl-PL": "dd.MM.yyyy",
};

export const mailboxSettingsRoutes: GraphRoute[] = [
  {
    method: "GET",
    pattern: /^\/users\/([^/]+)\/mailboxSettings\/?$/,
    permissions: MAILBOX_READ,
    limit: outlookLimit,
    handle(context) {
      refuseUnsupported(context.request, ["$select"]);
      const record = mailboxOwner(context);
      return {
        status: 200,
        headers: {},
        body: {
          "@odata.context": `${context.graphBase}/$metadata#users('${record.data.id}')/mailboxSettings`,
          ...mailboxSettings(record),
        },
      };
    },
  },
  {
    method: "GET",
    pattern: /^\/users\/([^/]+)\/mailboxSettings\/(timeZone|language)\/?$/,
    permissions: MAILBOX_READ,
    limit: outlookLimit,
    handle(context) {
      const record = mailboxOwner(context);
      const part = context.params[1] as "timeZone" | "language";
      const settings = mailboxSettings(record);
      const context_ = `${context.graphBase}/$metadata#users('${record.data.id}')/mailboxSettings/${part}`;
      const body =
        part === "timeZone"
          ? { "@odata.context": context_, value: settings.timeZone }
          : { "@odata.context": context_, ...settings.language };
      return { status: 200, headers: {}, body };
    },
  },
];

export function outlookLimit(context: RouteContext) {
  const record = context.state.tenant.find(context.params[0]!);
  return {
    limitClass: "outlook" as const,
    key: `${context.token.appId}|${record?.data.id ?? context.params[0]}`,
    cost: 1,
  };
}

export function mailboxOwner(context: RouteContext): UserRecord {
  const idOrUpn = context.params[0]!;
  const record = context.state.tenant.find(idOrUpn);
  if (!record) throw new GraphError(404, "ErrorInvalidUser", `The requested user '${idOrUpn}' is invalid.`);
  if (!record.mailbox) {
    throw new GraphError(
      404,
      "MailboxNotEnabledForRESTAPI",
      "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
    );
  }
  return record;
}

export function mailboxSettings(record: UserRecord) {
  const mailbox = record.mailbox!;
  const today = new Date().toISOString().slice(0, 10);
  return {
    archiveFolder: `AAMkA${Buffer.from(record.data.id).toString("base64url").slice(0, 40)}AAA=`,
    timeZone: mailbox.timeZone,
    automaticRepliesSetting: {
      status: "disabled",
      externalAudience: "all",
      internalReplyMessage: "",
      externalReplyMessage: "",
      scheduledStartDateTime: { dateTime: `${today}T00:00:00.0000000`, timeZone: "UTC" },
      scheduledEndDateTime: { dateTime: `${today}T00:00:00.0000000`, timeZone: "UTC" },
    },
    dateFormat: DATE_FORMATS[mailbox.locale] ?? "dd/MM/yyyy",
    timeFormat: mailbox.locale === "en-US" ? "h:mm tt" : "HH:mm",
    delegateMeetingMessageDeliveryOptions: "sendToDelegateOnly",
    userPurpose: "user",
    language: { locale: mailbox.locale, displayName: mailbox.localeDisplayName },
    workingHours: {
      daysOfWeek: ["monday", "tuesday", "wednesday", "thursday", "friday"],
      startTime: "08:00:00.0000000",
      endTime: "17:00:00.0000000",
      timeZone: { name: mailbox.timeZone },
    },
  };
}
