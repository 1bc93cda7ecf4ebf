import test from "ava";
import fc from "fast-check";
import { DateTime } from "luxon";
import {
  chooseTemplate,
  DEFAULT_TEMPLATE,
  render,
  type TemplateDraft,
  validateTemplate,
} from "../src/domain/journey-template.ts";
import { DEFAULT_CALENDAR, dueFor, isWorkingDay, reschedule, type ScheduledTask } from "../src/domain/schedule.ts";

test("working days skip weekends and the owner's public holidays", (t) => {
  // Hire on Wed 2026-12-23 in Germany: 24th is a working day, 25th/26th are holidays, then a weekend.
  const de = { hireDate: "2026-12-23", unit: "working" as const, timeZone: "Europe/Berlin", country: "DE" };
  t.is(dueFor({ ...de, offsetDays: 0 }).dueDate, "2026-12-23");
  t.is(dueFor({ ...de, offsetDays: 1 }).dueDate, "2026-12-24");
  t.is(dueFor({ ...de, offsetDays: 2 }).dueDate, "2026-12-28");
  // The same offsets for an owner in the US: the 25th is a holiday, the 26th a Saturday.
  const us = { ...de, timeZone: "America/New_York", country: "US" };
  t.is(dueFor({ ...us, offsetDays: 2 }).dueDate, "2026-12-28");
  // Ireland's St Stephen's Day on Saturday: the 28th is the substitute public holiday there.
  t.false(isWorkingDay("2026-12-28", "IE"));
  t.true(isWorkingDay("2026-12-28", "DE"));
});

test("pre-boarding counts working days backwards from day one", (t) => {
  // Hire on Mon 2026-06-01; -1 working day = Friday 29 May; -5 = Monday 25 May is Whit Monday in Germany -> 22 May.
  const base = { hireDate: "2026-06-01", unit: "working" as const, timeZone: "Europe/Berlin", country: "DE" };
  t.is(dueFor({ ...base, offsetDays: -1 }).dueDate, "2026-05-29");
  t.is(dueFor({ ...base, offsetDays: -5 }).dueDate, "2026-05-22");
  // A hire date on a Saturday starts on Monday.
  t.is(dueFor({ ...base, hireDate: "2026-06-06", offsetDays: 0 }).dueDate, "2026-06-08");
});

test("calendar-day offsets land on the next working day (or the previous one before the start)", (t) => {
  const base = { hireDate: "2026-03-02", unit: "calendar" as const, timeZone: "Europe/London", country: "GB" };
  t.is(dueFor({ ...base, offsetDays: 5 }).dueDate, "2026-03-09"); // Sat 7 -> Mon 9
  t.is(dueFor({ ...base, offsetDays: -2 }).dueDate, "2026-02-27"); // Sat 28 Feb -> Fri 27
  t.is(dueFor({ ...base, offsetDays: 30 }).dueDate, "2026-04-01");
});

test("due instants are 17:00 in the owner's zone across daylight-saving changes", (t) => {
  // Europe/Berlin switches to summer time on 29 March 2026, New York on 8 March.
  const berlin = { hireDate: "2026-03-26", unit: "working" as const, timeZone: "Europe/Berlin", country: "DE" };
  t.is(dueFor({ ...berlin, offsetDays: 0 }).dueAt, "2026-03-26T16:00:00Z");
  t.is(dueFor({ ...berlin, offsetDays: 2 }).dueAt, "2026-03-30T15:00:00Z");
  const ny = { hireDate: "2026-03-06", unit: "working" as const, timeZone: "America/New_York", country: "US" };
  t.is(dueFor({ ...ny, offsetDays: 0 }).dueAt, "2026-03-06T22:00:00Z");
  t.is(dueFor({ ...ny, offsetDays: 1 }).dueAt, "2026-03-09T21:00:00Z");
  // Sydney leaves summer time on 5 April 2026.
  const syd = { hireDate: "2026-04-02", unit: "working" as const, timeZone: "Australia/Sydney", country: "AU" };
  t.is(dueFor({ ...syd, offsetDays: 0 }).dueAt, "2026-04-02T06:00:00Z");
  t.is(dueFor({ ...syd, offsetDays: 1 }).dueAt, "2026-04-07T07:00:00Z"); // Good Friday, Easter Monday skipped
});

test("property: a due date is always a working day in the owner's country and 17:00 local", (t) => {
  const zones: Array<[string, string]> = [
    ["Europe/Berlin", "DE"],
    ["America/New_York", "US"],
    ["Asia/Kolkata", "IN"],
    ["Australia/Sydney", "AU"],
    ["Europe/London", "GB"],
  ];
  // fc.assert throws with the shrunk counterexample when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 900 }),
        fc.integer({ min: -60, max: 365 }),
        fc.constantFrom<"working" | "calendar">("working", "calendar"),
        fc.constantFrom(...zones),
        (dayIndex, offsetDays, unit, [timeZone, country]) => {
          const hireDate = DateTime.fromISO("2026-01-01").plus({ days: dayIndex }).toISODate() as string;
          const due = dueFor({ hireDate, offsetDays, unit, timeZone, country });
          const local = DateTime.fromISO(due.dueAt, { zone: timeZone });
          return (
            isWorkingDay(due.dueDate, country) &&
            local.toISODate() === due.dueDate &&
            local.hour === 17 &&
            local.minute === 0 &&
            (offsetDays >= 0 ? due.dueDate >= hireDate : due.dueDate < hireDate)
          );
        },
      ),
      { numRuns: 300 },
    ),
  );
});

