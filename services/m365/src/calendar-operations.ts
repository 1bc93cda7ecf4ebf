// Calendar events in an organizer's mailbox (Outlook limit class, per mailbox): creation with a Teams meeting,
// de-duplicated by transactionId (a retry after a lost answer returns the first event), and attendees' answers.
import { ResponseType } from "@microsoft/microsoft-graph-client";
import type { GraphApi } from "./graph-client.ts";
import { failure, send } from "./graph-operations.ts";

type GraphEvent = {
  id: string;
  webLink?: string;
  onlineMeeting?: { joinUrl?: string } | null;
  attendees?: Array<{ emailAddress?: { address?: string }; status?: { response?: string; time?: string } }>;
};

export type NewEvent = {
  organizerId: string;
  subject: string;
  bodyHtml: string;
  start: string;
  end: string;
  timeZone: string;
  attendees: Array<{ email: string; type: "required" | "optional" }>;
  isOnlineMeeting: boolean;
  transactionId: string;
  location?: string;
};

export async function createEvent(graph: GraphApi, event: NewEvent) {
  const response = await send(() =>
    graph.client
      .api(`/users/${encodeURIComponent(event.organizerId)}/events`)
      .responseType(ResponseType.RAW)
      .post({
        subject: event.subject,
        body: { contentType: "HTML", content: event.bodyHtml },
        start: { dateTime: event.start, timeZone: event.timeZone },
        end: { dateTime: event.end, timeZone: event.timeZone },
        ...(event.location ? { location: { displayName: event.location } } : {}),
        attendees: event.attendees.map((a) => ({ emailAddress: { address: a.email }, type: a.type })),
        ...(event.isOnlineMeeting ? { isOnlineMeeting: true, onlineMeetingProvider: "teamsForBusiness" } : {}),
        transactionId: event.transactionId,
      }),
  );
  if (response.status !== 201 && response.status !== 200) throw await failure("createEvent", response);
  const created = (await response.json()) as GraphEvent;
  return { eventId: created.id, joinUrl: created.onlineMeeting?.joinUrl ?? null, webLink: created.webLink ?? "" };
}

const RESPONSES = new Set(["none", "organizer", "tentativelyAccepted", "accepted", "declined", "notResponded"]);
/** Graph's time for "never answered". */
const NEVER = "0001-01-01T00:00:00Z";

export async function readEventResponses(graph: GraphApi, organizerId: string, eventId: string) {
  const response = await send(() =>
    graph.client
      .api(`/users/${encodeURIComponent(organizerId)}/events/${encodeURIComponent(eventId)}`)
      .select(["attendees"])
      .responseType(ResponseType.RAW)
      .get(),
  );
  if (response.status !== 200) throw await failure("readEventResponses", response);
  const event = (await response.json()) as GraphEvent;
  return (event.attendees ?? []).map((a) => {
    const answer = a.status?.response ?? "none";
    const time = a.status?.time;
    return {
      email: a.emailAddress?.address ?? "",
      response: (RESPONSES.has(answer) ? answer : "none") as
        | "none"
        | "organizer"
        | "tentativelyAccepted"
        | "accepted"
        | "declined"
        | "notResponded",
      time: time && time !== NEVER && !time.startsWith("0001-") ? time : null,
    };
  });
}
