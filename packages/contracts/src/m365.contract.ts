import { z } from "zod";
import { defineAction } from "./define.ts";

/** A directory user as Hearth needs it, flattened from Graph's user resource (+ manager@delta). */
export const ZDirectoryUser = z.object({
  id: z.guid().describe("Entra object id"),
  displayName: z.string().nullable(),
  givenName: z.string().nullable(),
  surname: z.string().nullable(),
  mail: z.string().nullable(),
  userPrincipalName: z.string().nullable(),
  department: z.string().nullable(),
  jobTitle: z.string().nullable(),
  officeLocation: z.string().nullable(),
  /** ISO 3166 two-letter country code (Graph's usageLocation). */
  country: z.string().nullable(),
  preferredLanguage: z.string().nullable(),
  accountEnabled: z.boolean().nullable(),
  /** ISO date-time, or null when the tenant does not record it. */
  employeeHireDate: z.string().nullable(),
  employeeLeaveDateTime: z.string().nullable(),
  /** undefined: not reported in this page; null: the manager was removed. */
  managerId: z.guid().nullable().optional(),
});
export type TDirectoryUser = z.infer<typeof ZDirectoryUser>;

/** In a delta page, a user is either (partly) changed or removed. */
export const ZDirectoryChange = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("upsert"), user: ZDirectoryUser.partial().required({ id: true }) }),
  z.object({ kind: z.literal("removed"), id: z.guid(), reason: z.enum(["changed", "deleted"]) }),
]);
export type TDirectoryChange = z.infer<typeof ZDirectoryChange>;

/**
 * The properties of a directory user other than its id, in the order a change row carries them. Only ever appended
 * to (rows are read by position), and every property of ZDirectoryUser is here (checked below).
 */
export const DIRECTORY_CHANGE_FIELDS = [
  "displayName",
  "givenName",
  "surname",
  "mail",
  "userPrincipalName",
  "department",
  "jobTitle",
  "officeLocation",
  "country",
  "preferredLanguage",
  "accountEnabled",
  "employeeHireDate",
  "employeeLeaveDateTime",
  "managerId",
] as const satisfies ReadonlyArray<Exclude<keyof TDirectoryUser, "id">>;

/** In a change row, a property the page did not report (no directory property is a number: checked below). */
export const NOT_REPORTED = 0;
type Unlisted = Exclude<keyof TDirectoryUser, "id" | (typeof DIRECTORY_CHANGE_FIELDS)[number]>;
type Numeric = Extract<TDirectoryUser[keyof TDirectoryUser], number>;
// Compile-time: a property missing from the list, or a numeric one (0 would be ambiguous), fails the type check.
const _everyPropertyListed: [Unlisted] extends [never] ? true : Unlisted = true;
const _noNumericProperty: [Numeric] extends [never] ? true : Numeric = true;
void _everyPropertyListed;
void _noNumericProperty;

/**
 * A directory change as it travels from m365 to people: an upsert is `["u", id, ...values]` in
 * DIRECTORY_CHANGE_FIELDS order (NOT_REPORTED for what the page left out), a removal `["r", id, reason]`. A first
 * sync moves 100,000 of them; as objects with their property names a page was twice the JSON to write, carry and
 * read again.
 */
export const ZDirectoryChangeRow = z.union([
  z.tuple([z.literal("u"), z.guid()]).rest(z.union([z.string(), z.boolean(), z.null(), z.literal(NOT_REPORTED)])),
  z.tuple([z.literal("r"), z.guid(), z.enum(["changed", "deleted"])]),
]);
export type TDirectoryChangeRow = z.infer<typeof ZDirectoryChangeRow>;

export function toChangeRows(changes: readonly TDirectoryChange[]): TDirectoryChangeRow[] {
  return changes.map((c): TDirectoryChangeRow => {
    if (c.kind === "removed") return ["r", c.id, c.reason];
    const user = c.user as Record<string, string | boolean | null | undefined>;
    return ["u", c.user.id, ...DIRECTORY_CHANGE_FIELDS.map((f) => (user[f] === undefined ? NOT_REPORTED : user[f]!))];
  });
}

