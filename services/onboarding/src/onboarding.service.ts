// Onboarding journeys and the buddy programme: thin handlers over the domain (matching, scheduling, templates)
// and the store. Journeys start from employee.hired; tasks are completed from the API or a Teams card.
import { randomUUID } from "node:crypto";
import {
  assignBuddy,
  buddyAccepted,
  buddyDeclined,
  checkinSubmitted,
  completeTask as completeTaskContract,
  getJourney,
  getMyJourney,
  getReports,
  getSettings,
  handleOnboardingCardAction,
  listMyTasks,
  listTemplates,
  needsAttention,
  respondToBuddyRequest,
  runBuddyMatching,
  runNudges,
  saveTemplate,
  startJourney as startJourneyContract,
  submitCheckin,
  updateMyBuddyProfile,
  updateSettings,
} from "@hearth/contracts";
import {
  action,
  type Caller,
  call,
  configOf,
  DEV_TENANT_ID,
  type DomainEvent,
  databaseMixin,
  ForbiddenError,
  hasAnyRole,
  NotFoundError,
  ValidationFailedError,
} from "@hearth/platform";
import type { EntityManager } from "@mikro-orm/core";
import type moleculer from "moleculer";
import { database } from "./database.ts";
import {
  type BuddyCandidate,
  explain,
  matchBuddies,
  type NewHire,
  pairBlocks,
  scorePair,
} from "./domain/buddy-matching.ts";
import { validateTemplate } from "./domain/journey-template.ts";
import { reschedule } from "./domain/schedule.ts";
import { seedDemoOnboarding } from "./seed.ts";
import {
  calendarOf,
  hardRulesOf,
  loadSettings,
  mergeSettings,
  type StoredSettings,
  saveSettings,
  settingsProblems,
} from "./settings.ts";
import {
  type Actor,
  completeTask,
  ensureDefaultTemplate,
  type JourneyRow,
  journeyView,
  loadDirectoryChains,
  loadPeople,
  managerChain,
  type OnboardingThis,
  type PersonRow,
  proposeBuddy,
  reassignHrTasks,
  rescheduleOpenTasks,
  rescheduleRows,
  setBuddyOnTasks,
  setOwnerOnTasks,
  sql,
  startJourney,
  T,
  type TaskRow,
  type TemplateRow,
  taskView,
  upsertPerson,
} from "./store.ts";

const HR = ["HR", "Admin"] as const;

/** The service's own settings; the programme's rules are per tenant in the database (settings.ts). */
type Settings = {
  tenantId: string;
  companyName: string;
  pollMs: number;
};

type This = OnboardingThis & {
  settings: Settings;
  programme(em?: EntityManager): Promise<StoredSettings>;
  timer?: NodeJS.Timeout;
  polling?: Promise<unknown>;
  matchPending(): Promise<{
    matches: Array<{ journeyId: string; newHireId: string; buddyId: string; score: number; explanation: string }>;
    unmatched: string[];
  }>;
  nudge(now: Date): Promise<{ dueToday: number; overdue: number; escalated: number; checkins: number; closed: number }>;
  promptCheckins(now: Date): Promise<number>;
};

const card = (text: string, facts: Array<{ title: string; value: string }> = []) => ({
  type: "AdaptiveCard" as const,
  $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
  version: "1.5",
  body: [{ type: "TextBlock", text, wrap: true }, ...(facts.length > 0 ? [{ type: "FactSet", facts }] : [])],
});

// The cards onboarding answers Teams with, in the language of the person's Teams client (the invoke's locale).
const CARD_TEXT = {
  en: {
    taskGone: "This task no longer exists.",
    notYours: "Only the person this task is for can complete it.",
    ended: "This journey has ended.",
    done: (title: string) => `Done: ${title}`,
    alreadyDone: (title: string) => `Already done: ${title}`,
    progress: "Progress",
    progressValue: (done: number, total: number) => `${done} of ${total} tasks`,
    journey: "Journey",
    completed: "completed",
    buddyThanks: "Thank you for being a buddy!",
    buddyDeclined: "Thanks for letting us know; we will find another buddy.",
    buddyFailed: (reason: string) => `This buddy request cannot be answered: ${reason}`,
    checkinThanks: "Thanks for your check-in.",
    checkinFailed: (reason: string) => `This check-in cannot be saved: ${reason}`,
    unknown: "This action is not known to onboarding.",
  },
  de: {
    taskGone: "Diese Aufgabe gibt es nicht mehr.",
    notYours: "Nur die Person, für die diese Aufgabe gedacht ist, kann sie erledigen.",
    ended: "Dieses Onboarding ist beendet.",
    done: (title: string) => `Erledigt: ${title}`,
    alreadyDone: (title: string) => `Bereits erledigt: ${title}`,
    progress: "Fortschritt",
    progressValue: (done: number, total: number) => `${done} von ${total} Aufgaben`,
    journey: "Onboarding",
    completed: "abgeschlossen",
    buddyThanks: "Danke, dass Sie Buddy sind!",
    buddyDeclined: "Danke für Ihre Rückmeldung; wir suchen einen anderen Buddy.",
    buddyFailed: (reason: string) => `Diese Buddy-Anfrage kann nicht beantwortet werden: ${reason}`,
    checkinThanks: "Danke für Ihren Check-in.",
    checkinFailed: (reason: string) => `Dieser Check-in kann nicht gespeichert werden: ${reason}`,
    unknown: "Diese Aktion kennt das Onboarding nicht.",
  },
};
const cardText = (locale: string | undefined) => (locale?.toLowerCase().startsWith("de") ? CARD_TEXT.de : CARD_TEXT.en);

const DAY_MS = 86_400_000;
const CHECKIN_WEEKS = [1, 4, 12] as const;
const today = () => new Date().toISOString().slice(0, 10);

