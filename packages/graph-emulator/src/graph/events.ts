// POST /users/{id}/events (with a Teams meeting: isOnlineMeeting + teamsForBusiness → onlineMeeting.joinUrl;
// transactionId de-duplicates creation), GET and DELETE /users/{id}/events/{eventId} with attendees' responses.
// https://learn.microsoft.com/graph/api/user-post-events — Outlook limit class, one organizer mailbox per key.
import { type CalendarEvent, type EventAttendee, NO_TIME } from "../tenant/calendar.ts";
import { GraphError } from "./errors.ts";
import { mailboxOwner, outlookLimit } from "./mailbox-settings.ts";
import type { GraphResponse, GraphRoute, RouteContext } from "./types.ts";

const CALENDAR_WRITE = ["Calendars.ReadWrite"];
const CALENDAR_READ = ["Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite"];
const LOCAL_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?$/;

const invalid = (message: string) => new GraphError(400, "ErrorInvalidRequest", message);

function dateTimeTimeZone(value: unknown, name: string): { dateTime: string; timeZone: string } {
  const v = value as { dateTime?: unknown; timeZone?: unknown } | undefined;
  if (typeof v?.dateTime !== "string" || !LOCAL_DATE_TIME.test(v.dateTime.replace(/Z$/, ""))) {
    throw invalid(`${name}.dateTime must be a date and time such as 2026-12-01T09:30:00.`);
  }
  if (typeof v.timeZone !== "string" || v.timeZone === "") throw invalid(`${name}.timeZone is required.`);
  // Graph takes Windows and IANA names; a name that is neither is refused.
  if (!v.timeZone.includes(" ") && v.timeZone !== "UTC") {
    try {
      new Intl.DateTimeFormat("en", { timeZone: v.timeZone });
    } catch {
      throw new GraphError(
        400,
        "TimeZoneNotSupportedException",
        `A valid TimeZone value must be specified: ${v.timeZone}`,
      );
    }
  }
  const [date, time = "00:00:00"] = v.dateTime.replace(/Z$/, "").split("T");
  const [h = "00", m = "00", s = "00"] = time.split(/[:.]/);
  return { dateTime: `${date}T${h}:${m}:${s}.0000000`, timeZone: v.timeZone };
}

function attendees(value: unknown): EventAttendee[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid("attendees must be a list.");
  return value.map((a, i) => {
    const address = a?.emailAddress?.address;
    if (typeof address !== "string" || !/^[^@\s]+@[^@\s]+$/.test(address)) {
      throw invalid(`attendees[${i}].emailAddress.address is not a valid address.`);
    }
    const type = a.type ?? "required";
    if (type !== "required" && type !== "optional" && type !== "resource") {
      throw invalid(`attendees[${i}].type must be required, optional or resource.`);
    }
    return {
      type,
      emailAddress: { address, name: typeof a.emailAddress.name === "string" ? a.emailAddress.name : address },
      status: { response: "none", time: NO_TIME },
    };
  });
}

function eventBody(context: RouteContext, event: CalendarEvent) {
  const organizer = context.state.tenant.find(event.organizerId)!;
  const text = event.body.contentType === "html" ? event.body.content.replace(/<[^>]*>/g, " ") : event.body.content;
  return {
    "@odata.context": `${context.graphBase}/$metadata#users('${event.organizerId}')/events/$entity`,
    "@odata.etag": `W/"${event.changeKey}"`,
    id: event.id,
    createdDateTime: event.createdDateTime,
    lastModifiedDateTime: event.lastModifiedDateTime,
    changeKey: event.changeKey,
    categories: [],
    transactionId: event.transactionId,
    originalStartTimeZone: event.start.timeZone,
    originalEndTimeZone: event.end.timeZone,
    iCalUId: event.iCalUId,
    reminderMinutesBeforeStart: 15,
    isReminderOn: true,
    hasAttachments: false,
    subject: event.subject,
    bodyPreview: text.replace(/\s+/g, " ").trim().slice(0, 255),
    importance: "normal",
    sensitivity: "normal",
    isAllDay: false,
    isCancelled: event.isCancelled,
    isOrganizer: true,
    responseRequested: true,
    seriesMasterId: null,
    showAs: "busy",
    type: "singleInstance",
    webLink: `https://outlook.office365.com/owa/?itemid=${encodeURIComponent(event.id)}&exvsurl=1&path=/calendar/item`,
    onlineMeetingUrl: null,
    isOnlineMeeting: event.isOnlineMeeting,
    onlineMeetingProvider: event.onlineMeetingProvider,
    allowNewTimeProposals: true,
    isDraft: false,
    hideAttendees: false,
    responseStatus: { response: "organizer", time: event.createdDateTime },
    body: event.body,
    start: event.start,
    end: event.end,
    location: { displayName: event.location.displayName, locationType: "default", uniqueIdType: "unknown" },
    locations: event.location.displayName
      ? [{ displayName: event.location.displayName, locationType: "default", uniqueIdType: "unknown" }]
      : [],
    recurrence: null,
    attendees: event.attendees,
    organizer: {
      emailAddress: {
        name: organizer.data.displayName,
        address: organizer.data.mail ?? organizer.data.userPrincipalName,
      },
    },
    onlineMeeting: event.joinUrl ? { joinUrl: event.joinUrl } : null,
  };
}

