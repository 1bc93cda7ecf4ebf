// Programme rules: the bank, rotation, cadence, personal windows in each time zone, tenure bands, new hires.
import test from "ava";
import { checkAnswers } from "../src/domain/answers.ts";
import {
  addWorkingDays,
  DEFAULT_BANK,
  managerPaths,
  nextOpening,
  personalWindow,
  rotate,
  tenureBand,
} from "../src/domain/programme.ts";
import { newHireDue } from "../src/store.ts";

test("the bank states eNPS on 0–10 with its definition, drivers on 1–5, an open comment", (t) => {
  const enps = DEFAULT_BANK.find((q) => q.kind === "enps")!;
  t.deepEqual([enps.min, enps.max], [0, 10]);
  t.regex(enps.definition!, /9–10.*0–6.*% promoters − % detractors/);
  t.true(DEFAULT_BANK.filter((q) => q.kind === "scale").every((q) => q.min === 1 && q.max === 5 && q.driver));
  t.is(DEFAULT_BANK.filter((q) => q.kind === "comment").length, 1);
});

test("rotation: eNPS and the comment every wave, the drivers cycled a few at a time", (t) => {
  const waves = [1, 2, 3].map((n) => rotate(DEFAULT_BANK, n, 4));
  t.true(waves.every((w) => w.length === 6 && w[0]!.kind === "enps" && w[5]!.kind === "comment"));
  const drivers = waves.flatMap((w) => w.filter((q) => q.kind === "scale").map((q) => q.driver));
  t.is(new Set(drivers.slice(0, 8)).size, 8, "two waves ask eight different drivers");
  t.is(rotate(DEFAULT_BANK, 4, 4).length, 6);
});

test("cadence: the next opening falls on a working day", (t) => {
  t.is(nextOpening("2026-01-05", "weekly"), "2026-01-12");
  t.is(nextOpening("2026-01-05", "biweekly"), "2026-01-19");
  t.is(nextOpening("2026-01-31", "monthly"), "2026-03-02", "28 Feb 2026 is a Saturday");
  t.is(nextOpening("2026-01-05", "quarterly"), "2026-04-06");
  t.is(addWorkingDays("2026-01-09", 3), "2026-01-14");
});

test("a wave opens and closes inside each person's working hours, in their own time zone", (t) => {
  const berlin = personalWindow("2026-03-02", "2026-03-06", "Europe/Berlin", "10:00");
  t.is(berlin.opensAt.toISOString(), "2026-03-02T09:00:00.000Z");
  t.is(berlin.closesAt.toISOString(), "2026-03-06T16:00:00.000Z");
  const ny = personalWindow("2026-03-02", "2026-03-06", "America/New_York", "10:00");
  t.is(ny.opensAt.toISOString(), "2026-03-02T15:00:00.000Z");
  const early = personalWindow("2026-03-02", "2026-03-06", "Asia/Tokyo", "06:00");
  t.is(early.opensAt.toISOString(), "2026-03-02T00:00:00.000Z", "clamped to 09:00 Tokyo");
  const unknown = personalWindow("2026-03-02", "2026-03-06", "Mars/Olympus", "10:00");
  t.is(unknown.opensAt.toISOString(), "2026-03-02T10:00:00.000Z", "an unknown zone falls back to UTC");
});

test("tenure bands are coarse; new hires are due at day 30 and 90; manager paths stop at cycles", (t) => {
  t.is(tenureBand("2026-01-01", "2026-03-01"), "<6m");
  t.is(tenureBand("2025-01-01", "2026-03-01"), "1-3y");
  t.is(tenureBand(null, "2026-03-01"), "unknown");
  t.true(newHireDue("2026-01-01", "2026-01-15", "2026-02-02"), "day 30 = 31 Jan");
  t.true(newHireDue("2025-11-01", "2026-01-15", "2026-02-02"), "day 90 = 30 Jan");
  t.false(newHireDue("2026-01-20", "2026-01-15", "2026-02-02"));
  t.false(newHireDue(undefined, "2026-01-15", "2026-02-02"));
  const paths = managerPaths([
    { id: "a", managerId: null },
    { id: "b", managerId: "a" },
    { id: "c", managerId: "b" },
    { id: "x", managerId: "y" },
    { id: "y", managerId: "x" },
  ]);
  t.deepEqual(paths.get("c"), ["a", "b"]);
  t.deepEqual(paths.get("x"), ["y"]);
});

test("a submission's problems are all named", (t) => {
  const qs = [
    { id: "e", kind: "enps" as const, min: 0, max: 10 },
    { id: "c", kind: "comment" as const, min: 0, max: 0 },
  ];
  t.deepEqual(
    checkAnswers(qs, [
      { questionId: "e", value: 7 },
      { questionId: "c", comment: "ok" },
    ]),
    [],
  );
  t.deepEqual(
    checkAnswers(qs, [
      { questionId: "e", value: 11 },
      { questionId: "e", value: 3 },
      { questionId: "c", value: 2 },
      { questionId: "z", value: 1 },
    ]).map((p) => p.field),
    ["answers[0].value", "answers[1].questionId", "answers[2].value", "answers[2].comment", "answers[3].questionId"],
  );
});
