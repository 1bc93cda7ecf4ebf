// SQL of the onboarding schema, and the write paths every entry point shares (journey start, task completion,
// buddy proposals), each inside the caller's transaction with its domain events.
import { randomUUID } from "node:crypto";
import { buddyAssigned, journeyCompleted, journeyStarted, type TTask, taskCompleted } from "@hearth/contracts";
import type { DatabaseThis } from "@hearth/platform";
import type { EntityManager } from "@mikro-orm/core";
import { chooseTemplate, DEFAULT_TEMPLATE, render, type TemplateStep } from "./domain/journey-template.ts";
import { type CalendarConfig, dueFor, type ScheduledTask } from "./domain/schedule.ts";

export const T = (table: string) => `"onboarding"."${table}"`;

export function sql<R = any>(em: EntityManager, query: string, params: unknown[] = []): Promise<R[]> {
  return (em as unknown as { execute(q: string, p: unknown[]): Promise<R[]> }).execute(query, params);
}

export type Settings = { tenantId: string; companyName: string };
export type OnboardingThis = DatabaseThis & { settings: Settings & Record<string, unknown> };

export type PersonRow = {
  employee_id: string;
  display_name: string | null;
  department: string | null;
  office: string | null;
  time_zone: string | null;
  country: string | null;
  job_title: string | null;
  hire_date: string | null;
  leave_date: string | null;
  active: boolean;
  manager_chain: string[];
  opted_in: boolean;
  interests: string[];
  languages: string[];
  capacity: number;
  paused_until: string | null;
  last_assigned_at: Date | null;
};

export type Person = {
  id: string;
  displayName: string | null;
  department: string | null;
  jobTitle: string | null;
  office: string | null;
  country: string | null;
  timeZone: string | null;
  preferredLanguage: string | null;
  managerId: string | null;
  hireDate: string | null;
  leaveDate?: string | null;
};

/** Every employee the directory told us about: the buddy pool and the owners' time zones (event-carried state). */
export async function upsertPerson(em: EntityManager, tenantId: string, p: Person): Promise<void> {
  await sql(
    em,
    `insert into ${T("buddy_profiles")} (employee_id, tenant_id, opted_in, interests, languages, capacity,
       display_name, department, office, time_zone, country, job_title, hire_date, leave_date, active, manager_chain,
       updated_at)
     values (?, ?, false, '[]', ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, true, ?, now())
     on conflict (employee_id) do update set display_name = excluded.display_name,
       department = excluded.department, office = coalesce(excluded.office, ${T("buddy_profiles")}.office),
       time_zone = excluded.time_zone, country = excluded.country, job_title = excluded.job_title,
       hire_date = excluded.hire_date, manager_chain = excluded.manager_chain,
       languages = case when ${T("buddy_profiles")}.opted_in then ${T("buddy_profiles")}.languages
                        else excluded.languages end,
       updated_at = now()`,
    [
      p.id,
      tenantId,
      JSON.stringify(p.preferredLanguage ? [p.preferredLanguage.slice(0, 2)] : []),
      p.displayName,
      p.department,
      p.office,
      p.timeZone,
      p.country?.slice(0, 2) ?? null,
      p.jobTitle,
      p.hireDate,
      p.leaveDate ?? null,
      JSON.stringify(p.managerId ? [p.managerId] : []),
    ],
  );
}

export async function loadPeople(em: EntityManager, ids: string[]): Promise<Map<string, PersonRow>> {
  if (ids.length === 0) return new Map();
  const rows = await sql<PersonRow>(
    em,
    `select * from ${T("buddy_profiles")} where employee_id in (${ids.map(() => "?").join(", ")})`,
    ids,
  );
  return new Map(rows.map((r) => [r.employee_id, r]));
}

/** Direct manager first, from the local directory (manager_chain holds the direct manager). */
export function managerChain(people: Map<string, { manager_chain: string[] }>, id: string): string[] {
  const chain: string[] = [];
  let current = people.get(id)?.manager_chain[0];
  while (current && !chain.includes(current) && chain.length < 20) {
    chain.push(current);
    current = people.get(current)?.manager_chain[0];
  }
  return chain;
}

