import { z } from "zod";
import { defineAction, defineEvent, ZPageQuery } from "./define.ts";

const EVERYONE = ["Employee", "CommunityManager", "HR", "Admin"] as const;
const HR_OR_ADMIN = ["HR", "Admin"] as const;

/** Calendar date, YYYY-MM-DD. */
const ZDate = z.iso.date();

/** What any employee sees of a colleague: the directory basics. */
export const ZEmployee = z.object({
  id: z.guid().describe("Entra object id (or a stable generated id for people known only from an HRIS export)"),
  displayName: z.string().nullable(),
  givenName: z.string().nullable(),
  surname: z.string().nullable(),
  mail: z.string().nullable(),
  upn: z.string().nullable(),
  department: z.string().nullable(),
  jobTitle: z.string().nullable(),
  office: z.string().nullable(),
  country: z.string().nullable(),
  timeZone: z.string().nullable().describe("IANA time zone"),
  preferredLanguage: z.string().nullable(),
  managerId: z.guid().nullable(),
  /** Only for HR and Admin (and the person themself). */
  hireDate: ZDate.nullable().optional(),
  leaveDate: ZDate.nullable().optional(),
  enabled: z.boolean().optional(),
  status: z.enum(["active", "left"]).optional(),
  source: z.enum(["graph", "csv"]).optional(),
});
export type TEmployee = z.infer<typeof ZEmployee>;

const queryBool = z
  .union([z.boolean(), z.enum(["true", "false"])])
  .transform((v) => v === true || v === "true")
  .default(false);

export const listEmployees = defineAction({
  name: "people.listEmployees",
  summary: "The directory, paged by an opaque cursor: filter by department, office, country; search name or mail",
  rest: "GET /employees",
  access: { roles: EVERYONE },
  params: ZPageQuery.extend({
    department: z.string().max(200).optional(),
    office: z.string().max(200).optional(),
    country: z.string().max(2).optional(),
    q: z.string().max(200).optional().describe("Text search on name and mail"),
    includeLeft: queryBool.describe("Include people who have left (HR and Admin only)"),
  }),
  result: z.object({ items: z.array(ZEmployee), nextCursor: z.string().optional() }),
  tags: ["People"],
});

export const getEmployee = defineAction({
  name: "people.getEmployee",
  summary: "One colleague (people who have left: HR and Admin only)",
  rest: "GET /employees/:id",
  access: { roles: EVERYONE },
  params: z.object({ id: z.guid() }),
  result: ZEmployee,
  tags: ["People"],
});

export const getOrgChart = defineAction({
  name: "people.getOrgChart",
  summary: "Someone's manager chain up to the top and their direct reports",
  rest: "GET /employees/:id/org",
  access: { roles: EVERYONE },
  params: z.object({ id: z.guid() }),
  result: z.object({
    employee: ZEmployee,
    managers: z.array(ZEmployee).describe("Direct manager first, the top of the organisation last"),
    directReports: z.array(ZEmployee),
  }),
  tags: ["People"],
});

export const getMyProfile = defineAction({
  name: "people.getMyProfile",
  summary: "The signed-in person's own directory record",
  rest: "GET /me/profile",
  access: { roles: EVERYONE },
  params: z.object({}),
  result: ZEmployee,
  tags: ["People"],
});

export const exportMyData = defineAction({
  name: "people.exportMyData",
  summary: "GDPR access: everything the people service holds about the signed-in person",
  rest: "GET /me/export",
  access: { roles: EVERYONE },
  params: z.object({}),
  result: z.object({
    service: z.literal("people"),
    exportedAt: z.iso.datetime(),
    profile: ZEmployee.omit({ managerId: true }).nullable(),
    events: z.array(
      z.object({ event: z.string(), occurredAt: z.iso.datetime(), payload: z.record(z.string(), z.unknown()) }),
    ),
  }),
  tags: ["People", "Privacy"],
});

export const eraseEmployee = defineAction({
  name: "people.eraseEmployee",
  summary: "GDPR erasure: removes the person's data here and tells every service to erase theirs (employee.erased)",
  rest: "DELETE /employees/:id",
  access: { roles: HR_OR_ADMIN },
  params: z.object({ id: z.guid() }),
  result: z.object({ id: z.guid(), erased: z.literal(true) }),
  tags: ["People", "Privacy"],
});

export const ZSyncRun = z.object({
  id: z.guid(),
  kind: z.enum(["full", "incremental"]),
  trigger: z.enum(["schedule", "manual"]),
  status: z.enum(["running", "interrupted", "completed"]),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime().nullable(),
  pages: z.number().int(),
  seen: z.number().int(),
  created: z.number().int(),
  updated: z.number().int(),
  left: z.number().int(),
  error: z.string().nullable(),
});
export type TSyncRun = z.infer<typeof ZSyncRun>;

