// Pulse surveys: programmes, waves, anonymous answers and results under disclosure control (docs/adr/0004).
import { z } from "zod";
import { defineAction, defineEvent } from "./define.ts";
import { defineCardActionHandler } from "./teams.contract.ts";

const EVERYONE = ["Employee", "CommunityManager", "HR", "Admin"] as const;
const RESULTS_READERS = ["Employee", "CommunityManager", "HR", "Admin"] as const;
const PULSE_ADMINS = ["CommunityManager", "HR", "Admin"] as const;

export const ZQuestionKind = z.enum(["enps", "scale", "comment"]);
export const ZQuestion = z.object({
  id: z.guid(),
  kind: ZQuestionKind,
  text: z.string(),
  driver: z.string().nullable().describe("engagement driver this question measures"),
  min: z.number().int(),
  max: z.number().int(),
  definition: z.string().nullable().describe("how the score is computed (eNPS: % promoters 9–10 − % detractors 0–6)"),
});

export const ZWaveSummary = z.object({
  id: z.guid(),
  programmeId: z.guid(),
  programmeName: z.string(),
  number: z.number().int(),
  status: z.enum(["scheduled", "open", "closed"]),
  opensOn: z.iso.date(),
  closesOn: z.iso.date(),
  invited: z.number().int(),
});

export const listProgrammes = defineAction({
  name: "pulse.listProgrammes",
  summary: "Pulse programmes with their cadence, audience, thresholds and waves",
  rest: "GET /pulse/programmes",
  access: { roles: PULSE_ADMINS },
  params: z.object({}),
  result: z.object({
    items: z.array(
      z.object({
        id: z.guid(),
        name: z.string(),
        cadence: z.enum(["weekly", "biweekly", "monthly", "quarterly"]),
        audience: z.object({
          kind: z.enum(["everyone", "departments", "offices", "newHires"]),
          values: z.array(z.string()),
        }),
        questionsPerWave: z.number().int(),
        minGroupSize: z.number().int(),
        commentMinimum: z.number().int(),
        managerResults: z.boolean(),
        waves: z.array(ZWaveSummary),
      }),
    ),
  }),
});

export const getReceipt = defineAction({
  name: "pulse.getReceipt",
  summary:
    "The anonymity receipt shown before answering: what is stored, who sees results, at which group size, how " +
    "comments are handled, and the actions taken after the previous wave",
  rest: "GET /pulse/waves/:waveId/receipt",
  access: { roles: EVERYONE },
  params: z.object({ waveId: z.guid() }),
  result: z.object({
    waveId: z.guid(),
    invited: z.boolean(),
    answered: z.boolean(),
    open: z.boolean(),
    questions: z.array(ZQuestion),
    receipt: z.object({
      stored: z.string(),
      resultsVisibleTo: z.array(z.string()),
      minGroupSize: z.number().int(),
      commentMinimum: z.number().int(),
      comments: z.string(),
      resultsShown: z.string(),
    }),
    youSaidWeDid: z.array(z.object({ title: z.string(), description: z.string(), fromWave: z.number().int() })),
  }),
});

export const ZAnswerInput = z.object({
  questionId: z.guid(),
  value: z.number().int().optional(),
  comment: z.string().trim().min(1).max(2000).optional(),
});

export const submitAnswers = defineAction({
  name: "pulse.submitAnswers",
  summary:
    "Answer a wave once (a second submission is 409). Answers are stored without the person's id, with the day " +
    "only and the attributes locked when the wave opened. Out of range, closed wave, question not in the wave: " +
    "400/409 naming the problem, nothing stored",
  rest: "POST /pulse/waves/:waveId/answers",
  access: { roles: EVERYONE },
  successStatus: 201,
  params: z.object({ waveId: z.guid(), answers: z.array(ZAnswerInput).min(1).max(25) }),
  result: z.object({ accepted: z.number().int() }),
});