export type TemplateRow = {
  id: string;
  name: string;
  version: number;
  audience: Record<string, unknown>;
  priority: number;
  steps: TemplateStep[];
  active: boolean;
  created_at: Date;
};

export async function ensureDefaultTemplate(em: EntityManager, tenantId: string): Promise<void> {
  await sql(
    em,
    `insert into ${T("templates")} (id, tenant_id, name, version, audience, priority, steps, active, created_at)
     values (?, ?, ?, 1, ?, ?, ?, true, now()) on conflict do nothing`,
    [
      randomUUID(),
      tenantId,
      DEFAULT_TEMPLATE.name,
      JSON.stringify(DEFAULT_TEMPLATE.audience),
      DEFAULT_TEMPLATE.priority,
      JSON.stringify(DEFAULT_TEMPLATE.steps),
    ],
  );
}

export async function activeTemplates(em: EntityManager, tenantId: string): Promise<TemplateRow[]> {
  return sql<TemplateRow>(
    em,
    `select * from ${T("templates")} where tenant_id = ? and active order by name, version desc`,
    [tenantId],
  );
}

export type JourneyRow = {
  id: string;
  tenant_id: string;
  new_hire_id: string;
  person: Record<string, string | null> | null;
  template_id: string;
  hire_date: string;
  status: "active" | "completed" | "ended";
  manager_id: string | null;
  manager_chain: string[];
  buddy_id: string | null;
  buddy_status: "none" | "proposed" | "accepted";
  buddy_score: number | null;
  buddy_explanation: string | null;
  buddy_assigned_at: Date | null;
  declined_buddies: string[];
  started_at: Date;
  completed_at: Date | null;
};

export type TaskRow = {
  id: string;
  journey_id: string;
  step_key: string;
  title: string;
  content: string;
  link: string | null;
  owner: TTask["owner"];
  owner_id: string | null;
  offset_days: number;
  unit: "working" | "calendar";
  owner_time_zone: string | null;
  owner_country: string | null;
  due_date: string;
  due_at: Date | string;
  status: TTask["status"];
  requires_confirmation: boolean;
  completed_at: Date | string | null;
  completed_by: string | null;
  nudges: string[];
};

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString().replace(/\.\d{3}Z$/, "Z"));

export function taskView(t: TaskRow, journey: Pick<JourneyRow, "new_hire_id" | "person">): TTask {
  return {
    id: t.id,
    journeyId: t.journey_id,
    stepKey: t.step_key,
    title: t.title,
    content: t.content,
    link: t.link,
    owner: t.owner,
    ownerId: t.owner_id,
    newHireId: journey.new_hire_id,
    newHireName: journey.person?.displayName ?? null,
    dueDate: t.due_date,
    dueAt: iso(t.due_at) as string,
    status: t.status,
    requiresConfirmation: t.requires_confirmation,
    completedAt: iso(t.completed_at),
  };
}

export async function journeyView(em: EntityManager, journey: JourneyRow) {
  const [template] = await sql<{ name: string; version: number }>(
    em,
    `select name, version from ${T("templates")} where id = ?`,
    [journey.template_id],
  );
  const tasks = await sql<TaskRow>(em, `select * from ${T("tasks")} where journey_id = ? order by due_at, step_key`, [
    journey.id,
  ]);
  return {
    id: journey.id,
    newHireId: journey.new_hire_id,
    newHireName: journey.person?.displayName ?? null,
    templateId: journey.template_id,
    templateName: template?.name ?? "",
    templateVersion: template?.version ?? 0,
    hireDate: journey.hire_date,
    status: journey.status,
    buddyId: journey.buddy_id,
    buddyStatus: journey.buddy_status,
    progress: { done: tasks.filter((t) => t.status !== "open").length, total: tasks.length },
    tasks: tasks.map((t) => taskView(t, journey)),
  };
}

