// Due dates for journey steps: offsets from the hire date in working or calendar days, in the owner's time zone,
// skipping weekends and the owner's country's public holidays (date-holidays, plus company-configured days).
import Holidays from "date-holidays";
import { DateTime } from "luxon";

export type OffsetUnit = "working" | "calendar";

export interface CalendarConfig {
  /** ISO weekdays that are not worked (1 = Monday … 7 = Sunday). */
  weekend: readonly number[];
  /** Extra closed days per country ("*" = everywhere), e.g. a company shutdown. */
  extraClosedDays: Readonly<Record<string, readonly string[]>>;
  /** Public holidays from date-holidays are skipped unless the country is listed here. */
  ignoreHolidaysFor: readonly string[];
  /** Local time of day a task falls due. */
  dueTime: string;
}

export const DEFAULT_CALENDAR: CalendarConfig = {
  weekend: [6, 7],
  extraClosedDays: {},
  ignoreHolidaysFor: [],
  dueTime: "17:00",
};

const holidayCache = new Map<string, Set<string>>();

/** Public holidays of a country in a year, as YYYY-MM-DD. Unknown countries have none. */
export function publicHolidays(country: string, year: number): Set<string> {
  const key = `${country}|${year}`;
  let days = holidayCache.get(key);
  if (!days) {
    days = new Set();
    // Public holidays and the days off that replace one falling on a weekend (typed "bank" with substitute set).
    for (const h of new Holidays(country.toUpperCase()).getHolidays(year))
      if (h.type === "public" || (h as { substitute?: boolean }).substitute) days.add(h.date.slice(0, 10));
    holidayCache.set(key, days);
  }
  return days;
}

export function isWorkingDay(date: string, country: string | null, calendar: CalendarConfig = DEFAULT_CALENDAR) {
  const dt = DateTime.fromISO(date, { zone: "utc" });
  if (calendar.weekend.includes(dt.weekday)) return false;
  if ((calendar.extraClosedDays["*"] ?? []).includes(date)) return false;
  if (!country) return true;
  if ((calendar.extraClosedDays[country.toUpperCase()] ?? []).includes(date)) return false;
  if (calendar.ignoreHolidaysFor.includes(country.toUpperCase())) return true;
  return !publicHolidays(country, dt.year).has(date);
}

function addDays(date: string, days: number): string {
  return DateTime.fromISO(date, { zone: "utc" }).plus({ days }).toISODate() as string;
}

export interface DueInput {
  hireDate: string;
  offsetDays: number;
  unit: OffsetUnit;
  /** The owner's time zone and country (whose weekend and holidays count). */
  timeZone: string | null;
  country: string | null;
}

export interface Due {
  /** Local calendar day in the owner's time zone. */
  dueDate: string;
  /** The instant the task falls due: dueTime on dueDate in the owner's zone (DST-aware). */
  dueAt: string;
}

/**
 * Working days: day 0 is the first working day on or after the hire date; +n counts n working days later, −n
 * counts n working days before day 0. Calendar days: the plain offset, moved to the next working day (or, before
 * the start, the previous one, so pre-boarding stays before day one).
 */
export function dueFor(input: DueInput, calendar: CalendarConfig = DEFAULT_CALENDAR): Due {
  const { country } = input;
  const working = (d: string) => isWorkingDay(d, country, calendar);
  let day = input.hireDate;
  if (input.unit === "working") {
    while (!working(day)) day = addDays(day, 1);
    const step = input.offsetDays >= 0 ? 1 : -1;
    for (let left = Math.abs(input.offsetDays); left > 0; ) {
      day = addDays(day, step);
      if (working(day)) left--;
    }
  } else {
    day = addDays(day, input.offsetDays);
    const step = input.offsetDays < 0 ? -1 : 1;
    while (!working(day)) day = addDays(day, step);
  }
  const [hour, minute] = calendar.dueTime.split(":").map(Number) as [number, number];
  const zone = input.timeZone && DateTime.local().setZone(input.timeZone).isValid ? input.timeZone : "UTC";
  // fromObject in the zone resolves a wall-clock time; 17:00 never falls in a DST gap, and luxon picks the
  // earlier instant in an overlap.
  const local = DateTime.fromObject(
    { year: Number(day.slice(0, 4)), month: Number(day.slice(5, 7)), day: Number(day.slice(8, 10)), hour, minute },
    { zone },
  );
  return { dueDate: day, dueAt: local.toUTC().toISO({ suppressMilliseconds: true }) as string };
}

export interface ScheduledTask {
  id: string;
  status: "open" | "done" | "skipped";
  offsetDays: number;
  unit: OffsetUnit;
  ownerTimeZone: string | null;
  ownerCountry: string | null;
  dueDate: string;
  dueAt: string;
}

/** New due dates for the open tasks when the hire date moves; finished tasks keep theirs. */
export function reschedule<T extends ScheduledTask>(
  tasks: readonly T[],
  newHireDate: string,
  calendar: CalendarConfig = DEFAULT_CALENDAR,
): T[] {
  return tasks.map((t) =>
    t.status !== "open"
      ? t
      : {
          ...t,
          ...dueFor(
            {
              hireDate: newHireDate,
              offsetDays: t.offsetDays,
              unit: t.unit,
              timeZone: t.ownerTimeZone,
              country: t.ownerCountry,
            },
            calendar,
          ),
        },
  );
}