function actorOf(caller: Caller | undefined): Actor {
  return { objectId: caller?.objectId ?? null, isHr: !caller || hasAnyRole(caller, HR) };
}

async function loadJourney(em: EntityManager, id: string): Promise<JourneyRow> {
  const [journey] = await sql<JourneyRow>(em, `select * from ${T("journeys")} where id = ?`, [id]);
  if (!journey) throw new NotFoundError("No such journey");
  return journey;
}

function canSeeJourney(caller: Caller | undefined, j: JourneyRow) {
  return (
    !caller ||
    hasAnyRole(caller, HR) ||
    [j.new_hire_id, j.buddy_id, ...j.manager_chain.slice(0, 1)].includes(caller.objectId)
  );
}

function templateView(t: TemplateRow) {
  return {
    id: t.id,
    name: t.name,
    version: t.version,
    audience: t.audience,
    priority: t.priority,
    steps: t.steps,
    active: t.active,
    createdAt: new Date(t.created_at).toISOString(),
  };
}

function toCandidate(p: PersonRow, chains: Map<string, { manager_chain: string[] }>, load: number): BuddyCandidate {
  const years = p.hire_date ? (Date.now() - Date.parse(p.hire_date)) / (365 * DAY_MS) : 0;
  return {
    id: p.employee_id,
    department: p.department,
    office: p.office,
    timeZone: p.time_zone,
    managerChain: managerChain(chains, p.employee_id),
    languages: p.languages,
    interests: p.interests,
    // Tenure stands in for seniority: the directory has no grade.
    seniority: Math.min(6, Math.floor(years)),
    active: p.active,
    hireDate: p.hire_date,
    optedIn: p.opted_in,
    capacity: p.capacity,
    load,
    pausedUntil: p.paused_until,
    leaveDate: p.leave_date,
    lastBuddyAssignedAt: p.last_assigned_at ? new Date(p.last_assigned_at).toISOString() : null,
  };
}

export type OnboardingServiceOptions = { scheduler?: boolean; pollMs?: number };

