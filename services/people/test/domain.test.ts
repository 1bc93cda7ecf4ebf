import assert from "node:assert/strict";
import type { TDirectoryChange } from "@hearth/contracts";
import test from "ava";
import fc from "fast-check";
import {
  type ApplyContext,
  applyDirectoryChange,
  applyToday,
  type EmployeeEvent,
  type EmployeeState,
  settleMailboxSettings,
} from "../src/domain/employee.ts";
import { generatedObjectId, readHrisCsv } from "../src/domain/hris-csv.ts";

const TENANT = "7f1c4c3e-5a0b-4d2e-9a51-3c8f2b6d0e11";
const ctx: ApplyContext = { tenantId: TENANT, today: "2026-11-22", source: "graph" };
const A = "11111111-1111-4111-8111-111111111111";
const B = "22222222-2222-4222-8222-222222222222";

const upsert = (user: Extract<TDirectoryChange, { kind: "upsert" }>["user"]): TDirectoryChange => ({
  kind: "upsert",
  user,
});

test("first appearance of an enabled person with a hire date: created and hired once", (t) => {
  const first = applyDirectoryChange(
    undefined,
    upsert({ id: A, displayName: "Ada", accountEnabled: true, employeeHireDate: "2026-12-01T00:00:00Z" }),
    ctx,
  );
  t.is(first.kind, "created");
  t.deepEqual(
    first.events.map((e) => e.name),
    ["employee.hired"],
  );
  t.is(first.next!.hireDate, "2026-12-01");
  // The mailbox settings arrive after: the held hire goes out with them, and nothing more.
  const settled = settleMailboxSettings(first.next!, first.events, { timeZone: "Europe/London", locale: "en-GB" });
  t.is(settled.next.timeZone, "Europe/London");
  t.deepEqual(
    settled.events.map((e) => [e.name, (e.payload as { timeZone?: string }).timeZone]),
    [["employee.hired", "Europe/London"]],
  );
  const again = applyDirectoryChange(
    settled.next,
    upsert({ id: A, displayName: "Ada", accountEnabled: true, employeeHireDate: "2026-12-01T00:00:00Z" }),
    ctx,
  );
  t.is(again.kind, "unchanged");
  t.deepEqual(again.events, []);
});

test("a change lists the changed fields with their new values; disabling is a leave", (t) => {
  const { next } = applyDirectoryChange(undefined, upsert({ id: A, department: "Sales", jobTitle: "AE" }), ctx);
  const moved = applyDirectoryChange(next, upsert({ id: A, department: "Marketing" }), ctx);
  t.deepEqual(moved.events, [
    {
      name: "employee.updated",
      payload: { tenantId: TENANT, objectId: A, fields: ["department"], changes: { department: "Marketing" } },
    },
  ]);
  const disabled = applyDirectoryChange(moved.next, upsert({ id: A, accountEnabled: false }), ctx);
  t.deepEqual(
    disabled.events.map((e) => e.name),
    ["employee.updated", "employee.left"],
  );
  t.is((disabled.events[1]!.payload as { reason: string }).reason, "disabled");
});

test("removal marks an active person as left once; a removal of someone unknown is ignored", (t) => {
  const { next } = applyDirectoryChange(undefined, upsert({ id: A, displayName: "Ada" }), ctx);
  const removed = applyDirectoryChange(next, { kind: "removed", id: A, reason: "deleted" }, ctx);
  t.true(removed.events.some((e) => e.name === "employee.left" && e.payload.reason === "removed"));
  t.is(removed.next!.status, "left");
  t.deepEqual(applyDirectoryChange(removed.next, { kind: "removed", id: A, reason: "deleted" }, ctx).events, []);
  t.is(applyDirectoryChange(undefined, { kind: "removed", id: B, reason: "changed" }, ctx).kind, "ignored");
});

test("a leave date in the future leaves when it is reached, once", (t) => {
  const { next } = applyDirectoryChange(
    undefined,
    upsert({ id: A, employeeLeaveDateTime: "2026-11-30T17:00:00Z", employeeHireDate: "2020-01-01" }),
    ctx,
  );
  t.is(next!.status, "active");
  t.deepEqual(applyToday(next!, { tenantId: TENANT, today: "2026-11-29" }).events, []);
  const reached = applyToday(next!, { tenantId: TENANT, today: "2026-11-30" });
  t.deepEqual(
    reached.events.map((e) => [e.name, (e.payload as { reason?: string }).reason]),
    [["employee.left", "leave-date"]],
  );
  t.deepEqual(applyToday(reached.next!, { tenantId: TENANT, today: "2026-12-01" }).events, []);
});

