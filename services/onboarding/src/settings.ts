// The programme's rules per tenant: stored by HR through the API (onboarding.updateSettings), defaults until then.
// Read where they are used (one small row), so every replica sees a change at once.
import type { TOnboardingSettings } from "@hearth/contracts";
import type { EntityManager } from "@mikro-orm/core";
import { DEFAULT_HARD_RULES, DEFAULT_WEIGHTS, type HardRules } from "./domain/buddy-matching.ts";
import { type CalendarConfig, DEFAULT_CALENDAR } from "./domain/schedule.ts";
import { sql, T } from "./store.ts";

export type ProgrammeSettings = TOnboardingSettings;

/**
 * A week: a hire whose account shows up in the directory a few days after the start still gets the journey, while
 * the people a first directory sync finds (hired weeks or years ago) are not flooded with overdue tasks.
 */
const AUTO_START_WITHIN_DAYS = 7;

export function defaultSettings(env: NodeJS.ProcessEnv = process.env): ProgrammeSettings {
  return {
    autoStartWithinDays: AUTO_START_WITHIN_DAYS,
    hrOwnerIds: [],
    nudges: {
      overdueReminderAfterDays: Number(env.ONBOARDING_OVERDUE_DAYS ?? 2),
      escalateAfterDays: Number(env.ONBOARDING_ESCALATE_DAYS ?? 5),
    },
    attention: { overdueTaskAfterDays: 0, noBuddyByDay: -3, buddyResponseDays: 2, firstBuddyMeetingByDay: 14 },
    buddyRules: {
      requireActive: DEFAULT_HARD_RULES.requireActive,
      minTenureMonths: DEFAULT_HARD_RULES.minTenureMonths,
      excludeManagementChain: DEFAULT_HARD_RULES.excludeManagementChain,
      maxCapacity: DEFAULT_HARD_RULES.maxCapacity,
      respectPause: DEFAULT_HARD_RULES.respectPause,
      excludeLeaving: DEFAULT_HARD_RULES.excludeLeaving,
      coolDownDays: DEFAULT_HARD_RULES.coolDownDays,
      minOverlapHours: DEFAULT_HARD_RULES.minOverlapHours,
    },
    buddyWeights: { ...DEFAULT_WEIGHTS },
    calendar: {
      weekend: [...DEFAULT_CALENDAR.weekend],
      extraClosedDays: {},
      ignoreHolidaysFor: [],
      dueTime: DEFAULT_CALENDAR.dueTime,
    },
  };
}

type Patch = {
  [K in keyof ProgrammeSettings]?: ProgrammeSettings[K] extends unknown[]
    ? ProgrammeSettings[K]
    : ProgrammeSettings[K] extends object
      ? Partial<ProgrammeSettings[K]>
      : ProgrammeSettings[K];
};

/** The stored patch over the defaults, group by group (a group gaining a field later keeps its default). */
export function mergeSettings(base: ProgrammeSettings, patch: Patch): ProgrammeSettings {
  const out = { ...base } as Record<string, unknown>;
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    const current = out[key];
    out[key] =
      value !== null && typeof value === "object" && !Array.isArray(value) && current && typeof current === "object"
        ? { ...(current as object), ...(value as object) }
        : value;
  }
  return out as ProgrammeSettings;
}

export type StoredSettings = ProgrammeSettings & { updatedAt: string | null; updatedBy: string | null };

export async function loadSettings(em: EntityManager, tenantId: string): Promise<StoredSettings> {
  const [row] = await sql<{ config: Patch; updated_at: Date; updated_by: string | null }>(
    em,
    `select config, updated_at, updated_by from ${T("settings")} where tenant_id = ?`,
    [tenantId],
  );
  return {
    ...mergeSettings(defaultSettings(), row?.config ?? {}),
    updatedAt: row ? new Date(row.updated_at).toISOString() : null,
    updatedBy: row?.updated_by ?? null,
  };
}

export async function saveSettings(
  em: EntityManager,
  tenantId: string,
  settings: ProgrammeSettings,
  by: string | null,
): Promise<void> {
  await sql(
    em,
    `insert into ${T("settings")} (tenant_id, config, updated_at, updated_by) values (?, ?, now(), ?)
     on conflict (tenant_id) do update set config = excluded.config, updated_at = now(), updated_by = excluded.updated_by`,
    [tenantId, JSON.stringify(settings), by],
  );
}

export function hardRulesOf(s: ProgrammeSettings): HardRules {
  return { ...DEFAULT_HARD_RULES, ...s.buddyRules, requireOptIn: true };
}

export function calendarOf(s: Pick<ProgrammeSettings, "calendar">): CalendarConfig {
  return {
    weekend: s.calendar.weekend,
    extraClosedDays: s.calendar.extraClosedDays,
    ignoreHolidaysFor: s.calendar.ignoreHolidaysFor,
    dueTime: s.calendar.dueTime,
  };
}

/** What the merged settings break, each naming the field (the schema checked the ranges already). */
export async function settingsProblems(
  em: EntityManager,
  s: ProgrammeSettings,
): Promise<Array<{ field: string; message: string }>> {
  const problems: Array<{ field: string; message: string }> = [];
  if (s.nudges.escalateAfterDays <= s.nudges.overdueReminderAfterDays)
    problems.push({
      field: "nudges.escalateAfterDays",
      message: `must be more than nudges.overdueReminderAfterDays (${s.nudges.overdueReminderAfterDays})`,
    });
  if (new Set(s.calendar.weekend).size !== s.calendar.weekend.length)
    problems.push({ field: "calendar.weekend", message: "a weekday is listed twice" });
  const seen = new Set<string>();
  const known =
    s.hrOwnerIds.length === 0
      ? new Set<string>()
      : new Set(
          (
            await sql<{ employee_id: string }>(
              em,
              `select employee_id from ${T("buddy_profiles")} where active and employee_id in (${s.hrOwnerIds
                .map(() => "?")
                .join(", ")})`,
              [...s.hrOwnerIds],
            )
          ).map((r) => r.employee_id),
        );
  s.hrOwnerIds.forEach((id, i) => {
    if (seen.has(id)) problems.push({ field: `hrOwnerIds[${i}]`, message: "listed twice" });
    else if (!known.has(id))
      problems.push({ field: `hrOwnerIds[${i}]`, message: "not an active employee in the directory" });
    seen.add(id);
  });
  return problems;
}
