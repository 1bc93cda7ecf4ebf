import { defineEntity, p } from "@mikro-orm/core";

/** One person of the directory: only what Hearth uses (minimisation). */
export const Employee = defineEntity({
  name: "Employee",
  tableName: "employees",
  indexes: [
    // The directory's order (listEmployees, its cursor): a page is read off this index, not sorted out of the whole
    // tenant (50 ms a page at 100,000 people with the plain display_name column, which that order could not use).
    // No status in it: HR's listing with the people who have left reads it too (leavers are skipped by a filter).
    {
      name: "employees_directory_idx",
      expression: `create index "employees_directory_idx" on "people"."employees" ("tenant_id", coalesce("display_name", ''), "object_id")`,
    },
    { name: "employees_manager_idx", properties: ["tenantId", "managerId"] },
    {
      name: "employees_mailbox_due_idx",
      expression: `create index "employees_mailbox_due_idx" on "people"."employees" ("tenant_id") where "mailbox_due"`,
    },
    // Leave dates that have arrived are looked for after every sync and daily: without it, a scan of the directory
    // (2.1 s at 100,000 people, most of an incremental sync).
    {
      name: "employees_leave_date_idx",
      expression: `create index "employees_leave_date_idx" on "people"."employees" ("tenant_id", "leave_date") where "status" = 'active' and "leave_date" is not null`,
    },
  ],
  properties: {
    // A person is their tenant and Entra object id: no surrogate key (a random uuid index per row cost a first sync
    // of 100,000 a quarter of its insert time; nothing referred to it).
    tenantId: p.uuid().primary(),
    objectId: p.uuid().primary(),
    displayName: p.string().length(256).nullable(),
    givenName: p.string().length(128).nullable(),
    surname: p.string().length(128).nullable(),
    mail: p.string().length(320).nullable(),
    upn: p.string().length(320).nullable(),
    department: p.string().length(200).nullable(),
    jobTitle: p.string().length(200).nullable(),
    office: p.string().length(200).nullable(),
    country: p.string().length(2).nullable(),
    timeZone: p.string().length(64).nullable(),
    preferredLanguage: p.string().length(16).nullable(),
    managerId: p.uuid().nullable(),
    hireDate: p.string().length(10).nullable(),
    leaveDate: p.string().length(10).nullable(),
    enabled: p.boolean(),
    status: p.string().length(8),
    source: p.string().length(8),
    hiredAnnounced: p.boolean().default(false),
    /** The sync run that last reported this person: a full resync marks those it did not see as left. */
    lastSeenRun: p.uuid().nullable(),
    /** The language is the mailbox locale's (the directory records none). */
    languageFromMailbox: p.boolean().default(false),
    /** New or changed in the directory: their mailbox settings (time zone, locale) are still to be read. */
    mailboxDue: p.boolean().default(false),
    /** Created since their settings were last read: the first settings are how they appeared, not a change. */
    mailboxFirst: p.boolean().default(false),
    /** Raised each time the person is marked due: settings read before a newer change do not clear it. */
    mailboxVersion: p.integer().default(0),
    /** A reader's lease on this person's mailbox settings: another may take them only after it passes. */
    mailboxClaimedUntil: p.datetime().nullable(),
    /** The person's domain events, held (in order) while their mailbox settings are due. */
    heldEvents: p.json<unknown[]>().nullable(),
    /** The person's employee.hired is held, as a mark (built from the row when it goes out): it comes first. */
    hireHeld: p.boolean().default(false),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
});
