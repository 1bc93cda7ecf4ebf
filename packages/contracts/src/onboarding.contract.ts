import { z } from "zod";
import { defineAction, defineEvent } from "./define.ts";
import { defineCardActionHandler } from "./teams.contract.ts";

const EVERYONE = ["Employee", "CommunityManager", "HR", "Admin"] as const;
const HR_OR_ADMIN = ["HR", "Admin"] as const;
const ZDate = z.iso.date();

export const ZStepOwner = z.enum(["newHire", "buddy", "manager", "hr"]);

export const ZTemplateStep = z.object({
  key: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/, "a key like day-one-setup")
    .max(64),
  title: z.string().min(1).max(300),
  offsetDays: z.number().int().describe("days from the hire date; negative = pre-boarding"),
  unit: z.enum(["working", "calendar"]).default("working"),
  owner: ZStepOwner,
  content: z.string().max(5000).default("").describe("handlebars over person.*, manager.*, buddy.*, company.name"),
  link: z.url().max(2000).nullable().optional(),
  requiresConfirmation: z.boolean().default(true),
});

export const ZAudienceRule = z.object({
  departments: z.array(z.string().max(200)).max(100).optional(),
  offices: z.array(z.string().max(200)).max(100).optional(),
  countries: z.array(z.string().length(2)).max(100).optional(),
  jobTitlePattern: z.string().max(200).optional().describe("case-insensitive regular expression"),
});

export const ZJourneyTemplate = z.object({
  id: z.guid(),
  name: z.string(),
  version: z.number().int(),
  audience: ZAudienceRule,
  priority: z.number().int(),
  steps: z.array(ZTemplateStep),
  active: z.boolean(),
  createdAt: z.iso.datetime(),
});

export const saveTemplate = defineAction({
  name: "onboarding.saveTemplate",
  summary:
    "Create a journey template, or a new version of one (running journeys keep their version). Refused with the " +
    "step and the reason when a step does not compile, uses an unknown field or has an offset out of range",
  rest: "POST /onboarding/templates",
  access: { roles: HR_OR_ADMIN },
  params: z.object({
    name: z.string().min(1).max(200),
    audience: ZAudienceRule.default({}),
    priority: z.number().int().min(-100).max(100).default(0),
    steps: z.array(ZTemplateStep).min(1).max(100),
  }),
  result: ZJourneyTemplate,
  tags: ["Onboarding"],
});

export const listTemplates = defineAction({
  name: "onboarding.listTemplates",
  summary: "The latest version of every journey template",
  rest: "GET /onboarding/templates",
  access: { roles: HR_OR_ADMIN },
  params: z.object({}),
  result: z.object({ items: z.array(ZJourneyTemplate) }),
  tags: ["Onboarding"],
});

export const ZTask = z.object({
  id: z.guid(),
  journeyId: z.guid(),
  stepKey: z.string(),
  title: z.string(),
  content: z.string(),
  link: z.string().nullable(),
  owner: ZStepOwner,
  ownerId: z.guid().nullable(),
  newHireId: z.guid(),
  newHireName: z.string().nullable(),
  dueDate: ZDate,
  dueAt: z.iso.datetime(),
  status: z.enum(["open", "done", "skipped"]),
  requiresConfirmation: z.boolean(),
  completedAt: z.iso.datetime().nullable(),
});
export type TTask = z.infer<typeof ZTask>;

export const ZJourney = z.object({
  id: z.guid(),
  newHireId: z.guid(),
  newHireName: z.string().nullable(),
  templateId: z.guid(),
  templateName: z.string(),
  templateVersion: z.number().int(),
  hireDate: ZDate,
  status: z.enum(["active", "completed", "ended"]),
  buddyId: z.guid().nullable(),
  buddyStatus: z.enum(["none", "proposed", "accepted"]),
  progress: z.object({ done: z.number().int(), total: z.number().int() }),
  tasks: z.array(ZTask),
});

export const startJourney = defineAction({
  name: "onboarding.startJourney",
  summary: "Start someone's journey by hand (it starts by itself on employee.hired); idempotent per person",
  rest: "POST /onboarding/journeys",
  access: { roles: HR_OR_ADMIN },
  idempotent: true,
  params: z.object({ employeeId: z.guid(), templateId: z.guid().optional() }),
  result: ZJourney,
  tags: ["Onboarding"],
});

export const getJourney = defineAction({
  name: "onboarding.getJourney",
  summary: "A journey with all its tasks (the new hire, their manager and buddy, HR)",
  rest: "GET /onboarding/journeys/:id",
  access: { roles: EVERYONE },
  params: z.object({ id: z.guid() }),
  result: ZJourney,
  tags: ["Onboarding"],
});