export function createOnboardingService(options: OnboardingServiceOptions = {}): moleculer.ServiceSchema {
  return {
    name: "onboarding",
    mixins: [databaseMixin(database)],
    settings: {
      tenantId: DEV_TENANT_ID,
      companyName: process.env.COMPANY_NAME ?? "Contoso",
      pollMs: options.pollMs ?? Number(process.env.ONBOARDING_POLL_MS ?? 300_000),
    } satisfies Settings,
    created(this: This) {
      const auth = configOf(this.broker).auth;
      this.settings.tenantId = auth.kind === "entra" ? auth.tenantId : DEV_TENANT_ID;
    },
    async started(this: This) {
      await this.transaction((em) => ensureDefaultTemplate(em, this.settings.tenantId));
      if (options.scheduler === false) return;
      const poll = () => {
        this.polling ??= this.matchPending()
          .then(() => this.nudge(new Date()))
          .catch((error) => this.logger.warn("Onboarding poll failed", { error: String(error) }))
          .finally(() => {
            this.polling = undefined;
          });
      };
      // A first round soon after start (journeys from the directory's first events), then on the interval.
      setTimeout(poll, Math.min(10_000, this.settings.pollMs)).unref();
      this.timer = setInterval(poll, this.settings.pollMs);
      this.timer.unref();
    },
    async stopped(this: This) {
      if (this.timer) clearInterval(this.timer);
      await this.polling;
    },

    domainEvents: {
      async "employee.hired"(this: This, event: DomainEvent<Record<string, unknown>>, em: EntityManager) {
        const p = event.payload as {
          objectId: string;
          displayName: string | null;
          department: string | null;
          jobTitle: string | null;
          managerId: string | null;
          country: string | null;
          timeZone: string | null;
          preferredLanguage: string | null;
          hireDate: string;
        };
        await upsertPerson(em, this.settings.tenantId, {
          id: p.objectId,
          displayName: p.displayName,
          department: p.department,
          jobTitle: p.jobTitle,
          office: null,
          country: p.country,
          timeZone: p.timeZone,
          preferredLanguage: p.preferredLanguage,
          managerId: p.managerId,
          hireDate: p.hireDate,
        });
        // Someone who started more than a few days ago is existing staff (a first directory sync announces
        // everyone): no journey by itself, HR may still start one by hand.
        const programme = await this.programme(em);
        // An HR owner named before the directory knew them (the demo seed) takes the HR steps waiting for one.
        if (programme.hrOwnerIds.includes(p.objectId))
          await reassignHrTasks(em, programme.hrOwnerIds, calendarOf(programme));
        const ageDays = (Date.parse(today()) - Date.parse(p.hireDate)) / DAY_MS;
        if (ageDays <= programme.autoStartWithinDays) {
          const journey = await startJourney(this, em, p.objectId, { ...programme, calendar: calendarOf(programme) });
          if (journey) this.logger.info("Journey started", { journeyId: journey.id, hireDate: p.hireDate });
        }
      },
      async "employee.updated"(this: This, event: DomainEvent<Record<string, unknown>>, em: EntityManager) {
        const { objectId, changes } = event.payload as { objectId: string; changes: Record<string, unknown> };
        const columns: Record<string, string> = {
          displayName: "display_name",
          department: "department",
          office: "office",
          timeZone: "time_zone",
          country: "country",
          jobTitle: "job_title",
          hireDate: "hire_date",
          leaveDate: "leave_date",
        };
        for (const [field, column] of Object.entries(columns)) {
          if (!(field in changes)) continue;
          await sql(em, `update ${T("buddy_profiles")} set ${column} = ? where employee_id = ?`, [
            changes[field] as string | null,
            objectId,
          ]);
        }
        if ("managerId" in changes) {
          await sql(em, `update ${T("buddy_profiles")} set manager_chain = ? where employee_id = ?`, [
            JSON.stringify(changes.managerId ? [changes.managerId] : []),
            objectId,
          ]);
          // A new hire with a new manager: the manager's open steps (and escalations) go to the new one.
          const [journey] = await sql<JourneyRow>(
            em,
            `select * from ${T("journeys")} where new_hire_id = ? and status = 'active'`,
            [objectId],
          );
          if (journey) {
            const chain = managerChain(await loadDirectoryChains(em), objectId);
            await sql(em, `update ${T("journeys")} set manager_id = ?, manager_chain = ? where id = ?`, [
              chain[0] ?? null,
              JSON.stringify(chain),
              journey.id,
            ]);
            const calendar = calendarOf(await this.programme(em));
            await setOwnerOnTasks(em, journey, "manager", chain[0] ?? null, calendar);
          }
        }
        const newHireDate = changes.hireDate;
        if (typeof newHireDate === "string") {
          const [journey] = await sql<JourneyRow>(
            em,
            `select * from ${T("journeys")} where new_hire_id = ? and status = 'active'`,
            [objectId],
          );
          if (journey && journey.hire_date !== newHireDate) {
            const tasks = await sql<TaskRow>(em, `select * from ${T("tasks")} where journey_id = ?`, [journey.id]);
            const calendar = calendarOf(await this.programme(em));
            for (const t of reschedule(rescheduleRows(tasks), newHireDate, calendar)) {
              if (t.status !== "open") continue;
              await sql(em, `update ${T("tasks")} set due_date = ?, due_at = ?, nudges = '[]' where id = ?`, [
                t.dueDate,
                t.dueAt,
                t.id,
              ]);
            }
            await sql(em, `update ${T("journeys")} set hire_date = ? where id = ?`, [newHireDate, journey.id]);
            this.logger.info("Journey rescheduled", { journeyId: journey.id, hireDate: newHireDate });
          }
        }
      },
      async "employee.left"(this: This, event: DomainEvent<Record<string, unknown>>, em: EntityManager) {
        const { objectId, leaveDate } = event.payload as { objectId: string; leaveDate: string | null };
        await sql(em, `update ${T("buddy_profiles")} set active = false, leave_date = ? where employee_id = ?`, [
          leaveDate ?? today(),
          objectId,
        ]);
        await sql(em, `update ${T("journeys")} set status = 'ended' where new_hire_id = ? and status = 'active'`, [
          objectId,
        ]);
        // Their new hires need another buddy.
        const orphans = await sql<JourneyRow>(
          em,
          `update ${T("journeys")} set buddy_id = null, buddy_status = 'none' where buddy_id = ? and status = 'active'
           returning *`,
          [objectId],
        );
        const programme = await this.programme(em);
        const calendar = calendarOf(programme);
        for (const j of orphans) await setBuddyOnTasks(em, j, null, calendar);
        // An HR owner who leaves hands their open HR steps to the others.
        if (programme.hrOwnerIds.includes(objectId)) await reassignHrTasks(em, programme.hrOwnerIds, calendar);
      },
      async "employee.erased"(this: This, event: DomainEvent<Record<string, unknown>>, em: EntityManager) {
        const { objectId } = event.payload as { objectId: string };
        const journeys = await sql<{ id: string }>(em, `select id from ${T("journeys")} where new_hire_id = ?`, [
          objectId,
        ]);
        for (const j of journeys) {
          await sql(em, `delete from ${T("checkins")} where journey_id = ?`, [j.id]);
          await sql(em, `delete from ${T("tasks")} where journey_id = ?`, [j.id]);
        }
        await sql(em, `delete from ${T("journeys")} where new_hire_id = ?`, [objectId]);
        await sql(em, `delete from ${T("buddy_profiles")} where employee_id = ?`, [objectId]);
        await sql(em, `update ${T("tasks")} set owner_id = null where owner_id = ?`, [objectId]);
        await sql(em, `update ${T("tasks")} set completed_by = null where completed_by = ?`, [objectId]);
        await sql(em, `update ${T("checkins")} set buddy_id = null, comment = null where buddy_id = ?`, [objectId]);
        await sql(
          em,
          `update ${T("journeys")} set buddy_id = null, buddy_status = 'none' where buddy_id = ? and status = 'active'`,
          [objectId],
        );
        await sql(em, `update ${T("journeys")} set buddy_id = null where buddy_id = ?`, [objectId]);
      },
    },

    actions: {
      saveTemplate: action(saveTemplate, async function (this: This, ctx) {
        const problems = validateTemplate({ ...ctx.params, steps: ctx.params.steps as never });
        if (problems.length > 0)
          throw new ValidationFailedError(
            problems.map((p) => ({
              field: p.step === null ? p.field : `steps[${p.step}].${p.field}`,
              message: p.reason,
            })),
            "The template does not compile",
          );
        const { tenantId } = this.settings;
        return this.transaction(async (em) => {
          const [last] = await sql<{ version: number }>(
            em,
            `select max(version)::int as version from ${T("templates")} where tenant_id = ? and name = ?`,
            [tenantId, ctx.params.name],
          );
          const version = (last?.version ?? 0) + 1;
          await sql(em, `update ${T("templates")} set active = false where tenant_id = ? and name = ?`, [
            tenantId,
            ctx.params.name,
          ]);
          const [row] = await sql<TemplateRow>(
            em,
            `insert into ${T("templates")} (id, tenant_id, name, version, audience, priority, steps, active, created_at)
             values (?, ?, ?, ?, ?, ?, ?, true, now()) returning *`,
            [
              randomUUID(),
              tenantId,
              ctx.params.name,
              version,
              JSON.stringify(ctx.params.audience),
              ctx.params.priority,
              JSON.stringify(ctx.params.steps),
            ],
          );
          return templateView(row as TemplateRow);
        });
      }),
      listTemplates: action(listTemplates, async function (this: This) {
        const rows = await sql<TemplateRow>(
          this.em(),
          `select * from ${T("templates")} where tenant_id = ? and active order by priority desc, name`,
          [this.settings.tenantId],
        );
        return { items: rows.map(templateView) };
      }),
      startJourney: action(startJourneyContract, async function (this: This, ctx) {
        const journey = await this.transaction(async (em) => {
          const programme = await this.programme(em);
          return startJourney(
            this,
            em,
            ctx.params.employeeId,
            { ...programme, calendar: calendarOf(programme) },
            ctx.params.templateId,
          );
        });
        if (!journey)
          throw new ValidationFailedError([
            { field: "employeeId", message: "unknown to onboarding, or without a hire date" },
          ]);
        return journeyView(this.em(), journey);
      }),
      getJourney: action(getJourney, async function (this: This, ctx) {
        const journey = await loadJourney(this.em(), ctx.params.id);
        if (!canSeeJourney(ctx.meta.caller, journey)) throw new ForbiddenError("Not your journey");
        return journeyView(this.em(), journey);
      }),
      getMyJourney: action(getMyJourney, async function (this: This, ctx) {
        const me = ctx.meta.caller?.objectId;
        const [journey] = await sql<JourneyRow>(
          this.em(),
          `select * from ${T("journeys")} where new_hire_id = ? and status <> 'ended'`,
          [me ?? null],
        );
        if (!journey) return { journey: null, today: [] };
        const view = await journeyView(this.em(), journey);
        const now = today();
        return {
          journey: view,
          today: view.tasks.filter(
            (t) => t.status === "open" && t.dueDate <= now && (t.owner === "newHire" || t.ownerId === me),
          ),
        };
      }),
      listMyTasks: action(listMyTasks, async function (this: This, ctx) {
        const me = ctx.meta.caller?.objectId ?? null;
        const status = ctx.params.status;
        const rows = await sql<TaskRow & { new_hire_id: string; person: Record<string, string | null> | null }>(
          this.em(),
          `select t.*, j.new_hire_id, j.person from ${T("tasks")} t join ${T("journeys")} j on j.id = t.journey_id
           where t.owner_id = ? and j.status <> 'ended' ${status === "all" ? "" : "and t.status = ?"}
           order by t.due_at limit 500`,
          status === "all" ? [me] : [me, status],
        );
        return { items: rows.map((r) => taskView(r, r)) };
      }),
      completeTask: action(completeTaskContract, async function (this: This, ctx) {
        const outcome = await this.transaction((em) => completeTask(this, em, ctx.params.id, actorOf(ctx.meta.caller)));
        if ("refused" in outcome) {
          if (outcome.refused === "forbidden") throw new ForbiddenError("Only the task's owner or HR completes it");
          if (outcome.refused === "ended")
            throw new ValidationFailedError([{ field: "id", message: "the journey has ended" }]);
          throw new NotFoundError("No such task");
        }
        return taskView(outcome.task, outcome.journey);
      }),
      handleCardAction: action(handleOnboardingCardAction, async function (this: This, ctx) {
        const { verb, data, user } = ctx.params;
        const text = cardText(ctx.params.locale);
        const actor: Actor = { objectId: user.aadObjectId, isHr: false };
        if (verb === "onboarding.completeTask") {
          const taskId = typeof data.taskId === "string" ? data.taskId : "";
          if (!/^[0-9a-f-]{36}$/i.test(taskId)) return { card: card(text.taskGone) };
          const outcome = await this.transaction((em) => completeTask(this, em, taskId, actor));
          if ("refused" in outcome)
            return {
              card: card(
                outcome.refused === "forbidden"
                  ? text.notYours
                  : outcome.refused === "ended"
                    ? text.ended
                    : text.taskGone,
              ),
            };
          const view = await journeyView(this.em(), outcome.journey);
          return {
            card: card(outcome.already ? text.alreadyDone(outcome.task.title) : text.done(outcome.task.title), [
              { title: text.progress, value: text.progressValue(view.progress.done, view.progress.total) },
              ...(view.status === "completed" ? [{ title: text.journey, value: text.completed }] : []),
            ]),
          };
        }
        if (verb === "onboarding.acceptBuddy" || verb === "onboarding.declineBuddy") {
          const journeyId = typeof data.journeyId === "string" ? data.journeyId : "";
          try {
            const result = await ctx.call(
              "onboarding.respondToBuddyRequest",
              {
                journeyId,
                accept: verb === "onboarding.acceptBuddy",
              },
              { meta: { caller: { tenantId: user.tenantId, objectId: user.aadObjectId, roles: ["Employee"] } } },
            );
            const r = result as { status: string };
            return {
              card: card(r.status === "accepted" ? text.buddyThanks : text.buddyDeclined),
            };
          } catch (error) {
            return { card: card(text.buddyFailed((error as Error).message)) };
          }
        }
        if (verb === "onboarding.checkin") {
          try {
            await ctx.call(
              "onboarding.submitCheckin",
              { journeyId: data.journeyId, week: Number(data.week), rating: Number(data.rating) },
              { meta: { caller: { tenantId: user.tenantId, objectId: user.aadObjectId, roles: ["Employee"] } } },
            );
            return { card: card(text.checkinThanks) };
          } catch (error) {
            return { card: card(text.checkinFailed((error as Error).message)) };
          }
        }
        return { card: card(text.unknown) };
      }),
      updateMyBuddyProfile: action(updateMyBuddyProfile, async function (this: This, ctx) {
        const me = ctx.meta.caller?.objectId;
        if (!me) throw new ForbiddenError("Sign in to opt in as a buddy");
        const p = ctx.params;
        const [row] = await sql<PersonRow>(
          this.em(),
          `update ${T("buddy_profiles")} set opted_in = ?, interests = ?, languages = ?, capacity = ?, paused_until = ?,
             updated_at = now() where employee_id = ? returning *`,
          [p.optedIn, JSON.stringify(p.interests), JSON.stringify(p.languages), p.capacity, p.pausedUntil ?? null, me],
        );
        if (!row) throw new NotFoundError("You are not in the directory yet");
        return {
          employeeId: me,
          optedIn: row.opted_in,
          interests: row.interests,
          languages: row.languages,
          capacity: row.capacity,
          pausedUntil: row.paused_until,
        };
      }),
      runBuddyMatching: action(runBuddyMatching, async function (this: This) {
        return this.matchPending();
      }),
      assignBuddy: action(assignBuddy, async function (this: This, ctx) {
        const em = this.em();
        const journey = await loadJourney(em, ctx.params.journeyId);
        const people = await loadPeople(em, [journey.new_hire_id, ctx.params.buddyId]);
        const buddyRow = people.get(ctx.params.buddyId);
        const hireRow = people.get(journey.new_hire_id);
        if (!buddyRow || !hireRow)
          throw new ValidationFailedError([{ field: "buddyId", message: "not in the directory" }]);
        const chains = await loadDirectoryChains(em);
        const hire: NewHire = {
          ...toCandidate(hireRow, chains, 0),
          hireDate: journey.hire_date,
          managerChain: journey.manager_chain,
        };
        const buddy = toCandidate(buddyRow, chains, 0);
        const programme = await this.programme(em);
        const warnings = pairBlocks(hire, { ...buddy, optedIn: true }, hardRulesOf(programme), today());
        const breakdown = scorePair(hire, buddy, programme.buddyWeights, today());
        const explanation = `set by HR: ${explain(breakdown)}`;
        await this.transaction((tx) =>
          proposeBuddy(this, tx, journey, buddy.id, breakdown.score, explanation, "hr", calendarOf(programme)),
        );
        return {
          journeyId: journey.id,
          newHireId: journey.new_hire_id,
          buddyId: buddy.id,
          score: breakdown.score,
          explanation,
          warnings,
        };
      }),
      respondToBuddyRequest: action(respondToBuddyRequest, async function (this: This, ctx) {
        const me = ctx.meta.caller?.objectId ?? null;
        const outcome = await this.transaction(async (em) => {
          const [journey] = await sql<JourneyRow>(em, `select * from ${T("journeys")} where id = ? for update`, [
            ctx.params.journeyId,
          ]);
          if (!journey) throw new NotFoundError("No such journey");
          if (journey.buddy_status !== "proposed" || !journey.buddy_id)
            throw new ValidationFailedError([{ field: "journeyId", message: "no buddy request is open" }]);
          if (me !== null && me !== journey.buddy_id && !hasAnyRole(ctx.meta.caller, HR))
            throw new ForbiddenError("Only the proposed buddy answers this request");
          const ref = {
            tenantId: journey.tenant_id,
            journeyId: journey.id,
            newHireId: journey.new_hire_id,
            buddyId: journey.buddy_id,
          };
          if (ctx.params.accept) {
            await sql(em, `update ${T("journeys")} set buddy_status = 'accepted' where id = ?`, [journey.id]);
            this.recordEvent(em, buddyAccepted, ref);
            return { journeyId: journey.id, buddyId: journey.buddy_id, status: "accepted" as const };
          }
          await sql(
            em,
            `update ${T("journeys")} set buddy_status = 'none', buddy_id = null,
               declined_buddies = declined_buddies || ?::jsonb where id = ?`,
            [JSON.stringify([journey.buddy_id]), journey.id],
          );
          await setBuddyOnTasks(em, journey, null, calendarOf(await this.programme(em)));
          this.recordEvent(em, buddyDeclined, ref);
          return { journeyId: journey.id, buddyId: null, status: "declined" as const };
        });
        if (outcome.status === "declined") await this.matchPending();
        return outcome;
      }),
      submitCheckin: action(submitCheckin, async function (this: This, ctx) {
        const me = ctx.meta.caller?.objectId ?? null;
        return this.transaction(async (em) => {
          const journey = await loadJourney(em, ctx.params.journeyId);
          const role = me === journey.new_hire_id ? "newHire" : me === journey.buddy_id ? "buddy" : null;
          if (!role) throw new ForbiddenError("Check-ins are for the new hire and their buddy");
          const inserted = await sql(
            em,
            `insert into ${T("checkins")} (id, journey_id, buddy_id, week, role, rating, comment, submitted_at)
             values (?, ?, ?, ?, ?, ?, ?, now()) on conflict (journey_id, week, role) do nothing returning id`,
            [
              randomUUID(),
              journey.id,
              journey.buddy_id,
              ctx.params.week,
              role,
              ctx.params.rating,
              ctx.params.comment ?? null,
            ],
          );
          if (inserted.length > 0)
            this.recordEvent(em, checkinSubmitted, {
              tenantId: journey.tenant_id,
              journeyId: journey.id,
              newHireId: journey.new_hire_id,
              week: ctx.params.week,
              role,
              rating: ctx.params.rating,
            });
          return { journeyId: journey.id, week: ctx.params.week, role, rating: ctx.params.rating };
        });
      }),
      needsAttention: action(needsAttention, async function (this: This) {
        const em = this.em();
        const { attention } = await this.programme(em);
        const items: Array<{
          journeyId: string;
          newHireId: string;
          newHireName: string | null;
          reason: "overdue-task" | "no-buddy" | "buddy-not-accepted" | "no-buddy-meeting";
          detail: string;
        }> = [];
        // Lateness counts from when the task was known: a journey started after some due dates is not late at once.
        const overdue = await sql<{
          journey_id: string;
          new_hire_id: string;
          person: Record<string, string> | null;
          title: string;
          due_date: string;
        }>(
          em,
          `select t.journey_id, j.new_hire_id, j.person, t.title, t.due_date from ${T("tasks")} t
           join ${T("journeys")} j on j.id = t.journey_id
           where j.status = 'active' and t.status = 'open' and t.requires_confirmation
             and greatest(t.due_at, j.started_at) < now() - ? * interval '1 day'
           order by t.due_at limit 500`,
          [attention.overdueTaskAfterDays],
        );
        for (const o of overdue)
          items.push({
            journeyId: o.journey_id,
            newHireId: o.new_hire_id,
            newHireName: o.person?.displayName ?? null,
            reason: "overdue-task",
            detail: `${o.title} (due ${o.due_date})`,
          });
        const journeys = await sql<JourneyRow>(em, `select * from ${T("journeys")} where status = 'active'`);
        // A buddy meeting is logged by completing the journey's first-buddy-meeting step; a template without one
        // has nothing to log, and is never flagged for it.
        const meetingOpen = new Set(
          (
            await sql<{ journey_id: string }>(
              em,
              `select journey_id from ${T("tasks")} where step_key = 'first-buddy-meeting' and status = 'open'`,
            )
          ).map((r) => r.journey_id),
        );
        const now = Date.now();
        for (const j of journeys) {
          // Journey day: 0 on the hire date, negative before it.
          const day = (now - Date.parse(j.hire_date)) / DAY_MS;
          const daysSinceStarted = (now - new Date(j.started_at).getTime()) / DAY_MS;
          const base = { journeyId: j.id, newHireId: j.new_hire_id, newHireName: j.person?.displayName ?? null };
          if (j.buddy_status === "none" && day >= attention.noBuddyByDay)
            items.push({ ...base, reason: "no-buddy", detail: `starts ${j.hire_date} without a buddy` });
          if (
            j.buddy_status === "proposed" &&
            j.buddy_assigned_at &&
            now - new Date(j.buddy_assigned_at).getTime() > attention.buddyResponseDays * DAY_MS
          )
            items.push({
              ...base,
              reason: "buddy-not-accepted",
              detail: `the buddy has not answered for ${attention.buddyResponseDays} days`,
            });
          if (
            j.buddy_id &&
            day >= attention.firstBuddyMeetingByDay &&
            daysSinceStarted >= attention.firstBuddyMeetingByDay &&
            meetingOpen.has(j.id)
          )
            items.push({
              ...base,
              reason: "no-buddy-meeting",
              detail: `no first buddy meeting logged by day ${attention.firstBuddyMeetingByDay}`,
            });
        }
        return { items };
      }),
      getSettings: action(getSettings, async function (this: This) {
        return this.programme();
      }),
      updateSettings: action(updateSettings, async function (this: This, ctx) {
        const { tenantId } = this.settings;
        return this.transaction(async (em) => {
          // One HR change at a time: the row is locked while the patch is applied over it.
          await sql(
            em,
            `insert into ${T("settings")} (tenant_id, config, updated_at) values (?, '{}', now())
             on conflict (tenant_id) do nothing`,
            [tenantId],
          );
          await sql(em, `select tenant_id from ${T("settings")} where tenant_id = ? for update`, [tenantId]);
          const { updatedAt: _at, updatedBy: _by, ...current } = await loadSettings(em, tenantId);
          const next = mergeSettings(current, ctx.params);
          const problems = await settingsProblems(em, next);
          if (problems.length > 0) throw new ValidationFailedError(problems, "The onboarding settings are not valid");
          await saveSettings(em, tenantId, next, ctx.meta.caller?.objectId ?? null);
          const calendar = calendarOf(next);
          if (JSON.stringify(next.calendar) !== JSON.stringify(current.calendar)) {
            const moved = await rescheduleOpenTasks(em, calendar);
            this.logger.info("Open tasks rescheduled for a new calendar", { moved });
          }
          if (JSON.stringify(next.hrOwnerIds) !== JSON.stringify(current.hrOwnerIds)) {
            const moved = await reassignHrTasks(em, next.hrOwnerIds, calendar);
            this.logger.info("HR steps handed to the HR owners", { moved });
          }
          return loadSettings(em, tenantId);
        });
      }),
      getReports: action(getReports, async function (this: This) {
        const em = this.em();
        const cohorts = await sql(
          em,
          `select substr(j.hire_date, 1, 7) as "startMonth", j.person->>'department' as department,
             count(distinct j.id)::int as journeys,
             count(distinct j.id) filter (where j.status = 'completed')::int as completed,
             count(t.id) filter (where t.status <> 'open')::int as "tasksDone", count(t.id)::int as "tasksTotal"
           from ${T("journeys")} j left join ${T("tasks")} t on t.journey_id = j.id
           group by 1, 2 order by 1 desc, 2`,
        );
        const overdue = await sql<TaskRow & { new_hire_id: string; person: Record<string, string | null> | null }>(
          em,
          `select t.*, j.new_hire_id, j.person from ${T("tasks")} t join ${T("journeys")} j on j.id = t.journey_id
           where j.status = 'active' and t.status = 'open' and t.due_at < now() order by t.due_at limit 500`,
        );
        const buddies = await sql(
          em,
          `select b.employee_id as "buddyId", b.display_name as "displayName", b.capacity,
             (select count(*) from ${T("journeys")} j where j.buddy_id = b.employee_id and j.status = 'active')::int as load,
             (select avg(c.rating)::float from ${T("checkins")} c where c.buddy_id = b.employee_id and c.role = 'newHire') as "averageRating",
             (select count(*) from ${T("checkins")} c where c.buddy_id = b.employee_id and c.role = 'newHire')::int as ratings
           from ${T("buddy_profiles")} b where b.opted_in or exists (select 1 from ${T("journeys")} j where j.buddy_id = b.employee_id)
           order by load desc, "displayName"`,
        );
        return { cohorts, overdueTasks: overdue.map((r) => taskView(r, r)), buddies } as never;
      }),
      runNudges: action(runNudges, async function (this: This, ctx) {
        return this.nudge(ctx.params.now ? new Date(ctx.params.now) : new Date());
      }),
    },

    methods: {
      async programme(this: This, em?: EntityManager) {
        return loadSettings(em ?? this.em(), this.settings.tenantId);
      },

      /** Matches every active journey without a buddy, as one batch. */
      async matchPending(this: This) {
        const em = this.em();
        const pending = await sql<JourneyRow>(
          em,
          `select * from ${T("journeys")} where status = 'active' and buddy_status = 'none' order by hire_date`,
        );
        if (pending.length === 0) return { matches: [], unmatched: [] };
        // employee.hired carries no office: ask the directory for it here, outside any transaction.
        for (const j of pending) {
          const [row] = await sql<{ office: string | null }>(
            em,
            `select office from ${T("buddy_profiles")} where employee_id = ?`,
            [j.new_hire_id],
          );
          if (!row || row.office !== null) continue;
          const employee = await call(this.broker as unknown as moleculer.Context, "people.getEmployee", {
            id: j.new_hire_id,
          }).catch(() => null);
          if (employee?.office)
            await sql(em, `update ${T("buddy_profiles")} set office = ? where employee_id = ?`, [
              employee.office,
              j.new_hire_id,
            ]);
        }
        const chains = await loadDirectoryChains(em);
        const people = await loadPeople(
          em,
          pending.map((j) => j.new_hire_id),
        );
        const pool = await sql<PersonRow & { load: number }>(
          em,
          `select b.*, (select count(*) from ${T("journeys")} j where j.buddy_id = b.employee_id
             and j.status = 'active' and j.buddy_status <> 'none')::int as load
           from ${T("buddy_profiles")} b where b.opted_in`,
        );
        const hires: NewHire[] = [];
        for (const j of pending) {
          const row = people.get(j.new_hire_id);
          if (!row) continue;
          hires.push({
            ...toCandidate(row, chains, 0),
            seniority: 0,
            managerChain: j.manager_chain.length > 0 ? j.manager_chain : managerChain(chains, j.new_hire_id),
            hireDate: j.hire_date,
            excludedBuddyIds: j.declined_buddies,
          });
        }
        const programme = await this.programme(em);
        const result = matchBuddies(
          hires,
          pool.map((p) => toCandidate(p, chains, p.load)),
          { today: today(), rules: hardRulesOf(programme), weights: programme.buddyWeights },
        );
        const byHire = new Map(pending.map((j) => [j.new_hire_id, j]));
        const matches = await this.transaction(async (tx) => {
          const out = [];
          for (const m of result.matches) {
            const journey = byHire.get(m.hireId) as JourneyRow;
            await proposeBuddy(this, tx, journey, m.buddyId, m.score, m.explanation, "matcher", calendarOf(programme));
            out.push({
              journeyId: journey.id,
              newHireId: m.hireId,
              buddyId: m.buddyId,
              score: m.score,
              explanation: m.explanation,
            });
          }
          return out;
        });
        for (const m of matches) {
          await call(this.broker as unknown as moleculer.Context, "notifications.notify", {
            audience: { userIds: [m.buddyId] },
            templateId: "onboarding.buddy-request",
            data: {
              newHireName: byHire.get(m.newHireId)?.person?.displayName ?? "a new colleague",
              hireDate: byHire.get(m.newHireId)?.hire_date,
              explanation: m.explanation,
              journeyId: m.journeyId,
            },
            actions: [
              {
                verb: "onboarding.acceptBuddy",
                title: "Accept",
                titles: { de: "Annehmen" },
                data: { journeyId: m.journeyId },
              },
              {
                verb: "onboarding.declineBuddy",
                title: "Decline",
                titles: { de: "Ablehnen" },
                data: { journeyId: m.journeyId },
              },
            ],
            source: "onboarding",
            priority: "high",
            dedupeKey: `onboarding:buddy:${m.journeyId}:${m.buddyId}`,
          }).catch((error: unknown) => this.logger.warn("Buddy request not sent", { error: String(error) }));
        }
        return { matches, unmatched: result.unmatched };
      },

      /**
       * Due today, overdue after N days, escalation after M days: each once per task, in that order (a later one
       * marks the earlier ones as said). Lateness counts from the journey's start for tasks due before it. A step
       * that needs no confirmation gets its reminder and is done by itself once due.
       */
      async nudge(this: This, now: Date) {
        const em = this.em();
        const { nudges, hrOwnerIds } = await this.programme(em);
        const counts = { dueToday: 0, overdue: 0, escalated: 0, checkins: 0, closed: 0 };
        const rows = await sql<
          TaskRow & {
            new_hire_id: string;
            person: Record<string, string | null> | null;
            manager_id: string | null;
            manager_chain: string[];
            started_at: Date;
          }
        >(
          em,
          `select t.*, j.new_hire_id, j.person, j.manager_id, j.manager_chain, j.started_at
           from ${T("tasks")} t join ${T("journeys")} j on j.id = t.journey_id
           where j.status = 'active' and t.status = 'open' and t.due_at < ?::timestamptz + interval '1 day'`,
          [now.toISOString()],
        );
        const ORDER = ["due", "overdue", "escalated"] as const;
        for (const t of rows) {
          const due = new Date(t.due_at).getTime();
          const late = (now.getTime() - Math.max(due, new Date(t.started_at).getTime())) / DAY_MS;
          const owner = t.owner === "newHire" ? t.new_hire_id : t.owner_id;
          // Up one level from whoever owns the task: the new hire's manager, the manager's own manager, or the
          // other HR owners for an HR step.
          const escalateTo =
            t.owner === "manager"
              ? (t.manager_chain[1] ?? null)
              : t.owner === "hr"
                ? hrOwnerIds.filter((id) => id !== t.owner_id)
                : t.manager_id;
          const canEscalate = Array.isArray(escalateTo) ? escalateTo.length > 0 : escalateTo !== null;
          const kind = !t.requires_confirmation
            ? t.nudges.includes("due")
              ? null
              : "due"
            : late >= nudges.escalateAfterDays && canEscalate && !t.nudges.includes("escalated")
              ? "escalated"
              : late >= nudges.overdueReminderAfterDays && !t.nudges.includes("overdue")
                ? !t.nudges.includes("escalated")
                  ? "overdue"
                  : null
                : !t.nudges.includes("due") && !t.nudges.includes("overdue")
                  ? "due"
                  : null;
          const to = kind === "escalated" ? [escalateTo].flat() : owner ? [owner] : [];
          if (kind && to.length > 0 && to[0]) {
            try {
              await call(this.broker as unknown as moleculer.Context, "notifications.notify", {
                audience: { userIds: to as string[] },
                templateId: "onboarding.task-due",
                data: {
                  taskTitle: t.title,
                  dueAt: new Date(t.due_at).toISOString(),
                  description:
                    kind === "escalated"
                      ? `${t.person?.displayName ?? "A new hire"}'s onboarding task is ${Math.floor(late)} days overdue.`
                      : kind === "overdue"
                        ? `This task is ${Math.floor(late)} days overdue.`
                        : t.content,
                  taskId: t.id,
                },
                // The escalation links to the task; only its owner (or HR) completes it. A step that needs no
                // confirmation has nothing to confirm.
                actions:
                  kind === "escalated" || !t.requires_confirmation
                    ? undefined
                    : [
                        {
                          verb: "onboarding.completeTask",
                          title: "Mark as done",
                          titles: { de: "Erledigt" },
                          data: { taskId: t.id },
                        },
                      ],
                source: "onboarding",
                priority: kind === "due" ? "normal" : "high",
                dedupeKey: `onboarding:task:${t.id}:${kind}`,
              });
              await sql(em, `update ${T("tasks")} set nudges = ?::jsonb where id = ?`, [
                JSON.stringify([...new Set([...t.nudges, ...ORDER.slice(0, ORDER.indexOf(kind) + 1)])]),
                t.id,
              ]);
              counts[kind === "due" ? "dueToday" : kind === "overdue" ? "overdue" : "escalated"]++;
            } catch (error) {
              this.logger.warn("Nudge not sent", { taskId: t.id, kind, error: String(error) });
              continue;
            }
          }
          if (!t.requires_confirmation && due <= now.getTime()) {
            const done = await this.transaction((tx) =>
              completeTask(this, tx, t.id, { objectId: null, isHr: true }, { onTime: true }),
            );
            if (!("refused" in done) && !done.already) counts.closed++;
          }
        }
        counts.checkins = await this.promptCheckins(now);
        return counts;
      },

      /** Week 1, 4 and 12 check-ins: the new hire and the buddy each get a rating card in that week, once. */
      async promptCheckins(this: This, now: Date) {
        const journeys = await sql<JourneyRow & { answered: string[] }>(
          this.em(),
          `select j.*, coalesce((select json_agg(c.week || ':' || c.role) from ${T("checkins")} c
             where c.journey_id = j.id), '[]') as answered
           from ${T("journeys")} j where j.status <> 'ended' and j.buddy_status = 'accepted'`,
        );
        let prompted = 0;
        for (const j of journeys) {
          const day = (now.getTime() - Date.parse(j.hire_date)) / DAY_MS;
          const week = CHECKIN_WEEKS.find((w) => day >= (w - 1) * 7 + 4 && day < w * 7 + 4);
          if (!week || !j.buddy_id) continue;
          const people = await loadPeople(this.em(), [j.new_hire_id, j.buddy_id]);
          for (const [role, userId, otherId] of [
            ["newHire", j.new_hire_id, j.buddy_id],
            ["buddy", j.buddy_id, j.new_hire_id],
          ] as const) {
            if (j.answered.includes(`${week}:${role}`)) continue;
            try {
              // Notifications keeps one request per dedupe key: asking again in the same week sends nothing.
              const r = await call(this.broker as unknown as moleculer.Context, "notifications.notify", {
                audience: { userIds: [userId] },
                templateId: "onboarding.checkin-due",
                data: { week, otherName: people.get(otherId)?.display_name ?? "your buddy", journeyId: j.id },
                actions: [1, 2, 3, 4, 5].map((rating) => ({
                  verb: "onboarding.checkin",
                  title: String(rating),
                  data: { journeyId: j.id, week, rating },
                })),
                kind: "feedbackRequest",
                source: "onboarding",
                priority: "normal",
                dedupeKey: `onboarding:checkin:${j.id}:${week}:${role}`,
              });
              prompted += r.accepted;
            } catch (error) {
              this.logger.warn("Check-in prompt not sent", { journeyId: j.id, week, error: String(error) });
            }
          }
        }
        return prompted;
      },
    },

    async seedDemo(this: This, em: EntityManager) {
      return seedDemoOnboarding(em, this.settings.tenantId);
    },
  } as unknown as moleculer.ServiceSchema;
}

export default createOnboardingService();
