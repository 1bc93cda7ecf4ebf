// When a message may reach a person: working hours, quiet hours (also across midnight), snooze, digests, in their
// own time zone — as properties over random moments, zones and preferences.
import test from "ava";
import fc from "fast-check";
import { DateTime } from "luxon";
import { mergePreferences } from "../src/dispatcher.ts";
import { backoffMs, decide } from "../src/domain/schedule.ts";

const ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC"];
const clock = fc
  .tuple(fc.integer({ min: 0, max: 23 }), fc.constantFrom(0, 15, 30, 45))
  .map(([h, m]) => `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`);
const prefsArb = fc.record({
  days: fc.uniqueArray(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 7 }),
  start: fc.integer({ min: 6, max: 11 }).map((h) => `${String(h).padStart(2, "0")}:00`),
  end: fc.integer({ min: 14, max: 20 }).map((h) => `${h}:00`),
  quiet: fc.option(fc.tuple(clock, clock), { nil: null }),
});
// 2026 and 2027, across both daylight-saving changes.
const moment = fc.integer({ min: Date.parse("2026-01-01T00:00:00Z"), max: Date.parse("2027-12-31T00:00:00Z") });

test("urgent always goes through; anything deferred is deferred to a moment at which it is sent", (t) => {
  // fc.assert throws with the shrunk counterexample when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(
        moment,
        fc.constantFrom(...ZONES),
        prefsArb,
        fc.constantFrom("low", "normal", "high"),
        (ms, zone, p, priority) => {
          const prefs = mergePreferences({
            delivery: { low: "immediate", normal: "immediate", high: "immediate" },
            workingHours: { days: p.days, start: p.start, end: p.end },
            quietHours: p.quiet && p.quiet[0] !== p.quiet[1] ? { start: p.quiet[0], end: p.quiet[1] } : null,
          });
          const now = new Date(ms);
          if (decide({ now, priority: "urgent", prefs, timeZone: zone }).action !== "send") return false;
          const d = decide({ now, priority: priority as "low", prefs, timeZone: zone });
          if (d.action === "send") return true;
          if (d.until.getTime() <= now.getTime()) return false;
          return decide({ now: d.until, priority: priority as "low", prefs, timeZone: zone }).action === "send";
        },
      ),
    ),
  );
});

test("quiet hours across midnight defer to their end, in the person's zone", (t) => {
  const prefs = mergePreferences({
    workingHours: { days: [1, 2, 3, 4, 5, 6, 7], start: "00:00", end: "00:00" },
    quietHours: { start: "20:00", end: "07:30" },
  });
  // 23:00 in Kolkata on a Tuesday.
  const now = DateTime.fromISO("2026-12-01T23:00", { zone: "Asia/Kolkata" }).toJSDate();
  const d = decide({ now, priority: "normal", prefs, timeZone: "Asia/Kolkata" });
  t.like(d, { action: "defer", reason: "quietHours" });
  t.is(
    DateTime.fromJSDate((d as { until: Date }).until)
      .setZone("Asia/Kolkata")
      .toISO(),
    "2026-12-02T07:30:00.000+05:30",
  );
});

test("the default working week: Friday evening waits for Monday 09:00; snooze holds until it ends", (t) => {
  const prefs = mergePreferences(null);
  const friday = DateTime.fromISO("2026-12-04T18:10", { zone: "Europe/Berlin" }).toJSDate();
  const d = decide({ now: friday, priority: "high", prefs, timeZone: "Europe/Berlin" });
  t.like(d, { action: "defer", reason: "outsideWorkingHours" });
  t.is(
    DateTime.fromJSDate((d as { until: Date }).until)
      .setZone("Europe/Berlin")
      .toISO(),
    "2026-12-07T09:00:00.000+01:00",
  );
  const snoozed = mergePreferences({ snoozeUntil: "2026-12-10T12:00:00.000Z" });
  t.like(decide({ now: friday, priority: "high", prefs: snoozed, timeZone: "Europe/Berlin" }), {
    action: "defer",
    reason: "snoozed",
  });
  t.like(decide({ now: friday, priority: "urgent", prefs: snoozed, timeZone: "Europe/Berlin" }), { action: "send" });
});

test("low priority goes to the next digest on a working day", (t) => {
  const prefs = mergePreferences({ digestTime: "08:30" });
  const saturday = DateTime.fromISO("2026-12-05T10:00", { zone: "America/New_York" }).toJSDate();
  const d = decide({ now: saturday, priority: "low", prefs, timeZone: "America/New_York" });
  t.like(d, { action: "defer", reason: "digest" });
  t.is(
    DateTime.fromJSDate((d as { until: Date }).until)
      .setZone("America/New_York")
      .toISO(),
    "2026-12-07T08:30:00.000-05:00",
  );
});

test("backoff grows, and never undercuts Retry-After", (t) => {
  t.true(backoffMs(1, undefined, 1000) <= 1000);
  t.true(backoffMs(5, undefined, 1000) >= 8000);
  t.true(backoffMs(1, 30_000, 1000) >= 30_000);
});

test("m365 away (no node, timeout) or throttling is retried; a refusal by Graph is permanent", async (t) => {
  const { isPermanent } = await import("../src/dispatcher.ts");
  const moleculer = (await import("moleculer")).default;
  t.false(isPermanent(new moleculer.Errors.ServiceNotFoundError({ action: "m365.sendBotCard" })));
  t.false(isPermanent(new moleculer.Errors.RequestTimeoutError({ action: "m365.sendBotCard" })));
  t.false(isPermanent({ code: 429, type: "M365_THROTTLED" }));
  t.false(isPermanent({ code: 503, type: "M365_UNAVAILABLE" }));
  t.true(isPermanent({ code: 404, type: "M365_GRAPH_ERROR" }));
  t.true(isPermanent({ code: 403, type: "M365_PERMISSION_MISSING" }));
});