type Owner = { id: string | null; timeZone: string | null; country: string | null; name: string | null };

function ownerFor(
  step: TemplateStep,
  hire: PersonRow,
  manager: PersonRow | undefined,
  buddy: PersonRow | undefined,
  hr: PersonRow | undefined,
): Owner {
  const of = (p: PersonRow | undefined): Owner => ({
    id: p?.employee_id ?? null,
    timeZone: p?.time_zone ?? hire.time_zone,
    country: p?.country ?? hire.country,
    name: p?.display_name ?? null,
  });
  if (step.owner === "newHire") return of(hire);
  if (step.owner === "manager") return of(manager);
  if (step.owner === "buddy") return buddy ? of(buddy) : { ...of(undefined), id: null };
  // HR tasks: the journey's HR owner (settings.hrOwnerIds); with none configured, anyone with the HR role through
  // the API, due in the new hire's calendar.
  return of(hr);
}

/**
 * The HR owner with the fewest open HR tasks (ties: the order HR listed them); null when none is configured or
 * every one of them has left.
 */
export async function pickHrOwner(em: EntityManager, hrOwnerIds: readonly string[]): Promise<string | null> {
  if (hrOwnerIds.length === 0) return null;
  const rows = await sql<{ employee_id: string; open: number }>(
    em,
    `select b.employee_id, (select count(*) from ${T("tasks")} t join ${T("journeys")} j on j.id = t.journey_id
       where t.owner = 'hr' and t.owner_id = b.employee_id and t.status = 'open' and j.status = 'active')::int as open
     from ${T("buddy_profiles")} b where b.employee_id in (${hrOwnerIds.map(() => "?").join(", ")}) and b.active`,
    [...hrOwnerIds],
  );
  const load = new Map(rows.map((r) => [r.employee_id, r.open]));
  let best: string | null = null;
  for (const id of hrOwnerIds) {
    const open = load.get(id);
    if (open === undefined) continue;
    if (best === null || open < (load.get(best) as number)) best = id;
  }
  return best;
}

/**
 * Gives the open HR steps of active journeys whose owner is not (or no longer) an active HR owner to one who is:
 * all of a journey's HR steps to the same person, due in their zone.
 */
export async function reassignHrTasks(
  em: EntityManager,
  hrOwnerIds: readonly string[],
  calendar: CalendarConfig,
): Promise<number> {
  const active = new Set(
    hrOwnerIds.length === 0
      ? []
      : (
          await sql<{ employee_id: string }>(
            em,
            `select employee_id from ${T("buddy_profiles")} where active and employee_id in (${hrOwnerIds
              .map(() => "?")
              .join(", ")})`,
            [...hrOwnerIds],
          )
        ).map((r) => r.employee_id),
  );
  const stale = await sql<TaskRow & { hire_date: string }>(
    em,
    `select t.*, j.hire_date from ${T("tasks")} t join ${T("journeys")} j on j.id = t.journey_id
     where t.owner = 'hr' and t.status = 'open' and j.status = 'active' order by j.hire_date, t.due_at`,
  );
  const ownerOf = new Map<string, string | null>();
  let moved = 0;
  for (const t of stale) {
    if (t.owner_id !== null && active.has(t.owner_id)) continue;
    if (!ownerOf.has(t.journey_id)) ownerOf.set(t.journey_id, await pickHrOwner(em, [...active]));
    const ownerId = ownerOf.get(t.journey_id) ?? null;
    if (ownerId === t.owner_id) continue;
    const person = ownerId ? (await loadPeople(em, [ownerId])).get(ownerId) : undefined;
    const timeZone = person?.time_zone ?? t.owner_time_zone;
    const country = person?.country ?? t.owner_country;
    const due = dueFor({ hireDate: t.hire_date, offsetDays: t.offset_days, unit: t.unit, timeZone, country }, calendar);
    await sql(
      em,
      `update ${T("tasks")} set owner_id = ?, owner_time_zone = ?, owner_country = ?, due_date = ?, due_at = ?,
         nudges = '[]' where id = ?`,
      [ownerId, timeZone, country, due.dueDate, due.dueAt, t.id],
    );
    moved++;
  }
  return moved;
}