export const getMyJourney = defineAction({
  name: "onboarding.getMyJourney",
  summary: "The signed-in new hire's journey: today's tasks and the whole plan",
  rest: "GET /me/onboarding",
  access: { roles: EVERYONE },
  params: z.object({}),
  result: z.object({ journey: ZJourney.nullable(), today: z.array(ZTask) }),
  tags: ["Onboarding"],
});

export const listMyTasks = defineAction({
  name: "onboarding.listMyTasks",
  summary: "Tasks the signed-in person owns for new hires (as manager, buddy or HR)",
  rest: "GET /me/onboarding/tasks",
  access: { roles: EVERYONE },
  params: z.object({ status: z.enum(["open", "done", "all"]).default("open") }),
  result: z.object({ items: z.array(ZTask) }),
  tags: ["Onboarding"],
});

export const completeTask = defineAction({
  name: "onboarding.completeTask",
  summary: "Mark a task done (its owner, or HR); completing the last one completes the journey",
  rest: "POST /onboarding/tasks/:id/complete",
  access: { roles: EVERYONE },
  idempotent: true,
  params: z.object({ id: z.guid() }),
  result: ZTask,
  tags: ["Onboarding"],
});

export const handleOnboardingCardAction = defineCardActionHandler(
  "onboarding.handleCardAction",
  "Action.Execute from onboarding cards: onboarding.completeTask {taskId}, onboarding.acceptBuddy / " +
    "onboarding.declineBuddy {journeyId}, onboarding.checkin {journeyId, week, rating}",
);

export const ZBuddyProfile = z.object({
  employeeId: z.guid(),
  optedIn: z.boolean(),
  interests: z.array(z.string().max(60)).max(20),
  languages: z.array(z.string().max(20)).max(10),
  capacity: z.number().int().min(1).max(3),
  pausedUntil: ZDate.nullable(),
});

export const updateMyBuddyProfile = defineAction({
  name: "onboarding.updateMyBuddyProfile",
  summary: "Opt in (or out) as a buddy: interests, languages, how many new hires at once (1–3), pause until a date",
  rest: "PUT /me/buddy-profile",
  access: { roles: EVERYONE },
  idempotent: true,
  params: ZBuddyProfile.omit({ employeeId: true }).partial({ pausedUntil: true }),
  result: ZBuddyProfile,
  tags: ["Onboarding", "Buddies"],
});

export const ZBuddyMatch = z.object({
  journeyId: z.guid(),
  newHireId: z.guid(),
  buddyId: z.guid(),
  score: z.number(),
  explanation: z.string(),
});

export const runBuddyMatching = defineAction({
  name: "onboarding.runBuddyMatching",
  summary: "Match every new hire still without a buddy, optimally for the whole batch",
  rest: "POST /onboarding/buddies/match",
  access: { roles: HR_OR_ADMIN },
  params: z.object({}),
  result: z.object({ matches: z.array(ZBuddyMatch), unmatched: z.array(z.guid()) }),
  tags: ["Onboarding", "Buddies"],
});

export const assignBuddy = defineAction({
  name: "onboarding.assignBuddy",
  summary: "HR override: this buddy for this journey (hard rules are reported, not enforced)",
  rest: "PUT /onboarding/journeys/:journeyId/buddy",
  access: { roles: HR_OR_ADMIN },
  idempotent: true,
  params: z.object({ journeyId: z.guid(), buddyId: z.guid() }),
  result: ZBuddyMatch.extend({ warnings: z.array(z.string()) }),
  tags: ["Onboarding", "Buddies"],
});

export const respondToBuddyRequest = defineAction({
  name: "onboarding.respondToBuddyRequest",
  summary: "The proposed buddy accepts or declines (a decline matches the new hire again)",
  rest: "POST /onboarding/journeys/:journeyId/buddy/response",
  access: { roles: EVERYONE },
  params: z.object({ journeyId: z.guid(), accept: z.boolean() }),
  result: z.object({ journeyId: z.guid(), buddyId: z.guid().nullable(), status: z.enum(["accepted", "declined"]) }),
  tags: ["Onboarding", "Buddies"],
});

export const submitCheckin = defineAction({
  name: "onboarding.submitCheckin",
  summary: "A check-in at week 1, 4 or 12: a 1–5 rating by the new hire or their buddy",
  rest: "POST /onboarding/journeys/:journeyId/checkins",
  access: { roles: EVERYONE },
  idempotent: true,
  params: z.object({
    journeyId: z.guid(),
    week: z.union([z.literal(1), z.literal(4), z.literal(12)]),
    rating: z.number().int().min(1).max(5),
    comment: z.string().max(1000).optional(),
  }),
  result: z.object({
    journeyId: z.guid(),
    week: z.number().int(),
    role: z.enum(["newHire", "buddy"]),
    rating: z.number(),
  }),
  tags: ["Onboarding", "Buddies"],
});

