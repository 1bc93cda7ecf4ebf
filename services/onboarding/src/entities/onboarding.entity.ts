// The onboarding schema: versioned templates, journeys with their tasks, the buddy programme and check-ins.
import { defineEntity, p } from "@mikro-orm/core";

export const JourneyTemplate = defineEntity({
  name: "JourneyTemplate",
  tableName: "templates",
  uniques: [{ name: "templates_name_version_unique", properties: ["tenantId", "name", "version"] }],
  properties: {
    id: p.uuid().primary(),
    tenantId: p.uuid(),
    name: p.string().length(200),
    version: p.integer(),
    audience: p.json(),
    priority: p.integer().default(0),
    steps: p.json(),
    /** Only the latest version of a name is chosen for new journeys. */
    active: p.boolean().default(true),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export const Journey = defineEntity({
  name: "Journey",
  tableName: "journeys",
  uniques: [{ name: "journeys_new_hire_unique", properties: ["newHireId"] }],
  properties: {
    id: p.uuid().primary(),
    tenantId: p.uuid(),
    newHireId: p.uuid(),
    /** The person's directory fields the content renders over (removed on erasure). */
    person: p.json().nullable(),
    templateId: p.uuid(),
    hireDate: p.string().length(10),
    status: p.string().length(10),
    managerId: p.uuid().nullable(),
    managerChain: p.json(),
    buddyId: p.uuid().nullable(),
    buddyStatus: p.string().length(10).default("none"),
    buddyScore: p.double().nullable(),
    buddyExplanation: p.text().nullable(),
    buddyAssignedAt: p.datetime().nullable(),
    declinedBuddies: p.json(),
    startedAt: p.datetime().onCreate(() => new Date()),
    completedAt: p.datetime().nullable(),
  },
});

export const Task = defineEntity({
  name: "Task",
  tableName: "tasks",
  indexes: [
    { name: "tasks_journey_idx", properties: ["journeyId"] },
    { name: "tasks_owner_idx", properties: ["ownerId", "status"] },
    { name: "tasks_due_idx", properties: ["status", "dueAt"] },
  ],
  properties: {
    id: p.uuid().primary(),
    journeyId: p.uuid(),
    stepKey: p.string().length(64),
    title: p.string().length(500),
    content: p.text(),
    link: p.string().length(2000).nullable(),
    owner: p.string().length(10),
    ownerId: p.uuid().nullable(),
    offsetDays: p.integer(),
    unit: p.string().length(10),
    ownerTimeZone: p.string().length(64).nullable(),
    ownerCountry: p.string().length(2).nullable(),
    dueDate: p.string().length(10),
    dueAt: p.datetime(),
    status: p.string().length(10),
    requiresConfirmation: p.boolean(),
    completedAt: p.datetime().nullable(),
    completedBy: p.uuid().nullable(),
    /** Nudges already sent: "due", "overdue", "escalated". */
    nudges: p.json(),
  },
});

export const BuddyProfile = defineEntity({
  name: "BuddyProfile",
  tableName: "buddy_profiles",
  properties: {
    employeeId: p.uuid().primary(),
    tenantId: p.uuid(),
    optedIn: p.boolean(),
    interests: p.json(),
    languages: p.json(),
    capacity: p.integer(),
    pausedUntil: p.string().length(10).nullable(),
    /** Directory fields copied at opt-in and kept current from employee.updated. */
    displayName: p.string().length(256).nullable(),
    department: p.string().length(200).nullable(),
    office: p.string().length(200).nullable(),
    timeZone: p.string().length(64).nullable(),
    country: p.string().length(2).nullable(),
    jobTitle: p.string().length(200).nullable(),
    hireDate: p.string().length(10).nullable(),
    leaveDate: p.string().length(10).nullable(),
    active: p.boolean().default(true),
    managerChain: p.json(),
    lastAssignedAt: p.datetime().nullable(),
    updatedAt: p.datetime().onCreate(() => new Date()),
  },
});

export const Checkin = defineEntity({
  name: "Checkin",
  tableName: "checkins",
  uniques: [{ name: "checkins_unique", properties: ["journeyId", "week", "role"] }],
  properties: {
    id: p.uuid().primary(),
    journeyId: p.uuid(),
    buddyId: p.uuid().nullable(),
    week: p.integer(),
    role: p.string().length(10),
    rating: p.integer(),
    comment: p.text().nullable(),
    submittedAt: p.datetime().onCreate(() => new Date()),
  },
});

/** The programme's rules per tenant (contract ZOnboardingSettings); no row means the defaults. */
export const OnboardingSettings = defineEntity({
  name: "OnboardingSettings",
  tableName: "settings",
  properties: {
    tenantId: p.uuid().primary(),
    config: p.json(),
    updatedAt: p.datetime(),
    updatedBy: p.uuid().nullable(),
  },
});
