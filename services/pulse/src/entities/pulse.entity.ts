// The pulse schema. Who was invited and whether they answered (invitations) is stored apart from what was
// answered (answers), with nothing linking the two: answers carry no person id, no time finer than the day,
// no sequence number, only the attributes locked when the wave opened.
import { defineEntity, p } from "@mikro-orm/core";

export const Programme = defineEntity({
  name: "Programme",
  tableName: "programmes",
  properties: {
    id: p.uuid().primary(),
    tenantId: p.uuid(),
    name: p.string().length(200),
    cadence: p.string().length(16),
    audienceKind: p.string().length(16),
    audienceValues: p.json(),
    questionsPerWave: p.integer(),
    minGroupSize: p.integer(),
    commentMinimum: p.integer(),
    managerResults: p.boolean().default(false),
    /** Local time each recipient's wave opens and closes at, inside their working hours. */
    localOpenTime: p.string().length(5).default("10:00"),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export const Question = defineEntity({
  name: "Question",
  tableName: "questions",
  indexes: [{ name: "questions_programme_idx", properties: ["programmeId", "position"] }],
  properties: {
    id: p.uuid().primary(),
    tenantId: p.uuid(),
    /** null: the default bank, shared by every programme. */
    programmeId: p.uuid().nullable(),
    kind: p.string().length(8),
    text: p.string().length(500),
    driver: p.string().length(64).nullable(),
    min: p.integer(),
    max: p.integer(),
    definition: p.text().nullable(),
    position: p.integer(),
  },
});

export const Wave = defineEntity({
  name: "Wave",
  tableName: "waves",
  uniques: [{ name: "waves_programme_number_unique", properties: ["programmeId", "number"] }],
  properties: {
    id: p.uuid().primary(),
    tenantId: p.uuid(),
    programmeId: p.uuid(),
    number: p.integer(),
    status: p.string().length(10),
    opensOn: p.string().length(10),
    closesOn: p.string().length(10),
    questionIds: p.json(),
    invited: p.integer().default(0),
    openedAt: p.datetime().nullable(),
    closedAt: p.datetime().nullable(),
  },
});

export const Invitation = defineEntity({
  name: "Invitation",
  tableName: "invitations",
  uniques: [{ name: "invitations_wave_user_unique", properties: ["waveId", "userId"] }],
  // No index holds `answered`, and pages keep room (fillfactor 80, in the migration): setting the flag is a HOT
  // update that writes no index entry. Lookups by wave use the (wave_id, user_id) unique index.
  indexes: [{ name: "invitations_due_idx", properties: ["invitedAt", "opensAt"] }],
  properties: {
    id: p.uuid().primary(),
    waveId: p.uuid(),
    userId: p.uuid(),
    /** Snapshot at wave open, locked for the wave: copied onto the answers, never the other way round. */
    department: p.string().length(200),
    office: p.string().length(200),
    tenureBand: p.string().length(16),
    managerPath: p.json(),
    timeZone: p.string().length(64),
    answered: p.boolean().default(false),
    /** When this person's wave opens and closes: inside their working hours, in their time zone. */
    opensAt: p.datetime(),
    closesAt: p.datetime(),
    invitedAt: p.datetime().nullable(),
    remindedAt: p.datetime().nullable(),
  },
});

export const Answer = defineEntity({
  name: "Answer",
  tableName: "answers",
  indexes: [{ name: "answers_wave_question_idx", properties: ["waveId", "questionId"] }],
  properties: {
    /** Random, not a sequence: ids must not order answers by arrival. */
    id: p.uuid().primary(),
    waveId: p.uuid(),
    questionId: p.uuid(),
    day: p.string().length(10),
    department: p.string().length(200),
    office: p.string().length(200),
    tenureBand: p.string().length(16),
    managerPath: p.json(),
    value: p.integer().nullable(),
    comment: p.text().nullable(),
  },
});

/**
 * Answers of submissions committed with fewer than minGroupSize others of their wave (a batch of at least that
 * many goes straight into `answers`, see ingest.ts), waiting to be moved. They are written in the same
 * transaction as the answered flag (so
 * a crash loses nothing and a replay is refused), then moved in a later transaction once at least the minimum
 * group size of submissions is waiting, or at close: no row of `answers` shares a transaction (xmin) or an
 * arrival order with one person's answered flag.
 */
export const AnswerBuffer = defineEntity({
  name: "AnswerBuffer",
  tableName: "answer_buffer",
  indexes: [{ name: "answer_buffer_wave_idx", properties: ["waveId"] }],
  properties: {
    id: p.uuid().primary(),
    /** Random per submission: moves whole submissions; not stored on `answers`. */
    submission: p.uuid(),
    waveId: p.uuid(),
    questionId: p.uuid(),
    day: p.string().length(10),
    department: p.string().length(200),
    office: p.string().length(200),
    tenureBand: p.string().length(16),
    managerPath: p.json(),
    value: p.integer().nullable(),
    comment: p.text().nullable(),
  },
});

export const WaveAction = defineEntity({
  name: "WaveAction",
  tableName: "wave_actions",
  properties: {
    id: p.uuid().primary(),
    waveId: p.uuid(),
    title: p.string().length(200),
    description: p.text(),
    createdBy: p.uuid().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

/** Every view of results: who looked at what, with which filter. */
export const ResultsView = defineEntity({
  name: "ResultsView",
  tableName: "results_views",
  indexes: [{ name: "results_views_wave_idx", properties: ["waveId", "viewedAt"] }],
  properties: {
    id: p.uuid().primary(),
    viewerId: p.uuid().nullable(),
    roles: p.json(),
    waveId: p.uuid().nullable(),
    programmeId: p.uuid().nullable(),
    view: p.string().length(16),
    filter: p.json(),
    viewedAt: p.datetime().onCreate(() => new Date()),
  },
});

/** Hire dates from employee.hired (directory events): the new-hire audiences at day 30 and 90. */
export const NewHire = defineEntity({
  name: "NewHire",
  tableName: "new_hires",
  indexes: [{ name: "new_hires_hire_date_idx", properties: ["hireDate"] }],
  properties: {
    userId: p.uuid().primary(),
    hireDate: p.string().length(10),
    recordedAt: p.datetime().onCreate(() => new Date()),
  },
});

/**
 * Cluster-wide leases of periodic jobs (the wave scheduler): one replica holds a job at a time, claimed with
 * `for update skip locked`; a replica that dies holding it blocks the others only until `claimed_until`.
 */
export const JobLease = defineEntity({
  name: "JobLease",
  tableName: "job_leases",
  properties: {
    name: p.string().length(64).primary(),
    claimedBy: p.string().length(200).nullable(),
    claimedUntil: p.datetime().nullable(),
    /** The next run is due then (once per period for the whole cluster, not per replica). */
    nextRunAt: p.datetime(),
  },
});