export const handleCardAction = defineCardActionHandler(
  "pulse.handleCardAction",
  "Action.Execute from a pulse Teams card: pulse.showSurvey shows the questions, pulse.answer answers the wave " +
    "(once; a closed wave or a replay answers with a card saying so)",
);

const ZFilterQuery = {
  department: z.string().max(200).optional(),
  office: z.string().max(200).optional(),
  tenureBand: z.string().max(20).optional(),
  subtree: z.guid().optional().describe("a manager: everyone reporting to them"),
};

export const ZQuestionResult = z.object({
  questionId: z.guid(),
  text: z.string(),
  kind: ZQuestionKind,
  driver: z.string().nullable(),
  responses: z.number().int(),
  mean: z.number().nullable(),
  distribution: z.record(z.string(), z.number().int()).nullable(),
  enps: z
    .object({
      score: z.number().int(),
      promoters: z.number().int(),
      passives: z.number().int(),
      detractors: z.number().int(),
    })
    .nullable(),
});

export const getResults = defineAction({
  name: "pulse.getResults",
  summary:
    "Results of a closed wave under a filter: response rate, eNPS, distributions, driver averages. A result that " +
    "would break anonymity is absent exactly like one with no answers. Every view is audited",
  rest: "GET /pulse/waves/:waveId/results",
  access: { roles: RESULTS_READERS },
  idempotent: true,
  params: z.object({ waveId: z.guid(), ...ZFilterQuery }),
  result: z.object({
    waveId: z.guid(),
    status: z.enum(["scheduled", "open", "closed"]),
    minGroupSize: z.number().int(),
    responseRate: z.number().nullable(),
    questions: z.array(ZQuestionResult),
    drivers: z.array(z.object({ driver: z.string(), mean: z.number() })),
  }),
});

export const getHeatmap = defineAction({
  name: "pulse.getHeatmap",
  summary: "Heatmap of a closed wave by department, office or tenure band: one row per value, absent cells empty",
  rest: "GET /pulse/waves/:waveId/heatmap",
  access: { roles: RESULTS_READERS },
  idempotent: true,
  params: z.object({ waveId: z.guid(), dimension: z.enum(["department", "office", "tenureBand"]) }),
  result: z.object({
    dimension: z.string(),
    questions: z.array(z.object({ questionId: z.guid(), text: z.string() })),
    rows: z.array(z.object({ value: z.string(), means: z.array(z.number().nullable()) })),
  }),
});

export const getTrend = defineAction({
  name: "pulse.getTrend",
  summary: "One question's mean (eNPS score for eNPS) across the programme's closed waves under a filter",
  rest: "GET /pulse/programmes/:programmeId/trend",
  access: { roles: RESULTS_READERS },
  idempotent: true,
  params: z.object({ programmeId: z.guid(), questionId: z.guid(), ...ZFilterQuery }),
  result: z.object({
    points: z.array(
      z.object({ waveId: z.guid(), number: z.number().int(), closesOn: z.iso.date(), value: z.number().nullable() }),
    ),
  }),
});

export const getComments = defineAction({
  name: "pulse.getComments",
  summary: "Comments of a closed wave under a filter, shuffled, without timestamps, only above the comment minimum",
  rest: "GET /pulse/waves/:waveId/comments",
  access: { roles: RESULTS_READERS },
  idempotent: true,
  params: z.object({ waveId: z.guid(), ...ZFilterQuery }),
  result: z.object({ comments: z.array(z.object({ question: z.string(), text: z.string() })) }),
});

export const exportResults = defineAction({
  name: "pulse.exportResults",
  summary: "CSV of a closed wave's aggregates (whole wave and each department, office, tenure band); audited",
  rest: "GET /pulse/waves/:waveId/export",
  access: { roles: PULSE_ADMINS },
  idempotent: true,
  params: z.object({ waveId: z.guid() }),
  result: z.object({ filename: z.string(), csv: z.string() }),
});