function renderContext(settings: Settings, hire: PersonRow, manager?: PersonRow, buddy?: PersonRow) {
  const given = (p?: PersonRow) => p?.display_name?.split(" ")[0] ?? null;
  return {
    person: {
      displayName: hire.display_name,
      givenName: given(hire),
      surname: hire.display_name?.split(" ").slice(1).join(" ") ?? null,
      department: hire.department,
      jobTitle: hire.job_title,
      office: hire.office,
      country: hire.country,
      hireDate: hire.hire_date,
    },
    manager: manager ? { displayName: manager.display_name, givenName: given(manager) } : null,
    buddy: buddy ? { displayName: buddy.display_name, givenName: given(buddy) } : null,
    company: { name: settings.companyName },
  };
}

/** Starts the journey of someone (once: a second start returns the existing one). */
export async function startJourney(
  service: OnboardingThis,
  em: EntityManager,
  employeeId: string,
  programme: { hrOwnerIds: readonly string[]; calendar: CalendarConfig },
  templateId?: string,
): Promise<JourneyRow | null> {
  const { tenantId } = service.settings;
  const [existing] = await sql<JourneyRow>(em, `select * from ${T("journeys")} where new_hire_id = ?`, [employeeId]);
  if (existing) return existing;
  const people = await loadPeople(em, [employeeId]);
  const hire = people.get(employeeId);
  if (!hire?.hire_date) return null;
  const directory = await loadDirectoryChains(em);
  const chain = managerChain(directory, employeeId);
  const managers = await loadPeople(em, chain.slice(0, 1));
  const manager = chain[0] ? managers.get(chain[0]) : undefined;
  await ensureDefaultTemplate(em, tenantId);
  const templates = await activeTemplates(em, tenantId);
  const latest = [...new Map(templates.map((t) => [t.name, t])).values()];
  const template = templateId
    ? (await sql<TemplateRow>(em, `select * from ${T("templates")} where id = ?`, [templateId]))[0]
    : chooseTemplate(
        latest.map((t) => ({ ...t, audience: t.audience as never })),
        { department: hire.department, office: hire.office, country: hire.country, jobTitle: hire.job_title },
      );
  if (!template) return null;
  const hrOwnerId = template.steps.some((st) => st.owner === "hr") ? await pickHrOwner(em, programme.hrOwnerIds) : null;
  const hr = hrOwnerId ? (await loadPeople(em, [hrOwnerId])).get(hrOwnerId) : undefined;
  // Started after day one (a late directory entry, or HR by hand): pre-boarding that is already past is skipped.
  const today = new Date().toISOString().slice(0, 10);
  const journeyId = randomUUID();
  const context = renderContext(service.settings, hire, manager);
  await sql(
    em,
    `insert into ${T("journeys")} (id, tenant_id, new_hire_id, person, template_id, hire_date, status, manager_id,
       manager_chain, buddy_status, declined_buddies, started_at)
     values (?, ?, ?, ?, ?, ?, 'active', ?, ?, 'none', '[]', now())`,
    [
      journeyId,
      tenantId,
      employeeId,
      JSON.stringify(context.person),
      template.id,
      hire.hire_date,
      manager?.employee_id ?? null,
      JSON.stringify(chain),
    ],
  );
  for (const step of template.steps) {
    const owner = ownerFor(step, hire, manager, undefined, hr);
    const due = dueFor(
      {
        hireDate: hire.hire_date,
        offsetDays: step.offsetDays,
        unit: step.unit,
        timeZone: owner.timeZone,
        country: owner.country,
      },
      programme.calendar,
    );
    const skipped = step.offsetDays < 0 && hire.hire_date < today && due.dueDate < today;
    await sql(
      em,
      `insert into ${T("tasks")} (id, journey_id, step_key, title, content, link, owner, owner_id, offset_days, unit,
         owner_time_zone, owner_country, due_date, due_at, status, requires_confirmation, nudges)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]')`,
      [
        randomUUID(),
        journeyId,
        step.key,
        render(step.title, context),
        render(step.content, context),
        step.link ? render(step.link, context) : null,
        step.owner,
        owner.id,
        step.offsetDays,
        step.unit,
        owner.timeZone,
        owner.country,
        due.dueDate,
        due.dueAt,
        skipped ? "skipped" : "open",
        step.requiresConfirmation,
      ],
    );
  }
  service.recordEvent(em, journeyStarted, {
    tenantId,
    journeyId,
    newHireId: employeeId,
    templateId: template.id,
    templateVersion: template.version,
    hireDate: hire.hire_date,
    tasks: template.steps.length,
  });
  const [journey] = await sql<JourneyRow>(em, `select * from ${T("journeys")} where id = ?`, [journeyId]);
  return journey ?? null;
}