export const needsAttention = defineAction({
  name: "onboarding.needsAttention",
  summary: "HR: overdue tasks, no buddy by day X, buddy request not accepted, no first buddy meeting logged by day 14",
  rest: "GET /onboarding/attention",
  access: { roles: HR_OR_ADMIN },
  params: z.object({}),
  result: z.object({
    items: z.array(
      z.object({
        journeyId: z.guid(),
        newHireId: z.guid(),
        newHireName: z.string().nullable(),
        reason: z.enum(["overdue-task", "no-buddy", "buddy-not-accepted", "no-buddy-meeting"]),
        detail: z.string(),
      }),
    ),
  }),
  tags: ["Onboarding"],
});

export const getReports = defineAction({
  name: "onboarding.getReports",
  summary: "HR: progress by cohort (start month, department), overdue tasks, buddy load and ratings",
  rest: "GET /onboarding/reports",
  access: { roles: HR_OR_ADMIN },
  params: z.object({}),
  result: z.object({
    cohorts: z.array(
      z.object({
        startMonth: z.string(),
        department: z.string().nullable(),
        journeys: z.number().int(),
        completed: z.number().int(),
        tasksDone: z.number().int(),
        tasksTotal: z.number().int(),
      }),
    ),
    overdueTasks: z.array(ZTask),
    buddies: z.array(
      z.object({
        buddyId: z.guid(),
        displayName: z.string().nullable(),
        load: z.number().int(),
        capacity: z.number().int(),
        averageRating: z.number().nullable(),
        ratings: z.number().int(),
      }),
    ),
  }),
  tags: ["Onboarding"],
});

export const runNudges = defineAction({
  name: "onboarding.runNudges",
  summary:
    "Send due-today, overdue and escalation nudges and the week 1/4/12 check-in cards now (also on a timer); each " +
    "once. Steps that need no confirmation are done once due",
  access: "internal",
  params: z.object({ now: z.iso.datetime().optional() }),
  result: z.object({
    dueToday: z.number().int(),
    overdue: z.number().int(),
    escalated: z.number().int(),
    checkins: z.number().int().describe("week 1/4/12 check-in cards sent"),
    closed: z.number().int().describe("steps that need no confirmation, done by themselves once due"),
  }),
});

const ZDays = (min: number, max: number) => z.number().int().min(min).max(max);
const ZCountryOrAll = z.string().regex(/^([A-Z]{2}|\*)$/, "a two-letter country code or *");

/** The programme's rules, per tenant: set by HR through the API (defaults until then). */
export const ZOnboardingSettings = z.object({
  autoStartWithinDays: ZDays(0, 90).describe(
    "employee.hired starts a journey by itself when the start date is in the future or at most this many days ago; " +
      "older hires (existing staff seen by a first directory sync) get one only when HR starts it by hand",
  ),
  hrOwnerIds: z
    .array(z.guid())
    .max(50)
    .describe(
      "the people who own HR steps: each journey's HR steps go to the one with the fewest open HR tasks, who gets " +
        "their cards and completes them from Teams",
    ),
  nudges: z.object({
    overdueReminderAfterDays: ZDays(1, 60),
    escalateAfterDays: ZDays(1, 90).describe("to the owner's manager; HR steps to the other HR owners"),
  }),
  attention: z.object({
    overdueTaskAfterDays: ZDays(0, 60).describe("a task is listed once it is this many days late (0: once due)"),
    noBuddyByDay: ZDays(-60, 90).describe(
      "a new hire without a buddy is listed from this journey day (−3: 3 days before the start)",
    ),
    buddyResponseDays: ZDays(1, 30).describe("a buddy request unanswered for this many days is listed"),
    firstBuddyMeetingByDay: ZDays(1, 90).describe("no first buddy meeting logged by this journey day is listed"),
  }),
  buddyRules: z.object({
    requireActive: z.boolean(),
    minTenureMonths: ZDays(0, 120).nullable().describe("null: no tenure floor"),
    excludeManagementChain: z.boolean(),
    maxCapacity: ZDays(1, 3).describe("a buddy's own capacity is capped at this"),
    respectPause: z.boolean(),
    excludeLeaving: z.boolean(),
    coolDownDays: ZDays(0, 365).nullable().describe("days since the buddy's last new hire; null: none"),
    minOverlapHours: z.number().min(0).max(8).nullable().describe("overlapping working hours; null: not checked"),
  }),
  buddyWeights: z.object({
    department: z.number().min(0).max(10),
    neighbouringTeam: z.number().min(0).max(10),
    office: z.number().min(0).max(10),
    interest: z.number().min(0).max(10).describe("per shared interest, up to three"),
    language: z.number().min(0).max(10),
    seniority: z.number().min(0).max(10),
    idealSeniorityGap: ZDays(0, 6),
  }),
  calendar: z.object({
    weekend: z.array(ZDays(1, 7)).max(6).describe("ISO weekdays not worked (1 = Monday)"),
    extraClosedDays: z
      .record(ZCountryOrAll, z.array(ZDate).max(366))
      .describe("company closures per country (* = everywhere), skipped like public holidays"),
    ignoreHolidaysFor: z.array(z.string().regex(/^[A-Z]{2}$/, "a two-letter country code")).max(250),
    dueTime: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, "HH:MM")
      .describe("local time a task falls due"),
  }),
});
export type TOnboardingSettings = z.infer<typeof ZOnboardingSettings>;

