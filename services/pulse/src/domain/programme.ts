// Programme rules: the default question bank, rotation, cadence, tenure bands, and when a person's wave opens
// and closes inside their working hours in their own time zone. Pure: no Moleculer, no ORM.
import { DateTime } from "luxon";

export type Cadence = "weekly" | "biweekly" | "monthly" | "quarterly";
export type BankQuestion = {
  kind: "enps" | "scale" | "comment";
  text: string;
  driver: string | null;
  min: number;
  max: number;
  definition: string | null;
};

export const ENPS_DEFINITION =
  "0–10. Promoters answer 9–10, passives 7–8, detractors 0–6. eNPS = % promoters − % detractors (−100 to +100).";

export const DEFAULT_BANK: readonly BankQuestion[] = [
  {
    kind: "enps",
    text: "How likely are you to recommend working here to a friend?",
    driver: "eNPS",
    min: 0,
    max: 10,
    definition: ENPS_DEFINITION,
  },
  ...(
    [
      ["Recognition", "I receive appropriate recognition when I do good work."],
      ["Growth", "I have opportunities to learn and grow here."],
      ["Workload", "My workload is manageable."],
      ["Manager support", "My manager supports me when I need it."],
      ["Autonomy", "I have enough freedom to decide how I do my work."],
      ["Belonging", "I feel I belong on my team."],
      ["Wellbeing", "I can switch off from work when I need to."],
      ["Alignment", "I understand how my work contributes to the company's goals."],
      ["Peer relationships", "I can count on my colleagues."],
      ["Communication", "I am kept informed about what matters to my work."],
    ] as const
  ).map(([driver, text]) => ({
    kind: "scale" as const,
    text,
    driver,
    min: 1,
    max: 5,
    definition: "1 = strongly disagree … 5 = strongly agree",
  })),
  {
    kind: "comment",
    text: "Anything else you would like to tell us?",
    driver: null,
    min: 0,
    max: 0,
    definition: null,
  },
];

/**
 * Which questions a wave asks: eNPS and the open comment every time, and `perWave` scale questions taken in turn
 * so that the bank is cycled over successive waves (each person answers few questions per wave).
 */
export function rotate<Q extends { kind: string }>(questions: readonly Q[], waveNumber: number, perWave: number): Q[] {
  const always = questions.filter((q) => q.kind !== "scale");
  const scale = questions.filter((q) => q.kind === "scale");
  if (scale.length === 0) return always;
  const take = Math.min(perWave, scale.length);
  const start = ((waveNumber - 1) * take) % scale.length;
  const chosen = Array.from({ length: take }, (_, i) => scale[(start + i) % scale.length]!);
  return [...always.filter((q) => q.kind === "enps"), ...chosen, ...always.filter((q) => q.kind === "comment")];
}

/** The day the wave after one opening on `opensOn` opens. */
export function nextOpening(opensOn: string, cadence: Cadence): string {
  const d = DateTime.fromISO(opensOn, { zone: "utc" });
  const next =
    cadence === "weekly"
      ? d.plus({ weeks: 1 })
      : cadence === "biweekly"
        ? d.plus({ weeks: 2 })
        : cadence === "monthly"
          ? d.plus({ months: 1 })
          : d.plus({ months: 3 });
  return nextWorkingDay(next.toISODate()!);
}

/** How many working days a wave stays open. */
export function openWorkingDays(cadence: Cadence): number {
  return cadence === "weekly" ? 3 : cadence === "biweekly" ? 5 : 5;
}

/** Monday–Friday: a wave opening on a weekend moves to the next Monday. */
export function nextWorkingDay(day: string): string {
  let d = DateTime.fromISO(day, { zone: "utc" });
  while (d.weekday > 5) d = d.plus({ days: 1 });
  return d.toISODate()!;
}

export function addWorkingDays(day: string, days: number): string {
  let d = DateTime.fromISO(nextWorkingDay(day), { zone: "utc" });
  let left = days;
  while (left > 0) {
    d = d.plus({ days: 1 });
    if (d.weekday <= 5) left--;
  }
  return d.toISODate()!;
}

export type WorkingHours = { start: string; end: string };
export const DEFAULT_WORKING_HOURS: WorkingHours = { start: "09:00", end: "17:00" };

/**
 * The instants a person's wave opens and closes: `openAt` local time on the opening day (kept inside their
 * working hours) and the end of their working day on the closing day, both in their own time zone.
 */
export function personalWindow(
  opensOn: string,
  closesOn: string,
  timeZone: string | null,
  openAt: string,
  hours: WorkingHours = DEFAULT_WORKING_HOURS,
): { opensAt: Date; closesAt: Date } {
  const zone = timeZone && DateTime.local().setZone(timeZone).isValid ? timeZone : "UTC";
  const clamp = openAt < hours.start ? hours.start : openAt >= hours.end ? hours.start : openAt;
  const at = (day: string, time: string) => DateTime.fromISO(`${day}T${time}`, { zone }).toJSDate();
  return { opensAt: at(opensOn, clamp), closesAt: at(closesOn, hours.end) };
}

/** Tenure bands locked on the answers (coarse on purpose). */
export function tenureBand(hireDate: string | null | undefined, on: string): string {
  if (!hireDate) return "unknown";
  const months = DateTime.fromISO(on).diff(DateTime.fromISO(hireDate), "months").months;
  if (months < 6) return "<6m";
  if (months < 12) return "6-12m";
  if (months < 36) return "1-3y";
  return "3y+";
}

/** New-hire pulses: a person is due on day 30 and day 90 after their hire date. */
export function newHireMilestones(hireDate: string): { day: 30 | 90; on: string }[] {
  const hired = DateTime.fromISO(hireDate, { zone: "utc" });
  return ([30, 90] as const).map((day) => ({ day, on: nextWorkingDay(hired.plus({ days: day }).toISODate()!) }));
}

/** Managers above each person, top first, from a directory of (id, managerId); cycles are cut. */
export function managerPaths(people: readonly { id: string; managerId: string | null }[]): Map<string, string[]> {
  const managerOf = new Map(people.map((p) => [p.id, p.managerId]));
  const paths = new Map<string, string[]>();
  for (const person of people) {
    const path: string[] = [];
    const seen = new Set([person.id]);
    let m = managerOf.get(person.id) ?? null;
    while (m && !seen.has(m) && path.length < 50) {
      seen.add(m);
      path.unshift(m);
      m = managerOf.get(m) ?? null;
    }
    paths.set(person.id, path);
  }
  return paths;
}
