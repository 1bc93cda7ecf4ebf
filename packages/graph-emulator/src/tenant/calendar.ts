// Calendar events created through Graph, per organizer, with attendees' responses (changed through the control API
// the way people answer invitations in Outlook or Teams).

export type ResponseType = "none" | "organizer" | "tentativelyAccepted" | "accepted" | "declined" | "notResponded";

export type EventAttendee = {
  type: "required" | "optional" | "resource";
  emailAddress: { address: string; name: string | null };
  status: { response: ResponseType; time: string };
};

export type CalendarEvent = {
  id: string;
  organizerId: string;
  createdDateTime: string;
  lastModifiedDateTime: string;
  changeKey: string;
  transactionId: string | null;
  iCalUId: string;
  subject: string;
  body: { contentType: "html" | "text"; content: string };
  start: { dateTime: string; timeZone: string };
  end: { dateTime: string; timeZone: string };
  location: { displayName: string };
  attendees: EventAttendee[];
  isOnlineMeeting: boolean;
  onlineMeetingProvider: "teamsForBusiness" | "unknown";
  joinUrl: string | null;
  isCancelled: boolean;
};

/** Graph's "never answered" time. */
export const NO_TIME = "0001-01-01T00:00:00Z";

export class Calendar {
  private readonly byOrganizer = new Map<string, CalendarEvent[]>();

  eventsOf(organizerId: string): CalendarEvent[] {
    return this.byOrganizer.get(organizerId) ?? [];
  }

  find(organizerId: string, eventId: string): CalendarEvent | undefined {
    return this.eventsOf(organizerId).find((e) => e.id === eventId);
  }

  /** Outlook de-duplicates creation by transactionId within the organizer's calendar. */
  findByTransaction(organizerId: string, transactionId: string): CalendarEvent | undefined {
    return this.eventsOf(organizerId).find((e) => e.transactionId === transactionId);
  }

  add(event: CalendarEvent): void {
    const list = this.byOrganizer.get(event.organizerId) ?? [];
    list.push(event);
    this.byOrganizer.set(event.organizerId, list);
  }

  remove(organizerId: string, eventId: string): boolean {
    const list = this.eventsOf(organizerId);
    const index = list.findIndex((e) => e.id === eventId);
    if (index < 0) return false;
    list.splice(index, 1);
    return true;
  }

  /** An attendee answers (accept, tentatively accept, decline), as from their own calendar. */
  respond(eventId: string, address: string, response: "accepted" | "tentativelyAccepted" | "declined"): CalendarEvent {
    for (const list of this.byOrganizer.values()) {
      const event = list.find((e) => e.id === eventId);
      if (!event) continue;
      const attendee = event.attendees.find((a) => a.emailAddress.address.toLowerCase() === address.toLowerCase());
      if (!attendee) throw new Error(`${address} is not invited to event ${eventId}`);
      attendee.status = { response, time: new Date().toISOString().replace(/\.\d{3}Z$/, "Z") };
      event.lastModifiedDateTime = new Date().toISOString();
      event.changeKey = crypto.randomUUID();
      return event;
    }
    throw new Error(`no event ${eventId}`);
  }
}