const ZSettingsView = ZOnboardingSettings.extend({
  updatedAt: z.iso.datetime().nullable(),
  updatedBy: z.guid().nullable(),
});

export const getSettings = defineAction({
  name: "onboarding.getSettings",
  summary:
    "The programme's rules: auto-start window, HR owners, nudge and attention thresholds, buddy rules and weights, calendar",
  rest: "GET /onboarding/settings",
  access: { roles: HR_OR_ADMIN },
  params: z.object({}),
  result: ZSettingsView,
  tags: ["Onboarding"],
});

export const updateSettings = defineAction({
  name: "onboarding.updateSettings",
  summary:
    "Change some of the programme's rules (only the fields sent). New HR owners take over open HR steps of those " +
    "no longer listed; a calendar change reschedules open tasks",
  rest: "PATCH /onboarding/settings",
  access: { roles: HR_OR_ADMIN },
  idempotent: true,
  params: z.object({
    autoStartWithinDays: ZOnboardingSettings.shape.autoStartWithinDays.optional(),
    hrOwnerIds: ZOnboardingSettings.shape.hrOwnerIds.optional(),
    nudges: ZOnboardingSettings.shape.nudges.partial().optional(),
    attention: ZOnboardingSettings.shape.attention.partial().optional(),
    buddyRules: ZOnboardingSettings.shape.buddyRules.partial().optional(),
    buddyWeights: ZOnboardingSettings.shape.buddyWeights.partial().optional(),
    calendar: ZOnboardingSettings.shape.calendar.partial().optional(),
  }),
  result: ZSettingsView,
  tags: ["Onboarding"],
});

// Domain events

const ZJourneyRef = { tenantId: z.guid(), journeyId: z.guid(), newHireId: z.guid() };

export const journeyStarted = defineEvent({
  name: "onboarding.journey.started",
  summary: "A new hire's journey started",
  payload: z.object({
    ...ZJourneyRef,
    templateId: z.guid(),
    templateVersion: z.number().int(),
    hireDate: ZDate,
    tasks: z.number().int(),
  }),
});

export const taskCompleted = defineEvent({
  name: "onboarding.task.completed",
  summary: "A journey task was completed",
  payload: z.object({
    ...ZJourneyRef,
    taskId: z.guid(),
    stepKey: z.string(),
    owner: ZStepOwner,
    completedBy: z.guid().nullable(),
    dueDate: ZDate,
    late: z.boolean(),
  }),
});

export const journeyCompleted = defineEvent({
  name: "onboarding.journey.completed",
  summary: "Every task of a journey is done",
  payload: z.object({ ...ZJourneyRef, hireDate: ZDate }),
});

export const buddyAssigned = defineEvent({
  name: "onboarding.buddy.assigned",
  summary: "A buddy was proposed for a new hire (matched or set by HR)",
  payload: z.object({
    ...ZJourneyRef,
    buddyId: z.guid(),
    score: z.number(),
    explanation: z.string(),
    by: z.enum(["matcher", "hr"]),
  }),
});

export const buddyAccepted = defineEvent({
  name: "onboarding.buddy.accepted",
  summary: "The buddy accepted",
  payload: z.object({ ...ZJourneyRef, buddyId: z.guid() }),
});

export const buddyDeclined = defineEvent({
  name: "onboarding.buddy.declined",
  summary: "The buddy declined (the new hire is matched again)",
  payload: z.object({ ...ZJourneyRef, buddyId: z.guid() }),
});

export const checkinSubmitted = defineEvent({
  name: "onboarding.checkin.submitted",
  summary: "A week 1/4/12 check-in rating",
  payload: z.object({
    ...ZJourneyRef,
    week: z.number().int(),
    role: z.enum(["newHire", "buddy"]),
    rating: z.number().int(),
  }),
});
