// Notifications: every message Hearth sends a person (Teams card, activity feed, mail) goes through here, so that
// preferences, quiet hours, digests, de-duplication and the survey-load governor hold for all of them.
import { z } from "zod";
import { defineAction, defineEvent } from "./define.ts";

const EVERYONE = ["Employee", "CommunityManager", "HR", "Admin"] as const;
const HR_OR_ADMIN = ["HR", "Admin"] as const;

export const ZPriority = z.enum(["low", "normal", "high", "urgent"]);
export type TPriority = z.infer<typeof ZPriority>;

export const ZChannel = z.enum(["teamsCard", "activityFeed", "mail"]);
export type TChannel = z.infer<typeof ZChannel>;

/** Kinds that count against the survey-load governor (pulses, check-ins, event feedback). */
export const ZNotificationKind = z.enum(["feedbackRequest"]);

export const ZDeliveryStatus = z.enum(["queued", "sent", "deferred", "failed", "suppressed", "deadLettered"]);
export type TDeliveryStatus = z.infer<typeof ZDeliveryStatus>;

/** Local wall-clock time "HH:MM" in the person's own time zone. */
const ZClock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "a time like 09:00");

const ZTemplateId = z
  .string()
  .regex(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/, "a template id like onboarding.task-due")
  .max(100);

/** An Adaptive Card Action.Execute the person can press: verb routed by the gateway to the owning service. */
export const ZCardAction = z.object({
  verb: z
    .string()
    .regex(/^[a-z][a-zA-Z0-9-]*\.[a-zA-Z][a-zA-Z0-9.]*$/, "a verb like onboarding.completeTask")
    .max(200),
  title: z.string().min(1).max(80),
  /** The title in other languages (ISO 639-1 code → text); the recipient's language picks one, else `title`. */
  titles: z.record(z.string().regex(/^[a-z]{2}$/, "a language code like de"), z.string().min(1).max(80)).optional(),
  data: z.record(z.string(), z.unknown()).default({}),
});
export type TCardAction = z.infer<typeof ZCardAction>;

export const notify = defineAction({
  name: "notifications.notify",
  summary:
    "Notify up to 100,000 people with a template, its data, a priority and a dedupe key. Accepted requests are " +
    "kept in PostgreSQL before this answers and delivered at most once per recipient and dedupe key (a repeat " +
    "with the same key answers with the first request and sends nothing). kind feedbackRequest counts against " +
    "the survey-load governor: people over their cap are suppressed. A NATS message carries about 20,000 ids " +
    "(1 MB): send a larger audience in parts with the same dedupe key (one request, each person once)",
  access: "internal",
  idempotent: true,
  params: z.object({
    audience: z.object({ userIds: z.array(z.guid()).min(1).max(100_000) }),
    templateId: ZTemplateId,
    data: z.record(z.string(), z.unknown()).default({}),
    priority: ZPriority.default("normal"),
    dedupeKey: z.string().min(1).max(200),
    kind: ZNotificationKind.optional(),
    actions: z.array(ZCardAction).max(5).optional().describe("Action.Execute buttons on the Teams card"),
    /** Who asks (service name), for the status views. */
    source: z.string().max(64).optional(),
  }),
  result: z.object({
    requestId: z.guid(),
    accepted: z.number().int().describe("recipients queued for delivery"),
    suppressed: z.number().int().describe("recipients not notified (governor, already notified for this key)"),
  }),
});

/**
 * Splits a large audience into the parts `notify` takes (same dedupe key for all: one request). The parts grow from
 * `first` by doubling up to `max` (a NATS message holds about 20,000 ids): the first people are on their way while
 * the rest is accepted, and each part is accepted before the people already queued have been sent, so delivery
 * never waits for acceptance (equal parts of 20,000 left the bulk feed idle for most of a second after the first).
 */
export function audienceParts(userIds: readonly string[], first = 1_000, max = 20_000): string[][] {
  if (!Number.isInteger(first) || first < 1)
    throw new RangeError(`audienceParts: first must be a whole number ≥ 1 (got ${first})`);
  if (!Number.isInteger(max) || max < first)
    throw new RangeError(`audienceParts: max must be a whole number ≥ first (got ${max})`);
  const parts: string[][] = [];
  for (let i = 0, size = first; i < userIds.length; i += size, size = Math.min(max, size * 2)) {
    parts.push(userIds.slice(i, i + size));
  }
  return parts;
}

export const ZRecipientStatus = z.object({
  requestId: z.guid(),
  userId: z.guid(),
  templateId: z.string(),
  priority: ZPriority,
  status: ZDeliveryStatus,
  reason: z.string().nullable(),
  channels: z.array(ZChannel),
  attempts: z.number().int(),
  createdAt: z.iso.datetime(),
  nextAttemptAt: z.iso.datetime().nullable(),
  sentAt: z.iso.datetime().nullable(),
});
export type TRecipientStatus = z.infer<typeof ZRecipientStatus>;