test("mailbox settings of someone known: one more employee.updated after the held ones; a directory null keeps the locale", (t) => {
  const hired = applyDirectoryChange(undefined, upsert({ id: A, employeeHireDate: "2020-01-01" }), ctx);
  const known = settleMailboxSettings(hired.next!, hired.events, { timeZone: "Europe/Berlin", locale: "de-DE" }).next;
  t.like(known, { timeZone: "Europe/Berlin", preferredLanguage: "de-DE", languageFromMailbox: true });

  // A move, reported with "no language" as delta does: the mailbox's language stays.
  const moved = applyDirectoryChange(
    known,
    upsert({ id: A, department: "Sales", preferredLanguage: null, employeeHireDate: "2020-01-01" }),
    ctx,
  );
  t.deepEqual(
    moved.events.map((e) => e.payload),
    [{ tenantId: TENANT, objectId: A, fields: ["department"], changes: { department: "Sales" } }],
  );
  // They moved to another office and time zone: the move, then the time zone.
  const settled = settleMailboxSettings(moved.next!, moved.events, { timeZone: "America/New_York", locale: "de-DE" });
  t.deepEqual(
    settled.events.map((e) => [e.name, (e.payload as { changes?: object }).changes]),
    [
      ["employee.updated", { department: "Sales" }],
      ["employee.updated", { timeZone: "America/New_York" }],
    ],
  );
  // Nothing new in the mailbox: the held events as they are.
  t.deepEqual(settleMailboxSettings(settled.next, [], { timeZone: "America/New_York", locale: "de-DE" }).events, []);
  // A language from the directory wins over the locale from then on.
  const english = applyDirectoryChange(settled.next, upsert({ id: A, preferredLanguage: "en-GB" }), ctx).next!;
  t.like(settleMailboxSettings(english, [], { locale: "de-DE" }).next, {
    preferredLanguage: "en-GB",
    languageFromMailbox: false,
  });
  // No readable mailbox: the held events go out unchanged.
  t.deepEqual(settleMailboxSettings(moved.next!, moved.events, undefined).events, moved.events);
});

// ---------------------------------------------------------------------------------------------------------------
// Properties

const IDS = [A, B, "33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444"];
const text = fc.option(fc.constantFrom("Sales", "Marketing", "Engineering", "Ada", "Bob"), { nil: null });
const date = fc.option(fc.constantFrom("2020-01-01", "2026-11-22", "2027-01-01T00:00:00Z"), { nil: null });
const arbUpsert = fc
  .record(
    {
      id: fc.constantFrom(...IDS),
      displayName: text,
      department: text,
      jobTitle: text,
      accountEnabled: fc.option(fc.boolean(), { nil: null }),
      employeeHireDate: date,
      employeeLeaveDateTime: date,
      managerId: fc.option(fc.constantFrom(...IDS), { nil: null }),
    },
    { requiredKeys: ["id"] },
  )
  .map((user): TDirectoryChange => ({ kind: "upsert", user }));
const arbRemoved = fc
  .record({ id: fc.constantFrom(...IDS), reason: fc.constantFrom("changed" as const, "deleted" as const) })
  .map((r): TDirectoryChange => ({ kind: "removed", ...r }));
const arbChange = fc.oneof({ weight: 4, arbitrary: arbUpsert }, { weight: 1, arbitrary: arbRemoved });

function applyAll(state: Map<string, EmployeeState>, changes: TDirectoryChange[]) {
  const events: EmployeeEvent[] = [];
  for (const change of changes) {
    const id = change.kind === "upsert" ? change.user.id : change.id;
    const outcome = applyDirectoryChange(state.get(id), change, ctx);
    if (outcome.next) state.set(id, outcome.next);
    events.push(...outcome.events);
  }
  return events;
}

test("property: applying the same change a second time emits nothing", (t) => {
  // fc.assert throws with the shrunk counterexample when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(arbChange, { maxLength: 20 }), arbChange, (history, change) => {
        const state = new Map<string, EmployeeState>();
        applyAll(state, history);
        applyAll(state, [change]);
        const before = structuredClone([...state.entries()]);
        assert.deepEqual(applyAll(state, [change]), []);
        assert.deepEqual([...state.entries()], before);
      }),
      { numRuns: 300 },
    ),
  );
});