test("a moved hire date reschedules open tasks and keeps finished ones", (t) => {
  const make = (id: string, offsetDays: number, status: ScheduledTask["status"]): ScheduledTask => ({
    id,
    status,
    offsetDays,
    unit: "working",
    ownerTimeZone: "Europe/Berlin",
    ownerCountry: "DE",
    ...dueFor({ hireDate: "2026-03-02", offsetDays, unit: "working", timeZone: "Europe/Berlin", country: "DE" }),
  });
  const tasks = [make("done", -3, "done"), make("open", 0, "open"), make("later", 5, "open")];
  const moved = reschedule(tasks, "2026-03-16");
  t.is(moved[0]?.dueDate, tasks[0]?.dueDate);
  t.is(moved[1]?.dueDate, "2026-03-16");
  t.is(moved[2]?.dueDate, "2026-03-23");
  t.is(moved[2]?.dueAt, "2026-03-23T16:00:00Z");
});

test("company closure days are skipped like holidays", (t) => {
  const calendar = { ...DEFAULT_CALENDAR, extraClosedDays: { "*": ["2026-03-03"] } };
  const due = dueFor(
    { hireDate: "2026-03-02", offsetDays: 1, unit: "working", timeZone: "Europe/Berlin", country: "DE" },
    calendar,
  );
  t.is(due.dueDate, "2026-03-04");
});

// ---------- templates ----------

const step = DEFAULT_TEMPLATE.steps[0] as TemplateDraft["steps"][number];

test("the default template is valid", (t) => {
  t.deepEqual(validateTemplate(DEFAULT_TEMPLATE), []);
});

test("a template with bad handlebars, an unknown field or an out-of-range offset is refused with the step", (t) => {
  const draft: TemplateDraft = {
    ...DEFAULT_TEMPLATE,
    steps: [
      { ...step, key: "broken", content: "Hello {{person.givenName" },
      { ...step, key: "unknown", content: "Your salary is {{person.salary}}" },
      { ...step, key: "far", offsetDays: 400 },
      { ...step, key: "helper", content: "{{#each person}}x{{/each}}" },
    ],
  };
  const problems = validateTemplate(draft);
  t.is(problems.find((p) => p.step === "broken")?.field, "content");
  t.regex(problems.find((p) => p.step === "broken")?.reason ?? "", /does not compile/);
  t.deepEqual(
    problems.find((p) => p.step === "unknown"),
    {
      step: "unknown",
      field: "content",
      reason: 'unknown field "person.salary"',
    },
  );
  t.regex(problems.find((p) => p.step === "far")?.reason ?? "", /outside -60\.\.365/);
  t.regex(problems.find((p) => p.step === "helper")?.reason ?? "", /unknown helper "each"/);
});

test("content renders over the person's fields", (t) => {
  const text = render(DEFAULT_TEMPLATE.steps[3]?.content ?? "", {
    person: { givenName: "Ada" },
    manager: { displayName: "Grace Hopper" },
    buddy: null,
    company: { name: "Contoso" },
  });
  t.regex(text, /Grace Hopper will meet you at 10:00/);
});

test("the template is chosen by audience: priority, then the most specific rule", (t) => {
  const templates = [
    { name: "default", audience: {}, priority: 0 },
    { name: "engineering", audience: { departments: ["Engineering"] }, priority: 0 },
    { name: "berlin engineering", audience: { departments: ["Engineering"], offices: ["Berlin"] }, priority: 0 },
    { name: "sales US", audience: { departments: ["Sales"], countries: ["US"] }, priority: 0 },
    { name: "interns", audience: { jobTitlePattern: "intern" }, priority: 10 },
  ];
  const p = (department: string, office: string, country: string, jobTitle: string) => ({
    department,
    office,
    country,
    jobTitle,
  });
  t.is(chooseTemplate(templates, p("Engineering", "Berlin", "DE", "Developer"))?.name, "berlin engineering");
  t.is(chooseTemplate(templates, p("Engineering", "London", "GB", "Developer"))?.name, "engineering");
  t.is(chooseTemplate(templates, p("Sales", "London", "GB", "Account executive"))?.name, "default");
  t.is(chooseTemplate(templates, p("Sales", "NYC", "US", "Account executive"))?.name, "sales US");
  t.is(chooseTemplate(templates, p("Engineering", "Berlin", "DE", "Working Student / Intern"))?.name, "interns");
});
