// Pulse surveys: thin handlers over the domain (disclosure control, rotation, windows) and the store.
import { randomInt, randomUUID } from "node:crypto";
import {
  API_PREFIX,
  addQuestion,
  addWaveAction,
  closeWave,
  createProgramme,
  exportResults,
  getComments,
  getHeatmap,
  getReceipt,
  getResults,
  getTrend,
  handleCardAction,
  listProgrammes,
  openWave,
  sendReminders,
  submitAnswers,
} from "@hearth/contracts";
import {
  action,
  type Caller,
  ConflictError,
  configOf,
  type DatabaseThis,
  DEV_TENANT_ID,
  type DomainEvent,
  databaseMixin,
  ForbiddenError,
  hasAnyRole,
  NotFoundError,
  ValidationFailedError,
} from "@hearth/platform";
import type { EntityManager } from "@mikro-orm/core";
import { stringify } from "csv-stringify/sync";
import type moleculer from "moleculer";
import { database } from "./database.ts";
import { checkAnswers, type SubmittedAnswer } from "./domain/answers.ts";
import { disclosureRules, type Filter, Partition } from "./domain/disclosure.ts";
import { type Cadence, DEFAULT_BANK } from "./domain/programme.ts";
import { WaveDisclosure } from "./domain/results.ts";
import { AnswerIngest } from "./ingest.ts";
import { seedDemoPulse } from "./seed.ts";
import {
  closeWaveNow,
  ensureBank,
  flushAnswers,
  intern,
  loadProgramme,
  loadWave,
  loadWaveAtoms,
  openNextWave,
  type ProgrammeRow,
  type QuestionRow,
  sql,
  T,
  type WaveRow,
  waveQuestions,
} from "./store.ts";

const ADMINS = ["CommunityManager", "HR", "Admin"] as const;

export type PulseThis = DatabaseThis & {
  settings: { tenantId: string; pollMs: number; leaseMs: number };
  cache: Map<
    string,
    { disclosure: WaveDisclosure; questions: QuestionRow[]; invited?: Partition; values?: Map<string, string[]> }
  >;
  ingest?: AnswerIngest;
  timer?: NodeJS.Timeout;
  polling?: Promise<unknown>;
  poll(): Promise<void>;
  runScheduled(): Promise<boolean>;
  deliverDue(): Promise<number>;
};

export type PulseServiceOptions = { scheduler?: boolean; pollMs?: number; leaseMs?: number };

const SCHEDULER = "waves";

function filterOf(p: { department?: string; office?: string; tenureBand?: string; subtree?: string }): Filter {
  return {
    ...(p.department !== undefined && { department: [p.department] }),
    ...(p.office !== undefined && { office: [p.office] }),
    ...(p.tenureBand !== undefined && { tenureBand: [p.tenureBand] }),
    ...(p.subtree !== undefined && { subtree: p.subtree }),
  };
}

/** HR, Admin and community managers see everything; a manager only their own subtree, when the programme allows. */
function scopedFilter(caller: Caller | undefined, programme: ProgrammeRow, filter: Filter): Filter {
  if (!caller || hasAnyRole(caller, ADMINS)) return filter;
  if (!programme.manager_results) throw new ForbiddenError("Pulse results are for HR and community managers");
  if (filter.subtree !== undefined && filter.subtree !== caller.objectId) {
    throw new ForbiddenError("Managers see results for their own subtree only");
  }
  return { ...filter, subtree: caller.objectId };
}

async function audit(
  service: PulseThis,
  caller: Caller | undefined,
  view: string,
  ids: { waveId?: string; programmeId?: string },
  filter: unknown,
) {
  await sql(
    service.em(),
    `insert into ${T("results_views")} (id, viewer_id, roles, wave_id, programme_id, view, filter, viewed_at)
     values (?, ?, ?, ?, ?, ?, ?, now())`,
    [
      randomUUID(),
      caller?.objectId ?? null,
      JSON.stringify(caller?.roles ?? ["service"]),
      ids.waveId ?? null,
      ids.programmeId ?? null,
      view,
      JSON.stringify(filter),
    ],
  );
}