test("property: the order of changes to different people does not matter", (t) => {
  // fc.assert throws with the shrunk counterexample when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.array(arbChange, { maxLength: 30 }),
        fc.array(fc.nat(), { minLength: 30, maxLength: 30 }),
        (changes, keys) => {
          // Reorder across people, keeping each person's own changes in order (they do not commute).
          const idOf = (c: TDirectoryChange) => (c.kind === "upsert" ? c.user.id : c.id);
          const byPerson = new Map<string, TDirectoryChange[]>();
          for (const c of changes) byPerson.set(idOf(c), [...(byPerson.get(idOf(c)) ?? []), c]);
          const shuffled: TDirectoryChange[] = [];
          const queues = [...byPerson.values()].map((q) => [...q]);
          let k = 0;
          while (queues.some((q) => q.length > 0)) {
            const open = queues.filter((q) => q.length > 0);
            shuffled.push(open[keys[k++ % keys.length]! % open.length]!.shift()!);
          }
          const s1 = new Map<string, EmployeeState>();
          const s2 = new Map<string, EmployeeState>();
          const e1 = applyAll(s1, changes);
          const e2 = applyAll(s2, shuffled);
          const sortKey = (e: EmployeeEvent) => JSON.stringify(e);
          assert.deepEqual(new Map([...s1].sort()), new Map([...s2].sort()));
          assert.deepEqual(e1.map(sortKey).sort(), e2.map(sortKey).sort());
        },
      ),
      { numRuns: 300 },
    ),
  );
});

test("property: employee.hired is emitted at most once per person, whatever the history", (t) => {
  // fc.assert throws with the shrunk counterexample when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(arbChange, { maxLength: 40 }), (changes) => {
        const events = applyAll(new Map(), changes);
        const hired = events.filter((e) => e.name === "employee.hired").map((e) => e.payload.objectId);
        assert.equal(new Set(hired).size, hired.length);
      }),
      { numRuns: 300 },
    ),
  );
});

// ---------------------------------------------------------------------------------------------------------------
// CSV

test("CSV: common headers map by default; every bad row is reported with its line, column and reason", (t) => {
  const csv = [
    "Employee ID,First Name,Last Name,Email,Department,Country,Hire Date,Termination Date,Manager Email",
    "E1,Ada,Lovelace,ada@contoso.example,Engineering,GB,2024-01-15,,",
    "E2,Bob,,not-an-email,Sales,FR,2024-02-01,,",
    "E3,Cy,Young,cy@contoso.example,Sales,France,2024-02-01,,",
    'E4,"Di\nana",Ross,diana@contoso.example,Sales,US,31/12/2024,,',
    "E5,Eve,Adams,eve@contoso.example,Sales,US",
    "E6,Ada,Again,ADA@contoso.example,Sales,US,2024-03-01,,",
    "E7,Fay,Wong,fay@contoso.example,Sales,us,,2025-06-30,ada@contoso.example",
  ].join("\n");
  const { rows, rejected } = readHrisCsv(csv);
  t.deepEqual(
    rows.map((r) => [r.line, r.mail]),
    [
      [2, "ada@contoso.example"],
      [9, "fay@contoso.example"],
    ],
  );
  t.deepEqual(rows[1]!.patch.country, "US");
  t.is(rows[1]!.managerMail, "ada@contoso.example");
  t.deepEqual(rejected, [
    { line: 3, field: "Email", reason: "must be an e-mail address" },
    { line: 4, field: "Country", reason: "must be a two-letter country code" },
    { line: 5, field: "Hire Date", reason: "must be a date like 2026-01-31" },
    { line: 7, field: "row", reason: "has 6 columns, the header has 9" },
    { line: 8, field: "Email", reason: "same person as line 2" },
  ]);
});

test("CSV: a mapping renames columns; an unknown mapped column is reported", (t) => {
  const csv = "Work Mail,Given,Team\nzoe@contoso.example,Zoe,Support\n";
  const ok = readHrisCsv(csv, { mail: "Work Mail", givenName: "Given", department: "Team" });
  t.is(ok.rejected.length, 0);
  t.deepEqual(ok.rows[0]!.patch.department, "Support");
  t.is(ok.rows[0]!.patch.displayName, "Zoe");
  const bad = readHrisCsv(csv, { mail: "E-mail address" });
  t.deepEqual(bad.rejected, [{ line: 1, field: "E-mail address", reason: "mapped column is not in the header" }]);
});

test("CSV: generated ids are stable and differ per person", (t) => {
  const a = generatedObjectId(TENANT, { employeeId: "E1", mail: "a@x.example" });
  t.is(a, generatedObjectId(TENANT, { employeeId: "E1", mail: "renamed@x.example" }));
  t.not(a, generatedObjectId(TENANT, { employeeId: "E2", mail: "a@x.example" }));
  t.regex(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});