export function fromChangeRows(rows: readonly TDirectoryChangeRow[]): TDirectoryChange[] {
  return rows.map((row): TDirectoryChange => {
    if (row[0] === "r") return { kind: "removed", id: row[1], reason: row[2] };
    // A row of another length comes from an m365 of another version: refused, never read into the wrong fields.
    if (row.length !== DIRECTORY_CHANGE_FIELDS.length + 2) {
      throw new Error(
        `a directory change row has ${row.length - 2} values, this version reads ${DIRECTORY_CHANGE_FIELDS.length}`,
      );
    }
    const user: Record<string, unknown> = { id: row[1] };
    for (let i = 0; i < DIRECTORY_CHANGE_FIELDS.length; i++) {
      const value = row[i + 2];
      if (value !== NOT_REPORTED && value !== undefined) user[DIRECTORY_CHANGE_FIELDS[i]!] = value;
    }
    return { kind: "upsert", user: user as Extract<TDirectoryChange, { kind: "upsert" }>["user"] };
  });
}

export const readDirectoryChanges = defineAction({
  name: "m365.readDirectoryChanges",
  summary:
    "One page of Graph users delta: no link starts a full read; a nextLink continues it; a deltaLink asks for what changed since. " +
    "resyncRequired means the delta token expired (410) and the caller must start again without a link.",
  access: "internal",
  idempotent: true,
  params: z.object({
    link: z.url().optional(),
    pageSize: z
      .number()
      .int()
      .min(1)
      .max(999)
      .optional()
      .describe("Sent as Prefer: odata.maxpagesize; without it Graph's default page size"),
  }),
  result: z.object({
    /** fromChangeRows turns them into TDirectoryChange. */
    changes: z.array(ZDirectoryChangeRow),
    nextLink: z.url().optional(),
    deltaLink: z.url().optional(),
    resyncRequired: z.boolean(),
    /** The m365 node that read this page: it has the next one read ahead, so the next call goes there. */
    readBy: z.string().optional(),
  }),
});

export const readMailboxSettings = defineAction({
  name: "m365.readMailboxSettings",
  summary:
    "Time zone (IANA) and locale of up to 100 users, through JSON $batch; users without a mailbox get an error entry",
  access: "internal",
  idempotent: true,
  params: z.object({ userIds: z.array(z.guid()).min(1).max(100) }),
  result: z.object({
    settings: z.array(
      z.object({
        userId: z.guid(),
        timeZone: z.string().nullable().describe("IANA, converted from Windows names when Graph gives those"),
        locale: z.string().nullable(),
        error: z.string().optional(),
      }),
    ),
  }),
});

const ZEmail = z.email().max(320);

export const sendMail = defineAction({
  name: "m365.sendMail",
  summary:
    "Send an HTML mail from a mailbox (Graph sendMail, Mail.Send). Not idempotent: the caller keeps its own " +
    "de-duplication (the notifications service does)",
  access: "internal",
  params: z.object({
    senderId: z.guid().describe("Entra object id of the sending mailbox (e.g. a shared 'Hearth' mailbox)"),
    to: z.array(ZEmail).min(1).max(500),
    cc: z.array(ZEmail).max(500).optional(),
    subject: z.string().min(1).max(255),
    html: z.string().min(1).max(1_000_000),
  }),
  result: z.object({ accepted: z.literal(true) }),
});

export const installAppForUser = defineAction({
  name: "m365.installAppForUser",
  summary:
    "Install Hearth's Teams app (from the org catalog) for a user, so that the bot and the activity feed can reach them",
  access: "internal",
  idempotent: true,
  params: z.object({
    userId: z.guid(),
    teamsAppId: z.string().min(1).max(100).optional().describe("org catalog id; default: M365_TEAMS_APP_ID"),
  }),
  result: z.object({ status: z.enum(["installed", "alreadyInstalled"]) }),
});

export const sendActivityNotifications = defineAction({
  name: "m365.sendActivityNotifications",
  summary:
    "Teams activity feed notification to up to 10,000 people: sent in Graph's bulk calls of 100 as fast as the " +
    "cluster-wide budget allows. Graph accepts a bulk call as a whole and drops people without the app silently, " +
    "so m365 first installs the Teams app for people it does not know to have it (M365_TEAMS_APP_ID). With an " +
    "idempotencyKey a repeated call sends nobody twice whose bulk call Graph already accepted",
  access: "internal",
  params: z.object({
    recipientIds: z.array(z.guid()).min(1).max(10_000),
    activityType: z.string().min(1).max(64).describe("declared in the Teams app manifest (activities.activityTypes)"),
    previewText: z.string().min(1).max(150),
    topic: z.object({
      source: z.enum(["text", "entityUrl"]),
      value: z.string().min(1).max(500),
      webUrl: z.url().optional().describe("required for source 'text': a Teams deep link"),
    }),
    templateParameters: z
      .array(z.object({ name: z.string().min(1), value: z.string() }))
      .max(20)
      .optional(),
    idempotencyKey: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe(
        "the caller's key for this send: a repeat (e.g. after the caller lost the answer) gets the recorded outcome " +
          "of every bulk call already accepted and sends only the rest",
      ),
  }),
  result: z.object({
    results: z.array(
      z.object({
        userId: z.guid(),
        status: z.enum(["accepted", "failed"]),
        error: z.string().optional(),
        installed: z.boolean().optional().describe("the Teams app was installed for this person first"),
      }),
    ),
  }),
});