const ZStatusCounts = z.record(ZDeliveryStatus, z.number().int());

export const getStatus = defineAction({
  name: "notifications.getStatus",
  summary:
    "Delivery status of one request (counts per status and the first recipients) or of one person's recent " +
    "notifications",
  access: "internal",
  idempotent: true,
  params: z
    .object({
      requestId: z.guid().optional(),
      userId: z.guid().optional(),
      limit: z.number().int().min(1).max(500).default(50),
    })
    .refine((p) => p.requestId !== undefined || p.userId !== undefined, {
      message: "requestId or userId is required",
      path: ["requestId"],
    }),
  result: z.object({ counts: ZStatusCounts, items: z.array(ZRecipientStatus) }),
});

export const ZPeriod = z.enum(["week", "month", "quarter"]);

export const checkSurveyLoad = defineAction({
  name: "notifications.checkSurveyLoad",
  summary:
    "The survey-load governor: for each person, whether one more request of this kind fits their cap in the " +
    "period (counted from feedback requests accepted in the trailing period)",
  access: "internal",
  idempotent: true,
  params: z.object({
    userIds: z.array(z.guid()).min(1).max(10_000),
    kind: ZNotificationKind.default("feedbackRequest"),
    period: ZPeriod.default("month"),
  }),
  result: z.object({
    cap: z.number().int(),
    period: ZPeriod,
    users: z.array(
      z.object({ userId: z.guid(), allowed: z.boolean(), count: z.number().int(), cap: z.number().int() }),
    ),
  }),
});

export const ZPreferences = z.object({
  channels: z.object({ teamsCard: z.boolean(), activityFeed: z.boolean(), mail: z.boolean() }),
  /** Per priority: send at once, or gather into the daily digest (urgent is always immediate). */
  delivery: z.object({
    low: z.enum(["immediate", "digest"]),
    normal: z.enum(["immediate", "digest"]),
    high: z.enum(["immediate", "digest"]),
  }),
  digestTime: ZClock.describe("local time of the daily digest"),
  workingHours: z.object({
    days: z.array(z.number().int().min(1).max(7)).describe("ISO weekdays, 1 = Monday").max(7),
    start: ZClock,
    end: ZClock,
  }),
  quietHours: z.object({ start: ZClock, end: ZClock }).nullable().describe("may wrap midnight, e.g. 20:00–07:00"),
  snoozeUntil: z.iso.datetime().nullable(),
  language: z.enum(["en", "de"]).nullable().describe("override of the directory's preferred language"),
  timeZone: z.string().max(64).nullable().describe("override of the directory's time zone (IANA)"),
});
export type TPreferences = z.infer<typeof ZPreferences>;

export const getMyPreferences = defineAction({
  name: "notifications.getMyPreferences",
  summary: "The signed-in person's notification preferences (defaults until they change them)",
  rest: "GET /me/notification-preferences",
  access: { roles: EVERYONE },
  params: z.object({}),
  result: ZPreferences,
  tags: ["Notifications"],
});

export const updateMyPreferences = defineAction({
  name: "notifications.updateMyPreferences",
  summary: "Change the signed-in person's notification preferences (fields left out keep their value)",
  rest: "PATCH /me/notification-preferences",
  access: { roles: EVERYONE },
  idempotent: true,
  params: ZPreferences.partial(),
  result: ZPreferences,
  tags: ["Notifications"],
});

export const listMyNotifications = defineAction({
  name: "notifications.listMyNotifications",
  summary: "The signed-in person's recent notifications and what became of each",
  rest: "GET /me/notifications",
  access: { roles: EVERYONE },
  params: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }),
  result: z.object({ items: z.array(ZRecipientStatus) }),
  tags: ["Notifications"],
});

export const getDeliveryStatus = defineAction({
  name: "notifications.getDeliveryStatus",
  summary:
    "For HR and Admin: counts per status over all notifications, recent requests, and the dead letters with reasons",
  rest: "GET /notifications/status",
  access: { roles: HR_OR_ADMIN },
  params: z.object({
    requestId: z.guid().optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  }),
  result: z.object({
    counts: ZStatusCounts,
    requests: z.array(
      z.object({
        requestId: z.guid(),
        templateId: z.string(),
        priority: ZPriority,
        source: z.string().nullable(),
        createdAt: z.iso.datetime(),
        recipients: z.number().int(),
        counts: ZStatusCounts,
      }),
    ),
    deadLetters: z.array(ZRecipientStatus),
  }),
  tags: ["Notifications"],
});

// ---------------------------------------------------------------------------------------------------------------
// Domain events

export const notificationDeadLettered = defineEvent({
  name: "notification.dead-lettered",
  summary: "A notification could not be delivered to a person after its retries (or permanently): the reason",
  payload: z.object({ requestId: z.guid(), userId: z.guid(), templateId: z.string(), reason: z.string() }),
});
