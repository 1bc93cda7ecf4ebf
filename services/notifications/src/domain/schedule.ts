// When a notification may reach a person: their working hours, quiet hours, snooze and digest time, all in their own
// time zone. Pure: the clock is a parameter.
import type { TPreferences, TPriority } from "@hearth/contracts";
import { DateTime } from "luxon";

export const DEFAULT_PREFERENCES: TPreferences = Object.freeze({
  channels: { teamsCard: true, activityFeed: true, mail: false },
  delivery: { low: "digest", normal: "immediate", high: "immediate" },
  digestTime: "09:00",
  workingHours: { days: [1, 2, 3, 4, 5], start: "09:00", end: "17:00" },
  quietHours: null,
  snoozeUntil: null,
  language: null,
  timeZone: null,
}) as TPreferences;

export type Decision =
  | { action: "send" }
  | { action: "defer"; until: Date; reason: "snoozed" | "quietHours" | "outsideWorkingHours" | "digest" };

const minutesOf = (clock: string) => {
  const [h, m] = clock.split(":").map(Number);
  return h! * 60 + m!;
};

/** Inside [start, end) of the day, where end ≤ start wraps past midnight. */
function inWindow(minute: number, start: number, end: number) {
  return start <= end ? minute >= start && minute < end : minute >= start || minute < end;
}

function allowedAt(local: DateTime, prefs: TPreferences): boolean {
  const minute = local.hour * 60 + local.minute;
  const wh = prefs.workingHours;
  if (!wh.days.includes(local.weekday)) return false;
  // Equal start and end: working all day; quiet hours with equal ends: none.
  if (wh.start !== wh.end && !inWindow(minute, minutesOf(wh.start), minutesOf(wh.end))) return false;
  if (
    prefs.quietHours &&
    prefs.quietHours.start !== prefs.quietHours.end &&
    inWindow(minute, minutesOf(prefs.quietHours.start), minutesOf(prefs.quietHours.end))
  ) {
    return false;
  }
  return true;
}

/** The first minute from `from` on at which the person's hours allow a message (at most two weeks ahead). */
export function nextAllowed(from: DateTime, prefs: TPreferences): DateTime | null {
  let t = from.startOf("minute");
  if (t < from) t = t.plus({ minutes: 1 });
  if (allowedAt(t, prefs)) return t;
  // Step to the next quarter hour, then walk by quarter hours: hour boundaries in preferences are on minutes, so
  // jump straight to each configured boundary instead.
  const boundaries = [prefs.workingHours.start, prefs.workingHours.end, prefs.quietHours?.start, prefs.quietHours?.end]
    .filter((b): b is string => !!b)
    .map(minutesOf);
  for (let day = 0; day < 15; day++) {
    const date = t.plus({ days: day }).startOf("day");
    for (const minute of [...new Set(boundaries)].sort((a, b) => a - b)) {
      const candidate = date.plus({ minutes: minute });
      if (candidate > t && allowedAt(candidate, prefs)) return candidate;
    }
  }
  return null;
}

export function zoneOrDefault(zone: string | null | undefined, fallback = "UTC"): string {
  if (zone && DateTime.now().setZone(zone).isValid) return zone;
  return fallback;
}

/**
 * Send now or defer, and until when. Urgent goes through everything; snooze holds the rest; a priority the person
 * gathers into the digest waits for the next digest time; otherwise working hours and quiet hours apply.
 */
export function decide(options: {
  now: Date;
  priority: TPriority;
  prefs: TPreferences;
  timeZone: string;
  /** Digest deliveries that are due are sent now as part of the digest. */
  digestDue?: boolean;
}): Decision {
  const { now, priority, prefs } = options;
  if (priority === "urgent") return { action: "send" };
  if (prefs.snoozeUntil && Date.parse(prefs.snoozeUntil) > now.getTime()) {
    return { action: "defer", until: new Date(prefs.snoozeUntil), reason: "snoozed" };
  }
  const local = DateTime.fromJSDate(now).setZone(options.timeZone);
  if (!options.digestDue && prefs.delivery[priority] === "digest") {
    return { action: "defer", until: nextDigest(local, prefs).toJSDate(), reason: "digest" };
  }
  if (allowedAt(local, prefs)) return { action: "send" };
  const next = nextAllowed(local, prefs);
  const inQuiet =
    prefs.quietHours &&
    inWindow(local.hour * 60 + local.minute, minutesOf(prefs.quietHours.start), minutesOf(prefs.quietHours.end));
  // No allowed minute in two weeks (an empty working week): deliver rather than hold a message forever.
  if (!next) return { action: "send" };
  return { action: "defer", until: next.toJSDate(), reason: inQuiet ? "quietHours" : "outsideWorkingHours" };
}

/** The next digest time on a working day, strictly after `local`. */
export function nextDigest(local: DateTime, prefs: TPreferences): DateTime {
  const at = minutesOf(prefs.digestTime);
  for (let day = 0; day < 8; day++) {
    const candidate = local.startOf("day").plus({ days: day, minutes: at });
    if (
      candidate > local &&
      (prefs.workingHours.days.length === 0 || prefs.workingHours.days.includes(candidate.weekday))
    ) {
      return candidate;
    }
  }
  return local.plus({ days: 1 });
}

/** Exponential backoff with jitter, never shorter than what the server asked for (Retry-After). */
export function backoffMs(attempt: number, retryAfterMs?: number, baseMs = 2000, maxMs = 15 * 60_000): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = exp / 2 + Math.random() * (exp / 2);
  return Math.max(jittered, retryAfterMs ?? 0);
}

/** A period's start for the governor, trailing from now. */
export function periodStart(now: Date, period: "week" | "month" | "quarter"): Date {
  const days = period === "week" ? 7 : period === "month" ? 30 : 91;
  return new Date(now.getTime() - days * 86_400_000);
}