export async function loadDirectoryChains(em: EntityManager): Promise<Map<string, { manager_chain: string[] }>> {
  const rows = await sql<{ employee_id: string; manager_chain: string[] }>(
    em,
    `select employee_id, manager_chain from ${T("buddy_profiles")}`,
  );
  return new Map(rows.map((r) => [r.employee_id, r]));
}

/** Re-owns the buddy's open tasks once a buddy is known (or cleared), due in their zone. */
export async function setBuddyOnTasks(
  em: EntityManager,
  journey: JourneyRow,
  buddyId: string | null,
  calendar: CalendarConfig,
) {
  await setOwnerOnTasks(em, journey, "buddy", buddyId, calendar);
}

/** Hands a role's open tasks of a journey to another person (or none), due in their zone, nudged afresh. */
export async function setOwnerOnTasks(
  em: EntityManager,
  journey: JourneyRow,
  role: "buddy" | "manager",
  personId: string | null,
  calendar: CalendarConfig,
) {
  const people = await loadPeople(em, [journey.new_hire_id, ...(personId ? [personId] : [])]);
  const hire = people.get(journey.new_hire_id);
  const person = personId ? people.get(personId) : undefined;
  const open = await sql<TaskRow>(
    em,
    `select * from ${T("tasks")} where journey_id = ? and owner = ? and status = 'open'`,
    [journey.id, role],
  );
  for (const t of open) {
    const timeZone = person?.time_zone ?? hire?.time_zone ?? null;
    const country = person?.country ?? hire?.country ?? null;
    const due = dueFor(
      { hireDate: journey.hire_date, offsetDays: t.offset_days, unit: t.unit, timeZone, country },
      calendar,
    );
    await sql(
      em,
      `update ${T("tasks")} set owner_id = ?, owner_time_zone = ?, owner_country = ?, due_date = ?, due_at = ?,
         nudges = case when owner_id is distinct from ? then '[]'::jsonb else nudges end
       where id = ?`,
      [personId, timeZone, country, due.dueDate, due.dueAt, personId, t.id],
    );
  }
}

export async function proposeBuddy(
  service: OnboardingThis,
  em: EntityManager,
  journey: JourneyRow,
  buddyId: string,
  score: number,
  explanation: string,
  by: "matcher" | "hr",
  calendar: CalendarConfig,
) {
  await sql(
    em,
    `update ${T("journeys")} set buddy_id = ?, buddy_status = 'proposed', buddy_score = ?, buddy_explanation = ?,
       buddy_assigned_at = now() where id = ?`,
    [buddyId, score, explanation, journey.id],
  );
  await sql(em, `update ${T("buddy_profiles")} set last_assigned_at = now() where employee_id = ?`, [buddyId]);
  await setBuddyOnTasks(em, journey, buddyId, calendar);
  service.recordEvent(em, buddyAssigned, {
    tenantId: journey.tenant_id,
    journeyId: journey.id,
    newHireId: journey.new_hire_id,
    buddyId,
    score,
    explanation,
    by,
  });
}

export type Actor = { objectId: string | null; isHr: boolean };

