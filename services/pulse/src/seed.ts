// Demo data for `npm start`: a monthly engagement programme with three closed waves whose answers are enough to
// show results, heatmaps, trends and comments (an open wave for the demo directory is opened once people runs).
import { randomUUID } from "node:crypto";
import type { EntityManager } from "@mikro-orm/core";
import { rotate } from "./domain/programme.ts";
import { ensureBank, sql, T } from "./store.ts";

const DEPARTMENTS = ["Engineering", "Sales", "Customer Success", "People", "Finance"];
const OFFICES = ["Berlin", "Lyon", "Remote"];
const BANDS = ["<6m", "6-12m", "1-3y", "3y+"];
const COMMENTS = [
  "More focus time, fewer meetings please.",
  "The new onboarding buddy programme helped a lot.",
  "I would like clearer career paths.",
  "Great team spirit lately.",
  "Tooling for expenses is painful.",
  "Thanks for the flexible hours.",
  "Cross-team communication could be better.",
  "Loving the knowledge-sharing sessions.",
];

/** A deterministic pseudo-random source so the demo looks the same on every start. */
function mulberry32(seed: number) {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function seedDemoPulse(em: EntityManager, tenantId: string): Promise<number> {
  const existing = await sql(em, `select 1 from ${T("programmes")} where tenant_id = ? limit 1`, [tenantId]);
  if (existing.length > 0) return 0;
  const bank = await ensureBank(em, tenantId);
  const programmeId = randomUUID();
  await sql(
    em,
    `insert into ${T("programmes")} (id, tenant_id, name, cadence, audience_kind, audience_values, questions_per_wave,
     min_group_size, comment_minimum, manager_results, local_open_time, created_at)
     values (?, ?, 'Monthly engagement pulse', 'monthly', 'everyone', '[]', 4, 5, 10, true, '10:00', now())`,
    [programmeId, tenantId],
  );
  const random = mulberry32(42);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  // A population of 180 people with a two-level reporting line.
  const heads = DEPARTMENTS.map(() => randomUUID());
  const population = Array.from({ length: 180 }, (_, i) => {
    const d = i % DEPARTMENTS.length;
    return {
      userId: randomUUID(),
      department: DEPARTMENTS[d]!,
      office: pick(OFFICES),
      tenureBand: pick(BANDS),
      managerPath: [heads[0]!, ...(d === 0 ? [] : [heads[d]!])],
      mood: 0.4 + 0.5 * random() + (d === 0 ? 0.1 : 0),
    };
  });
  const today = new Date();
  let answers = 0;
  for (const number of [1, 2, 3]) {
    const opens = new Date(today.getTime() - (4 - number) * 35 * 86_400_000);
    const opensOn = opens.toISOString().slice(0, 10);
    const closesOn = new Date(opens.getTime() + 7 * 86_400_000).toISOString().slice(0, 10);
    const questions = rotate(bank, number, 4);
    const waveId = randomUUID();
    await sql(
      em,
      `insert into ${T("waves")} (id, tenant_id, programme_id, number, status, opens_on, closes_on, question_ids,
       invited, opened_at, closed_at) values (?, ?, ?, ?, 'closed', ?, ?, ?, ?, ?, ?)`,
      [
        waveId,
        tenantId,
        programmeId,
        number,
        opensOn,
        closesOn,
        JSON.stringify(questions.map((q) => q.id)),
        population.length,
        opens,
        new Date(`${closesOn}T17:00:00Z`),
      ],
    );
    const invitations: unknown[] = [];
    const rows: unknown[] = [];
    for (const person of population) {
      const answered = random() < 0.72 + number * 0.03;
      invitations.push(
        randomUUID(),
        waveId,
        person.userId,
        person.department,
        person.office,
        person.tenureBand,
        JSON.stringify(person.managerPath),
        "Europe/Berlin",
        answered,
        new Date(`${opensOn}T09:00:00Z`),
        new Date(`${closesOn}T16:00:00Z`),
        new Date(`${opensOn}T09:00:00Z`),
      );
      if (!answered) continue;
      const day = new Date(opens.getTime() + Math.floor(random() * 5) * 86_400_000).toISOString().slice(0, 10);
      for (const q of questions) {
        let value: number | null = null;
        let comment: string | null = null;
        if (q.kind === "comment") {
          if (random() > 0.35) continue;
          comment = pick(COMMENTS);
        } else {
          const mood = Math.min(1, Math.max(0, person.mood + (random() - 0.5) * 0.5 + number * 0.03));
          value = Math.round(q.min + mood * (q.max - q.min));
        }
        rows.push(
          randomUUID(),
          waveId,
          q.id,
          day,
          person.department,
          person.office,
          person.tenureBand,
          JSON.stringify(person.managerPath),
          value,
          comment,
        );
        answers++;
      }
    }
    for (let i = 0; i < invitations.length; i += 12 * 500) {
      const chunk = invitations.slice(i, i + 12 * 500);
      await sql(
        em,
        `insert into ${T("invitations")} (id, wave_id, user_id, department, office, tenure_band, manager_path, time_zone,
         answered, opens_at, closes_at, invited_at) values ${Array.from({ length: chunk.length / 12 }, () => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`,
        chunk,
      );
    }
    for (let i = 0; i < rows.length; i += 10 * 500) {
      const chunk = rows.slice(i, i + 10 * 500);
      await sql(
        em,
        `insert into ${T("answers")} (id, wave_id, question_id, day, department, office, tenure_band, manager_path, value,
         comment) values ${Array.from({ length: chunk.length / 10 }, () => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`,
        chunk,
      );
    }
    if (number === 3) {
      await sql(
        em,
        `insert into ${T("wave_actions")} (id, wave_id, title, description, created_by, created_at) values (?, ?, ?, ?, null, now())`,
        [
          randomUUID(),
          waveId,
          "Meeting-free Wednesday afternoons",
          "You said focus time was scarce: from next month, no internal meetings on Wednesday afternoons.",
        ],
      );
    }
  }
  return answers;
}