/** The released view of a closed wave (computed once: a closed wave never changes). */
async function disclosureOf(service: PulseThis, wave: WaveRow, programme: ProgrammeRow) {
  const cached = service.cache.get(wave.id);
  if (cached) return cached;
  const em = service.em();
  const questions = await waveQuestions(em, wave);
  const rules = disclosureRules({ minGroupSize: programme.min_group_size, commentMinimum: programme.comment_minimum });
  const atoms = wave.status === "closed" ? await loadWaveAtoms(em, wave.id, questions) : new Map();
  const disclosure = new WaveDisclosure(
    {
      waveId: wave.id,
      closed: wave.status === "closed",
      questions: new Map(
        questions.map((q) => [q.id, { scale: { kind: q.kind, min: q.min, max: q.max }, atoms: atoms.get(q.id) ?? [] }]),
      ),
    },
    rules,
  );
  const entry: {
    disclosure: WaveDisclosure;
    questions: QuestionRow[];
    invited?: Partition;
    values?: Map<string, string[]>;
  } = { disclosure, questions };
  if (wave.status === "closed") service.cache.set(wave.id, entry);
  return entry;
}

/** The values of a locked attribute among a wave's invitees (remembered for closed waves). */
async function dimensionValues(service: PulseThis, wave: WaveRow, programme: ProgrammeRow, column: string) {
  const entry = await disclosureOf(service, wave, programme);
  entry.values ??= new Map();
  const known = entry.values.get(column);
  if (known) return known;
  const rows = await sql<{ v: string }>(
    service.em(),
    `select distinct ${column} as v from ${T("invitations")} where wave_id = ? order by 1`,
    [wave.id],
  );
  const values = rows.map((r) => r.v);
  if (wave.status === "closed") entry.values.set(column, values);
  return values;
}

/** Response rate under disclosure control: invitations grouped by the same locked attributes. */
async function responseRate(service: PulseThis, wave: WaveRow, programme: ProgrammeRow, filter: Filter) {
  if (wave.status !== "closed") return null;
  const entry = await disclosureOf(service, wave, programme);
  if (!entry.invited) {
    const rows = await sql<{
      department: string;
      office: string;
      tenure_band: string;
      manager_path: string[];
      n: number;
      answered: number;
    }>(
      service.em(),
      `select department, office, tenure_band, manager_path, count(*)::int as n,
              count(*) filter (where answered)::int as answered
       from ${T("invitations")} where wave_id = ? group by 1, 2, 3, 4`,
      [wave.id],
    );
    const atoms = rows.map((r) => ({
      attributes: intern(r.department, r.office, r.tenure_band, r.manager_path),
      count: r.n,
      sum: r.answered,
      histogram: new Map<number, number>(),
    }));
    entry.invited = new Partition(atoms, programme.min_group_size, false);
  }
  const selected = entry.invited.select(filter);
  if (!selected) return null;
  const invited = selected.reduce((s, a) => s + a.count, 0);
  const answered = selected.reduce((s, a) => s + a.sum, 0);
  return Math.round((answered / invited) * 1000) / 10;
}

function questionResults(entry: { disclosure: WaveDisclosure; questions: QuestionRow[] }, filter: Filter) {
  const out = [];
  for (const q of entry.questions) {
    const r = entry.disclosure.questionResult(q.id, filter);
    if (r) out.push({ ...r, text: q.text, driver: q.driver });
  }
  const byDriver = new Map<string, { sum: number; count: number }>();
  for (const q of entry.questions) {
    if (q.kind !== "scale" || !q.driver) continue;
    const agg = entry.disclosure.aggregate(q.id, filter);
    if (!agg) continue;
    const d = byDriver.get(q.driver) ?? { sum: 0, count: 0 };
    d.sum += agg.sum;
    d.count += agg.count;
    byDriver.set(q.driver, d);
  }
  const drivers = [...byDriver].map(([driver, d]) => ({ driver, mean: Math.round((d.sum / d.count) * 100) / 100 }));
  return { questions: out, drivers };
}

async function closedWaveFor(service: PulseThis, caller: Caller | undefined, waveId: string, filter: Filter) {
  const wave = await loadWave(service.em(), waveId);
  if (!wave) throw new NotFoundError("Wave");
  const programme = (await loadProgramme(service.em(), wave.programme_id))!;
  const scoped = scopedFilter(caller, programme, filter);
  return { wave, programme, filter: scoped };
}

type WaveMeta = { questions: QuestionRow[]; minGroupSize: number; at: number };
const waveMeta = new Map<string, WaveMeta>();
const flushing = new Set<string>();

/** A wave's questions and threshold, kept for a few seconds (the hot path of answering reads them every time). */
async function metaOf(service: PulseThis, waveId: string): Promise<WaveMeta> {
  const known = waveMeta.get(waveId);
  if (known && Date.now() - known.at < 10_000) return known;
  const wave = await loadWave(service.em(), waveId);
  if (!wave) throw new NotFoundError("Wave");
  const programme = (await loadProgramme(service.em(), wave.programme_id))!;
  const meta = {
    questions: await waveQuestions(service.em(), wave),
    minGroupSize: programme.min_group_size,
    at: Date.now(),
  };
  if (waveMeta.size > 1000) waveMeta.clear();
  waveMeta.set(waveId, meta);
  return meta;
}

