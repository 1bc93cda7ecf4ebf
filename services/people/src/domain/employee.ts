// Pure directory rules: how a change turns the current employee into the next one, and which events that is.
// No Moleculer, no ORM: the service loads, calls these, and stores.
import type { TDirectoryChange } from "@hearth/contracts";

export type Source = "graph" | "csv";

/** The profile fields Hearth keeps (minimisation: nothing else from Graph or the HRIS). */
export const PROFILE_FIELDS = [
  "displayName",
  "givenName",
  "surname",
  "mail",
  "upn",
  "department",
  "jobTitle",
  "office",
  "country",
  "timeZone",
  "preferredLanguage",
  "managerId",
  "hireDate",
  "leaveDate",
  "enabled",
] as const;
export type ProfileField = (typeof PROFILE_FIELDS)[number];

export type Profile = {
  displayName: string | null;
  givenName: string | null;
  surname: string | null;
  mail: string | null;
  upn: string | null;
  department: string | null;
  jobTitle: string | null;
  office: string | null;
  country: string | null;
  timeZone: string | null;
  preferredLanguage: string | null;
  managerId: string | null;
  /** YYYY-MM-DD */
  hireDate: string | null;
  /** YYYY-MM-DD */
  leaveDate: string | null;
  enabled: boolean;
};

export type EmployeeState = Profile & {
  tenantId: string;
  objectId: string;
  source: Source;
  status: "active" | "left";
  /** employee.hired has been emitted for this person (never twice). */
  hiredAnnounced: boolean;
  /** The language came from the mailbox locale (the directory records none): a delta's null does not clear it. */
  languageFromMailbox?: boolean;
};

export type EmployeeEvent =
  | { name: "employee.hired"; payload: HiredPayload }
  | { name: "employee.updated"; payload: UpdatedPayload }
  | { name: "employee.left"; payload: LeftPayload };

export type HiredPayload = {
  tenantId: string;
  objectId: string;
  displayName: string | null;
  mail: string | null;
  department: string | null;
  jobTitle: string | null;
  managerId: string | null;
  country: string | null;
  timeZone: string | null;
  preferredLanguage: string | null;
  hireDate: string;
  source: Source;
};
export type UpdatedPayload = {
  tenantId: string;
  objectId: string;
  fields: ProfileField[];
  changes: Partial<Record<ProfileField, string | boolean | null>>;
};
export type LeftPayload = {
  tenantId: string;
  objectId: string;
  leaveDate: string | null;
  reason: "leave-date" | "disabled" | "removed";
};

export type Outcome = {
  next: EmployeeState | undefined;
  events: EmployeeEvent[];
  /** What happened to the stored record. */
  kind: "created" | "updated" | "unchanged" | "ignored";
};

export type ApplyContext = {
  tenantId: string;
  /** Today in YYYY-MM-DD (UTC): leave dates up to today are past. */
  today: string;
  source: Source;
};

/** Fields from Microsoft 365 mailbox settings, fetched separately. */
export type MailboxSettings = { timeZone?: string | null; locale?: string | null };

export function toDate(value: string | null | undefined): string | null | undefined {
  if (value === undefined || value === null) return value;
  const trimmed = value.trim();
  if (trimmed === "") return null;
  return trimmed.slice(0, 10);
}

function blankProfile(): Profile {
  return {
    displayName: null,
    givenName: null,
    surname: null,
    mail: null,
    upn: null,
    department: null,
    jobTitle: null,
    office: null,
    country: null,
    timeZone: null,
    preferredLanguage: null,
    managerId: null,
    hireDate: null,
    leaveDate: null,
    enabled: true,
  };
}