/** Completes a task (its owner, the new hire for their own, or HR); the last task completes the journey. */
export async function completeTask(
  service: OnboardingThis,
  em: EntityManager,
  taskId: string,
  actor: Actor,
  options: { onTime?: boolean } = {},
): Promise<{ task: TaskRow; journey: JourneyRow; already: boolean } | { refused: string }> {
  const [task] = await sql<TaskRow>(em, `select * from ${T("tasks")} where id = ? for update`, [taskId]);
  if (!task) return { refused: "not-found" };
  const [journey] = await sql<JourneyRow>(em, `select * from ${T("journeys")} where id = ? for update`, [
    task.journey_id,
  ]);
  if (!journey) return { refused: "not-found" };
  const allowed =
    actor.isHr ||
    actor.objectId === null ||
    (task.owner_id !== null && task.owner_id === actor.objectId) ||
    (task.owner === "newHire" && journey.new_hire_id === actor.objectId);
  if (!allowed) return { refused: "forbidden" };
  if (task.status !== "open") return { task, journey, already: true };
  if (journey.status === "ended") return { refused: "ended" };
  const [updated] = await sql<TaskRow>(
    em,
    `update ${T("tasks")} set status = 'done', completed_at = now(), completed_by = ? where id = ? returning *`,
    [actor.objectId, taskId],
  );
  service.recordEvent(em, taskCompleted, {
    tenantId: journey.tenant_id,
    journeyId: journey.id,
    newHireId: journey.new_hire_id,
    taskId,
    stepKey: task.step_key,
    owner: task.owner,
    completedBy: actor.objectId,
    dueDate: task.due_date,
    // A step that needs no confirmation is closed by the service when it falls due: never late.
    late: !options.onTime && new Date(task.due_at).getTime() < Date.now(),
  });
  const [{ open }] = (await sql<{ open: number }>(
    em,
    `select count(*)::int as open from ${T("tasks")} where journey_id = ? and status = 'open'`,
    [journey.id],
  )) as [{ open: number }];
  let current = journey;
  if (open === 0 && journey.status === "active") {
    [current] = (await sql<JourneyRow>(
      em,
      `update ${T("journeys")} set status = 'completed', completed_at = now() where id = ? returning *`,
      [journey.id],
    )) as [JourneyRow];
    service.recordEvent(em, journeyCompleted, {
      tenantId: journey.tenant_id,
      journeyId: journey.id,
      newHireId: journey.new_hire_id,
      hireDate: journey.hire_date,
    });
  }
  return { task: updated as TaskRow, journey: current, already: false };
}

/** A changed calendar: every open task of an active journey gets its due date again. */
export async function rescheduleOpenTasks(em: EntityManager, calendar: CalendarConfig): Promise<number> {
  const rows = await sql<TaskRow & { hire_date: string }>(
    em,
    `select t.*, j.hire_date from ${T("tasks")} t join ${T("journeys")} j on j.id = t.journey_id
     where t.status = 'open' and j.status = 'active'`,
  );
  let moved = 0;
  for (const t of rows) {
    const due = dueFor(
      {
        hireDate: t.hire_date,
        offsetDays: t.offset_days,
        unit: t.unit,
        timeZone: t.owner_time_zone,
        country: t.owner_country,
      },
      calendar,
    );
    if (due.dueDate === t.due_date && due.dueAt === iso(t.due_at)) continue;
    await sql(em, `update ${T("tasks")} set due_date = ?, due_at = ?, nudges = '[]' where id = ?`, [
      due.dueDate,
      due.dueAt,
      t.id,
    ]);
    moved++;
  }
  return moved;
}

export function rescheduleRows(tasks: TaskRow[]): ScheduledTask[] {
  return tasks.map((t) => ({
    id: t.id,
    status: t.status,
    offsetDays: t.offset_days,
    unit: t.unit,
    ownerTimeZone: t.owner_time_zone,
    ownerCountry: t.owner_country,
    dueDate: t.due_date,
    dueAt: iso(t.due_at) as string,
  }));
}