export const addWaveAction = defineAction({
  name: "pulse.addWaveAction",
  summary: '"You said, we did": an action taken on a closed wave\'s results, shown with the next invitation',
  rest: "POST /pulse/waves/:waveId/actions",
  access: { roles: PULSE_ADMINS },
  successStatus: 201,
  params: z.object({
    waveId: z.guid(),
    title: z.string().trim().min(1).max(200),
    description: z.string().max(2000).default(""),
  }),
  result: z.object({ id: z.guid() }),
});

export const openWave = defineAction({
  name: "pulse.openWave",
  summary:
    "Open the programme's next wave now: snapshot the audience's attributes (locked for the wave), invite them " +
    "through notifications (survey-load governor applies)",
  rest: "POST /pulse/programmes/:programmeId/waves",
  access: { roles: PULSE_ADMINS },
  successStatus: 201,
  params: z.object({ programmeId: z.guid() }),
  result: z.object({ id: z.guid(), invited: z.number().int(), suppressedByGovernor: z.number().int() }),
});

export const closeWave = defineAction({
  name: "pulse.closeWave",
  summary: "Close a wave: results become visible (under disclosure control)",
  rest: "POST /pulse/waves/:waveId/close",
  access: { roles: PULSE_ADMINS },
  params: z.object({ waveId: z.guid() }),
  result: z.object({ id: z.guid(), status: z.literal("closed") }),
});

export const sendReminders = defineAction({
  name: "pulse.sendReminders",
  summary: "Remind the invitees of an open wave who have not answered (and only them)",
  rest: "POST /pulse/waves/:waveId/remind",
  access: { roles: PULSE_ADMINS },
  idempotent: true,
  params: z.object({ waveId: z.guid() }),
  result: z.object({ reminded: z.number().int() }),
});

export const createProgramme = defineAction({
  name: "pulse.createProgramme",
  summary: "Create a recurring pulse programme (cadence, audience, questions per wave, anonymity thresholds)",
  rest: "POST /pulse/programmes",
  access: { roles: PULSE_ADMINS },
  successStatus: 201,
  params: z.object({
    name: z.string().trim().min(1).max(200),
    cadence: z.enum(["weekly", "biweekly", "monthly", "quarterly"]).default("monthly"),
    audience: z
      .object({
        kind: z.enum(["everyone", "departments", "offices", "newHires"]),
        values: z.array(z.string().min(1).max(200)).max(100).default([]),
      })
      .default({ kind: "everyone", values: [] }),
    questionsPerWave: z.number().int().min(1).max(15).default(4),
    minGroupSize: z.number().int().min(3).max(25).default(5).describe("never below 3"),
    commentMinimum: z.number().int().min(3).max(100).default(10),
    managerResults: z.boolean().default(false),
    localOpenTime: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, "a time like 10:00")
      .default("10:00"),
  }),
  result: z.object({ id: z.guid() }),
});

export const addQuestion = defineAction({
  name: "pulse.addQuestion",
  summary: "Add a custom question to a programme (rotated with the default bank)",
  rest: "POST /pulse/programmes/:programmeId/questions",
  access: { roles: PULSE_ADMINS },
  successStatus: 201,
  params: z.object({
    programmeId: z.guid(),
    kind: z.enum(["scale", "comment"]),
    text: z.string().trim().min(1).max(500),
    driver: z.string().trim().min(1).max(64).optional(),
  }),
  result: z.object({ id: z.guid() }),
});

// Domain events

export const waveClosed = defineEvent({
  name: "pulse.wave.closed",
  summary:
    "A wave closed (on schedule or by HR): its results can be read. Participation only, never an answer; the " +
    "number of respondents is withheld when fewer people than the minimum group size were invited",
  payload: z.object({
    tenantId: z.guid(),
    programmeId: z.guid(),
    waveId: z.guid(),
    number: z.number().int(),
    opensOn: z.iso.date(),
    closesOn: z.iso.date(),
    closedOn: z.iso.date(),
    invited: z.number().int(),
    responses: z.number().int().nullable().describe("people who answered; null when invited < minGroupSize"),
    minGroupSize: z.number().int(),
  }),
});
