// SQL of the pulse schema: aggregation happens here (grouped by locked attributes), never row by row in Node.
import { randomUUID } from "node:crypto";
import { type TEmployee, waveClosed } from "@hearth/contracts";
import type { EntityManager } from "@mikro-orm/core";
import type { Atom, Attributes } from "./domain/disclosure.ts";
import {
  addWorkingDays,
  type Cadence,
  DEFAULT_BANK,
  managerPaths,
  nextOpening,
  nextWorkingDay,
  openWorkingDays,
  personalWindow,
  rotate,
  tenureBand,
} from "./domain/programme.ts";
import type { PulseThis } from "./pulse.service.ts";

export const T = (table: string) => `"pulse"."${table}"`;

export function sql<R = any>(em: EntityManager, query: string, params: unknown[] = []): Promise<R[]> {
  return (em as unknown as { execute(q: string, p: unknown[]): Promise<R[]> }).execute(query, params);
}

export type ProgrammeRow = {
  id: string;
  tenant_id: string;
  name: string;
  cadence: Cadence;
  audience_kind: "everyone" | "departments" | "offices" | "newHires";
  audience_values: string[];
  questions_per_wave: number;
  min_group_size: number;
  comment_minimum: number;
  manager_results: boolean;
  local_open_time: string;
};
export type WaveRow = {
  id: string;
  tenant_id: string;
  programme_id: string;
  number: number;
  status: "scheduled" | "open" | "closed";
  opens_on: string;
  closes_on: string;
  question_ids: string[];
  invited: number;
};
export type QuestionRow = {
  id: string;
  kind: "enps" | "scale" | "comment";
  text: string;
  driver: string | null;
  min: number;
  max: number;
  definition: string | null;
  position: number;
  programme_id: string | null;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function loadProgramme(em: EntityManager, id: string) {
  if (!UUID.test(id)) return undefined;
  return (await sql<ProgrammeRow>(em, `select * from ${T("programmes")} where id = ?`, [id]))[0];
}

export async function loadWave(em: EntityManager, id: string) {
  if (!UUID.test(id)) return undefined;
  return (await sql<WaveRow>(em, `select * from ${T("waves")} where id = ?`, [id]))[0];
}

export async function waveQuestions(em: EntityManager, wave: WaveRow): Promise<QuestionRow[]> {
  const rows = await sql<QuestionRow>(em, `select * from ${T("questions")} where id = any(?::uuid[])`, [
    `{${wave.question_ids.join(",")}}`,
  ]);
  const order = new Map(wave.question_ids.map((id, i) => [id, i]));
  return rows.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
}

/** The default bank for a tenant, created once. */
export async function ensureBank(em: EntityManager, tenantId: string): Promise<QuestionRow[]> {
  const existing = await sql<QuestionRow>(
    em,
    `select * from ${T("questions")} where tenant_id = ? and programme_id is null order by position`,
    [tenantId],
  );
  if (existing.length > 0) return existing;
  const values: unknown[] = [];
  DEFAULT_BANK.forEach((q, position) => {
    values.push(randomUUID(), tenantId, q.kind, q.text, q.driver, q.min, q.max, q.definition, position);
  });
  await sql(
    em,
    `insert into ${T("questions")} (id, tenant_id, kind, text, driver, min, max, definition, position)
     values ${DEFAULT_BANK.map(() => "(?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`,
    values,
  );
  return ensureBank(em, tenantId);
}

/** One shared object per distinct set of locked attributes (waves and questions repeat them). */
const interned = new Map<string, Attributes>();
export function intern(department: string, office: string, tenureBand: string, managerPath: string[]): Attributes {
  const key = JSON.stringify([department, office, tenureBand, managerPath]);
  let attributes = interned.get(key);
  if (!attributes) {
    attributes = { department, office, tenureBand, managerPath };
    if (interned.size > 2_000_000) interned.clear();
    interned.set(key, attributes);
  }
  return attributes;
}

/** Answers of a closed wave grouped by question, locked attributes and value: the atoms of disclosure control. */
export async function loadWaveAtoms(
  em: EntityManager,
  waveId: string,
  questions: readonly QuestionRow[],
): Promise<Map<string, Atom[]>> {
  const rows = await sql<{
    question_id: string;
    department: string;
    office: string;
    tenure_band: string;
    manager_path: string[];
    value: number | null;
    n: number;
  }>(
    em,
    `select question_id, department, office, tenure_band, manager_path, value, count(*)::int as n
     from ${T("answers")} where wave_id = ?
     group by question_id, department, office, tenure_band, manager_path, value`,
    [waveId],
  );
  const kinds = new Map(questions.map((q) => [q.id, q.kind]));
  const atoms = new Map<string, Map<string, Atom & { histogram: Map<number, number> }>>();
  for (const r of rows) {
    const kind = kinds.get(r.question_id);
    if (!kind) continue;
    let byAtom = atoms.get(r.question_id);
    if (!byAtom) {
      byAtom = new Map();
      atoms.set(r.question_id, byAtom);
    }
    const key = JSON.stringify([r.department, r.office, r.tenure_band, r.manager_path]);
    let atom = byAtom.get(key);
    if (!atom) {
      atom = {
        attributes: {
          department: r.department,
          office: r.office,
          tenureBand: r.tenure_band,
          managerPath: r.manager_path,
        },
        count: 0,
        sum: 0,
        histogram: new Map(),
      };
      byAtom.set(key, atom);
    }
    const value = kind === "comment" ? 0 : (r.value ?? 0);
    atom.count += r.n;
    atom.sum += value * r.n;
    atom.histogram.set(value, (atom.histogram.get(value) ?? 0) + r.n);
  }
  return new Map([...atoms].map(([q, m]) => [q, [...m.values()]]));
}

const MOVE = (where: string) => `
  with moved as (delete from ${T("answer_buffer")} where ${where}
    returning wave_id, question_id, day, department, office, tenure_band, manager_path, value, comment)
  insert into ${T("answers")} (id, wave_id, question_id, day, department, office, tenure_band, manager_path, value, comment)
  select gen_random_uuid(), wave_id, question_id, day, department, office, tenure_band, manager_path, value, comment
  from moved order by random()`;

/** Moves buffered answers into `answers` once at least `minimum` submissions wait (shuffled, fresh ids). */
export async function flushAnswers(em: EntityManager, waveId: string, minimum: number) {
  const [{ n }] = (await sql<{ n: number }>(
    em,
    `select count(distinct submission)::int as n from ${T("answer_buffer")} where wave_id = ?`,
    [waveId],
  )) as [{ n: number }];
  if (n < minimum) return 0;
  await sql(em, MOVE("wave_id = ?"), [waveId]);
  return n;
}

/**
 * Closes a wave, moves what is still buffered and records `pulse.wave.closed` in the same transaction (so the event
 * is never lost nor sent for a wave left open). False when it was already closed (by another replica meanwhile).
 */
export async function closeWaveNow(service: PulseThis, em: EntityManager, waveId: string): Promise<boolean> {
  const [wave] = await sql<WaveRow & { min_group_size: number }>(
    em,
    `update ${T("waves")} w set status = 'closed', closed_at = now() from ${T("programmes")} p
     where w.id = ? and w.status <> 'closed' and p.id = w.programme_id returning w.*, p.min_group_size`,
    [waveId],
  );
  if (!wave) return false;
  // Later statements see every submission that committed before the close took the wave's row (see ingest.ts).
  await sql(em, MOVE("wave_id = ?"), [waveId]);
  const [{ responses }] = (await sql<{ responses: number }>(
    em,
    `select count(*)::int as responses from ${T("invitations")} where wave_id = ? and answered`,
    [waveId],
  )) as [{ responses: number }];
  service.recordEvent(em, waveClosed, {
    tenantId: wave.tenant_id,
    programmeId: wave.programme_id,
    waveId: wave.id,
    number: wave.number,
    opensOn: wave.opens_on,
    closesOn: wave.closes_on,
    closedOn: new Date().toISOString().slice(0, 10),
    invited: wave.invited,
    responses: wave.invited >= wave.min_group_size ? responses : null,
    minGroupSize: wave.min_group_size,
  });
  return true;
}

/** Everyone in the directory, through the people contract (pages of 200). */
async function directory(service: PulseThis): Promise<TEmployee[]> {
  const people: TEmployee[] = [];
  let cursor: string | undefined;
  do {
    const page = (await service.broker.call("people.listEmployees", { limit: 200, ...(cursor && { cursor }) })) as {
      items: TEmployee[];
      nextCursor?: string;
    };
    people.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return people;
}

/**
 * Opens the programme's next wave: the audience, the governor, the snapshot of attributes (locked for the wave)
 * and each person's window in their own time zone. Null when a wave is open or (onlyIfDue) the next is not due.
 */
export async function openNextWave(service: PulseThis, programmeId: string, opts: { onlyIfDue: boolean }) {
  const em = service.em();
  const programme = await loadProgramme(em, programmeId);
  if (!programme) {
    const { NotFoundError } = await import("@hearth/platform");
    throw new NotFoundError("Programme");
  }
  const waves = await sql<WaveRow>(em, `select * from ${T("waves")} where programme_id = ? order by number desc`, [
    programmeId,
  ]);
  const last = waves[0];
  if (last && last.status === "open") return null;
  const today = nextWorkingDay(new Date().toISOString().slice(0, 10));
  const dueOn = last ? nextOpening(last.opens_on, programme.cadence) : today;
  if (opts.onlyIfDue && dueOn > today) return null;
  const opensOn = today;
  const closesOn = addWorkingDays(opensOn, openWorkingDays(programme.cadence));
  const number = (last?.number ?? 0) + 1;

  const bank = await ensureBank(em, programme.tenant_id);
  const own = await sql<QuestionRow>(em, `select * from ${T("questions")} where programme_id = ? order by position`, [
    programmeId,
  ]);
  const questions = rotate([...bank, ...own], number, programme.questions_per_wave);

  const everyone = await directory(service);
  const paths = managerPaths(everyone.map((p) => ({ id: p.id, managerId: p.managerId })));
  const since = last?.opens_on ?? addDays(opensOn, -31);
  // New hires come from employee.hired (directory events), recorded in new_hires.
  const hires =
    programme.audience_kind === "newHires"
      ? new Map(
          (
            await sql<{ user_id: string; hire_date: string }>(
              em,
              `select user_id, hire_date from ${T("new_hires")} where hire_date > ? and hire_date <= ?`,
              [addDays(since, -90), opensOn],
            )
          ).map((r) => [r.user_id, r.hire_date]),
        )
      : new Map<string, string>();
  const audience = everyone.filter((p) => {
    if (p.status === "left") return false;
    switch (programme.audience_kind) {
      case "departments":
        return programme.audience_values.includes(p.department ?? "");
      case "offices":
        return programme.audience_values.includes(p.office ?? "");
      case "newHires":
        return newHireDue(hires.get(p.id), since, opensOn);
      default:
        return true;
    }
  });

  // The survey-load governor: people over their cap are not invited at all (the response rate stays honest).
  const allowed = new Set<string>();
  for (let i = 0; i < audience.length; i += 10_000) {
    const chunk = audience.slice(i, i + 10_000).map((p) => p.id);
    const load = (await service.broker.call("notifications.checkSurveyLoad", {
      userIds: chunk,
      kind: "feedbackRequest",
    })) as { users: { userId: string; allowed: boolean }[] };
    for (const u of load.users) if (u.allowed) allowed.add(u.userId);
  }
  const invitees = audience.filter((p) => allowed.has(p.id));
  const waveId = randomUUID();
  const opened = await service.transaction(async (tx) => {
    // Serialises whoever opens this programme's waves (replicas, HR's button): the last wave read above must still
    // be the last, or someone else opened the next one meanwhile and this one stands aside.
    await sql(tx, `select id from ${T("programmes")} where id = ? for update`, [programmeId]);
    const [current] = await sql<{ number: number }>(
      tx,
      `select number from ${T("waves")} where programme_id = ? order by number desc limit 1`,
      [programmeId],
    );
    if ((current?.number ?? 0) !== (last?.number ?? 0)) return false;
    await sql(
      tx,
      `insert into ${T("waves")} (id, tenant_id, programme_id, number, status, opens_on, closes_on, question_ids,
       invited, opened_at) values (?, ?, ?, ?, 'open', ?, ?, ?, ?, now())`,
      [
        waveId,
        programme.tenant_id,
        programmeId,
        number,
        opensOn,
        closesOn,
        JSON.stringify(questions.map((q) => q.id)),
        invitees.length,
      ],
    );
    for (let i = 0; i < invitees.length; i += 1000) {
      const chunk = invitees.slice(i, i + 1000);
      const values: unknown[] = [];
      for (const p of chunk) {
        const window = personalWindow(opensOn, closesOn, p.timeZone, programme.local_open_time);
        values.push(
          randomUUID(),
          waveId,
          p.id,
          p.department ?? "unknown",
          p.office ?? "unknown",
          tenureBand(p.hireDate, opensOn),
          JSON.stringify(paths.get(p.id) ?? []),
          p.timeZone ?? "UTC",
          window.opensAt,
          window.closesAt,
        );
      }
      await sql(
        tx,
        `insert into ${T("invitations")} (id, wave_id, user_id, department, office, tenure_band, manager_path,
         time_zone, opens_at, closes_at) values ${chunk.map(() => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`,
        values,
      );
    }
    return true;
  });
  if (!opened) return null;
  service.logger.info("Pulse wave opened", { programmeId, waveId, number, invited: invitees.length });
  return { id: waveId, invited: invitees.length, suppressedByGovernor: audience.length - invitees.length };
}

/** Day 30 or day 90 after the hire date falls after the previous wave opened and by this one. */
export function newHireDue(hireDate: string | undefined, since: string, opensOn: string): boolean {
  if (!hireDate) return false;
  return [30, 90].some((d) => {
    const on = addDays(hireDate, d);
    return on > since && on <= opensOn;
  });
}

function addDays(day: string, days: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}