const ZLocalDateTime = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/, "a local date and time such as 2026-12-01T09:30:00")
  .describe("local wall-clock time in timeZone, no offset");

export const createEvent = defineAction({
  name: "m365.createEvent",
  summary:
    "Create a calendar event in the organizer's mailbox, with a Teams meeting when asked (joinUrl in the result). " +
    "The transactionId makes it idempotent: the same id again returns the first event",
  access: "internal",
  idempotent: true,
  params: z.object({
    organizerId: z.guid(),
    subject: z.string().min(1).max(255),
    bodyHtml: z.string().max(100_000).default(""),
    start: ZLocalDateTime,
    end: ZLocalDateTime,
    timeZone: z.string().min(1).max(64).describe("IANA, e.g. Europe/Berlin"),
    attendees: z
      .array(z.object({ email: ZEmail, type: z.enum(["required", "optional"]).default("required") }))
      .max(500)
      .default([]),
    isOnlineMeeting: z.boolean().default(true),
    transactionId: z.string().min(1).max(200),
    location: z.string().max(255).optional(),
  }),
  result: z.object({ eventId: z.string(), joinUrl: z.string().nullable(), webLink: z.string() }),
});

export const ZEventResponse = z.enum([
  "none",
  "organizer",
  "tentativelyAccepted",
  "accepted",
  "declined",
  "notResponded",
]);

export const readEventResponses = defineAction({
  name: "m365.readEventResponses",
  summary: "The attendees of an event and how each has answered",
  access: "internal",
  idempotent: true,
  params: z.object({ organizerId: z.guid(), eventId: z.string().min(1).max(512) }),
  result: z.object({
    attendees: z.array(z.object({ email: z.string(), response: ZEventResponse, time: z.string().nullable() })),
  }),
});

export const createTeam = defineAction({
  name: "m365.createTeam",
  summary:
    "Create a Microsoft Teams team (standard template) with its first owners, and wait until Teams has provisioned " +
    "it. Idempotent by idempotencyKey: the same key again returns the same team (also after a crash mid-way); the " +
    "same key with other parameters is refused (409)",
  access: "internal",
  idempotent: true,
  params: z.object({
    displayName: z.string().min(1).max(256),
    description: z.string().max(1024).optional(),
    ownerIds: z.array(z.guid()).min(1).max(20),
    visibility: z.enum(["private", "public"]).default("private"),
    /** The caller's key for this team (e.g. "interest-group:<id>"): one team per key, ever. */
    idempotencyKey: z.string().min(1).max(200),
  }),
  result: z.object({ teamId: z.guid(), webUrl: z.string().optional() }),
});

export const createChannel = defineAction({
  name: "m365.createChannel",
  summary: "A standard channel in a team; a channel of that name already there is returned instead",
  access: "internal",
  idempotent: true,
  params: z.object({
    teamId: z.guid(),
    displayName: z
      .string()
      .min(1)
      .max(50)
      .regex(/^[^~#%&*{}+/\\:<>?|'"]+$/, "no ~ # % & * { } + / \\ : < > ? | ' \""),
    description: z.string().max(1024).optional(),
  }),
  result: z.object({ channelId: z.string(), webUrl: z.string().nullable(), created: z.boolean() }),
});

export const addTeamMembers = defineAction({
  name: "m365.addTeamMembers",
  summary: "Add people to a team, 200 per Graph call; each person is added or failed on their own",
  access: "internal",
  idempotent: true,
  params: z.object({
    teamId: z.guid(),
    userIds: z.array(z.guid()).min(1).max(5000),
    role: z.enum(["member", "owner"]).default("member"),
  }),
  result: z.object({
    results: z.array(z.object({ userId: z.guid(), status: z.enum(["added", "failed"]), error: z.string().optional() })),
  }),
});

export const removeTeamMember = defineAction({
  name: "m365.removeTeamMember",
  summary: "Remove a person from a team",
  access: "internal",
  idempotent: true,
  params: z.object({ teamId: z.guid(), userId: z.guid() }),
  result: z.object({ status: z.enum(["removed", "notMember"]) }),
});