/**
 * Submits one person's answers: checked against the wave's questions first (every problem named, nothing stored),
 * then group-committed with concurrent submissions (see ingest.ts): the answered flag and the answers together.
 */
export async function submit(service: PulseThis, userId: string, waveId: string, answers: SubmittedAnswer[]) {
  const meta = await metaOf(service, waveId);
  const problems = checkAnswers(meta.questions, answers);
  if (problems.length > 0) {
    throw new ValidationFailedError(problems, problems.map((p) => `${p.field}: ${p.message}`).join("; "));
  }
  service.ingest ??= new AnswerIngest(() => service.em(), {
    afterBuffered: (waveIds) => Promise.all(waveIds.map((id) => flushBuffered(service, id))).then(() => undefined),
  });
  await service.ingest.submit({ userId, waveId, answers, minGroupSize: meta.minGroupSize });
  return { accepted: answers.length };
}

/**
 * Moves a wave's buffered answers once enough submissions wait: a separate transaction from the submissions' (see
 * AnswerBuffer), one at a time per wave and replica (a skipped move happens after the next buffered submission,
 * and closing the wave moves the rest).
 */
async function flushBuffered(service: PulseThis, waveId: string) {
  if (flushing.has(waveId)) return;
  flushing.add(waveId);
  try {
    const meta = await metaOf(service, waveId);
    await service.transaction((em) => flushAnswers(em, waveId, meta.minGroupSize));
  } finally {
    flushing.delete(waveId);
  }
}

// The cards this service answers Teams with, in the language of the person's Teams client (the invoke's locale);
// the cards sent through notifications are the templates there. Question texts are HR's, as written.
const CARD_TEXT = {
  en: {
    heading: "Pulse",
    anonymous: (n: number) =>
      `Anonymous: your answers are stored without your name, dated by day only, and shown only for groups of ${n} or more.`,
    send: "Send anonymously",
    gone: "This pulse no longer exists.",
    unknown: (verb: string) => `Unknown pulse action ${verb}.`,
    empty: "Answer at least one question.",
    thanks: "Thank you. Your answers were recorded anonymously.",
  },
  de: {
    heading: "Pulse",
    anonymous: (n: number) =>
      `Anonym: Ihre Antworten werden ohne Ihren Namen gespeichert, nur mit dem Tag datiert und nur für Gruppen ab ${n} Personen gezeigt.`,
    send: "Anonym senden",
    gone: "Diesen Pulse gibt es nicht mehr.",
    unknown: (verb: string) => `Unbekannte Pulse-Aktion ${verb}.`,
    empty: "Beantworten Sie mindestens eine Frage.",
    thanks: "Danke. Ihre Antworten wurden anonym gespeichert.",
  },
};
type CardText = (typeof CARD_TEXT)["en"];
const cardText = (locale: string | undefined): CardText =>
  locale?.toLowerCase().startsWith("de") ? CARD_TEXT.de : CARD_TEXT.en;
/** The invitation's button, in every language the templates have. */
const SHOW_SURVEY_TITLES = { title: "Answer the pulse", titles: { de: "Zum Pulse" } };

function surveyCard(wave: WaveRow, questions: QuestionRow[], minGroupSize: number, text: CardText, note?: string) {
  return {
    type: "AdaptiveCard" as const,
    $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
    version: "1.5",
    body: [
      { type: "TextBlock", text: text.heading, weight: "Bolder", size: "Medium" },
      ...(note ? [{ type: "TextBlock", text: note, wrap: true, color: "Attention" }] : []),
      {
        type: "TextBlock",
        wrap: true,
        isSubtle: true,
        text: text.anonymous(minGroupSize),
      },
      ...questions.map((q) =>
        q.kind === "comment"
          ? { type: "Input.Text", id: `q:${q.id}`, label: q.text, isMultiline: true, maxLength: 2000 }
          : {
              type: "Input.ChoiceSet",
              id: `q:${q.id}`,
              label: q.text,
              style: "expanded",
              choices: Array.from({ length: q.max - q.min + 1 }, (_, i) => ({
                title: String(q.min + i),
                value: String(q.min + i),
              })),
            },
      ),
    ],
    actions: [{ type: "Action.Execute", verb: "pulse.answer", title: text.send, data: { waveId: wave.id } }],
  };
}

const messageCard = (text: string) => ({
  type: "AdaptiveCard" as const,
  $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
  version: "1.5",
  body: [{ type: "TextBlock", text, wrap: true }],
});