/** A partial profile from a Graph delta upsert: only what the page reported (undefined = not reported). */
export function profileFromDirectoryUser(
  user: Extract<TDirectoryChange, { kind: "upsert" }>["user"],
): Partial<Profile> {
  const patch: Partial<Profile> = {};
  const set = <K extends keyof Profile>(key: K, value: Profile[K] | undefined) => {
    if (value !== undefined) patch[key] = value;
  };
  set("displayName", user.displayName);
  set("givenName", user.givenName);
  set("surname", user.surname);
  set("mail", user.mail?.toLowerCase() ?? user.mail);
  set("upn", user.userPrincipalName?.toLowerCase() ?? user.userPrincipalName);
  set("department", user.department);
  set("jobTitle", user.jobTitle);
  set("office", user.officeLocation);
  set("country", user.country?.toUpperCase() ?? user.country);
  set("preferredLanguage", user.preferredLanguage);
  set("managerId", user.managerId);
  set("hireDate", toDate(user.employeeHireDate));
  set("leaveDate", toDate(user.employeeLeaveDateTime));
  if (user.accountEnabled !== undefined) patch.enabled = user.accountEnabled ?? true;
  return patch;
}

function isActive(p: Profile, today: string): boolean {
  return p.enabled && !(p.leaveDate !== null && p.leaveDate <= today);
}

/**
 * Applies a partial profile to the current employee (or creates them). Emits:
 * - employee.hired the first time the person is active with a hire date (once per person, ever);
 * - employee.updated with the fields that really changed (existing people only);
 * - employee.left when an active person becomes inactive (disabled, leave date reached, or removed).
 * Applying the same patch again changes nothing and emits nothing.
 */
export function applyProfile(
  current: EmployeeState | undefined,
  objectId: string,
  patch: Partial<Profile>,
  ctx: ApplyContext,
  removed = false,
): Outcome {
  const base: EmployeeState = current ?? {
    ...blankProfile(),
    tenantId: ctx.tenantId,
    objectId,
    source: ctx.source,
    status: "active",
    hiredAnnounced: false,
  };
  const next: EmployeeState = { ...base };
  for (const field of PROFILE_FIELDS) {
    if (patch[field] !== undefined) (next as Record<string, unknown>)[field] = patch[field];
  }
  // "No language" from the directory keeps the one the mailbox gave; a language from the directory wins.
  if (patch.preferredLanguage === null && base.languageFromMailbox) next.preferredLanguage = base.preferredLanguage;
  else if (patch.preferredLanguage) next.languageFromMailbox = false;
  // Microsoft 365 is the source of truth once it knows the person.
  if (ctx.source === "graph") next.source = "graph";
  const wasActive = current ? current.status === "active" : false;
  const nowActive = isActive(next, ctx.today);
  next.status = nowActive ? "active" : "left";

  const events: EmployeeEvent[] = [];
  const changed: ProfileField[] = current ? PROFILE_FIELDS.filter((f) => current[f] !== next[f]) : [];
  if (current && changed.length > 0) {
    const changes: UpdatedPayload["changes"] = {};
    for (const f of changed) changes[f] = next[f];
    events.push({
      name: "employee.updated",
      payload: { tenantId: next.tenantId, objectId, fields: changed, changes },
    });
  }
  if (nowActive && !next.hiredAnnounced && next.hireDate !== null) {
    next.hiredAnnounced = true;
    events.push(hiredEvent(next));
  }
  if (wasActive && !nowActive) {
    events.push({
      name: "employee.left",
      payload: {
        tenantId: next.tenantId,
        objectId,
        leaveDate: next.leaveDate,
        reason: removed ? "removed" : !next.enabled ? "disabled" : "leave-date",
      },
    });
  }
  const kind = !current
    ? "created"
    : changed.length > 0 || next.status !== current.status || next.hiredAnnounced !== current.hiredAnnounced
      ? "updated"
      : "unchanged";
  return { next, events, kind };
}

/**
 * The employee.hired of a person as they are: what applyProfile emits when they are hired, and how a hire held
 * as a mark on their row (nothing about them changed since) becomes its event again.
 */