const ZSyncStatus = z.object({
  current: ZSyncRun.nullable(),
  last: ZSyncRun.nullable(),
  nextSyncAt: z.iso.datetime().nullable(),
  hasDeltaLink: z.boolean(),
  mailboxSettings: z
    .object({
      due: z.number().int().describe("new or changed people whose time zone and locale are still to be read"),
      error: z.string().nullable().describe("why the last read failed (they stay due and are read again)"),
    })
    .describe("read after the directory pages, per person; their events go out once read"),
});

export const startDirectorySync = defineAction({
  name: "people.startDirectorySync",
  summary: "Start a directory sync from Microsoft 365 now (runs in the background; see GET /directory/sync)",
  rest: "POST /directory/sync",
  access: { roles: HR_OR_ADMIN },
  idempotent: true,
  successStatus: 202,
  params: z.object({}),
  result: ZSyncStatus,
  tags: ["People", "Directory"],
});

export const getDirectorySync = defineAction({
  name: "people.getDirectorySync",
  summary: "The current and the last directory sync, with counts and state",
  rest: "GET /directory/sync",
  access: { roles: HR_OR_ADMIN },
  params: z.object({}),
  result: ZSyncStatus,
  tags: ["People", "Directory"],
});

/** For the CLI and jobs: runs (or resumes) a sync to the end and returns it. */
export const runDirectorySync = defineAction({
  name: "people.runDirectorySync",
  summary: "Run or resume a directory sync and wait for it; null when another replica holds the sync",
  access: "internal",
  // Long-running: a timed-out attempt must not be retried while the first one still runs.
  idempotent: false,
  params: z.object({
    trigger: z.enum(["schedule", "manual"]).default("manual"),
    full: z
      .boolean()
      .default(false)
      .describe("read the whole directory again instead of the changes (an interrupted run is resumed as it was)"),
  }),
  result: ZSyncRun.nullable(),
});

export const ZCsvMapping = z
  .record(z.string(), z.string().max(200))
  .describe("Hearth field → CSV header, e.g. { mail: 'Work Email' }; unnamed fields use the common headers");

const ZImportReport = z.object({
  rows: z.number().int(),
  imported: z.number().int(),
  created: z.number().int(),
  updated: z.number().int(),
  unchanged: z.number().int(),
  rejected: z.array(z.object({ line: z.number().int(), field: z.string(), reason: z.string() })),
});
export type TImportReport = z.infer<typeof ZImportReport>;

const importParams = z.object({
  csv: z.string().min(1).max(5_000_000),
  mapping: ZCsvMapping.optional(),
});

export const importDirectoryCsv = defineAction({
  name: "people.importDirectoryCsv",
  summary: "Import an HRIS CSV export: every row all or nothing, a report of each rejected row, re-import idempotent",
  rest: "POST /directory/import",
  access: { roles: HR_OR_ADMIN },
  // Re-importing is harmless, but a retry after a timed-out attempt would run beside the first: not retried.
  idempotent: false,
  params: importParams,
  result: ZImportReport,
  tags: ["People", "Directory"],
});

/** The same import for the CLI (no caller). */
export const importDirectoryCsvInternal = defineAction({
  name: "people.importCsv",
  summary: "Import an HRIS CSV export (CLI)",
  access: "internal",
  idempotent: false,
  params: importParams,
  result: ZImportReport,
});

// ---------------------------------------------------------------------------------------------------------------
// Domain events

const ZEventEmployee = { tenantId: z.guid(), objectId: z.guid() };

export const employeeHired = defineEvent({
  name: "employee.hired",
  summary: "Someone joined (first seen enabled with a hire date, from Microsoft 365 or an HRIS import)",
  payload: z.object({
    ...ZEventEmployee,
    displayName: z.string().nullable(),
    mail: z.string().nullable(),
    department: z.string().nullable(),
    jobTitle: z.string().nullable(),
    managerId: z.guid().nullable(),
    country: z.string().nullable(),
    timeZone: z.string().nullable(),
    preferredLanguage: z.string().nullable(),
    hireDate: ZDate,
    source: z.enum(["graph", "csv"]),
  }),
});

export const employeeUpdated = defineEvent({
  name: "employee.updated",
  summary: "Directory fields of someone changed: which ones, with their new values",
  payload: z.object({
    ...ZEventEmployee,
    fields: z.array(z.string()).min(1),
    changes: z.record(z.string(), z.union([z.string(), z.boolean(), z.null()])),
  }),
});

export const employeeLeft = defineEvent({
  name: "employee.left",
  summary: "Someone left: leave date reached, account disabled, or removed from the directory",
  payload: z.object({
    ...ZEventEmployee,
    leaveDate: ZDate.nullable(),
    reason: z.enum(["leave-date", "disabled", "removed"]),
  }),
});

export const employeeErased = defineEvent({
  name: "employee.erased",
  summary: "GDPR erasure: every service must delete or anonymise what it holds about this person",
  payload: z.object(ZEventEmployee),
});