function findEvent(context: RouteContext): CalendarEvent {
  const organizer = mailboxOwner(context);
  const event = context.state.tenant.calendar.find(organizer.data.id, context.params[1]!);
  if (!event) throw new GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.");
  return event;
}

export const eventRoutes: GraphRoute[] = [
  {
    method: "POST",
    pattern: /^\/users\/([^/]+)\/(?:calendar\/)?events\/?$/,
    permissions: CALENDAR_WRITE,
    limit: outlookLimit,
    handle(context): GraphResponse {
      const organizer = mailboxOwner(context);
      const body = (context.request.body ?? {}) as Record<string, unknown>;
      const calendar = context.state.tenant.calendar;
      const transactionId = typeof body.transactionId === "string" ? body.transactionId : null;
      // The same transactionId again (a client retrying after a lost answer) gets the event created the first time.
      const existing = transactionId ? calendar.findByTransaction(organizer.data.id, transactionId) : undefined;
      if (existing) return { status: 201, headers: {}, body: eventBody(context, existing) };
      const start = dateTimeTimeZone(body.start, "start");
      const end = dateTimeTimeZone(body.end, "end");
      if (start.timeZone === end.timeZone && end.dateTime < start.dateTime) {
        throw invalid("The end of the event is before its start.");
      }
      const content = (body.body ?? {}) as { contentType?: unknown; content?: unknown };
      const contentType = String(content.contentType ?? "text").toLowerCase();
      if (contentType !== "text" && contentType !== "html") throw invalid("body.contentType must be text or html.");
      const online = body.isOnlineMeeting === true;
      const provider = body.onlineMeetingProvider ?? (online ? "teamsForBusiness" : "unknown");
      if (online && provider !== "teamsForBusiness") {
        throw invalid(`The online meeting provider ${String(provider)} is not allowed for this mailbox.`);
      }
      const now = new Date().toISOString();
      const id = `AAMkAD${Buffer.from(crypto.randomUUID()).toString("base64url")}`;
      const event: CalendarEvent = {
        id,
        organizerId: organizer.data.id,
        createdDateTime: now,
        lastModifiedDateTime: now,
        changeKey: crypto.randomUUID(),
        transactionId,
        iCalUId: `040000008200E00074C5B7101A82E008${crypto.randomUUID().replace(/-/g, "").toUpperCase()}`,
        subject: typeof body.subject === "string" ? body.subject : "",
        body: {
          contentType: contentType as "html" | "text",
          content: typeof content.content === "string" ? content.content : "",
        },
        start,
        end,
        location: { displayName: String((body.location as { displayName?: unknown } | undefined)?.displayName ?? "") },
        attendees: attendees(body.attendees),
        isOnlineMeeting: online,
        onlineMeetingProvider: online ? "teamsForBusiness" : "unknown",
        joinUrl: online
          ? `https://teams.microsoft.com/l/meetup-join/19%3ameeting_${Buffer.from(id).toString("base64url").slice(0, 32)}%40thread.v2/0`
          : null,
        isCancelled: false,
      };
      calendar.add(event);
      return {
        status: 201,
        headers: { location: `${context.graphBase}/users('${organizer.data.id}')/events('${id}')` },
        body: eventBody(context, event),
      };
    },
  },
  {
    method: "GET",
    pattern: /^\/users\/([^/]+)\/(?:calendar\/)?events\/([^/]+)\/?$/,
    permissions: CALENDAR_READ,
    limit: outlookLimit,
    handle(context) {
      return { status: 200, headers: {}, body: eventBody(context, findEvent(context)) };
    },
  },
  {
    method: "DELETE",
    pattern: /^\/users\/([^/]+)\/(?:calendar\/)?events\/([^/]+)\/?$/,
    permissions: CALENDAR_WRITE,
    limit: outlookLimit,
    handle(context) {
      const event = findEvent(context);
      context.state.tenant.calendar.remove(event.organizerId, event.id);
      return { status: 204, headers: {} };
    },
  },
];