export function hiredEvent(s: EmployeeState): Extract<EmployeeEvent, { name: "employee.hired" }> {
  if (s.hireDate === null) throw new Error(`employee ${s.objectId} has no hire date to announce`);
  return {
    name: "employee.hired",
    payload: {
      tenantId: s.tenantId,
      objectId: s.objectId,
      displayName: s.displayName,
      mail: s.mail,
      department: s.department,
      jobTitle: s.jobTitle,
      managerId: s.managerId,
      country: s.country,
      timeZone: s.timeZone,
      preferredLanguage: s.preferredLanguage,
      hireDate: s.hireDate,
      source: s.source,
    },
  };
}

/** One Graph delta change (mailbox settings follow apart: settleMailboxSettings). */
export function applyDirectoryChange(
  current: EmployeeState | undefined,
  change: TDirectoryChange,
  ctx: ApplyContext,
): Outcome {
  if (change.kind === "removed") {
    // Never seen, nothing to remove: do not create a record just to say they are gone.
    if (!current) return { next: undefined, events: [], kind: "ignored" };
    return removeEmployee(current, ctx);
  }
  return applyProfile(current, change.user.id, profileFromDirectoryUser(change.user), ctx);
}

/** Removed from the directory (deleted, or out of the synced scope): disabled, with a leave date. */
export function removeEmployee(current: EmployeeState, ctx: ApplyContext): Outcome {
  const patch: Partial<Profile> = { enabled: false };
  if (current.leaveDate === null || current.leaveDate > ctx.today) patch.leaveDate = ctx.today;
  return applyProfile(current, current.objectId, patch, ctx, current.status === "active");
}

/** Time passing: a leave date that is now reached turns an active person into a leaver. */
export function applyToday(current: EmployeeState, ctx: Omit<ApplyContext, "source">): Outcome {
  return applyProfile(current, current.objectId, {}, { ...ctx, source: current.source });
}

/** Does this change alter the person (so their mailbox settings are worth fetching)? */
export function needsMailboxSettings(change: TDirectoryChange, outcome: Outcome): boolean {
  return change.kind === "upsert" && (outcome.kind === "created" || outcome.kind === "updated");
}

/**
 * Mailbox settings arrive after the directory fields (they are fetched per person, apart from the delta read), and
 * the person's events were held until then so that nobody hears of a hire without its time zone:
 * - a held employee.hired gets the time zone and (if the directory had none) the language;
 * - otherwise what the mailbox changed goes out as one more employee.updated, after the held events — unless the
 *   person is new (`firstAppearance`): their first settings are part of how they appeared, not a change.
 * Without settings (no mailbox, or none readable) the held events go out as they are.
 */
export function settleMailboxSettings(
  current: EmployeeState,
  held: readonly EmployeeEvent[],
  mailbox: MailboxSettings | undefined,
  firstAppearance = false,
): { next: EmployeeState; events: EmployeeEvent[] } {
  const next: EmployeeState = { ...current };
  if (mailbox?.timeZone) next.timeZone = mailbox.timeZone;
  // The mailbox locale fills in a language the directory does not record (and follows the locale after that).
  if (mailbox?.locale && (!current.preferredLanguage || current.languageFromMailbox)) {
    next.preferredLanguage = mailbox.locale;
    next.languageFromMailbox = true;
  }
  const changed = (["timeZone", "preferredLanguage"] as const).filter((f) => next[f] !== current[f]);
  const events = held.map((e): EmployeeEvent => {
    if (e.name !== "employee.hired") return e;
    const payload = { ...e.payload };
    if (changed.includes("timeZone")) payload.timeZone = next.timeZone;
    if (changed.includes("preferredLanguage") && !payload.preferredLanguage) {
      payload.preferredLanguage = next.preferredLanguage;
    }
    return { name: e.name, payload };
  });
  if (changed.length > 0 && !firstAppearance && !held.some((e) => e.name === "employee.hired")) {
    const changes: UpdatedPayload["changes"] = {};
    for (const f of changed) changes[f] = next[f];
    events.push({
      name: "employee.updated",
      payload: { tenantId: next.tenantId, objectId: next.objectId, fields: [...changed], changes },
    });
  }
  return { next, events };
}