export function createPulseService(options: PulseServiceOptions = {}): moleculer.ServiceSchema {
  return {
    name: "pulse",
    mixins: [databaseMixin(database)],
    settings: {
      tenantId: DEV_TENANT_ID,
      pollMs: options.pollMs ?? Number(process.env.PULSE_POLL_MS ?? 60_000),
      leaseMs: options.leaseMs ?? Number(process.env.PULSE_LEASE_MS ?? 300_000),
    },
    created(this: PulseThis) {
      const auth = configOf(this.broker).auth;
      this.settings.tenantId = auth.kind === "entra" ? auth.tenantId : DEV_TENANT_ID;
      this.cache = new Map();
    },
    started(this: PulseThis) {
      if (options.scheduler === false) return;
      const tick = () => {
        if (this.polling) return;
        this.polling = this.runScheduled()
          .catch((error: Error) => this.logger.warn("Pulse scheduler tick failed", { error: error.message }))
          .finally(() => {
            this.polling = undefined;
          });
      };
      // Every replica looks often; the lease lets one of them run the schedule once per pollMs for the cluster.
      this.timer = setInterval(tick, Math.max(100, Math.floor(this.settings.pollMs / 4)));
      setImmediate(tick);
    },
    async stopped(this: PulseThis) {
      clearInterval(this.timer);
      this.timer = undefined;
      await this.polling;
    },
    domainEvents: {
      async "employee.hired"(
        this: PulseThis,
        event: DomainEvent<{ objectId: string; hireDate: string }>,
        em: EntityManager,
      ) {
        await sql(
          em,
          `insert into ${T("new_hires")} (user_id, hire_date, recorded_at) values (?, ?, now())
           on conflict (user_id) do update set hire_date = excluded.hire_date`,
          [event.payload.objectId, event.payload.hireDate],
        );
      },
    },
    methods: {
      /**
       * The schedule on ONE replica cluster-wide: claims the job's lease (`for update skip locked`, like the people
       * service's directory sync) when its next run is due and no live replica holds it, polls, and hands the lease
       * back with the next run a period later. False when another replica holds it or the run is not due yet.
       */
      async runScheduled(this: PulseThis) {
        const owner = `${this.broker.nodeID}:${randomUUID()}`;
        const em = this.em();
        await sql(em, `insert into ${T("job_leases")} (name, next_run_at) values (?, now()) on conflict do nothing`, [
          SCHEDULER,
        ]);
        const claimed = await em.transactional((tx) =>
          sql(
            tx,
            `with l as (
               select name from ${T("job_leases")}
               where name = ? and next_run_at <= now() and (claimed_until is null or claimed_until < now())
               for update skip locked
             )
             update ${T("job_leases")} j set claimed_by = ?, claimed_until = now() + ? * interval '1 millisecond'
             from l where j.name = l.name returning j.name`,
            [SCHEDULER, owner, this.settings.leaseMs],
          ),
        );
        if (claimed.length === 0) return false;
        try {
          await this.poll();
        } finally {
          await sql(
            this.em(),
            `update ${T("job_leases")} set claimed_by = null, claimed_until = null,
               next_run_at = now() + ? * interval '1 millisecond' where name = ? and claimed_by = ?`,
            [this.settings.pollMs, SCHEDULER, owner],
          );
        }
        return true;
      },
      /** Opens waves that are due, sends invitations whose local opening time has come, closes finished waves. */
      async poll(this: PulseThis) {
        const today = new Date().toISOString().slice(0, 10);
        const due = await sql<{ id: string }>(
          this.em(),
          `select p.id from ${T("programmes")} p where p.tenant_id = ? and not exists (
             select 1 from ${T("waves")} w where w.programme_id = p.id and (w.status = 'open' or w.opens_on > ?))`,
          [this.settings.tenantId, today],
        );
        for (const { id } of due) await openNextWave(this, id, { onlyIfDue: true });
        await this.deliverDue();
        const finished = await sql<{ id: string }>(
          this.em(),
          `select w.id from ${T("waves")} w where w.status = 'open' and not exists (
             select 1 from ${T("invitations")} i where i.wave_id = w.id and i.closes_at > now())`,
        );
        for (const { id } of finished) await this.transaction((em) => closeWaveNow(this, em, id));
      },
      /** Invitations whose personal opening time has come, one notify per wave (dedupe key per wave). */
      async deliverDue(this: PulseThis) {
        const rows = await sql<{ wave_id: string; user_id: string }>(
          this.em(),
          `select i.wave_id, i.user_id from ${T("invitations")} i join ${T("waves")} w on w.id = i.wave_id
           where w.status = 'open' and i.invited_at is null and i.opens_at <= now() order by i.wave_id limit 100000`,
        );
        const byWave = new Map<string, string[]>();
        for (const r of rows) {
          const ids = byWave.get(r.wave_id);
          if (ids) ids.push(r.user_id);
          else byWave.set(r.wave_id, [r.user_id]);
        }
        for (const [waveId, userIds] of byWave) {
          const wave = (await loadWave(this.em(), waveId))!;
          const programme = (await loadProgramme(this.em(), wave.programme_id))!;
          const actions = await sql<{ title: string; description: string; number: number }>(
            this.em(),
            `select a.title, a.description, w.number from ${T("wave_actions")} a join ${T("waves")} w on w.id = a.wave_id
             where w.programme_id = ? and w.number < ? order by w.number desc, a.created_at limit 5`,
            [wave.programme_id, wave.number],
          );
          const questions = await waveQuestions(this.em(), wave);
          // One request per wave (the dedupe key): a later part or a repeat adds only people not yet invited, so
          // each person gets one invitation per wave however the deliveries are split or repeated. Parts of 10,000
          // ids keep each call inside one NATS message.
          for (let i = 0; i < userIds.length; i += 10_000) {
            await this.broker.call("notifications.notify", {
              audience: { userIds: userIds.slice(i, i + 10_000) },
              templateId: "pulse.invitation",
              data: {
                waveId,
                programme: programme.name,
                closesOn: wave.closes_on,
                minGroupSize: programme.min_group_size,
                questionCount: questions.length,
                youSaidWeDid: actions,
              },
              priority: "normal",
              dedupeKey: `pulse:${waveId}:invite`,
              kind: "feedbackRequest",
              source: "pulse",
              actions: [{ verb: "pulse.showSurvey", ...SHOW_SURVEY_TITLES, data: { waveId } }],
            });
          }
          await sql(
            this.em(),
            `update ${T("invitations")} set invited_at = now() where wave_id = ? and user_id = any(?::uuid[])`,
            [waveId, `{${userIds.join(",")}}`],
          );
        }
        return rows.length;
      },
    },
    actions: {
      listProgrammes: action(listProgrammes, async function (this: PulseThis) {
        const em = this.em();
        const programmes = await sql<ProgrammeRow>(
          em,
          `select * from ${T("programmes")} where tenant_id = ? order by created_at`,
          [this.settings.tenantId],
        );
        const waves = await sql<WaveRow>(em, `select * from ${T("waves")} order by number`);
        return {
          items: programmes.map((p) => ({
            id: p.id,
            name: p.name,
            cadence: p.cadence as Cadence,
            audience: { kind: p.audience_kind as "everyone", values: p.audience_values as string[] },
            questionsPerWave: p.questions_per_wave,
            minGroupSize: p.min_group_size,
            commentMinimum: p.comment_minimum,
            managerResults: p.manager_results,
            waves: waves
              .filter((w) => w.programme_id === p.id)
              .map((w) => ({
                id: w.id,
                programmeId: p.id,
                programmeName: p.name,
                number: w.number,
                status: w.status as "open",
                opensOn: w.opens_on,
                closesOn: w.closes_on,
                invited: w.invited,
              })),
          })),
        };
      }),

      getReceipt: action(getReceipt, async function (this: PulseThis, ctx) {
        const em = this.em();
        const wave = await loadWave(em, ctx.params.waveId);
        if (!wave) throw new NotFoundError("Wave");
        const programme = (await loadProgramme(em, wave.programme_id))!;
        const [inv] = await sql<{ answered: boolean }>(
          em,
          `select answered from ${T("invitations")} where wave_id = ? and user_id = ?`,
          [wave.id, ctx.meta.caller?.objectId ?? null],
        );
        const questions = await waveQuestions(em, wave);
        const actions = await sql<{ title: string; description: string; number: number }>(
          em,
          `select a.title, a.description, w.number from ${T("wave_actions")} a join ${T("waves")} w on w.id = a.wave_id
           where w.programme_id = ? and w.number < ? order by w.number desc, a.created_at limit 10`,
          [wave.programme_id, wave.number],
        );
        return {
          waveId: wave.id,
          invited: !!inv,
          answered: inv?.answered ?? false,
          open: wave.status === "open",
          questions: questions.map((q) => ({
            id: q.id,
            kind: q.kind,
            text: q.text,
            driver: q.driver,
            min: q.min,
            max: q.max,
            definition: q.definition,
          })),
          receipt: {
            stored:
              "Your answers are stored without your name or id, dated by day only, with the department, office, " +
              "tenure band and reporting line you had when this wave opened. Whether you answered is kept " +
              "separately (to remind only those who have not) and is never linked to what you answered.",
            resultsVisibleTo: programme.manager_results
              ? ["HR", "Community managers", "Managers, for their own reporting line"]
              : ["HR", "Community managers"],
            minGroupSize: programme.min_group_size,
            commentMinimum: programme.comment_minimum,
            comments:
              `Comments are shown only for groups with at least ${programme.comment_minimum} comments, shuffled, ` +
              "without dates. Do not write anything that identifies you.",
            resultsShown:
              "Only after the wave closes, and never for a group, or a difference between two groups, smaller " +
              `than ${programme.min_group_size} people.`,
          },
          youSaidWeDid: actions.map((a) => ({ title: a.title, description: a.description, fromWave: a.number })),
        };
      }),

      submitAnswers: action(submitAnswers, async function (this: PulseThis, ctx) {
        const userId = ctx.meta.caller?.objectId;
        if (!userId) throw new ForbiddenError("Only a signed-in person can answer");
        const result = await submit(this, userId, ctx.params.waveId, ctx.params.answers);
        // What was created is anonymous; the person's own view of it is the receipt (answered: true).
        ctx.meta.$location = `${API_PREFIX}/pulse/waves/${ctx.params.waveId}/receipt`;
        return result;
      }),

      handleCardAction: action(handleCardAction, async function (this: PulseThis, ctx) {
        const { verb, data, user } = ctx.params;
        const text = cardText(ctx.params.locale);
        const waveId = typeof data.waveId === "string" ? data.waveId : "";
        const wave = await loadWave(this.em(), waveId).catch(() => null);
        if (!wave) return { card: messageCard(text.gone) };
        const programme = (await loadProgramme(this.em(), wave.programme_id))!;
        const questions = await waveQuestions(this.em(), wave);
        if (verb === "pulse.showSurvey") return { card: surveyCard(wave, questions, programme.min_group_size, text) };
        if (verb !== "pulse.answer") return { card: messageCard(text.unknown(verb)) };
        const answers: SubmittedAnswer[] = [];
        for (const q of questions) {
          const raw = data[`q:${q.id}`];
          if (raw === undefined || raw === null || raw === "") continue;
          if (q.kind === "comment") answers.push({ questionId: q.id, comment: String(raw).trim() });
          else answers.push({ questionId: q.id, value: Number(raw) });
        }
        if (answers.length === 0) {
          return { card: surveyCard(wave, questions, programme.min_group_size, text, text.empty) };
        }
        try {
          await submit(this, user.aadObjectId, waveId, answers);
          return { card: messageCard(text.thanks) };
        } catch (error) {
          const e = error as { code?: number; message: string };
          if (e.code === 409 || e.code === 403) return { card: messageCard(e.message) };
          if (e.code === 422) return { card: surveyCard(wave, questions, programme.min_group_size, text, e.message) };
          throw error;
        }
      }),

      getResults: action(getResults, async function (this: PulseThis, ctx) {
        const { caller } = ctx.meta;
        const { wave, programme, filter } = await closedWaveFor(this, caller, ctx.params.waveId, filterOf(ctx.params));
        await audit(this, caller, "results", { waveId: wave.id }, filter);
        const entry = await disclosureOf(this, wave, programme);
        return {
          waveId: wave.id,
          status: wave.status as "closed",
          minGroupSize: programme.min_group_size,
          responseRate: await responseRate(this, wave, programme, filter),
          ...questionResults(entry, filter),
        };
      }),

      getHeatmap: action(getHeatmap, async function (this: PulseThis, ctx) {
        const { caller } = ctx.meta;
        const { wave, programme, filter } = await closedWaveFor(this, caller, ctx.params.waveId, {});
        const dimension = ctx.params.dimension;
        await audit(this, caller, "heatmap", { waveId: wave.id }, { ...filter, dimension });
        const entry = await disclosureOf(this, wave, programme);
        const column = { department: "department", office: "office", tenureBand: "tenure_band" }[dimension];
        const values = await dimensionValues(this, wave, programme, column);
        const shown = entry.questions.filter((q) => q.kind !== "comment");
        return {
          dimension,
          questions: shown.map((q) => ({ questionId: q.id, text: q.text })),
          rows: values.map((v) => ({
            value: v,
            means: shown.map((q) => {
              const r = entry.disclosure.questionResult(q.id, { ...filter, [dimension]: [v] });
              return r ? (q.kind === "enps" ? r.enps!.score : r.mean) : null;
            }),
          })),
        };
      }),

      getTrend: action(getTrend, async function (this: PulseThis, ctx) {
        const { caller } = ctx.meta;
        const programme = await loadProgramme(this.em(), ctx.params.programmeId);
        if (!programme) throw new NotFoundError("Programme");
        const filter = scopedFilter(caller, programme, filterOf(ctx.params));
        await audit(
          this,
          caller,
          "trend",
          { programmeId: programme.id },
          { ...filter, questionId: ctx.params.questionId },
        );
        const waves = await sql<WaveRow>(
          this.em(),
          `select * from ${T("waves")} where programme_id = ? and status = 'closed' order by number`,
          [programme.id],
        );
        const points = [];
        for (const wave of waves) {
          if (!(wave.question_ids as string[]).includes(ctx.params.questionId)) continue;
          const entry = await disclosureOf(this, wave, programme);
          const r = entry.disclosure.questionResult(ctx.params.questionId, filter);
          points.push({
            waveId: wave.id,
            number: wave.number,
            closesOn: wave.closes_on,
            value: r ? (r.kind === "enps" ? r.enps!.score : r.mean) : null,
          });
        }
        return { points };
      }),

      getComments: action(getComments, async function (this: PulseThis, ctx) {
        const { caller } = ctx.meta;
        const { wave, programme, filter } = await closedWaveFor(this, caller, ctx.params.waveId, filterOf(ctx.params));
        await audit(this, caller, "comments", { waveId: wave.id }, filter);
        const entry = await disclosureOf(this, wave, programme);
        const comments: { question: string; text: string }[] = [];
        for (const q of entry.questions.filter((q) => q.kind === "comment")) {
          const members = entry.disclosure.commentMembers(q.id, filter);
          if (!members) continue;
          const allowed = new Set(members.map((a) => JSON.stringify(a)));
          const rows = await sql<{
            department: string;
            office: string;
            tenure_band: string;
            manager_path: string[];
            comment: string;
          }>(
            this.em(),
            `select department, office, tenure_band, manager_path, comment from ${T("answers")}
             where wave_id = ? and question_id = ? and comment is not null`,
            [wave.id, q.id],
          );
          for (const r of rows) {
            const key = JSON.stringify({
              department: r.department,
              office: r.office,
              tenureBand: r.tenure_band,
              managerPath: r.manager_path,
            });
            if (allowed.has(key)) comments.push({ question: q.text, text: r.comment });
          }
        }
        // Shuffled (Fisher–Yates with a cryptographic source): the order says nothing about who or when.
        for (let i = comments.length - 1; i > 0; i--) {
          const j = randomInt(i + 1);
          [comments[i], comments[j]] = [comments[j]!, comments[i]!];
        }
        return { comments };
      }),

      exportResults: action(exportResults, async function (this: PulseThis, ctx) {
        const { caller } = ctx.meta;
        const { wave, programme } = await closedWaveFor(this, caller, ctx.params.waveId, {});
        await audit(this, caller, "export", { waveId: wave.id }, {});
        const entry = await disclosureOf(this, wave, programme);
        const scopes: { scope: string; filter: Filter }[] = [{ scope: "all", filter: {} }];
        for (const [dimension, column] of [
          ["department", "department"],
          ["office", "office"],
          ["tenureBand", "tenure_band"],
        ] as const) {
          for (const v of await dimensionValues(this, wave, programme, column))
            scopes.push({ scope: `${dimension}=${v}`, filter: { [dimension]: [v] } });
        }
        const records: unknown[][] = [];
        for (const { scope, filter } of scopes) {
          for (const r of questionResults(entry, filter).questions) {
            records.push([scope, r.text, r.kind, r.responses, r.mean, r.enps?.score ?? ""]);
          }
        }
        const csv = stringify(records, {
          header: true,
          columns: ["scope", "question", "kind", "responses", "mean", "enps"],
        });
        return { filename: `pulse-${programme.name.replace(/\W+/g, "-").toLowerCase()}-wave-${wave.number}.csv`, csv };
      }),

      createProgramme: action(createProgramme, async function (this: PulseThis, ctx) {
        const p = ctx.params;
        if (p.commentMinimum < p.minGroupSize) {
          throw new ValidationFailedError([{ field: "commentMinimum", message: "must be at least minGroupSize" }]);
        }
        if (p.audience.kind !== "everyone" && p.audience.kind !== "newHires" && p.audience.values.length === 0) {
          throw new ValidationFailedError([
            { field: "audience.values", message: `name at least one of the ${p.audience.kind}` },
          ]);
        }
        const id = randomUUID();
        await this.transaction(async (em) => {
          await ensureBank(em, this.settings.tenantId);
          await sql(
            em,
            `insert into ${T("programmes")} (id, tenant_id, name, cadence, audience_kind, audience_values,
             questions_per_wave, min_group_size, comment_minimum, manager_results, local_open_time, created_at)
             values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())`,
            [
              id,
              this.settings.tenantId,
              p.name,
              p.cadence,
              p.audience.kind,
              JSON.stringify(p.audience.values),
              p.questionsPerWave,
              p.minGroupSize,
              p.commentMinimum,
              p.managerResults,
              p.localOpenTime,
            ],
          );
        });
        return { id };
      }),

      addQuestion: action(addQuestion, async function (this: PulseThis, ctx) {
        const programme = await loadProgramme(this.em(), ctx.params.programmeId);
        if (!programme) throw new NotFoundError("Programme");
        const id = randomUUID();
        const scale = ctx.params.kind === "scale";
        await sql(
          this.em(),
          `insert into ${T("questions")} (id, tenant_id, programme_id, kind, text, driver, min, max, definition, position)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, 1000 + (select count(*) from ${T("questions")} where programme_id = ?))`,
          [
            id,
            programme.tenant_id,
            programme.id,
            ctx.params.kind,
            ctx.params.text,
            ctx.params.driver ?? null,
            scale ? 1 : 0,
            scale ? 5 : 0,
            scale ? "1 = strongly disagree … 5 = strongly agree" : null,
            programme.id,
          ],
        );
        return { id };
      }),

      addWaveAction: action(addWaveAction, async function (this: PulseThis, ctx) {
        const wave = await loadWave(this.em(), ctx.params.waveId);
        if (!wave) throw new NotFoundError("Wave");
        if (wave.status !== "closed") throw new ConflictError("Actions are attached to a closed wave's results");
        const id = randomUUID();
        await sql(
          this.em(),
          `insert into ${T("wave_actions")} (id, wave_id, title, description, created_by, created_at) values (?, ?, ?, ?, ?, now())`,
          [id, wave.id, ctx.params.title, ctx.params.description, ctx.meta.caller?.objectId ?? null],
        );
        return { id };
      }),

      openWave: action(openWave, async function (this: PulseThis, ctx) {
        const result = await openNextWave(this, ctx.params.programmeId, { onlyIfDue: false });
        if (!result) throw new ConflictError("This programme already has an open wave");
        await this.deliverDue();
        return result;
      }),

      closeWave: action(closeWave, async function (this: PulseThis, ctx) {
        const wave = await loadWave(this.em(), ctx.params.waveId);
        if (!wave) throw new NotFoundError("Wave");
        if (wave.status === "closed") throw new ConflictError("This wave is already closed");
        const closed = await this.transaction((em) => closeWaveNow(this, em, wave.id));
        if (!closed) throw new ConflictError("This wave is already closed");
        return { id: wave.id, status: "closed" as const };
      }),

      sendReminders: action(sendReminders, async function (this: PulseThis, ctx) {
        const wave = await loadWave(this.em(), ctx.params.waveId);
        if (!wave) throw new NotFoundError("Wave");
        if (wave.status !== "open") throw new ConflictError("Reminders are for an open wave");
        const rows = await sql<{ user_id: string }>(
          this.em(),
          `select user_id from ${T("invitations")} where wave_id = ? and not answered and invited_at is not null
           and closes_at > now()`,
          [wave.id],
        );
        if (rows.length === 0) return { reminded: 0 };
        const programme = (await loadProgramme(this.em(), wave.programme_id))!;
        const day = new Date().toISOString().slice(0, 10);
        const res = await this.broker.call("notifications.notify", {
          audience: { userIds: rows.map((r) => r.user_id) },
          templateId: "pulse.reminder",
          data: {
            waveId: wave.id,
            programme: programme.name,
            closesOn: wave.closes_on,
          },
          priority: "low",
          dedupeKey: `pulse:${wave.id}:remind:${day}`,
          source: "pulse",
          actions: [{ verb: "pulse.showSurvey", ...SHOW_SURVEY_TITLES, data: { waveId: wave.id } }],
        });
        await sql(
          this.em(),
          `update ${T("invitations")} set reminded_at = now() where wave_id = ? and user_id = any(?::uuid[])`,
          [wave.id, `{${rows.map((r) => r.user_id).join(",")}}`],
        );
        return { reminded: (res as { accepted: number }).accepted };
      }),
    },
    async seedDemo(this: PulseThis, em: EntityManager) {
      return seedDemoPulse(em, this.settings.tenantId);
    },
  } as unknown as moleculer.ServiceSchema;
}

export { DEFAULT_BANK };
export default createPulseService();
